"""Simulated calls against a running local stack: how many, how many at once, which kind of caller.

Kinds: `first` (a registered caller calling for the first time: greeting, clone, handoff),
`repeat` (a registered caller whose clone is already made), `no-sample` (an unregistered caller:
default voice at once) and `mixed` (the three in turn).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.caller import CallOutcome, SimulatedCaller
from emulators.demo_audio import write_sample
from warmline.cloning_report import nearest_rank
from warmline_cli.api import register_caller

KINDS = ("first", "repeat", "no-sample", "mixed")


@dataclass(frozen=True)
class PlannedCall:
    kind: str
    number: str


def plan_calls(count: int, kind: str, run_id: int | None = None) -> list[PlannedCall]:
    """Distinct numbers per run, so first-time callers really are first-time."""
    run = run_id if run_id is not None else int(time.time()) % 100_000
    kinds = itertools.cycle(("first", "repeat", "no-sample")) if kind == "mixed" else itertools.repeat(kind)
    # +44 7RRRRRIIII: a UK mobile number of the right length, so libphonenumber takes it as possible.
    return [PlannedCall(k, f"+447{run:05d}{i:04d}") for i, k in zip(range(count), kinds, strict=False)]


def prepare(state: dict[str, Any], calls: list[PlannedCall], caller: SimulatedCaller, sample: Path) -> None:
    """Register every caller that should have a sample; give repeat callers their clone first."""
    for planned in calls:
        if planned.kind in ("first", "repeat"):
            register_caller(state, planned.number, [sample], consent="simulated caller")
    repeaters = [planned.number for planned in calls if planned.kind == "repeat"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for outcome in pool.map(caller.call, repeaters):
            if outcome.final_voice != "cloned":
                last = outcome.timeline.lines()[-1].strip() if outcome.timeline.entries else ""
                raise RuntimeError(
                    f"could not prepare a repeat caller: {outcome.error or outcome.final_voice} ({last})"
                )


def place_calls(calls: list[PlannedCall], caller: SimulatedCaller, concurrency: int) -> list[CallOutcome]:
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda planned: caller.call(planned.number), calls))


def _presses(outcomes: list[CallOutcome]) -> str:
    """How often the callers who pressed 1 pressed it ({presses: calls}); the target is 1 for each."""
    counts = Counter(o.key_presses for o in outcomes if o.key_presses)
    return str(dict(sorted(counts.items()))) if counts else "none"


def summary(calls: list[PlannedCall], outcomes: list[CallOutcome]) -> list[str]:
    lines = []
    by_kind: dict[str, list[CallOutcome]] = {}
    for planned, outcome in zip(calls, outcomes, strict=True):
        by_kind.setdefault(planned.kind, []).append(outcome)
    for kind, group in by_kind.items():
        voices = Counter(outcome.final_voice for outcome in group)
        webhook = _percentiles([o.webhook_ms for o in group])
        lines.append(
            f"{kind:>9}: {len(group)} calls, final voice {dict(voices)}, "
            f"webhook p50 {webhook[0]:.0f} ms p95 {webhook[1]:.0f} ms, "
            f"handed off {sum(o.handed_off for o in group)}, "
            f"presses per call {_presses(group)}"
        )
    errors = [o.error for o in outcomes if o.error]
    lines.append(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    return lines


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values) or [0.0]
    return nearest_rank(ordered, 50), nearest_rank(ordered, 95)


def caller_for(state: dict[str, Any], greeting_seconds: float) -> SimulatedCaller:
    return SimulatedCaller.for_stack(state, greeting_seconds=greeting_seconds)


def main(argv: list[str], running_stack: Callable[[str], dict[str, Any] | None]) -> int:
    """`python -m local calls`: running_stack finds the stack `make up` started from its state directory."""
    parser = argparse.ArgumentParser(prog="make calls ARGS='…'", description=__doc__)
    parser.add_argument("--count", type=int, default=10, help="how many calls (default 10)")
    parser.add_argument("--concurrency", type=int, default=5, help="how many at once (default 5)")
    parser.add_argument("--kind", choices=KINDS, default="mixed", help="which callers (default mixed)")
    parser.add_argument("--greeting-seconds", type=float, default=1.0, help="how long each greeting plays")
    parser.add_argument("--state-dir", default=".warmline")
    args = parser.parse_args(argv)
    if args.count < 1 or args.concurrency < 1:
        parser.error("--count and --concurrency must be at least 1")

    state = running_stack(args.state_dir)
    if state is None:
        print("error: no local stack is running; start one with `make up`", file=sys.stderr)
        return 1
    caller = caller_for(state, args.greeting_seconds)
    calls = plan_calls(args.count, args.kind)
    print(f"==> registering callers and preparing repeat callers ({len(calls)} calls planned)", flush=True)
    prepare(state, calls, caller, write_sample(Path(args.state_dir) / "demo-sample.wav"))
    print(f"==> placing {len(calls)} calls, {args.concurrency} at once", flush=True)
    started = time.monotonic()
    outcomes = place_calls(calls, caller, args.concurrency)
    print(f"==> done in {time.monotonic() - started:.1f} s")
    print("\n".join(summary(calls, outcomes)))
    return 1 if any(o.error for o in outcomes) else 0
