"""`warmline elevenlabs configure` against the emulator: valid requests, idempotent, dry run."""

from __future__ import annotations

from local import openapi_check
from local.elevenlabs_emulator import DEFAULT_AGENT_ID
from warmline_cli import agent_setup
from warmline_cli.main import main

TRANSFER_TO = "sip:800@pbx.example.com"
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def _writes(emulator):
    return [record for record in emulator.requests("/v1/convai") if record["method"] in WRITES]


def _configure(local_args, *extra):
    return main(["elevenlabs", "configure", *local_args, "--transfer-to", TRANSFER_TO, *extra])


def test_configure_wires_the_agent_with_requests_valid_per_the_openapi_document(stack, local_args):
    assert _configure(local_args) == 0

    emulator = stack.emulator
    writes = _writes(emulator)
    assert [(record["method"], record["path"].rsplit("/", 1)[0]) for record in writes] == [
        ("POST", "/v1/convai"),  # the workspace secret
        ("POST", "/v1/convai"),  # the check_clone tool
        ("PATCH", "/v1/convai/agents"),
    ]
    for record in writes:
        assert record["status"] == 200
        assert (
            openapi_check.validate_request(record["method"], record["path"], json_body=record["json"]) == []
        )
    patch = writes[-1]["json"]
    for part, schema in (
        ("platform_settings", "AgentPlatformSettingsRequestModel"),
        ("conversation_config", "ConversationalConfigAPIModel-Input"),
    ):
        assert openapi_check.validate_schema(schema, patch[part]) == []

    agent = emulator.agent(DEFAULT_AGENT_ID)
    settings = agent["platform_settings"]
    assert settings["overrides"]["enable_conversation_initiation_client_data_from_webhook"] is True
    assert settings["overrides"]["conversation_config_override"] == {
        "tts": {"voice_id": True},
        "agent": {"first_message": True},
    }
    webhook = settings["workspace_overrides"]["conversation_initiation_client_data_webhook"]
    assert webhook["url"] == stack.endpoints["ConversationInit"]
    secret_id = webhook["request_headers"]["X-Warmline-Secret"]["secret_id"]
    assert emulator.secret_value(secret_id) == stack.secrets["AgentSecret"]

    [tool] = emulator.tools()
    config = tool["tool_config"]
    assert agent["conversation_config"]["agent"]["prompt"]["tool_ids"] == [tool["id"]]
    assert config["api_schema"]["url"] == stack.endpoints["CheckClone"]
    assert config["api_schema"]["url"].endswith("/{caller_id}")
    assert config["api_schema"]["path_params_schema"]["caller_id"]["dynamic_variable"] == "system__caller_id"
    assert config["api_schema"]["request_headers"] == {"X-Warmline-Secret": {"secret_id": secret_id}}
    assert config["response_timeout_secs"] > 8
    transfers = agent["conversation_config"]["agent"]["prompt"]["built_in_tools"]["transfer_to_number"]
    assert transfers["params"]["transfers"][0]["transfer_type"] == "sip_refer"
    assert transfers["params"]["transfers"][0]["transfer_destination"] == {
        "type": "sip_uri",
        "sip_uri": TRANSFER_TO,
    }
    placeholders = agent["conversation_config"]["agent"]["dynamic_variables"]["dynamic_variable_placeholders"]
    assert set(placeholders) == set(agent_setup.DYNAMIC_VARIABLES)
    assert openapi_check.validate_response("GET", f"/v1/convai/agents/{DEFAULT_AGENT_ID}", 200, agent) == []


def test_a_second_run_writes_nothing(stack, local_args, capsys):
    assert _configure(local_args) == 0
    before = len(_writes(stack.emulator))
    capsys.readouterr()

    assert _configure(local_args) == 0

    assert len(_writes(stack.emulator)) == before
    assert "nothing to change" in capsys.readouterr().out


def test_a_rotated_agent_secret_updates_the_workspace_secret_only(stack, local_args):
    assert _configure(local_args) == 0
    secret_id = stack.emulator.agent()["platform_settings"]["workspace_overrides"][
        "conversation_initiation_client_data_webhook"
    ]["request_headers"]["X-Warmline-Secret"]["secret_id"]
    before = len(_writes(stack.emulator))
    arn = stack.model.secrets["AgentSecret"].arn
    from local import aws

    aws.client("secretsmanager", stack.aws_endpoint_url).put_secret_value(
        SecretId=arn, SecretString="rotated-1"
    )
    try:
        assert _configure(local_args) == 0
    finally:
        aws.client("secretsmanager", stack.aws_endpoint_url).put_secret_value(
            SecretId=arn, SecretString=stack.secrets["AgentSecret"]
        )

    [write] = _writes(stack.emulator)[before:]
    assert (write["method"], write["path"]) == ("PATCH", f"/v1/convai/secrets/{secret_id}")
    assert stack.emulator.secret_value(secret_id) == "rotated-1"


def test_dry_run_prints_every_request_and_sends_none(stack, local_args, capsys):
    assert _configure(local_args, "--dry-run") == 0

    out = capsys.readouterr().out
    assert _writes(stack.emulator) == []
    assert out.count("would send ") == 3
    assert "would send PATCH" in out and f"/v1/convai/agents/{DEFAULT_AGENT_ID}" in out
    assert stack.secrets["AgentSecret"] not in out
    assert "dry run: 3 request(s) would be sent, none was" in out


def test_a_tool_changed_by_hand_is_put_back(stack, local_args):
    assert _configure(local_args) == 0
    [tool] = stack.emulator.tools()
    import httpx

    changed = {**tool["tool_config"], "response_timeout_secs": 5}
    httpx.patch(
        f"{stack.emulator.base_url}/v1/convai/tools/{tool['id']}",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        json={"tool_config": changed},
    ).raise_for_status()
    before = len(_writes(stack.emulator))

    assert _configure(local_args) == 0

    [write] = _writes(stack.emulator)[before:]
    assert (write["method"], write["path"]) == ("PATCH", f"/v1/convai/tools/{tool['id']}")
    assert stack.emulator.tools()[0]["tool_config"]["response_timeout_secs"] == 20


def test_an_unknown_agent_is_a_clear_error(stack, local_args, capsys):
    assert _configure(local_args, "--agent-id", "agent_nope") == 2
    assert "error: ElevenLabs: GET /v1/convai/agents/agent_nope: HTTP 404" in capsys.readouterr().err
