"""`warmline elevenlabs configure` and `doctor` for a first real call (issue 22 section 2): the
transfer it wrote is replaced when the PBX moves, the keypad timeout is written and read back, the
agent's own dynamic variables are recorded."""

from __future__ import annotations

from emulators import openapi_check
from emulators.elevenlabs import DEFAULT_AGENT_ID
from tests import web
from warmline_cli import agent_setup
from warmline_cli.main import main

OLD_PBX = "sip:800@old-pbx.example.com"
NEW_PBX = "sip:800@pbx.example.com"


def _configure(local_args, transfer_to=NEW_PBX):
    return main(["elevenlabs", "configure", *local_args, "--transfer-to", transfer_to])


def _agent_config(stack):
    return stack.emulator.agent(DEFAULT_AGENT_ID)["conversation_config"]


def _patch_agent(stack, body):
    web.patch(
        f"{stack.emulator.base_url}/v1/convai/agents/{DEFAULT_AGENT_ID}",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        json=body,
    ).raise_for_status()


def _refers(stack):
    tool = _agent_config(stack)["agent"]["prompt"]["built_in_tools"]["transfer_to_number"]
    return [entry for entry in tool["params"]["transfers"] if entry["transfer_type"] == "sip_refer"]


# ---- configure after the PBX moved ------------------------------------------------------------------


def test_configure_after_the_pbx_moved_replaces_its_transfer(stack, local_args, capsys):
    assert _configure(local_args, OLD_PBX) == 0

    assert _configure(local_args, NEW_PBX) == 0

    [refer] = _refers(stack)
    assert refer["transfer_destination"] == {"type": "sip_uri", "sip_uri": NEW_PBX}
    assert refer["condition"] == agent_setup.TRANSFER_CONDITION
    capsys.readouterr()
    assert main(["doctor", *local_args]) == 0
    out = capsys.readouterr().out
    assert f"transfers to {NEW_PBX} by SIP REFER" in out and OLD_PBX not in out


def test_an_operators_own_transfer_stays_when_the_pbx_moves(stack, local_args):
    own = {
        "transfer_destination": {"type": "phone", "phone_number": "+442071230000"},
        "condition": "the caller asks for sales",
        "transfer_type": "sip_refer",
    }
    assert _configure(local_args, OLD_PBX) == 0
    tool = _agent_config(stack)["agent"]["prompt"]["built_in_tools"]["transfer_to_number"]
    tool["params"]["transfers"].insert(0, own)
    _patch_agent(
        stack,
        {"conversation_config": {"agent": {"prompt": {"built_in_tools": {"transfer_to_number": tool}}}}},
    )

    assert _configure(local_args, NEW_PBX) == 0

    assert [entry["transfer_destination"] for entry in _refers(stack)] == [
        own["transfer_destination"],
        {"type": "sip_uri", "sip_uri": NEW_PBX},
    ]


# ---- the keypad timeout ------------------------------------------------------------------------------


def test_configure_writes_the_keypad_timeout_and_reads_it_back(stack, local_args, capsys):
    assert _agent_config(stack)["conversation"]["dtmf_input_settings"]["dtmf_input_timeout"] == 2.0

    assert _configure(local_args) == 0

    settings = _agent_config(stack)["conversation"]["dtmf_input_settings"]
    assert settings["dtmf_input_timeout"] == agent_setup.DTMF_INPUT_TIMEOUT_SECONDS
    assert 0.5 <= settings["dtmf_input_timeout"] <= 1.0
    [patch] = [r for r in stack.emulator.requests("/v1/convai/agents/") if r["method"] == "PATCH"]
    config = patch["json"]["conversation_config"]
    assert config["conversation"]["dtmf_input_settings"] == {
        "dtmf_input_timeout": settings["dtmf_input_timeout"]
    }
    assert openapi_check.validate_schema("ConversationalConfigAPIModel-Input", config) == []

    _patch_agent(
        stack, {"conversation_config": {"conversation": {"dtmf_input_settings": {"dtmf_input_timeout": 2.0}}}}
    )
    capsys.readouterr()
    assert main(["doctor", *local_args]) == 1
    assert "keypad" in capsys.readouterr().out


def test_the_emulator_checks_the_sdk_only_keypad_field_against_its_schema():
    too_short = {"conversation": {"dtmf_input_settings": {"dtmf_input_timeout": 0.1}}}
    assert openapi_check.validate_schema("ConversationalConfigAPIModel-Input", too_short) != []


def test_configure_removes_warmlines_old_transfer_even_when_the_new_one_is_there(stack, local_args):
    assert _configure(local_args, NEW_PBX) == 0
    tool = _agent_config(stack)["agent"]["prompt"]["built_in_tools"]["transfer_to_number"]
    tool["params"]["transfers"].insert(0, agent_setup.transfer(OLD_PBX))  # an older run's, say
    _patch_agent(
        stack,
        {"conversation_config": {"agent": {"prompt": {"built_in_tools": {"transfer_to_number": tool}}}}},
    )

    assert _configure(local_args, NEW_PBX) == 0

    assert [entry["transfer_destination"]["sip_uri"] for entry in _refers(stack)] == [NEW_PBX]
