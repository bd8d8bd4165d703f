"""`make bench-handoff`: the handoff to the cloned voice in both modes, side by side (issue 26).

Two local stacks, one per HandoffMode: `transfer` (the agent's SIP REFER back to 3CX, which routes
the call to the agent again: a new leg and conversation) and `agent_transfer` (experimental: the
same conversation moves to a voice-slot agent in the clone; the demo's set-up first, `probe
voice-switch` and `configure` with a slot per concurrent call). The same first-time callers call
each; the handoff time is the simulated caller's, from check_clone's `transfer_to_agent` answer to
the cloned voice speaking (the re-entry's conversation-init answer, or the slot agent's arrival).
Each caller hangs up once they hear their clone; in agent_transfer the post-call webhook frees the
slot for the next caller (a call that finds every slot taken is handed over by the REFER, counted
in its conversations per call).
JSON and a markdown table in --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from emulators.caller import CallOutcome, EmulatedAgent, SimulatedCaller
from emulators.calls import PlannedCall, plan_calls
from emulators.demo_audio import write_sample
from emulators.elevenlabs import CloneLatency
from local.stack import AGENT_TRANSFER_TO, LocalStack, StackOptions
from warmline.cloning_report import nearest_rank
from warmline_cli.api import register_caller, set_up_agent_transfer

MODES = ("transfer", "agent_transfer")


def run_mode(mode: str, args: argparse.Namespace, out: Path, say: Any) -> dict[str, Any]:
    options = StackOptions(
        parameter_overrides={"HandoffMode": mode, "DefaultCountryCode": "44"},
        emulator_options={"clone_latency": CloneLatency(0.5, 1.0), "voice_limit": 10_000, "seed": 7},
    )
    with LocalStack(state_dir=out / f"state-handoff-{mode}", options=options) as stack:
        if mode == "agent_transfer" and not set_up_agent_transfer(
            stack.state_file, AGENT_TRANSFER_TO, voice_slots=args.concurrency
        ):
            raise RuntimeError("probe voice-switch or configure failed: see above")
        state = stack.describe()
        calls = plan_calls(args.calls, "first", run_id=MODES.index(mode) + 3)
        sample = write_sample(out / "sample.wav", seconds=6)
        for planned in calls:
            register_caller(state, planned.number, [sample], consent="simulated caller")
        caller = SimulatedCaller.for_stack(
            state, greeting_seconds=args.greeting_seconds, agent=EmulatedAgent(stack.emulator.base_url)
        )
        say(f"[{mode}] placing {len(calls)} first-time calls, {args.concurrency} at once")
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            outcomes = list(pool.map(lambda planned: _call(caller, planned, stack.emulator.base_url), calls))
        return _figures(mode, outcomes, stack)


def _call(caller: SimulatedCaller, planned: PlannedCall, emulator_url: str) -> CallOutcome:
    """One call, and the caller hangs up once they hear their clone (the next call may take its slot)."""
    outcome = caller.call(planned.number)
    if outcome.conversation_ids:
        httpx.post(f"{emulator_url}/_emulator/conversations/{outcome.conversation_ids[-1]}/end", timeout=10)
    return outcome


def _figures(mode: str, outcomes: list[CallOutcome], stack: LocalStack) -> dict[str, Any]:
    handed = [o for o in outcomes if o.handed_off and o.transfer_ms is not None]
    deliveries = stack.emulator.post_call.deliveries()
    return {
        "mode": mode,
        "calls": len(outcomes),
        "handed_off": len(handed),
        "cloned_voice_at_the_end": sum(o.final_voice == "cloned" for o in outcomes),
        "conversations_per_call": dict(sorted(Counter(len(o.conversations) for o in outcomes).items())),
        "handoff_ms": _spread([o.transfer_ms for o in handed if o.transfer_ms is not None]),
        "check_clone_ms": _spread([o.check_ms for o in handed if o.check_ms is not None]),
        "post_call_deliveries": len(deliveries),
        "post_call_answered_200": sum(d["status"] == 200 for d in deliveries),
        "errors": [o.error for o in outcomes if o.error],
    }


def _spread(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {
        "p50": nearest_rank(ordered, 50),
        "p95": nearest_rank(ordered, 95),
        "max": ordered[-1] if ordered else None,
        "count": len(ordered),
    }


def markdown(results: list[dict[str, Any]], command: str) -> str:
    rows = [
        ("calls handed off / placed", lambda r: f"{r['handed_off']} / {r['calls']}"),
        ("in the cloned voice at the end", lambda r: str(r["cloned_voice_at_the_end"])),
        ("conversations per call {count: calls}", lambda r: str(r["conversations_per_call"])),
        ("handoff ms p50 / p95 / max", lambda r: _three(r["handoff_ms"])),
        ("check_clone round trip ms p50 / p95 / max", lambda r: _three(r["check_clone_ms"])),
        (
            "post-call deliveries (answered 200)",
            lambda r: f"{r['post_call_deliveries']} ({r['post_call_answered_200']})",
        ),
        ("errors", lambda r: str(len(r["errors"]))),
    ]
    lines = [f"`{command}`", "", "| | " + " | ".join(r["mode"] for r in results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    lines += [f"| {name} | " + " | ".join(cell(r) for r in results) + " |" for name, cell in rows]
    return "\n".join(lines) + "\n"


def _three(spread: dict[str, float | None]) -> str:
    return " / ".join("n/a" if spread[k] is None else f"{spread[k]:.0f}" for k in ("p50", "p95", "max"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-handoff ARGS='…'", description=__doc__)
    parser.add_argument("--calls", type=int, default=10, help="first-time calls per mode (default 10)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="calls at once, and voice slots (default 2)"
    )
    parser.add_argument("--greeting-seconds", type=float, default=1.0, help="the greeting before the press")
    parser.add_argument("--out", default="bench-results", help="report directory (default bench-results/)")
    args = parser.parse_args(argv)
    if args.calls < 1 or not 1 <= args.concurrency <= 20:
        parser.error("--calls must be at least 1 and --concurrency 1-20")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = f"python -m bench.handoff --calls {args.calls} --concurrency {args.concurrency}"
    started = time.monotonic()
    results = [
        run_mode(mode, args, out, lambda message: print(f"==> {message}", flush=True)) for mode in MODES
    ]
    (out / "handoff.json").write_text(json.dumps({"command": command, "modes": results}, indent=2) + "\n")
    table = markdown(results, command)
    (out / "handoff.md").write_text(table)
    print(f"\n{table}\nreport in {out}/ (handoff.json, handoff.md), {time.monotonic() - started:.0f} s")
    return 1 if any(r["errors"] or r["handed_off"] < r["calls"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
