"""Handlers invoked in-process against moto in server mode, with the template's own environment.

The resources and each function's environment come from template.yaml (via the local stack's
template reader), so a handler test fails if the template and the code disagree.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import aws, template
from local.sam_invoke import EVENT_SECRETS
from warmline.adapters.dynamodb import DynamoCloneStore, DynamoRegistryStore
from warmline.adapters.s3 import S3SampleStore
from warmline.callers import caller_key, mask, normalise_number
from warmline.clone_state import CallerProfile, PinRecord
from warmline.verification import hash_pin

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
# The values the events/ files carry (and `sam local invoke` with env.json uses).
THREECX_SECRET = EVENT_SECRETS["ThreeCxSecret"]
AGENT_SECRET = EVENT_SECRETS["AgentSecret"]
CALLER_KEY_SECRET = EVENT_SECRETS["CallerKeySecret"]
OPERATOR_SECRET = EVENT_SECRETS["OperatorSecret"]
PIN_PEPPER = EVENT_SECRETS["PinPepperSecret"]


class LambdaContext:
    def __init__(self, function_name: str, timeout_s: float, remaining_s: float | None = None) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = uuid.uuid4().hex
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"
        self._deadline = time.monotonic() + (remaining_s if remaining_s is not None else timeout_s)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler_module(function_dir: str) -> Any:
    path = ROOT / "functions" / function_dir / "app.py"
    name = f"warmline_test_{function_dir}_app"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def event(name: str, **changes: Any) -> dict[str, Any]:
    """A sample event; a check_clone event given `pathParameters` has its path agree with them."""
    data = json.loads((EVENTS / name).read_text())
    data.update(changes)
    caller = (changes.get("pathParameters") or {}).get("caller_id")
    return at_caller(data, caller) if caller is not None else data


def at_caller(base: dict[str, Any], caller_path: str) -> dict[str, Any]:
    """A check_clone event for this caller (as percent-encoded in the path), path and parameters agreeing."""
    path = f"/api/ivr/check-clone/{caller_path}"
    context = {**base["requestContext"], "http": {**base["requestContext"]["http"], "path": path}}
    return {**base, "rawPath": path, "requestContext": context, "pathParameters": {"caller_id": caller_path}}


def with_body(base: dict[str, Any], body: Any) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {**base, "body": text, "headers": {**base["headers"], "content-length": str(len(text))}}


@dataclass
class AwsStack:
    endpoint_url: str
    model: template.StackModel
    emulator_base_url: str
    # The clock the handlers see (None: the system clock). A test that sets it controls every
    # "now" a handler writes or compares, so no test depends on today's date.
    clock: Any = None

    def client(self, service: str) -> Any:
        return _client(service, self.endpoint_url)

    @property
    def table(self) -> str:
        return self.model.tables["CloneTable"].name

    @property
    def store(self) -> DynamoCloneStore:
        return DynamoCloneStore(self.client("dynamodb"), self.table)

    def register_caller(
        self, number: str, sample: bytes = b"ID3\x04fake-mp3-sample", pin: str | None = None
    ) -> str:
        normalised = normalise_number(number)
        key = caller_key(normalised, CALLER_KEY_SECRET)
        samples = S3SampleStore(self.client("s3"), self.model.buckets["SamplesBucket"].name)
        sample_key = samples.write(key, "sample.mp3", sample, "audio/mpeg")
        registry = DynamoRegistryStore(self.client("dynamodb"), self.table)
        registry.save_profile(CallerProfile(key, (sample_key,), "agreed in a test", mask(normalised), 0))
        if pin is not None:
            registry.save_pin(key, PinRecord(hash_pin(key, pin, PIN_PEPPER), set_at_ms=0))
        return key

    def table_items(self) -> list[dict[str, Any]]:
        return self.client("dynamodb").scan(TableName=self.table).get("Items", [])

    def queued_messages(self, queue: str = "CloneJobsQueue", wait_s: int = 0) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        response = sqs.receive_message(
            QueueUrl=self.model.queues[queue].url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
        )
        return response.get("Messages", [])

    def function_env(self, logical_id: str, **overrides: str) -> contextlib.AbstractContextManager[None]:
        """The function's environment from the template, for an in-process handler call."""
        return handler_environment({**self.model.functions[logical_id].environment, **overrides}, self.clock)


@contextmanager
def handler_environment(env: dict[str, str], clock: Any = None) -> Iterator[None]:
    """These variables in os.environ, and warmline's cached settings and clients made afresh from them,
    while a handler is called in-process; `clock`, if given, is every "now" the handler sees."""
    from aws_lambda_powertools.utilities import parameters

    from warmline.dependencies import dependencies
    from warmline.settings import get_settings

    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    get_settings.cache_clear()
    dependencies.cache_clear()
    parameters.clear_caches()
    if clock is not None:
        dependencies().clock = clock
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        dependencies.cache_clear()


class ShiftedClock:
    """The system clock moved by a fixed offset: real sleeps, another day."""

    def __init__(self, offset_seconds: float) -> None:
        self.offset_seconds = offset_seconds

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


POST_CALL_SECRET = "test-post-call-webhook-secret"
SECRET_VALUES = {
    "ThreeCxSecret": THREECX_SECRET,
    "AgentSecret": AGENT_SECRET,
    "CallerKeySecret": CALLER_KEY_SECRET,
    "OperatorSecret": OPERATOR_SECRET,
    "PinPepperSecret": PIN_PEPPER,
    "PostCallWebhookSecret": POST_CALL_SECRET,
}


@dataclass
class AwsResources:
    """The template's tables, queues, buckets and secrets, created once in moto; each test gets them
    empty (`fresh_stack`) instead of re-creating them."""

    endpoint_url: str
    emulator_base_url: str
    secret_arns: dict[str, str]
    model: template.StackModel

    @classmethod
    def create(cls, endpoint_url: str, emulator_base_url: str, emulator_api_key: str) -> AwsResources:
        overrides = {"ElevenLabsBaseUrl": emulator_base_url}
        draft = template.load(ROOT / "template.yaml", overrides, _ids(endpoint_url))
        arns = aws.create_secrets(
            endpoint_url, draft, {**SECRET_VALUES, "ElevenLabsApiKeySecret": emulator_api_key}
        )
        model = template.load(ROOT / "template.yaml", overrides, _ids(endpoint_url, arns))
        aws.create_resources(endpoint_url, model, visibility_timeout_override=1)
        return cls(endpoint_url, emulator_base_url, arns, model)

    def fresh_stack(self, **parameters: Any) -> AwsStack:
        """The resources emptied, and the stack's model with these template parameters (they may
        change the functions' environment and roles, not the resources)."""
        overrides = {"ElevenLabsBaseUrl": self.emulator_base_url, **parameters}
        model = template.load(ROOT / "template.yaml", overrides, _ids(self.endpoint_url, self.secret_arns))
        changed = [
            kind
            for kind in ("tables", "queues", "buckets", "secrets")
            if getattr(model, kind) != getattr(self.model, kind)
        ]
        if changed:
            raise ValueError(
                f"the parameters {parameters} change the {', '.join(changed)}: not a fresh stack"
            )
        self.empty()
        return AwsStack(self.endpoint_url, model, self.emulator_base_url)

    def empty(self) -> None:
        """Every item, message and object version gone: nothing one test left is seen by the next."""
        dynamodb = _client("dynamodb", self.endpoint_url)
        for table in self.model.tables.values():
            keys = [attribute["AttributeName"] for attribute in table.key_schema]
            pages = dynamodb.get_paginator("scan").paginate(
                TableName=table.name, ProjectionExpression=", ".join(keys)
            )
            for page in pages:
                for item in page["Items"]:
                    dynamodb.delete_item(TableName=table.name, Key=item)
        sqs = _client("sqs", self.endpoint_url)
        for queue in self.model.queues.values():
            sqs.purge_queue(QueueUrl=queue.url)
        s3 = _client("s3", self.endpoint_url)
        for bucket in self.model.buckets.values():
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket.name):
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    s3.delete_object(Bucket=bucket.name, Key=entry["Key"], VersionId=entry["VersionId"])


@functools.cache
def _client(service: str, endpoint_url: str) -> Any:
    """One client per service and endpoint for the whole session (clients keep no state between calls)."""
    return aws.client(service, endpoint_url)


def _ids(endpoint_url: str, secret_arns: dict[str, str] | None = None) -> template.LocalIds:
    return template.LocalIds(stack_name="test", aws_endpoint_url=endpoint_url, secret_arns=secret_arns or {})


def sqs_event_from(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def boto3_default_session_env(endpoint_url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
