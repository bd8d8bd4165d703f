"""`make demo`: start the local stack, play one first-time call end to end, print what the caller hears.

The simulated 3CX routes the call by the Call Flow Designer project `warmline 3cx flow` writes (the
demo leaves a copy in the state directory's cfd/).

With `--clone-ttl-seconds N` the clone lives N seconds and the housekeeping sweep runs every few
seconds: the demo then waits and shows the clone deleted at ElevenLabs once its record expired.
With `--refuse-refer` the simulated 3CX refuses the agent's SIP REFER: no re-entry leg comes, and
the demo shows the housekeeping sweep count the handoff as lost (a 5 s window, a sweep every 5 s).
With `--handoff agent_transfer` the stack runs HandoffMode=agent_transfer (experimental): the demo
runs `probe voice-switch` and `configure` (the voice-slot agents) first, and the caller is handed
over to the clone in the same conversation; the timeline prints the switch time."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from emulators.caller import CallOutcome, EmulatedAgent, Pbx, SimulatedCaller
from emulators.demo_audio import write_sample
from local.dashboard import read_logs, render
from local.stack import AGENT_TRANSFER_TO, LocalStack, StackAlreadyRunning, StackOptions, retention_overrides
from warmline.adapters.elevenlabs import ElevenLabsClient
from warmline_cli.api import cfd_project, register_caller, set_up_agent_transfer, show_call

DEMO_CALLER = "+44 20 7946 0000"
SWEEP_EVERY_SECONDS = 5
REFUSED_REFER_WINDOW_SECONDS = 5  # HandoffWindowSeconds with --refuse-refer (the template's least)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    from emulators.elevenlabs import CloneLatency

    latency = CloneLatency.realistic() if args.realistic else CloneLatency.demo()
    if args.clone_seconds is not None:
        latency = CloneLatency(args.clone_seconds, args.clone_seconds)
    _progress(
        f"warmline demo: one first-time caller, clones taking {latency.min_seconds * latency.scale:.1f}-"
        f"{latency.max_seconds * latency.scale:.1f} s"
    )
    short_retention = args.clone_ttl_seconds is not None
    options = StackOptions(
        emulator_options={"clone_latency": latency},
        provisioned=1,
        env_overrides=retention_overrides(args.clone_ttl_seconds) if short_retention else {},
        parameter_overrides={
            **({"HandoffWindowSeconds": REFUSED_REFER_WINDOW_SECONDS} if args.refuse_refer else {}),
            **({"HandoffMode": args.handoff} if args.handoff != "transfer" else {}),
        },
        schedule_every=SWEEP_EVERY_SECONDS if short_retention or args.refuse_refer else None,
    )
    stack = LocalStack(state_dir=args.state_dir, progress=_progress, options=options)
    try:
        stack.start()
    except StackAlreadyRunning as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        if args.handoff == "agent_transfer" and not _set_up_agent_transfer(stack):
            return 1
        return 0 if _play(stack, args) else 1
    finally:
        _progress("stopping the local stack")
        stack.stop()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="clone in 5-30 s as ElevenLabs does (default: the same range scaled to a quarter)",
    )
    parser.add_argument(
        "--clone-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="every clone takes this long (the original specification's timeline: 16)",
    )
    parser.add_argument("--state-dir", default=".warmline", help="where local.json and the logs go")
    parser.add_argument("--greeting-seconds", type=float, default=4.0, help="how long the greeting plays")
    parser.add_argument(
        "--clone-ttl-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="keep the clone this long (instead of CloneTtlHours), then watch the sweep delete it",
    )
    parser.add_argument(
        "--refuse-refer",
        action="store_true",
        help="the simulated 3CX refuses the agent's SIP REFER: watch the handoff counted as lost",
    )
    parser.add_argument(
        "--handoff",
        choices=("transfer", "agent_transfer"),
        default="transfer",
        help="agent_transfer: the clone in the same conversation, by a voice-slot agent (experimental)",
    )
    args = parser.parse_args(argv)
    if args.clone_ttl_seconds is not None and not 0 < args.clone_ttl_seconds <= 300:
        parser.error("--clone-ttl-seconds: give more than 0 and at most 300 seconds")
    return args


def _play(stack: LocalStack, args: argparse.Namespace) -> bool:
    """One call from the demo caller, and what follows it; whether it went as it should."""
    sample = write_sample(Path(args.state_dir) / "demo-sample.wav")
    _progress(f"registering a voice sample for the demo caller {DEMO_CALLER}")
    register_caller(stack.describe(), DEMO_CALLER, [sample], consent="demo caller, synthetic voice")
    caller = SimulatedCaller.for_stack(
        stack.describe(),
        greeting_seconds=args.greeting_seconds,
        # The emulator's agent, wired by `warmline elevenlabs configure`, places the agent's
        # requests; with an ElevenLabs server of your own the caller plays the agent itself.
        agent=EmulatedAgent(stack.emulator.base_url) if stack.emulator is not None else None,
        pbx=Pbx(refer_answer=403) if args.refuse_refer else Pbx(),
    )
    project = _write_cfd_project(stack, Path(args.state_dir) / "cfd", caller.pbx.elevenlabs_number)
    _progress(f"the simulated 3CX routes calls by the CFD project `warmline 3cx flow` writes: {project}")
    _progress(
        "calling" + (" (the simulated 3CX refuses the agent's SIP REFER)\n" if args.refuse_refer else "\n")
    )
    outcome = caller.call(DEMO_CALLER)
    print("\n".join(outcome.timeline.lines()) + "\n")
    _progress(
        f"the caller pressed 1 {outcome.key_presses} time(s); "
        f"the agent checked again by itself {outcome.rechecks} time(s)"
    )
    if args.refuse_refer and not outcome.error:
        return _watch_the_handoff_lost(stack, outcome)
    if outcome.error or not outcome.handed_off:
        print(f"error: the call did not reach the cloned voice ({outcome.error or outcome.final_voice})")
        print(f"logs: {stack.logs_dir}")
        return False
    if args.clone_ttl_seconds is not None and not _watch_the_clone_go(stack, outcome, args.clone_ttl_seconds):
        return False
    if not _show_the_call(stack, outcome):
        return False
    _report_metrics(stack)
    _progress(f"function logs are in {stack.logs_dir}")
    return True


def _set_up_agent_transfer(stack: LocalStack) -> bool:
    _progress(
        "HandoffMode=agent_transfer: `probe voice-switch`, then `configure` makes the voice-slot agents"
    )
    if set_up_agent_transfer(stack.state_file, AGENT_TRANSFER_TO):
        return True
    print(f"error: the voice-slot agents were not set up (see above); logs: {stack.logs_dir}")
    return False


def _write_cfd_project(stack: LocalStack, directory: Path, agent_number: str) -> Path:
    """The project an administrator would import, written where the demo's state lives."""
    directory.mkdir(parents=True, exist_ok=True)
    files = cfd_project(stack.endpoints["IncomingCall"], stack.secrets["ThreeCxSecret"], agent_number)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory / "Warmline.cfdproj"


def _watch_the_clone_go(stack: LocalStack, outcome: CallOutcome, ttl_seconds: float) -> bool:
    """Wait for the sweep to delete the expired clone at ElevenLabs; put it on the caller's timeline."""
    _progress(
        f"the clone expires {ttl_seconds:g} s after it was made; the housekeeping sweep runs every "
        f"{SWEEP_EVERY_SECONDS} s"
    )
    voice_id = outcome.cloned_voice_id
    with ElevenLabsClient(stack.secrets["ElevenLabsApiKeySecret"], stack.elevenlabs_base_url or "") as client:
        gone = _wait(
            lambda: voice_id not in {voice.voice_id for voice in client.list_voices()}, ttl_seconds + 60
        )
    if not gone:
        print(f"error: the clone {voice_id} was not deleted; logs: {stack.logs_dir}")
        return False
    _on_timeline(outcome, f"clone {voice_id} deleted at ElevenLabs (its record expired)")
    return True


def _watch_the_handoff_lost(stack: LocalStack, outcome: CallOutcome) -> bool:
    """Wait for the sweep to count the handoff whose re-entry never came; put it on the timeline."""
    _progress(
        f"no re-entry leg will come; the handoff counts as lost {REFUSED_REFER_WINDOW_SECONDS} s after "
        f"check_clone's answer, at the next housekeeping sweep (every {SWEEP_EVERY_SECONDS} s)"
    )
    seconds = REFUSED_REFER_WINDOW_SECONDS + 3 * SWEEP_EVERY_SECONDS + 30
    if not _wait(lambda: _figures(stack)["counts"]["handoffs_lost"] >= 1, seconds):
        print(f"error: the lost handoff was not counted; logs: {stack.logs_dir}")
        return False
    _on_timeline(
        outcome, "handoff counted as lost by the housekeeping sweep (its warning names the likely causes)"
    )
    _report_metrics(stack)
    _progress(f"the sweep's warning is in {stack.logs_dir / 'HousekeepingFunction.log'}")
    return True


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _on_timeline(outcome: CallOutcome, event: str) -> None:
    outcome.timeline.add(event)
    print(outcome.timeline.lines()[-1] + "\n")


def _show_the_call(stack: LocalStack, outcome: CallOutcome) -> bool:
    """The call as the operator sees it afterwards, from warmline's stored events (`calls show`)."""
    png = stack.state_dir / "call.png"
    lines = show_call(stack.describe(), outcome.call_id, png)
    if lines is None:
        print(f"error: no stored events of the call {outcome.call_id}; logs: {stack.logs_dir}")
        return False
    _progress(f"`warmline calls show --local --call-id {outcome.call_id}` (from the stored events):")
    print("\n".join(lines))
    _progress(f"the call's timeline as a picture: {png}")
    return True


def _figures(stack: LocalStack) -> dict:
    url = stack.endpoints["CloningMetrics"]
    response = httpx.get(url, headers={"X-Warmline-Secret": stack.secrets["OperatorSecret"]}, timeout=10)
    response.raise_for_status()
    return response.json()


def _report_metrics(stack: LocalStack) -> None:
    """What an operator would see for this run: the metrics endpoint and the dashboard's panels."""
    figures = _figures(stack)
    _progress(f"GET {stack.endpoints['CloningMetrics']} (operator secret):")
    counts = figures["counts"]
    print(
        f"    clones ready {counts['clones_ready']}, failed {counts['clones_failed']}; "
        f"clone time p50 {figures['p50_clone_time_ms']} ms; cache hit rate {figures['cache_hit_rate']}; "
        f"average IVR wait {figures['avg_wait_during_ivr_ms']} ms\n"
        f"    handoffs {counts['handoffs']}: completed {counts['handoffs_completed']}, lost "
        f"{counts['handoffs_lost']}; transfer time (IVR answer to the re-entry) "
        f"p50 {_ms(figures['p50_handoff_transfer_ms'])}, p95 {_ms(figures['p95_handoff_transfer_ms'])}"
    )
    # The functions flush their EMF lines as they answer; the poller's last batch may lag a moment.
    time.sleep(0.5)
    png = stack.state_dir / "dashboard.png"
    render(read_logs(stack.logs_dir), png, stack.model.parameters, stack.template_path)
    _progress(f"the dashboard (template.yaml's panels over this run): {png}")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value} ms"


def _progress(message: str) -> None:
    print(f"==> {message}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
