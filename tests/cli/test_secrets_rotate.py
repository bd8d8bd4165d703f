"""`warmline secrets rotate` on a local stack of its own with the template's overlap window (an hour):
in the window the functions accept the old and the new value, after it (the stack's clock moved past
it) only the new one; the agent's ElevenLabs workspace secret holds the new value at once."""

from __future__ import annotations

import pytest

from emulators.elevenlabs import CloneLatency
from local import aws
from local.stack import LocalStack, StackOptions
from tests import web
from tests.cli.conftest import REPO_ROOT
from warmline_cli.agent_setup import secret_name
from warmline_cli.main import main

WITHHELD = {"caller": "anonymous", "did": "+441000000000", "call_id": "rotation"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(
        REPO_ROOT / "template.yaml",
        state_dir=tmp_path_factory.mktemp("rotation-state"),
        options=StackOptions(
            emulator_options={"clone_latency": CloneLatency.instant()},
            stack_name="rotation",
        ),
    ) as running:
        yield running


@pytest.fixture
def local_args(stack):
    return ["--local", "--local-state", str(stack.state_file)]


def current_value(stack, logical_id):
    client = aws.client("secretsmanager", stack.aws_endpoint_url)
    return client.get_secret_value(SecretId=stack.model.secrets[logical_id].arn)["SecretString"]


def incoming_call(stack, secret):
    return web.post(
        stack.endpoints["IncomingCall"], json=WITHHELD, headers={"x-warmline-secret": secret}, timeout=10
    ).status_code


def conversation_init(stack, secret):
    return web.post(
        stack.endpoints["ConversationInit"],
        json={"caller_id": "anonymous"},
        headers={"x-warmline-secret": secret},
        timeout=10,
    ).status_code


def wait_out_the_overlap(stack, logical_id):
    """The stack's clock moved half a second past the overlap that began when the value was made."""
    client = aws.client("secretsmanager", stack.aws_endpoint_url)
    made = client.get_secret_value(SecretId=stack.model.secrets[logical_id].arn)["CreatedDate"].timestamp()
    overlap = int(stack.model.parameters["SecretOverlapSeconds"])
    stack.clock.advance(max(0.0, made + overlap + 0.5 - stack.clock.now()))


def test_threecx_overlap_accepts_both_values_and_then_only_the_new_one(stack, local_args, capsys):
    old = stack.secrets["ThreeCxSecret"]
    assert incoming_call(stack, old) == 200  # a warm environment that has read the old value

    assert main(["secrets", "rotate", "threecx", *local_args]) == 0

    new = current_value(stack, "ThreeCxSecret")
    out = capsys.readouterr().out
    assert new != old and f"X-Warmline-Secret = {new}" in out
    assert "still accepted until" in out
    assert incoming_call(stack, new) == 200  # seen at once, not when the secret cache expires
    assert incoming_call(stack, old) == 200
    assert incoming_call(stack, "neither") == 401

    wait_out_the_overlap(stack, "ThreeCxSecret")

    assert incoming_call(stack, new) == 200
    assert incoming_call(stack, old) == 401


def test_agent_rotation_updates_the_workspace_secret_and_overlaps(stack, local_args, capsys):
    assert main(["elevenlabs", "configure", *local_args, "--transfer-to", "sip:800@pbx.example.com"]) == 0
    old = stack.secrets["AgentSecret"]
    assert conversation_init(stack, old) == 200

    assert main(["secrets", "rotate", "agent", *local_args]) == 0

    new = current_value(stack, "AgentSecret")
    assert "ElevenLabs workspace secret" in capsys.readouterr().out
    stored = web.get(
        stack.elevenlabs_base_url + "/v1/convai/secrets",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
    ).json()["secrets"]
    [ours] = [s for s in stored if s["name"].startswith("warmline-local-agent-secret-")]
    assert ours["name"] == secret_name("local", new)
    assert stack.emulator.secret_value(ours["secret_id"]) == new
    assert conversation_init(stack, new) == 200 and conversation_init(stack, old) == 200

    wait_out_the_overlap(stack, "AgentSecret")

    assert conversation_init(stack, new) == 200
    assert conversation_init(stack, old) == 401


@pytest.mark.parametrize("name", ["caller-key", "pin-pepper", "elevenlabs", "nonsense"])
def test_secrets_that_are_not_shared_headers_are_refused_and_left_alone(stack, local_args, capsys, name):
    before = {logical_id: current_value(stack, logical_id) for logical_id in stack.model.secrets}

    assert main(["secrets", "rotate", name, *local_args]) == 2

    assert "error:" in capsys.readouterr().err
    assert {logical_id: current_value(stack, logical_id) for logical_id in stack.model.secrets} == before
