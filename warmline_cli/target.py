"""Where a command acts: a deployed stack (its CloudFormation outputs and parameters) or the local
stack (the `.warmline/local.json` that `python -m local up` writes)."""

from __future__ import annotations

import functools
import getpass
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from warmline_cli.console import CliError, NotFound

SECRET_IDS = (
    "ElevenLabsApiKeySecret",
    "ThreeCxSecret",
    "AgentSecret",
    "CallerKeySecret",
    "OperatorSecret",
    "PinPepperSecret",
)
SECRET_OUTPUTS = {
    "ElevenLabsApiKeySecret": "ElevenLabsApiKeySecretArn",
    "ThreeCxSecret": "ThreeCxSecretArn",
    "AgentSecret": "AgentSecretArn",
    "CallerKeySecret": "CallerKeySecretArn",
    "OperatorSecret": "OperatorSecretArn",
    "PinPepperSecret": "PinPepperSecretArn",
}
REQUIRED_OUTPUTS = (
    "IncomingCallUrl",
    "ConversationInitUrl",
    "CheckCloneUrl",
    "CloneTableName",
    "SamplesBucketName",
    "CloneJobsQueueUrl",
    *SECRET_OUTPUTS.values(),
)
DEFAULT_LOCAL_STATE = Path(".warmline") / "local.json"


@dataclass(frozen=True)
class Target:
    label: str  # the stack name, or "local"
    description: str  # for messages: "stack warmline (eu-west-1)"
    region: str
    aws_endpoint_url: str | None
    table: str
    bucket: str
    queue_url: str
    secret_arns: dict[str, str]
    incoming_call_url: str
    conversation_init_url: str
    check_clone_url: str
    elevenlabs_base_url: str
    parameters: dict[str, str] = field(default_factory=dict)
    default_agent_id: str = ""
    metrics_url: str = ""
    dead_letter_queue_url: str = ""
    post_call_url: str = ""  # "" on a stack deployed before the post-call route

    @property
    def ivr_max_wait_seconds(self) -> float:
        return float(self.parameters.get("IvrMaxWaitSeconds") or 8)

    @property
    def handoff_mode(self) -> str:
        return self.parameters.get("HandoffMode") or "transfer"

    @property
    def default_country_code(self) -> str:
        return self.parameters.get("DefaultCountryCode") or ""

    def client(self, service: str) -> Any:
        return _client(self.region, self.aws_endpoint_url, service)

    def operator(self) -> str:
        """Who is acting, for the consent log: the AWS identity this command runs as."""
        try:
            return str(self.client("sts").get_caller_identity()["Arn"])
        except (BotoCoreError, ClientError):
            return f"{getpass.getuser()} (AWS identity unknown)"

    def secret(self, logical_id: str) -> str:
        arn = self.secret_arns[logical_id]
        try:
            value = self.client("secretsmanager").get_secret_value(SecretId=arn)
        except NoCredentialsError:
            raise CliError(_NO_CREDENTIALS) from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise CliError(f"cannot read the secret {logical_id} ({arn}): {code or error}") from None
        text = value.get("SecretString")
        if not text:
            raise CliError(
                f"the secret {logical_id} ({arn}) has no string value; put one with put-secret-value"
            )
        return text


@functools.cache
def _session(region: str) -> boto3.session.Session:
    """One session per region for the process: each new session reads the service models from disk
    again (about 0.1 s a client)."""
    return boto3.session.Session(region_name=region)


@functools.cache
def _client(region: str, endpoint_url: str | None, service: str) -> Any:
    """One client per service and endpoint for the process (a client is thread-safe), as building one
    costs milliseconds of CPU: a command that reads a table many times builds its client once."""
    return _session(region).client(service, endpoint_url=endpoint_url)


_NO_CREDENTIALS = (
    "no AWS credentials found: run `aws configure` (or set AWS_PROFILE) for the account the stack is in"
)


def _described_stack(name: str, region: str | None) -> tuple[dict[str, Any], str | None]:
    """The stack as CloudFormation describes it, and the region it was looked for in."""
    try:
        session = boto3.session.Session(region_name=region)
        region = session.region_name
        cloudformation = session.client("cloudformation")
        return cloudformation.describe_stacks(StackName=name)["Stacks"][0], region
    except NoCredentialsError:
        raise CliError(_NO_CREDENTIALS) from None
    except NoRegionError:
        raise CliError("no AWS region: pass --region or set AWS_REGION to the stack's region") from None
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        if "does not exist" in message:
            raise NotFound(
                f"no CloudFormation stack named {name!r} in {region}: check --stack and --region "
                "(`aws cloudformation list-stacks` lists them)"
            ) from None
        raise CliError(f"cannot read stack {name!r}: {message}") from None
    except BotoCoreError as error:
        raise CliError(f"cannot reach CloudFormation in {region}: {error}") from None


def from_stack(name: str, region: str | None = None) -> Target:
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    stack, region = _described_stack(name, region)
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise CliError(
            f"stack {name!r} lacks the output(s) {', '.join(missing)}: is it a warmline stack, "
            f"and did its last deploy finish (status {stack.get('StackStatus')})?"
        )
    parameters = {
        item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])
    }
    return Target(
        label=name,
        description=f"stack {name} ({region})",
        region=str(region),
        aws_endpoint_url=None,
        table=outputs["CloneTableName"],
        bucket=outputs["SamplesBucketName"],
        queue_url=outputs["CloneJobsQueueUrl"],
        secret_arns={logical: outputs[output] for logical, output in SECRET_OUTPUTS.items()}
        | (
            {"PostCallWebhookSecret": outputs["PostCallWebhookSecretArn"]}
            if "PostCallWebhookSecretArn" in outputs
            else {}
        ),
        incoming_call_url=outputs["IncomingCallUrl"],
        conversation_init_url=outputs["ConversationInitUrl"],
        check_clone_url=outputs["CheckCloneUrl"],
        elevenlabs_base_url=parameters.get("ElevenLabsBaseUrl") or "https://api.elevenlabs.io",
        parameters=parameters,
        default_agent_id=parameters.get("ElevenLabsAgentId", ""),
        metrics_url=outputs.get("CloningMetricsUrl", ""),
        dead_letter_queue_url=outputs.get("CloneJobsDeadLetterQueueUrl", ""),
        post_call_url=outputs.get("PostCallUrl", ""),
    )


def from_local(state_path: Path = DEFAULT_LOCAL_STATE) -> Target:
    try:
        state = json.loads(state_path.read_text())
    except FileNotFoundError:
        raise NotFound(
            f"no local stack: {state_path} does not exist; start one with `make up` "
            "(or `python -m local up`) in the warmline repository"
        ) from None
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read {state_path}: {error}") from None
    if not process_alive(state.get("pids", {}).get("stack")):
        raise NotFound(f"the local stack recorded in {state_path} is not running; start it with `make up`")
    return from_local_state(state)


def from_local_state(state: dict[str, Any]) -> Target:
    """The target a local stack describes (the contents of its local.json)."""
    resources = state["resources"]
    endpoints = state["endpoints"]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return Target(
        label="local",
        description=f"the local stack ({state['api_base_url']})",
        region=state.get("aws_region", "us-east-1"),
        aws_endpoint_url=state["aws_endpoint_url"],
        table=resources["tables"]["CloneTable"],
        bucket=resources["buckets"]["SamplesBucket"],
        queue_url=resources["queues"]["CloneJobsQueue"],
        secret_arns={logical: resources["secrets"][logical] for logical in SECRET_IDS}
        | {
            logical: arn
            for logical, arn in resources["secrets"].items()
            if logical == "PostCallWebhookSecret"
        },
        incoming_call_url=endpoints["IncomingCall"],
        conversation_init_url=endpoints["ConversationInit"],
        check_clone_url=endpoints["CheckClone"],
        elevenlabs_base_url=state["elevenlabs_base_url"],
        parameters=state.get("parameters") or {},
        default_agent_id=state.get("default_agent_id") or "",
        metrics_url=endpoints.get("CloningMetrics", ""),
        dead_letter_queue_url=resources["queues"].get("CloneJobsDeadLetterQueue", ""),
        post_call_url=endpoints.get("PostCall", ""),
    )


def process_alive(pid: Any) -> bool:
    """Whether `pid` is a running process (not a zombie that only waits to be reaped)."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
    try:  # a zombie has exited; it only waits for a parent to reap it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
