"""`warmline elevenlabs selftest` where agent testing cannot do what a phone call does: a text
simulation has no SIP dialog, so the transfer is judged from the tool call the agent made."""

from __future__ import annotations

import json

from tests import web
from warmline_cli.main import main

TRANSFER_TO = "sip:800@pbx.example.com"


def _configure(local_args, transfer_to=TRANSFER_TO):
    assert main(["elevenlabs", "configure", *local_args, "--transfer-to", transfer_to]) == 0


def _selftest(local_args, capsys, *extra):
    capsys.readouterr()
    code = main(["elevenlabs", "selftest", *local_args, *extra])
    return code, capsys.readouterr().out


def test_a_transfer_a_simulation_cannot_perform_is_not_testable_never_fail(stack, local_args, capsys):
    _configure(local_args)

    code, out = _selftest(local_args, capsys, "--json")

    report = json.loads(out)
    steps = {step["step"]: step for step in report["steps"]}
    assert code == 0 and report["passed"] is True
    assert steps["transfer"]["passed"] is None
    detail = steps["transfer"]["detail"]
    assert f"called transfer_to_number to {TRANSFER_TO}" in detail
    assert "not testable by simulation" in detail and "real call" in detail


def test_the_transfer_is_judged_against_the_configured_destination_without_transfer_to(
    stack, local_args, capsys
):
    _configure(local_args)

    code, out = _selftest(local_args, capsys)

    assert code == 0
    assert f"NOT TESTABLE BY SIMULATION transfer: the agent called transfer_to_number to {TRANSFER_TO}" in out


def test_a_transfer_to_the_wrong_place_still_fails(stack, local_args, capsys):
    _configure(local_args, transfer_to="sip:801@pbx.example.com")

    code, out = _selftest(local_args, capsys, "--transfer-to", TRANSFER_TO)

    assert code == 1
    assert f"FAIL transfer: the agent transferred to sip:801@pbx.example.com, not to {TRANSFER_TO}" in out


def test_where_the_simulation_does_transfer_by_sip_the_step_passes(stack, local_args, capsys):
    _configure(local_args)
    stack.emulator.configure(simulated_refer_succeeds=True)

    code, out = _selftest(local_args, capsys, "--transfer-to", TRANSFER_TO)

    assert code == 0
    assert (
        f"PASS transfer: after transfer_to_agent the agent transferred by SIP REFER to {TRANSFER_TO}" in out
    )


def test_a_transfer_tool_without_a_sip_refer_destination_fails(stack, local_args, capsys):
    _configure(local_args)
    agent = stack.emulator.agent()
    tool = agent["conversation_config"]["agent"]["prompt"]["built_in_tools"]["transfer_to_number"]
    tool["params"]["transfers"] = []
    web.patch(
        f"{stack.emulator.base_url}/v1/convai/agents/{agent['agent_id']}",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        json={"conversation_config": {"agent": {"prompt": {"built_in_tools": {"transfer_to_number": tool}}}}},
    ).raise_for_status()

    code, out = _selftest(local_args, capsys)

    assert code == 1
    assert "FAIL transfer: the agent's transfer_to_number named no destination" in out
