"""`warmline elevenlabs selftest` against the local stack: the emulator's agent testing runs the agent
as configured, and each step passes, or fails with a line that names what is wrong."""

from __future__ import annotations

import json

from emulators import openapi_check
from emulators.elevenlabs import DEFAULT_AGENT_ID
from tests import web
from tests.answering_server import AnsweringServer
from tests.cli.conftest import make_wav
from tests.waiting import eventually
from warmline.callers import caller_key
from warmline_cli import samples, selftest
from warmline_cli import target as targets
from warmline_cli.main import main

TRANSFER_TO = "sip:800@pbx.example.com"
STEPS = ["test call", "greeting", "check_clone", "transfer"]


def _configure(local_args, transfer_to=TRANSFER_TO):
    assert main(["elevenlabs", "configure", *local_args, "--transfer-to", transfer_to]) == 0


def _selftest(local_args, capsys, *extra):
    capsys.readouterr()
    code = main(["elevenlabs", "selftest", *local_args, "--json", *extra])
    report = json.loads(capsys.readouterr().out)
    return code, {step["step"]: step for step in report["steps"]}, report


def _patch(stack, path, body):
    answer = web.patch(
        f"{stack.emulator.base_url}{path}",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        json=body,
    )
    assert answer.status_code == 200, answer.text


def _patch_agent(stack, body):
    _patch(stack, f"/v1/convai/agents/{DEFAULT_AGENT_ID}", body)


def _point_the_tool_at(stack, tool, url):
    config = tool["tool_config"]
    config["api_schema"]["url"] = url
    _patch(stack, f"/v1/convai/tools/{tool['id']}", {"tool_config": config})


def test_selftest_passes_on_a_configured_agent_with_valid_requests(stack, local_args, capsys):
    _configure(local_args)

    code, steps, report = _selftest(local_args, capsys, "--transfer-to", TRANSFER_TO)

    assert code == 0, report
    assert list(steps) == STEPS
    assert all(steps[step]["passed"] for step in STEPS[:3])
    assert steps["transfer"]["passed"] is None  # a simulation cannot send the SIP REFER
    assert report["caller"] == "+44******0999"
    assert "cloning / continue_with_default_voice" in steps["check_clone"]["detail"]
    assert TRANSFER_TO in steps["transfer"]["detail"]
    records = stack.emulator.requests("/v1/convai/")
    tests = [record for record in records if record["path"] == "/v1/convai/agent-testing/create"]
    assert len(tests) == 2
    for record in records:
        assert record["status"] == 200, record
        body = record.get("json")
        assert openapi_check.validate_request(record["method"], record["path"], json_body=body) == []
    assert stack.emulator.agent_testing.tests() == []  # the tests were deleted
    assert stack.emulator.voices() == []  # no voice was cloned


def test_selftest_leaves_no_record_and_checks_the_test_caller_on_warmlines_side(stack, local_args, capsys):
    _configure(local_args)
    code, _steps, _report = _selftest(local_args, capsys)
    assert code == 0

    target = targets.from_local(stack.state_file)
    key = caller_key(selftest.TEST_CALLER, stack.secrets["CallerKeySecret"])
    assert samples.clone_store(target).get_clone(key) is None


def test_the_emulators_test_invocation_is_in_the_documented_shape(stack, local_args):
    _configure(local_args)
    key = {"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]}
    base = stack.emulator.base_url
    test = {
        "type": "simulation",
        "name": "shape",
        "success_conditions": ["The agent answers."],
        "dynamic_variables": {"system__caller_id": "+447700900998"},
    }
    created = web.post(f"{base}/v1/convai/agent-testing/create", headers=key, json=test).json()
    path = f"/v1/convai/agents/{DEFAULT_AGENT_ID}/run-tests"
    started = web.post(f"{base}{path}", headers=key, json={"tests": [{"test_id": created["id"]}]}).json()
    assert openapi_check.validate_response("POST", path, 200, started) == []
    assert started["test_runs"][0]["status"] == "pending"

    invocation_path = f"/v1/convai/test-invocations/{started['id']}"

    def finished():
        invocation = web.get(f"{base}{invocation_path}", headers=key).json()
        return invocation if invocation["test_runs"][0]["status"] != "pending" else None

    invocation = eventually(finished, within=30, what="the simulation finished")
    assert openapi_check.validate_response("GET", invocation_path, 200, invocation) == []
    [run] = invocation["test_runs"]
    calls = [call["tool_name"] for turn in run["agent_responses"] for call in turn.get("tool_calls", [])]
    assert calls == ["check_clone"]


def test_selftest_fails_the_check_clone_step_when_the_agent_lacks_the_tool(stack, local_args, capsys):
    _configure(local_args)
    _patch_agent(stack, {"conversation_config": {"agent": {"prompt": {"tool_ids": []}}}})

    code, steps, _report = _selftest(local_args, capsys)

    assert code == 1
    assert steps["greeting"]["passed"]
    assert not steps["check_clone"]["passed"]
    assert "never called check_clone" in steps["check_clone"]["detail"]
    assert not steps["transfer"]["passed"]


def test_selftest_fails_the_transfer_step_when_the_transfer_goes_elsewhere(stack, local_args, capsys):
    _configure(local_args, transfer_to="sip:801@pbx.example.com")

    code, steps, _report = _selftest(local_args, capsys, "--transfer-to", TRANSFER_TO)

    assert code == 1
    assert [name for name, step in steps.items() if not step["passed"]] == ["transfer"]
    assert (
        steps["transfer"]["detail"]
        == f"the agent transferred to sip:801@pbx.example.com, not to {TRANSFER_TO}"
    )


def test_selftest_fails_when_the_agent_cannot_reach_warmline(stack, local_args, capsys):
    _configure(local_args)
    agent = stack.emulator.agent(DEFAULT_AGENT_ID)
    webhook = agent["platform_settings"]["workspace_overrides"]["conversation_initiation_client_data_webhook"]
    [tool] = stack.emulator.tools()
    unreachable = "http://127.0.0.1:9/api"
    webhook["url"] = unreachable + "/agent/conversation-init"
    _patch_agent(
        stack,
        {"platform_settings": {"workspace_overrides": agent["platform_settings"]["workspace_overrides"]}},
    )
    _point_the_tool_at(stack, tool, unreachable + "/ivr/check-clone/{caller_id}")

    code, steps, _report = _selftest(local_args, capsys)

    assert code == 1
    assert steps["test call"]["passed"]  # the CLI reaches warmline; the agent does not
    assert not steps["greeting"]["passed"]
    assert "not warmline's greeting" in steps["greeting"]["detail"]
    assert not steps["check_clone"]["passed"]
    assert "failed, not reaching warmline" in steps["check_clone"]["detail"]


def test_selftest_prints_a_line_per_step(stack, local_args, capsys):
    _configure(local_args)
    capsys.readouterr()

    assert main(["elevenlabs", "selftest", *local_args]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        *(f"PASS {step}" for step in STEPS[:3]),
        "NOT TESTABLE BY SIMULATION transfer",
    ]


def test_selftest_refuses_a_registered_caller_as_its_test_caller(stack, local_args, capsys, tmp_path):
    sample = make_wav(tmp_path / "voice.wav", 12)
    number = "+447700900123"
    assert (
        main(
            [
                "samples",
                "add",
                *local_args,
                "--caller",
                number,
                "--file",
                str(sample),
                "--consent",
                "Jane Doe, by phone, 2026-11-24, recorded",
            ]
        )
        == 0
    )
    _configure(local_args)
    capsys.readouterr()

    assert main(["elevenlabs", "selftest", *local_args, "--caller", number]) == 2
    assert "is a registered caller" in capsys.readouterr().err


def _changed_state(stack, tmp_path, change):
    """The local stack's state file with `change` applied: the CLI's view of the stack, not the stack."""
    state = json.loads(stack.state_file.read_text())
    change(state)
    state_file = tmp_path / "local.json"
    state_file.write_text(json.dumps(state))
    return ["--local", "--local-state", str(state_file)]


def test_selftest_fails_the_test_call_when_the_cli_cannot_reach_warmline(stack, local_args, capsys, tmp_path):
    _configure(local_args)
    args = _changed_state(
        stack,
        tmp_path,
        lambda state: state["endpoints"].update(IncomingCall="http://127.0.0.1:9/api/calls/incoming"),
    )

    code, steps, _report = _selftest(args, capsys)

    assert code == 1
    assert [name for name, step in steps.items() if step["passed"] is False] == ["test call"]
    assert steps["test call"]["detail"] == (
        "warmline is not reachable at http://127.0.0.1:9/api/calls/incoming (ConnectError)"
    )


# check_clone's answer as a warmline stack would give it, from a server that is not the stack under test.
OTHER_STACKS_ANSWER = json.dumps(
    {
        "caller_id": "+44******0999",
        "status": "cloning",
        "clone_ready": False,
        "cloned_voice_id": None,
        "wait_time_ms": 0,
        "next_action": "ask_again",
        "say": "One moment.",
    }
).encode()


def test_selftest_fails_check_clone_when_the_tool_reaches_another_stack(stack, local_args, capsys):
    _configure(local_args)
    with AnsweringServer(lambda _path: (200, "application/json", OTHER_STACKS_ANSWER)) as other:
        [tool] = stack.emulator.tools()
        _point_the_tool_at(stack, tool, f"{other.url}/api/ivr/check-clone/{{caller_id}}")
        code, steps, _report = _selftest(local_args, capsys)

    assert code == 1
    assert [name for name, step in steps.items() if step["passed"] is False] == ["check_clone"]
    assert "this stack recorded no check of the test caller" in steps["check_clone"]["detail"]


def test_selftest_has_no_transfer_to_check_in_handoff_mode_outbound(stack, local_args, capsys, tmp_path):
    _configure(local_args)
    args = _changed_state(stack, tmp_path, lambda state: state["parameters"].update(HandoffMode="outbound"))

    code, steps, _report = _selftest(args, capsys)

    assert code == 0
    assert steps["transfer"] == {
        "step": "transfer",
        "passed": True,
        "detail": "HandoffMode=outbound: warmline calls the caller back, no transfer",
    }
    created = stack.emulator.requests("/v1/convai/agent-testing/create")
    assert [record["json"]["name"].rsplit(": ", 1)[1] for record in created] == ["check_clone"]
