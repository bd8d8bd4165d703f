"""`warmline elevenlabs configure` against the emulator: valid requests, idempotent, dry run."""

from __future__ import annotations

import pytest

from emulators import agent_platform, openapi_check
from emulators.elevenlabs import DEFAULT_AGENT_ID, Fault
from tests import web
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

    changed = {**tool["tool_config"], "response_timeout_secs": 5}
    web.patch(
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
    assert _configure(local_args, "--agent-id", "agent_nope") == 1
    assert "error: ElevenLabs: GET /v1/convai/agents/agent_nope: HTTP 404" in capsys.readouterr().err


# ---- no silence while check_clone waits; the menu in the prompt ---------------------------------


def test_the_caller_hears_speech_and_a_sound_while_check_clone_waits(stack, local_args):
    assert _configure(local_args) == 0

    [tool] = stack.emulator.tools()
    config = tool["tool_config"]
    assert config["pre_tool_speech"] == "force"
    assert config["tool_call_sound"] in ("typing", "elevator1", "elevator2", "elevator3", "elevator4")
    assert config["tool_call_sound_behavior"] == "always"
    assert not {"force_pre_tool_speech", "disable_interruptions"} & set(config)  # deprecated


def test_a_tool_that_would_leave_the_caller_in_silence_is_put_right(stack, local_args, capsys):
    assert _configure(local_args) == 0
    [tool] = stack.emulator.tools()

    silent = {
        key: value for key, value in tool["tool_config"].items() if not key.startswith(("pre_", "tool_"))
    }
    web.patch(
        f"{stack.emulator.base_url}/v1/convai/tools/{tool['id']}",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        json={"tool_config": silent},
    ).raise_for_status()
    capsys.readouterr()

    assert _configure(local_args) == 0

    assert "silence" in capsys.readouterr().out
    assert stack.emulator.tools()[0]["tool_config"]["pre_tool_speech"] == "force"


def test_the_menu_part_of_the_prompt_is_written_once_and_the_rest_is_kept(stack, local_args):
    assert _configure(local_args) == 0
    prompt = stack.emulator.agent()["conversation_config"]["agent"]["prompt"]["prompt"]

    assert prompt.startswith("You are a helpful assistant.")  # the operator's own prompt
    assert agent_setup.MENU_BEGIN in prompt and agent_setup.MENU_END in prompt
    assert "{{warmline_mode}}" in prompt and "check_clone" in prompt and "transfer_to_number" in prompt
    assert _configure(local_args) == 0
    again = stack.emulator.agent()["conversation_config"]["agent"]["prompt"]["prompt"]
    assert again == prompt and again.count(agent_setup.MENU_BEGIN) == 1


def test_the_menu_tells_the_agent_to_check_again_by_itself_so_the_caller_presses_once(stack, local_args):
    assert _configure(local_args) == 0

    # The rule the emulator's agent follows as the real agent's LLM would (emulators/agent_platform.py).
    assert agent_platform.recall_rules(stack.emulator.agent()) == {"check_again": "check_clone"}
    tool = stack.emulator.tools()[0]["tool_config"]
    assert "check_again" in tool["description"]
    # One check's wait (IvrMaxWaitSeconds, at most 8 s) fits the tool's timeout with room to spare.
    assert tool["response_timeout_secs"] >= 8 + agent_setup.TOOL_TIMEOUT_MARGIN_SECONDS


def test_an_outdated_menu_is_replaced_in_place(stack, local_args):
    stale = f"Be kind.\n\n{agent_setup.MENU_BEGIN}\nold words\n{agent_setup.MENU_END}\n\nSpeak English."
    _patch_agent(stack, {"conversation_config": {"agent": {"prompt": {"prompt": stale}}}})

    assert _configure(local_args) == 0

    prompt = stack.emulator.agent()["conversation_config"]["agent"]["prompt"]["prompt"]
    assert prompt.startswith("Be kind.") and prompt.endswith("Speak English.")
    assert "old words" not in prompt and prompt.count(agent_setup.MENU_BEGIN) == 1


# ---- the transfer back to 3CX ------------------------------------------------------------------


def test_transfer_mode_without_a_destination_is_a_usage_error_naming_what_is_missing(
    stack, local_args, capsys
):
    assert main(["elevenlabs", "configure", *local_args]) == 2

    err = capsys.readouterr().err
    assert "--transfer-to" in err and "HandoffMode=transfer" in err
    assert _writes(stack.emulator) == []


@pytest.mark.parametrize(
    "destination", ["800", "pbx.example.com", "sip:", "sip:800", "+44 20 7946", "tel:+44"]
)
def test_a_transfer_destination_that_is_no_sip_uri_or_e164_number_is_refused(
    stack, local_args, capsys, destination
):
    assert main(["elevenlabs", "configure", *local_args, "--transfer-to", destination]) == 2

    assert "--transfer-to" in capsys.readouterr().err
    assert _writes(stack.emulator) == []


def test_an_e164_number_is_a_phone_destination(stack, local_args):
    assert main(["elevenlabs", "configure", *local_args, "--transfer-to", "+442071234567"]) == 0

    tool = stack.emulator.agent()["conversation_config"]["agent"]["prompt"]["built_in_tools"]
    assert tool["transfer_to_number"]["params"]["transfers"][0]["transfer_destination"] == {
        "type": "phone",
        "phone_number": "+442071234567",
    }


def test_rewriting_the_transfer_tool_keeps_its_other_settings(stack, local_args):
    existing = {
        "type": "system",
        "name": "transfer_to_number",
        "description": "the operator's words",
        "interruption_mode": "disable_during_tool",
        "pre_tool_speech": "force",
        "assignments": [{"dynamic_variable": "transferred", "value_path": "status"}],
        "params": {
            "system_tool_type": "transfer_to_number",
            "enable_client_message": False,
            "transfers": [
                {
                    "transfer_destination": {"type": "phone", "phone_number": "+442071230000"},
                    "condition": "the caller asks for sales",
                    "transfer_type": "conference",
                }
            ],
        },
    }
    _patch_agent(
        stack,
        {"conversation_config": {"agent": {"prompt": {"built_in_tools": {"transfer_to_number": existing}}}}},
    )

    assert _configure(local_args) == 0

    tool = stack.emulator.agent()["conversation_config"]["agent"]["prompt"]["built_in_tools"][
        "transfer_to_number"
    ]
    for field in ("description", "interruption_mode", "pre_tool_speech", "assignments"):
        assert tool[field] == existing[field]
    assert tool["params"]["enable_client_message"] is False
    assert tool["params"]["transfers"][0] == existing["params"]["transfers"][0]
    assert tool["params"]["transfers"][1]["transfer_destination"] == {
        "type": "sip_uri",
        "sip_uri": TRANSFER_TO,
    }


# ---- answers configure did not expect ----------------------------------------------------------


ODD_ANSWERS = [
    ("POST", "/v1/convai/secrets", {}),
    ("POST", "/v1/convai/secrets", {"secret_id": 42}),
    ("POST", "/v1/convai/tools", {"tool_config": {}}),
    ("POST", "/v1/convai/tools", []),
    ("GET", "/v1/convai/secrets", {"secrets": "none"}),
    ("GET", "/v1/convai/secrets", {"secrets": [{"name": "warmline-local-agent-secret-x"}]}),
    ("GET", "/v1/convai/secrets", None),
    ("GET", "/v1/convai/agents/", {"conversation_config": "?"}),
    ("GET", "/v1/convai/agents/", {"conversation_config": {"agent": {"prompt": {"tool_ids": "tool_1"}}}}),
    ("GET", "/v1/convai/tools", {"tools": [None, 3]}),
    ("PATCH", "/v1/convai/agents/", "done"),
]


@pytest.mark.parametrize(("method", "path", "body"), ODD_ANSWERS)
def test_an_unexpected_answer_is_one_line_naming_the_request_and_exit_1(
    stack, local_args, capsys, method, path, body
):
    stack.emulator.inject(Fault(method=method, path_prefix=path, kind="body", status=200, body=body))

    code = _configure(local_args)

    err = capsys.readouterr().err
    assert code == 1, err
    [line] = err.strip().splitlines()
    assert line.startswith("error: ") and method in line and path.rstrip("/") in line


def _patch_agent(stack, body):

    web.patch(
        f"{stack.emulator.base_url}/v1/convai/agents/{DEFAULT_AGENT_ID}",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        json=body,
    ).raise_for_status()
