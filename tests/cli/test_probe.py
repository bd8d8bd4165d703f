"""`warmline elevenlabs probe` against the local stack: every probe runs unattended on the emulator,
answers PASS in the world warmline assumes and FAIL in the other (the emulator's switches,
emulators/worlds.py), says what warmline does on each answer, and leaves nothing at ElevenLabs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from emulators.elevenlabs import DEFAULT_AGENT_ID, Fault
from tests import web
from tests.cli.conftest import REPO_ROOT, make_wav
from tests.waiting import eventually
from warmline.clone_state import VoiceStatus, voice_status
from warmline.voice_slots import parse_voice_name
from warmline_cli import samples
from warmline_cli.main import main
from warmline_cli.probe import last_report
from warmline_cli.probe_checks import PROBES
from warmline_cli.target import from_local

TRANSFER_TO = "sip:800@pbx.example.com"
SAMPLE_CALLER = "+447700900123"
NAMES = [probe.name for probe in PROBES]
# Each probe, and the emulator world in which it must answer FAIL.
OTHER_WORLDS = {
    "testing-init": {"init_in_testing": False},
    "init-failure": {"init_failure": "end_call"},
    "override-permission": {"unpermitted_override": "ignore"},
    "patch-merge": {"patch_merge": "shallow"},
    "voice-search": {"search_lag_seconds": 60},
    "clone-verification": {"clones_need_verification": True},
    "caller-id": {"caller_id_passed": False},
    "sip-body": {"sip_called_number": False},
    "refer": {"refer_answer": 403},
    "dtmf": {"dtmf_passed": False},
    "voice-switch": {"agent_transfer_reads": "start"},
}


@pytest.fixture
def wired(stack, local_args, tmp_path):
    """The stack's agent configured as an operator leaves it, and one registered, consenting caller."""
    assert main(["elevenlabs", "configure", *local_args, "--transfer-to", TRANSFER_TO]) == 0
    target = from_local(stack.state_file)
    caller = samples.resolve_caller(target, SAMPLE_CALLER)
    checked = [samples.audio.inspect(make_wav(tmp_path / "sample.wav", 8.0))]
    samples.register(target, caller, checked, "Jane Doe, by phone, 2026-12-06")
    return stack


def _worlds(stack, switches):
    answer = web.post(f"{stack.emulator.base_url}/_emulator/config", json={"worlds": switches})
    assert answer.status_code == 200, answer.text
    return answer.json()["worlds"]


def _probe(local_args, tmp_path, *names):
    report_file = tmp_path / "probe.json"
    options = ["--sample-caller", SAMPLE_CALLER, "--search-seconds", "0.3", "--json", str(report_file)]
    code = main(["elevenlabs", "probe", *names, *local_args, *options])
    report = json.loads(report_file.read_text())
    return code, {finding["name"]: finding for finding in report["probes"]}, report


def _nothing_left(stack):
    assert stack.emulator.agent_ids() == [DEFAULT_AGENT_ID]
    assert stack.emulator.voices() == []
    assert stack.emulator.agent_testing.tests() == []
    assert [t for t in stack.emulator.tools() if t["tool_config"]["name"].startswith("warmline_probe")] == []


def test_every_probe_runs_unattended_on_the_local_stack_and_passes_in_warmlines_world(
    wired, local_args, tmp_path, capsys
):
    code, findings, report = _probe(local_args, tmp_path)

    assert list(findings) == NAMES
    assert {name: finding["verdict"] for name, finding in findings.items()} == dict.fromkeys(NAMES, "PASS")
    assert code == 0
    for finding in findings.values():
        assert finding["sent"] and finding["saw"] and finding["then"]
    assert report["counts"] == {"PASS": len(NAMES), "FAIL": 0, "INCONCLUSIVE": 0}
    assert report["not_deleted"] == []
    _nothing_left(wired)
    out = capsys.readouterr().out
    assert "PASS refer:" in out and "then: HandoffMode=transfer" in out


@pytest.mark.parametrize("name", NAMES)
def test_each_probe_tells_its_two_worlds_apart(wired, local_args, tmp_path, name):
    _code, passing, _report = _probe(local_args, tmp_path, name)
    assert passing[name]["verdict"] == "PASS", passing[name]

    _worlds(wired, OTHER_WORLDS[name])
    code, failing, _report = _probe(local_args, tmp_path, name)

    assert failing[name]["verdict"] == "FAIL", failing[name]
    assert failing[name]["saw"] != passing[name]["saw"]
    assert failing[name]["then"] == next(p.on_fail for p in PROBES if p.name == name)
    assert code == 1
    _nothing_left(wired)


def test_a_probe_that_breaks_is_inconclusive_and_what_it_made_is_deleted(wired, local_args, tmp_path):
    # The simulation's result and the voice search break after the agent, test and voice exist.
    wired.emulator.inject(Fault(method="GET", path_prefix="/v1/convai/test-invocations/", always=True))
    wired.emulator.inject(Fault(method="GET", path_prefix="/v2/voices", always=True, status=503))

    _code, findings, report = _probe(local_args, tmp_path, "testing-init", "voice-search")

    for name in ("testing-init", "voice-search"):
        assert findings[name]["verdict"] == "INCONCLUSIVE"
        assert "broke off" in findings[name]["saw"]
    wired.emulator.clear_faults()
    assert report["not_deleted"] == []
    _nothing_left(wired)
    deleted = [r["path"] for r in wired.emulator.requests() if r["method"] == "DELETE"]
    assert any(path.startswith("/v1/convai/agents/agent_") for path in deleted)
    assert any(path.startswith("/v1/voices/") for path in deleted)


def _ctrl_c_as_at_a_terminal() -> None:
    """Ctrl-C reaches the command as at an operator's terminal, even when the suite itself runs with
    SIGINT ignored (started in the background by a script: `cmd &`), which its children would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_probe(name: str, local_args: list[str]) -> subprocess.Popen:
    """`warmline elevenlabs probe NAME` as its own process, for the operator's Ctrl-C."""
    command = [sys.executable, "-m", "warmline_cli.main", "elevenlabs", "probe", name, *local_args]
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )


def test_ctrl_c_deletes_what_the_probes_made(wired, local_args):
    # The simulation hangs; the operator presses Ctrl-C while the probe waits for it.
    wired.emulator.inject(
        Fault(method="GET", path_prefix="/v1/convai/test-invocations/", kind="hang", seconds=5)
    )
    process = start_probe("testing-init", local_args)
    try:

        def waiting():
            assert process.poll() is None, "the probe ended without waiting"
            return wired.emulator.in_flight("/v1/convai/test-invocations/")

        eventually(waiting, within=30, what="the probe waiting for the simulation")
        assert len(wired.emulator.agent_ids()) == 2  # the throwaway agent exists now
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
    _nothing_left(wired)


def test_doctor_shows_the_last_probe_report(wired, local_args, tmp_path, capsys):
    _worlds(wired, {"refer_answer": 403})
    _probe(local_args, tmp_path, "refer")
    assert last_report(wired.state_file.parent / "probe-local.json")["counts"]["FAIL"] == 1
    capsys.readouterr()

    main(["doctor", *local_args])

    out = capsys.readouterr()
    assert "last probe" in out.out + out.err
    assert "FAIL refer" in out.out + out.err


SLOW_MACHINE_TIMEOUT_S = 30


def _play_the_call(stack, caller, did):
    """What the operator does when the probe asks for the call: dial through 3CX, press 1, be
    transferred and come back on a second leg (3CX's webhook and INVITE each time)."""
    target = from_local(stack.state_file)
    base = stack.emulator.base_url
    legs = []
    for leg in (1, 2):
        web.post(
            target.incoming_call_url,
            json={"caller": caller, "did": did, "call_id": f"guided-{leg}"},
            headers={"X-Warmline-Secret": stack.secrets["ThreeCxSecret"]},
            timeout=SLOW_MACHINE_TIMEOUT_S,
        ).raise_for_status()
        invite = {"from": f"sip:{caller}@pbx.local", "to": f"sip:{did}@sip.rtc.elevenlabs.io"}
        # The emulated INVITE asks the stack's conversation-init, the key press its check-clone: each
        # may meet a cold start, seconds on a loaded machine (httpx's default timeout is 5 s).
        inbound = web.post(f"{base}/_emulator/sip/inbound", json=invite, timeout=SLOW_MACHINE_TIMEOUT_S)
        legs.append(inbound.json()["conversation_id"])
        if leg == 1:
            conversation = f"{base}/_emulator/conversations/{legs[0]}"
            web.post(f"{conversation}/dtmf", json={"digits": "1"}, timeout=SLOW_MACHINE_TIMEOUT_S)
            transfer = web.post(f"{conversation}/transfer", json={}, timeout=SLOW_MACHINE_TIMEOUT_S)
            assert transfer.json()["transferred"]
    return legs


def test_the_call_probes_guide_the_operator_and_judge_from_the_conversation_history(
    wired, local_args, tmp_path
):
    caller, did = "+447700900555", "+442079460001"
    report_file = tmp_path / "probe.json"
    command = [sys.executable, "-m", "warmline_cli.main", "elevenlabs", "probe", *local_args, "--guided"]
    command += ["caller-id", "sip-body", "refer", "dtmf", "--caller", caller, "--did", did]
    process = subprocess.Popen(
        [*command, "--json", str(report_file)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        asked = ""
        while "Press Enter" not in asked:
            line = process.stdout.readline()
            assert line, f"the probe ended without asking for the call: {asked}"
            asked += line
        assert f"From the test phone {caller}, call {did} now" in asked
        assert "press 1" in asked
        _play_the_call(wired, caller, did)
        process.stdin.write("\n")
        process.stdin.close()
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    findings = {f["name"]: f for f in json.loads(report_file.read_text())["probes"]}
    assert {name: f["verdict"] for name, f in findings.items()} == dict.fromkeys(
        ["caller-id", "sip-body", "refer", "dtmf"], "PASS"
    ), [(f["name"], f["saw"]) for f in findings.values()]
    assert code == 0
    assert "2 leg(s)" in findings["refer"]["saw"]


def test_a_voice_the_probe_cannot_delete_is_named_and_left_to_the_voice_sweep(wired, local_args, tmp_path):
    wired.emulator.inject(Fault(method="DELETE", path_prefix="/v1/voices/", always=True, status=500))

    code, _findings, report = _probe(local_args, tmp_path, "clone-verification")

    wired.emulator.clear_faults()
    assert code == 1
    [left] = wired.emulator.voices()
    assert len(report["not_deleted"]) == 1
    assert report["not_deleted"][0].startswith(f"voice {left['voice_id']}:")
    # It bears warmline's name for the sample caller, so the scheduled sweep deletes it as an orphan.
    target = from_local(wired.state_file)
    caller = samples.resolve_caller(target, SAMPLE_CALLER)
    caller_key, job_id = parse_voice_name(left["name"])
    assert caller_key == caller.key
    record = samples.clone_store(target).load(caller.key).clone
    assert voice_status(record, left["voice_id"], job_id, time.time()) is VoiceStatus.ORPHAN


def test_ctrl_c_in_the_voice_switch_probe_deletes_both_agents_and_the_tool(wired, local_args):
    # B's PATCH hangs mid-call; the operator presses Ctrl-C while the probe waits for it.
    wired.emulator.inject(Fault(method="PATCH", path_prefix="/v1/convai/agents/", kind="hang", seconds=5))
    process = start_probe("voice-switch", local_args)
    try:
        deadline = time.monotonic() + 30
        while not wired.emulator.in_flight("/v1/convai/agents/agent_"):
            assert process.poll() is None and time.monotonic() < deadline, "the probe never patched B"
            time.sleep(0.05)
        assert len(wired.emulator.agent_ids()) == 3  # A and B exist now
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
    _nothing_left(wired)


def _listen_as_the_operator(stack, answer_digit):
    """What the operator does on the probe's call: key 1, be handed over, answer, hang up."""
    base = stack.emulator.base_url
    listed = web.get(f"{base}/v1/convai/conversations", headers={"xi-api-key": stack.emulator.api_key})
    [conversation] = [c for c in listed.json()["conversations"] if c["direction"] == "outbound"]
    conversation_url = f"{base}/_emulator/conversations/{conversation['conversation_id']}"
    web.post(f"{conversation_url}/dtmf", json={"digits": "1"}).raise_for_status()
    assert web.post(f"{conversation_url}/agent-transfer", json={}).json()["transferred"]
    web.post(f"{conversation_url}/dtmf", json={"digits": answer_digit}).raise_for_status()
    web.post(f"{conversation_url}/end", json={}).raise_for_status()


@pytest.mark.parametrize(("digit", "verdict"), [("1", "PASS"), ("2", "FAIL")])
def test_the_voice_switch_probe_guides_the_operator_and_judges_the_key_they_press(
    wired, local_args, tmp_path, digit, verdict
):
    report_file = tmp_path / "probe.json"
    command = [sys.executable, "-m", "warmline_cli.main", "elevenlabs", "probe", "voice-switch", *local_args]
    command += ["--guided", "--caller", "+447700900555", "--json", str(report_file)]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        asked = ""
        while "Press Enter" not in asked:
            line = process.stdout.readline()
            assert line, f"the probe ended without asking for the call: {asked}"
            asked += line
        assert "calls the test phone +447700900555" in asked and "Press 1 if its voice is different" in asked
        _listen_as_the_operator(wired, digit)
        process.stdin.write("\n")
        process.stdin.close()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    [finding] = json.loads(report_file.read_text())["probes"]
    assert finding["verdict"] == verdict, finding
    _nothing_left(wired)
