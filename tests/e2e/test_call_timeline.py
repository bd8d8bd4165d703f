"""`warmline calls list|show` draw a real call on the local stack from its stored events: a
first-time caller (greeting, clone, key press, check_clone, handoff, re-entry), the steps in the
order they happened, the caller masked, as text, as JSON and as a PNG."""

import json
import struct

import pytest

from warmline_cli import main as cli

pytestmark = pytest.mark.e2e

NUMBER = "+442079491234"
CALL_ID = "timeline-call-1"
EVERY_STEP = (
    "incoming webhook",
    "job queued",
    "greeting",
    "lease",
    "clone request",
    "ready",
    "key press",
    "check_clone",
    "handoff",
    "re-entry",
)

CAUSE_AND_EFFECT = (
    ("incoming webhook", "job queued"),
    ("job queued", "greeting"),
    ("job queued", "lease"),
    ("lease", "clone request"),
    ("clone request", "ready"),
    ("greeting", "key press"),
    ("key press", "check_clone"),
    ("ready", "handoff"),
    ("handoff", "re-entry"),
)


@pytest.fixture(scope="module")
def placed_call(local_stack, sample):
    from emulators.caller import EmulatedAgent, SimulatedCaller
    from warmline_cli.api import register_caller

    register_caller(local_stack.describe(), NUMBER, [sample], consent="timeline test")
    caller = SimulatedCaller.for_stack(
        local_stack.describe(),
        greeting_seconds=0.1,
        pause_between_presses_seconds=0.1,
        agent=EmulatedAgent(local_stack.emulator.base_url),
    )
    outcome = caller.call(NUMBER, call_id=CALL_ID)
    assert outcome.handed_off, outcome.timeline.lines()
    return outcome


def run(capsys, local_stack, *args):
    code = cli.main([*args, "--local", "--local-state", str(local_stack.state_file)])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_json_has_every_step_of_the_call_in_order(placed_call, local_stack, capsys):
    code, out, _ = run(capsys, local_stack, "calls", "show", "--call-id", CALL_ID, "--json")

    assert code == 0
    call = json.loads(out)
    assert call["call_id"] == CALL_ID
    assert call["caller"] == "+44******1234" and NUMBER not in out
    assert call["outcome"] == "re-entered in the cloned voice"
    steps = call["steps"]
    assert {step["step"] for step in steps} == set(EVERY_STEP), steps
    offsets = [step["offset_ms"] for step in steps]
    assert offsets == sorted(offsets) and offsets[0] == 0  # in the order they happened
    at = {step["step"]: step for step in reversed(steps)}  # the first of each
    # What must come before what (the key press may come before the lease: the caller presses 1
    # during the greeting, and check_clone waits for the clone).
    for earlier, later in CAUSE_AND_EFFECT:
        assert at[earlier]["at_ms"] <= at[later]["at_ms"], (earlier, later, steps)
    assert at["clone request"]["at_ms"] + at["clone request"]["duration_ms"] == at["ready"]["at_ms"]
    last_check = [step for step in steps if step["step"] == "check_clone"][-1]
    assert "ready" in last_check["detail"]
    assert at["ready"]["at_ms"] <= last_check["at_ms"] + last_check["duration_ms"] <= at["handoff"]["at_ms"]
    # The whole call took the caller's time, and no more than the simulated call did.
    assert 0 < call["duration_ms"] <= placed_call.timeline.entries[-1][0] * 1000 + 1000


def test_show_prints_the_timeline_as_text(placed_call, local_stack, capsys):
    code, out, _ = run(capsys, local_stack, "calls", "show", "--call-id", CALL_ID)

    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"call {CALL_ID}  caller +44******1234 (ck_")
    assert [line.split()[2] for line in lines[1:3]] == ["incoming", "job"]
    assert any("check_clone" in line and "ready after" in line for line in lines)
    assert lines[-1].startswith("outcome: re-entered in the cloned voice")
    assert NUMBER not in out and "2079491234" not in out


def test_list_names_the_call_masked(placed_call, local_stack, capsys):
    code, out, _ = run(capsys, local_stack, "calls", "list", "--json")

    assert code == 0
    [listed] = [call for call in json.loads(out)["calls"] if call["call_id"] == CALL_ID]
    assert listed["caller"] == "+44******1234" and listed["voice"] == "greeting"
    assert "steps" not in listed and NUMBER not in out
    code, text, _ = run(capsys, local_stack, "calls", "list")
    assert code == 0 and CALL_ID in text and "re-entered in the cloned voice" in text


def test_show_of_an_unknown_call_is_not_found(placed_call, local_stack, capsys):
    code, _, err = run(capsys, local_stack, "calls", "show", "--call-id", "no-such-call")

    assert code == 3 and "no call no-such-call" in err and "calls list" in err


def test_png_is_a_picture_of_the_call(placed_call, local_stack, capsys, tmp_path):
    png = tmp_path / "call.png"
    code, out, _ = run(capsys, local_stack, "calls", "show", "--call-id", CALL_ID, "--png", str(png))

    assert code == 0 and f"drawn: {png}" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 800 <= width <= 1600 and 300 <= height <= 1000
    assert len(data) > 20_000  # drawn, not blank


def in_a_fresh_cli(local_stack, script):
    """Run `script` in a new interpreter (so nothing else has loaded matplotlib); its exit code."""
    import subprocess
    import sys

    state = str(local_stack.state_file)
    code = f"import sys\nfrom warmline_cli import main\nSTATE = {state!r}\nCALL_ID = {CALL_ID!r}\n" + script
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_show_without_png_does_not_load_matplotlib(placed_call, local_stack):
    done = in_a_fresh_cli(
        local_stack,
        "code = main.main(['calls', 'show', '--call-id', CALL_ID, '--local', '--local-state', STATE])\n"
        "assert code == 0, code\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib loaded'\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"call {CALL_ID}")


def test_png_without_matplotlib_says_how_to_get_it(placed_call, local_stack, tmp_path):
    done = in_a_fresh_cli(
        local_stack,
        "sys.modules['matplotlib'] = None  # as if not installed: importing it raises ImportError\n"
        f"args = ['calls', 'show', '--call-id', CALL_ID, '--png', {str(tmp_path / 'x.png')!r}]\n"
        "sys.exit(main.main([*args, '--local', '--local-state', STATE]))\n",
    )
    assert done.returncode == 2, done.stderr
    assert "pip install matplotlib" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.png").exists()


def test_a_repeat_call_is_its_own_timeline_in_the_cloned_voice(placed_call, local_stack, capsys):
    from emulators.caller import EmulatedAgent, SimulatedCaller

    caller = SimulatedCaller.for_stack(
        local_stack.describe(), greeting_seconds=0.1, agent=EmulatedAgent(local_stack.emulator.base_url)
    )
    again = caller.call(NUMBER, call_id="timeline-call-2")
    assert again.final_voice == "cloned", again.timeline.lines()

    code, out, _ = run(capsys, local_stack, "calls", "show", "--call-id", "timeline-call-2", "--json")

    assert code == 0
    call = json.loads(out)
    assert call["outcome"] == "cloned voice from the start" and call["voice"] == "cloned"
    assert [(s["step"], s["detail"]) for s in call["steps"]] == [
        ("incoming webhook", "voice cloned, clone ready"),
        ("conversation", "conversation-init, cloned voice"),
    ]
    # The first call keeps its own steps, and only them.
    code, out, _ = run(capsys, local_stack, "calls", "show", "--call-id", CALL_ID, "--json")
    first = json.loads(out)
    assert first["outcome"] == "re-entered in the cloned voice"
    assert first["started_at_ms"] + first["duration_ms"] < call["started_at_ms"]
    code, out, _ = run(capsys, local_stack, "calls", "list", "--json")
    ids = [listed["call_id"] for listed in json.loads(out)["calls"]]
    assert ids.index("timeline-call-2") < ids.index(CALL_ID)  # newest first


@pytest.mark.parametrize("hours", ["0", "-1", "721"])
def test_a_look_back_outside_the_events_ttl_is_a_usage_error(local_stack, capsys, hours):
    code, out, err = run(capsys, local_stack, "calls", "list", "--hours", hours)

    assert code == 2 and out == "" and "--hours: give more than 0 and at most 720" in err
