"""The real template on the local stack: resources, secrets, the ElevenLabs emulator and local.json."""

import json
import os
import stat

from local import aws
from local.stack import LocalStack, StackOptions
from tests import web

from .conftest import REPO_ROOT


def test_real_template_stack_starts_the_emulator_with_the_key_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("ELEVENLABS_BASE_URL", raising=False)
    with LocalStack(REPO_ROOT / "template.yaml", state_dir=tmp_path) as stack:
        state = json.loads((tmp_path / "local.json").read_text())
        # It holds every local secret: its owner's alone, from the moment it exists.
        assert stat.S_IMODE(os.stat(tmp_path / "local.json").st_mode) == 0o600
        assert state["api_base_url"] == stack.api_base_url
        assert state["endpoints"]["CheckClone"] == stack.api_base_url + "/api/ivr/check-clone/{caller_id}"
        assert set(state["endpoints"]) == {
            "IncomingCall",
            "ConversationInit",
            "PostCall",
            "CheckClone",
            "CloningMetrics",
        }
        assert state["elevenlabs_emulator"] is True
        assert state["elevenlabs_base_url"] == stack.elevenlabs_base_url == stack.emulator.base_url
        assert state["aws_endpoint_url"] == stack.aws_endpoint_url
        assert set(state["secrets"]) == {
            "ElevenLabsApiKeySecret",
            "ThreeCxSecret",
            "AgentSecret",
            "CallerKeySecret",
            "OperatorSecret",
            "PinPepperSecret",
            "PostCallWebhookSecret",
        }
        assert len(set(state["secrets"].values())) == 7

        key = state["secrets"]["ElevenLabsApiKeySecret"]
        subscription = web.get(
            stack.elevenlabs_base_url + "/v1/user/subscription", headers={"xi-api-key": key}
        )
        assert subscription.status_code == 200

        secretsmanager = aws.client("secretsmanager", stack.aws_endpoint_url)
        for logical_id, arn in state["resources"]["secrets"].items():
            assert (
                secretsmanager.get_secret_value(SecretId=arn)["SecretString"] == state["secrets"][logical_id]
            )
        dynamodb = aws.client("dynamodb", stack.aws_endpoint_url)
        [table] = state["resources"]["tables"].values()
        ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
        sqs = aws.client("sqs", stack.aws_endpoint_url)
        attributes = sqs.get_queue_attributes(
            QueueUrl=state["resources"]["queues"]["CloneJobsQueue"], AttributeNames=["All"]
        )["Attributes"]
        assert attributes["VisibilityTimeout"] == "90"
        assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
        for pool in stack.runtime.pools.values():
            assert pool.environment["ELEVENLABS_BASE_URL"] == stack.elevenlabs_base_url
            assert pool.environment["AWS_ENDPOINT_URL"] == stack.aws_endpoint_url
        assert stack.runtime.pools["CloneWorkerFunction"].cap == 5
    assert not (tmp_path / "local.json").exists()
    assert stack.moto is None and stack.emulator is None


def test_an_external_elevenlabs_server_replaces_the_emulator(tmp_path, monkeypatch):
    monkeypatch.setenv("ELEVENLABS_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ELEVENLABS_API_KEY", "external-key")
    stack = LocalStack(
        REPO_ROOT / "template.yaml", state_dir=tmp_path, options=StackOptions(visibility_timeout_override=2)
    )
    with stack:
        assert stack.emulator is None
        assert stack.elevenlabs_base_url == "http://127.0.0.1:9"
        assert stack.secrets["ElevenLabsApiKeySecret"] == "external-key"
        assert (
            stack.runtime.pools["WebhookFunction"].environment["ELEVENLABS_BASE_URL"] == "http://127.0.0.1:9"
        )
        sqs = aws.client("sqs", stack.aws_endpoint_url)
        url = stack.model.queues["CloneJobsQueue"].url
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
            "VisibilityTimeout": "2"
        }
    stack.stop()  # idempotent
