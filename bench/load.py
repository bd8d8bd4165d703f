"""`make bench`: N simulated calls on the local stack, once with warmline's timings and once with the
original specification's (100 ms sleep before cloning, 500 ms polling, a long IVR wait), and a
report of what the caller waits for: JSON, a markdown table and a PNG, in --out.

`--calls 200 --concurrency 200` is the load check: it also verifies no 5xx, no lost job, no
duplicate clone and an outcome for every caller, and exits 1 if any of these fails.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import coldstart
from emulators.caller import CallOutcome, SimulatedCaller
from emulators.calls import PlannedCall, caller_for, plan_calls, prepare
from emulators.demo_audio import write_sample
from emulators.elevenlabs import CloneLatency
from local import aws
from local.stack import LocalStack, StackOptions
from warmline.adapters.dynamodb import DynamoCloneStore
from warmline.callers import caller_key, normalise_number
from warmline.cloning_report import nearest_rank

GREETING_SECONDS = 4.0  # as long as the demo's greeting; then the caller presses 1
FUNCTIONS = ("WebhookFunction", "CloneWorkerFunction", "IvrCheckFunction")
# The original specification's timings. Its 30 s IVR wait is capped at 15 s by warmline's settings;
# with clones of at most 7.5 s the cap is never reached.
ORIGINAL = {
    "env": {
        "CLONE_START_DELAY_SECONDS": "0.1",
        "IVR_FIRST_POLL_SECONDS": "0.5",
        "IVR_MAX_POLL_SECONDS": "0.5",
        "IVR_MAX_WAIT_SECONDS": "15",
    },
    "timeouts": {"IvrCheckFunction": 30},
}

# us-east-1 list prices, as published in early 2025 (after DynamoDB's November 2024 on-demand cut).
PRICES = {
    "lambda_arm64_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "http_api_request": 1.00 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
}
# DynamoDB and SQS requests per call kind, counted from the code paths (every item is under 1 KB:
# one unit per request; strongly consistent reads cost one read unit up to 4 KB).
# first: webhook query+put, send; conversation-init query; worker update(lease)+query+update(ready)
#   +put(event); IVR ~3 reads + update(handoff) + put(event); second conversation-init query+update;
#   SQS send+receive+delete.
REQUESTS_PER_CALL = {
    "first": {"reads": 7, "writes": 7, "sqs": 3},
    "repeat": {"reads": 2, "writes": 1, "sqs": 0},
    "no-sample": {"reads": 2, "writes": 0, "sqs": 0},
}
TARGETS = {
    "readiness_lag_p99_ms": 100,
    "own_webhook_work_p99_ms": 20,
    "queue_lag_p50_ms": 100,
    "readiness_lag_ratio": 5,
}


def p50_p99(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {"p50": nearest_rank(ordered, 50), "p99": nearest_rank(ordered, 99), "count": len(values)}


@dataclass
class CallRecord:
    planned: PlannedCall
    outcome: CallOutcome
    started_at: float  # wall clock


def run_mode(mode: str, args: argparse.Namespace, out: Path, say) -> dict[str, Any]:
    original = mode == "original"
    # Lambda scales each function out to the offered load; the local stack does so up to its caps.
    # Both runs get caps above the load and warm environments, so the figures are warmline's
    # pipeline, not local queueing behind a cap or process start-up (cold starts are measured apart).
    stack = LocalStack(
        state_dir=out / f"state-{mode}",
        progress=lambda message: say(f"[{mode}] {message}"),
        options=StackOptions(
            # The offered load, not the stage's default throttling, is what is measured.
            parameter_overrides={
                "CloneMaxConcurrency": max(2, args.concurrency),
                "ApiRateLimit": 100 * args.concurrency,
                "ApiBurstLimit": 100 * args.concurrency,
                "IncomingCallRateLimit": 100 * args.concurrency,
                "IncomingCallBurstLimit": 100 * args.concurrency,
                "AgentRateLimit": 100 * args.concurrency,
                "AgentBurstLimit": 100 * args.concurrency,
            },
            http_concurrency=2 * args.concurrency,
            emulator_options={"clone_latency": _latency(args), "voice_limit": 10_000, "seed": 7},
            env_overrides=ORIGINAL["env"] if original else {},
            function_timeout_overrides=ORIGINAL["timeouts"] if original else {},
        ),
    )
    stack.start()
    try:
        warm = _warm_environments(args.concurrency)
        say(f"[{mode}] starting warm execution environments: {warm}")
        for function_id, count in warm.items():
            stack.runtime.pools[function_id].provision(count)
        state = stack.describe()
        caller = caller_for(state, GREETING_SECONDS)
        caller.pause_between_presses_seconds = 0.2
        calls = plan_calls(args.calls, "mixed", run_id=1 if original else 2)
        say(f"[{mode}] registering callers and cloning the repeat callers' voices first")
        prepare(state, calls, caller, write_sample(out / "sample.wav", seconds=6))
        stack.lambda_api.reset_counts()  # the warm-ups of the calls measured, not of the preparation
        before = {
            r["form"]["name"][0] for r in stack.emulator.requests("/v1/voices/add") if r["status"] == 200
        }
        cold_starts = {}  # the same code in both runs: measured once
        if not original:
            say(f"[{mode}] starting each function and its floor (boto3 and its clients) 5 times, in turn")
            cold_starts = coldstart.measure(stack.runtime, coldstart.FUNCTIONS)
        say(f"[{mode}] placing {len(calls)} calls, {args.concurrency} at once")
        records = _place(
            calls, caller, args.concurrency, lambda done: say(f"[{mode}] {done}/{len(calls)} calls")
        )
        time.sleep(1.0)  # the last rechecks and writes
        return _measure(mode, stack, state, records, before, cold_starts)
    finally:
        stack.stop()


CALLER_PATH = ("WebhookFunction", "IvrCheckFunction")  # the functions a caller waits on
LOW_TRAFFIC_CALLS = 6


def low_traffic(args: argparse.Namespace, out: Path, say) -> dict[str, Any]:
    """--idle-between-calls S: calls one at a time, S seconds apart, on a stack that reclaims an
    environment idle for S/2 (as Lambda does, later): the cold starts each call meets on its path.
    Give S well above twice a call's length (30 or more), or a call's own pauses reclaim too."""
    idle = args.idle_between_calls
    stack = LocalStack(
        state_dir=out / "state-low-traffic",
        progress=lambda message: say(f"[low traffic] {message}"),
        options=StackOptions(
            emulator_options={"clone_latency": _latency(args), "seed": 7}, idle_reclaim_seconds=idle / 2
        ),
    )
    stack.start()
    try:
        state = stack.describe()
        caller = caller_for(state, GREETING_SECONDS)
        calls = plan_calls(LOW_TRAFFIC_CALLS, "mixed", run_id=3)
        prepare(state, calls, caller, write_sample(out / "sample.wav", seconds=6))
        stack.lambda_api.reset_counts()
        windows = []
        for planned in calls:
            time.sleep(idle)
            say(f"[low traffic] a {planned.kind} call after {idle:g} s idle")
            started = time.time()
            caller.call(planned.number)
            windows.append((planned.kind, started, time.time()))
        invocations = stack.runtime.invocations()
        warm_up = warm_up_cost(stack, [planned.kind for planned in calls])
    finally:
        stack.stop()
    # The caller waits on the requests (never on the webhook's asynchronous warm-up of check_clone).
    waited = [r for r in invocations if r["function"] in CALLER_PATH and not r["asynchronous"]]
    per_call = [
        (kind, sum(start <= r["started_at"] <= end for r in waited if r["cold"]))
        for kind, start, end in windows
    ]
    return {
        "idle_between_calls_s": idle,
        "cold_starts_per_call": [{"kind": kind, "cold_starts": count} for kind, count in per_call],
        "max_cold_starts_per_call": max(count for _, count in per_call),
        "warm_up": warm_up,
        "warm_up_margins_s": _warm_up_margins(invocations, windows),
    }


def _warm_up_margins(
    invocations: list[dict[str, Any]], windows: list[tuple[str, float, float]]
) -> list[float]:
    """Per first-time call: seconds from check_clone's warmed environment being ready to the caller's
    press (negative: the press came first, and met a cold start of its own)."""
    margins = []
    for kind, start, end in windows:
        mine = [
            r for r in invocations if r["function"] == "IvrCheckFunction" and start <= r["started_at"] <= end
        ]
        warmed = [r["ready_at"] for r in mine if r["asynchronous"] and r["ready_at"]]
        pressed = [r["started_at"] for r in mine if not r["asynchronous"]]
        if kind == "first" and warmed and pressed:
            margins.append(round(min(pressed) - warmed[0], 2))
    return margins


def _latency(args: argparse.Namespace) -> CloneLatency:
    """--realistic: ElevenLabs' 5-30 s, so most callers wait past one check and the agent re-checks."""
    return CloneLatency.realistic() if args.realistic else CloneLatency.demo()


def _warm_environments(concurrency: int) -> dict[str, int]:
    """Environments the offered load keeps busy: every caller may hold a check_clone wait, a third
    of them (the first-time callers) a clone; webhook requests are short."""
    # Capped so a 200-call load check fits the machine's memory; beyond this the pools grow on demand.
    return {
        "WebhookFunction": min(8, max(2, concurrency // 3)),
        "CloneWorkerFunction": min(10, max(2, concurrency // 2)),
        "IvrCheckFunction": min(20, max(2, concurrency)),
    }


CALLER_PROCESSES = 8


def _place(calls, caller, concurrency, progress) -> list[CallRecord]:
    """The simulated callers run in processes of their own (threads within them), so they do not
    share the local stack's process, and its GIL, with the gateway, poller and emulator they measure."""
    processes = min(CALLER_PROCESSES, concurrency)
    threads = -(-concurrency // processes)
    chunks = [calls[i::processes] for i in range(processes)]
    done = [0]
    lock = threading.Lock()

    def count(future: Any) -> None:
        with lock:
            done[0] += len(future.result())
            progress(done[0])

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [pool.submit(_call_all, caller, chunk, threads) for chunk in chunks]
        for future in futures:
            future.add_done_callback(count)
        by_number = {r.planned.number: r for future in futures for r in future.result()}
    return [by_number[planned.number] for planned in calls]


def _call_all(caller: SimulatedCaller, calls: list[PlannedCall], threads: int) -> list[CallRecord]:
    def one(planned: PlannedCall) -> CallRecord:
        started = time.time()
        return CallRecord(planned, caller.call(planned.number), started)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, calls))


def _entry(outcome: CallOutcome, prefix: str, before: str | None = None) -> float | None:
    entries = outcome.timeline.entries
    end = next((i for i, (_, t) in enumerate(entries) if before and t.startswith(before)), len(entries))
    found = [offset for offset, text in entries[:end] if text.startswith(prefix)]
    return found[-1] if found else None


def webhook_own_work(logs_dir: Path) -> tuple[list[float], list[float], list[float]]:
    """(handler ms, handler ms minus AWS ms, the handler's CPU ms outside AWS calls) per webhook
    invocation, from the handler's EMF lines."""
    pending: dict[tuple[str, int], list[float]] = defaultdict(list)
    total, own, own_cpu = [], [], []
    decoder = json.JSONDecoder()
    text = (logs_dir / "WebhookFunction.log").read_text()
    # Several processes append to one log, so a line can hold more than one document.
    for piece in text.split('{"_aws"')[1:]:
        try:
            document, _ = decoder.raw_decode('{"_aws"' + piece)
        except ValueError:
            continue
        key = (document.get("route", ""), document["_aws"]["Timestamp"])
        if "WebhookLatency" in document:
            pending[key].append(document["WebhookLatency"][0])
        elif "WebhookAwsTime" in document and pending[key]:
            latency = pending[key].pop(0)
            total.append(latency)
            own.append(latency - document["WebhookAwsTime"][0])
            if "own_cpu_ms" in document:
                own_cpu.append(document["own_cpu_ms"])
    return total, own, own_cpu


def emf_documents(logs_dir: Path, function_id: str) -> list[dict[str, Any]]:
    """The function's EMF documents (several processes append to one log: a line may hold two)."""
    decoder, found = json.JSONDecoder(), []
    text = (logs_dir / f"{function_id}.log").read_text()
    for piece in text.split('{"_aws"')[1:]:
        try:
            found.append(decoder.raw_decode('{"_aws"' + piece)[0])
        except ValueError:
            continue
    return found


def warm_up_cost(stack: LocalStack, kinds: list[str]) -> dict[str, Any]:
    """What the webhook's warm-up of check_clone costs (warmline.prewarm): check_clone invocations it
    asked for per call of each kind, and the time asking added to the webhook's answer."""
    asked = stack.stats()["lambda_api"].get("invocations", {}).get("IvrCheckFunction Event", 0)
    first = kinds.count("first")
    documents = emf_documents(stack.logs_dir, "WebhookFunction")
    added = [d["CheckCloneWarmUpTime"] for d in documents if "CheckCloneWarmUpTime" in d]
    return {
        "warm_ups": asked,
        "per_first_time_call": round(asked / first, 2) if first else None,
        "per_call": round(asked / max(1, len(kinds)), 2),
        "webhook_added_ms": p50_p99([v for value in added for v in _as_list(value)]),
        "failed": sum(d.get("result") == "failed" for d in documents if "CheckCloneWarmUps" in d),
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _measure(
    mode: str,
    stack: LocalStack,
    state: dict[str, Any],
    records: list[CallRecord],
    before: set[str],
    cold_starts: dict[str, dict[str, Any]],
):
    store = DynamoCloneStore(
        aws.client("dynamodb", stack.aws_endpoint_url), stack.model.tables["CloneTable"].name
    )
    secret = state["secrets"]["CallerKeySecret"]
    adds = [r for r in stack.emulator.requests("/v1/voices/add") if r["status"] == 200]
    provider_ms = {
        r["form"]["name"][0].rsplit("-", 1)[0]: (r["answered_at"] - r["received_at"]) * 1000 for r in adds
    }
    new_adds = Counter(
        r["form"]["name"][0].rsplit("-", 1)[0] for r in adds if r["form"]["name"][0] not in before
    )

    webhook, greeting, readiness, queue, overhead, timelines = [], [], [], [], [], []
    detection = []  # READY written -> the waiting check's read that saw it (its handoff_at_ms)
    statuses: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    lost = []
    for record in records:
        outcome = record.outcome
        statuses.update(outcome.statuses)
        outcomes[f"{record.planned.kind}:{outcome.final_voice}"] += 1
        webhook.append(outcome.webhook_ms)
        greeting.append(outcome.greeting_ms)
        if record.planned.kind != "first":
            continue
        key = caller_key(normalise_number(record.planned.number), secret)
        clone = store.get_clone(key)
        if clone is None or clone.status.value not in ("READY", "FAILED"):
            lost.append(record.planned.number)
            continue
        queue.append(clone.started_at_ms - clone.requested_at_ms)
        answered = _entry(outcome, "clone ready")
        pressed = _entry(outcome, "caller presses 1", before="clone ready")
        if answered is not None and pressed is not None and clone.ready_at_ms:
            ready_at = clone.ready_at_ms / 1000
            if record.started_at + pressed < ready_at:  # the IVR was waiting when READY was written
                readiness.append((record.started_at + answered - ready_at) * 1000)
                if clone.handoff_at_ms >= clone.ready_at_ms:
                    detection.append(clone.handoff_at_ms - clone.ready_at_ms)
        cloned = _entry(outcome, "agent speaks in the cloned voice")
        name = f"warmline-{key}"
        if cloned is not None and name in provider_ms:
            overhead.append(cloned * 1000 - provider_ms[name])
        timelines.append(
            {
                "webhook": outcome.webhook_ms / 1000,
                "greeting": outcome.greeting_ms / 1000,
                "ready": (clone.ready_at_ms / 1000 - record.started_at) if clone.ready_at_ms else None,
                "cloned": cloned,
            }
        )
    transfers = [r.outcome.transfer_ms for r in records if r.outcome.transfer_ms is not None]
    presses = Counter(r.outcome.key_presses for r in records if r.outcome.key_presses)
    handoffs = _handoff_counts(state, records, len(transfers))
    handler_ms, own_ms, own_cpu_ms = webhook_own_work(stack.logs_dir)
    functions = stack.runtime.invocations() if stack.runtime else []
    stats = stack.stats()["functions"]
    return {
        "mode": mode,
        "calls": len(records),
        "webhook_latency_ms": p50_p99(webhook),
        "webhook_handler_ms": p50_p99(handler_ms),
        "own_webhook_work_ms": p50_p99(own_ms),
        "own_webhook_cpu_ms": p50_p99(own_cpu_ms),
        "time_to_greeting_ms": p50_p99(greeting),
        "readiness_lag_ms": p50_p99(readiness),
        "detection_lag_ms": p50_p99(detection),
        "queue_lag_ms": p50_p99(queue),
        "clone_wait_overhead_ms": p50_p99(overhead),
        "handoff_transfer_ms": p50_p99(transfers),
        "handoffs": handoffs,
        # {presses of 1: calls}, over the calls whose caller pressed at all; the agent's own re-checks
        "presses_per_call": {str(n): count for n, count in sorted(presses.items())},
        "rechecks_per_call": p50_p99([r.outcome.rechecks for r in records if r.outcome.key_presses]),
        "cold_start": cold_starts,
        "functions": {
            f: {
                "peak_memory_mb": stats[f]["peak_rss_mb"],
                "duration_ms": stats[f]["duration_ms"],
                "invocations": stats[f]["invocations"],
            }
            for f in FUNCTIONS
        },
        "cost_per_1000_calls_usd": _cost(stack, records, functions),
        "warm_up": warm_up_cost(stack, [record.planned.kind for record in records]),
        "checks": {
            "http_statuses": dict(statuses),
            "no_5xx": not any(s >= 500 for s in statuses),
            "no_lost_job": not lost,
            "no_duplicate_clone": all(count == 1 for count in new_adds.values()),
            "every_caller_has_an_outcome": all(
                r.outcome.final_voice in ("cloned", "default", "voicemail") for r in records
            ),
            "every_handoff_counted_once_and_completed": (
                handoffs["counted"] == handoffs["completed"] == handoffs["handed_off"]
            ),
            "outcomes": dict(outcomes),
        },
        "timelines": timelines,
        "_readiness_lag": readiness,
        "_queue_lag": queue,
    }


def _handoff_counts(state: dict[str, Any], records: list[CallRecord], handed_off: int) -> dict[str, Any]:
    """What the metrics endpoint counted of this run's handoffs (from its first call on)."""
    started_ms = int(min(record.started_at for record in records) * 1000)
    response = httpx.get(
        state["endpoints"]["CloningMetrics"],
        params={"from": str(started_ms), "to": str(int(time.time() * 1000) + 1000)},
        headers={"X-Warmline-Secret": state["secrets"]["OperatorSecret"]},
        timeout=30,
    )
    response.raise_for_status()
    figures = response.json()
    counts = figures["counts"]
    return {
        "handed_off": handed_off,  # the simulated callers that reached the re-entry leg
        "counted": counts["handoffs"],
        "completed": counts["handoffs_completed"],
        "lost": counts["handoffs_lost"],
        "warmline_transfer_ms": {
            "p50": figures["p50_handoff_transfer_ms"],
            "p95": figures["p95_handoff_transfer_ms"],
        },
    }


def _cost(
    stack: LocalStack, records: list[CallRecord], invocations: list[dict[str, Any]]
) -> dict[str, float]:
    memory = {f: stack.model.functions[f].memory_size / 1024 for f in FUNCTIONS}
    gb_seconds = sum(
        i["duration_ms"] / 1000 * memory[i["function"]] for i in invocations if i["function"] in memory
    )
    requests = len(invocations)
    http = sum(len(r.outcome.statuses) for r in records)
    kinds = Counter(r.planned.kind for r in records)
    reads = sum(REQUESTS_PER_CALL[k]["reads"] * n for k, n in kinds.items())
    writes = sum(REQUESTS_PER_CALL[k]["writes"] * n for k, n in kinds.items())
    sqs = sum(REQUESTS_PER_CALL[k]["sqs"] * n for k, n in kinds.items())
    per_call = {
        "lambda": (gb_seconds * PRICES["lambda_arm64_gb_second"] + requests * PRICES["lambda_request"]),
        "http_api": http * PRICES["http_api_request"],
        "sqs": sqs * PRICES["sqs_request"],
        "dynamodb": reads * PRICES["dynamodb_read_unit"] + writes * PRICES["dynamodb_write_unit"],
    }
    scale = 1000 / max(1, len(records))
    result = {name: round(value * scale, 6) for name, value in per_call.items()}
    result["total"] = round(sum(result.values()), 6)
    return result


FIGURES = [
    ("webhook latency (client) ms", "webhook_latency_ms"),
    ("warmline's own webhook work ms", "own_webhook_work_ms"),
    ("warmline's own webhook work, CPU ms (the handler's thread outside AWS calls)", "own_webhook_cpu_ms"),
    ("time to greeting ms", "time_to_greeting_ms"),
    ("clone ready -> the handing-off answer (readiness lag) ms", "readiness_lag_ms"),
    ("readiness detection lag ms (READY written -> the check's read that sees it)", "detection_lag_ms"),
    ("queue lag ms", "queue_lag_ms"),
    ("call start to cloned voice minus clone time ms", "clone_wait_overhead_ms"),
    ("handoff transfer leg ms (check_clone's answer to the re-entry)", "handoff_transfer_ms"),
]


def _warm_up_line(cost: dict[str, Any]) -> str:
    added = cost["webhook_added_ms"]
    return (
        f"{cost['warm_ups']} asynchronous check_clone invocations ({cost['per_first_time_call']} per "
        f"first-time call, {cost['per_call']} per call), {cost['failed']} failed; the webhook's wait "
        f"for Lambda's 202 p50 {_fmt(added['p50'])} ms, p99 {_fmt(added['p99'])} ms."
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _ratio(original: float | None, ours: float | None) -> str:
    if original is None or ours is None or ours <= 0:
        return "n/a"
    return f"{original / ours:.1f}x"


def targets(ours: dict[str, Any], original: dict[str, Any]) -> dict[str, dict[str, Any]]:
    lag = ours["readiness_lag_ms"]["p99"]
    # The polling's own part (the original polls every 500 ms, warmline every 50-60 ms): the answer's
    # fixed costs after it (the handoff's writes, the HTTP answer) are the same for both timings.
    seen, seen_original = ours["detection_lag_ms"]["p99"], original["detection_lag_ms"]["p99"]
    ratio = seen_original / seen if seen and seen_original else None
    return {
        **coldstart.targets(ours["cold_start"], ours["layer_mb"]),
        "readiness lag p99 <= 100 ms": {"value": lag, "met": lag is not None and lag <= 100},
        # The same figure, as issue 23 states it: the clone is READY -> the answer that hands off.
        "clone ready -> handing-off answer p99 <= 150 ms": {
            "value": lag,
            "met": lag is not None and lag <= 150,
        },
        "exactly one press for every caller who pressed 1": {
            "value": float(sum(ours["presses_per_call"].values())),
            "met": set(ours["presses_per_call"]) <= {"1"},
        },
        "own webhook work p99 <= 20 ms": {
            "value": ours["own_webhook_work_ms"]["p99"],
            "met": (ours["own_webhook_work_ms"]["p99"] or 1e9) <= 20,
        },
        # Issue 23 §3's target, on CPU: the wall-time figure above also counts the moments another
        # process of this machine (a worker's or a warmed check_clone's cold start) held the core.
        "own webhook work CPU p99 <= 5 ms": {
            "value": ours["own_webhook_cpu_ms"]["p99"],
            "met": (ours["own_webhook_cpu_ms"]["p99"] or 1e9) <= 5,
        },
        "queue lag p50 <= 100 ms": {
            "value": ours["queue_lag_ms"]["p50"],
            "met": (ours["queue_lag_ms"]["p50"] or 1e9) <= 100,
        },
        "readiness detection lag p99 >= 5x better than the original": {
            "value": ratio,
            "met": ratio is not None and ratio >= 5,
        },
    }


def markdown(ours: dict[str, Any], original: dict[str, Any], goals: dict[str, Any], command: str) -> str:
    lines = [
        f"`{command}` — {ours['calls']} calls per run (first-time, repeat and no-sample in turn)",
        "",
        "| figure | warmline p50 | warmline p99 | original p50 | original p99 | original / warmline (p99) |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in FIGURES:
        a, b = ours[key], original[key]
        lines.append(
            f"| {label} | {_fmt(a['p50'])} | {_fmt(a['p99'])} | {_fmt(b['p50'])} | {_fmt(b['p99'])} "
            f"| {_ratio(b['p99'], a['p99'])} |"
        )
    handoffs = ours["handoffs"]
    lines += [
        "",
        f"Handoffs (warmline run, the metrics endpoint): {handoffs['counted']} counted for "
        f"{handoffs['handed_off']} calls handed off, {handoffs['completed']} completed, {handoffs['lost']} "
        f"lost; transfer time as warmline measures it (check_clone's answer to the re-entry's "
        f"conversation-init) p50 {_fmt(handoffs['warmline_transfer_ms']['p50'])} ms, "
        f"p95 {_fmt(handoffs['warmline_transfer_ms']['p95'])} ms.",
    ]
    lines += [
        "",
        f"Presses of 1 per call (calls whose caller pressed; target: 1 each): warmline "
        f"{ours['presses_per_call']}, original {original['presses_per_call']}; the agent's own "
        f"re-checks per call p50 {_fmt(ours['rechecks_per_call']['p50'])}, "
        f"p99 {_fmt(ours['rechecks_per_call']['p99'])}.",
    ]
    if "low_traffic" in ours:
        low = ours["low_traffic"]
        counts = ", ".join(f"{c['kind']} {c['cold_starts']}" for c in low["cold_starts_per_call"])
        lines += [
            "",
            f"Low traffic (calls one at a time, {low['idle_between_calls_s']:g} s apart, idle environments "
            f"reclaimed): cold starts on the caller's path (webhook, check_clone) per call: {counts}; "
            f"at high traffic (the runs above, warm environments) none. {_warm_up_line(low['warm_up'])} "
            f"The warmed environment was ready this many seconds before each first-time caller's press "
            f"(negative: after it): {low['warm_up_margins_s']}.",
        ]
    lines += ["", f"The warm-up of check_clone, high traffic: {_warm_up_line(ours['warm_up'])}"]
    lines += [
        "",
        "| function | peak memory MB | warm duration p50 ms |",
        "|---|---|---|",
    ]
    for function, figures in ours["functions"].items():
        duration = (figures["duration_ms"] or {}).get("p50")
        lines.append(f"| {function} | {_fmt(figures['peak_memory_mb'])} | {_fmt(duration)} |")
    lines += ["", *coldstart.markdown(ours["cold_start"], ours["layer_mb"])]
    cost, cost_original = ours["cost_per_1000_calls_usd"], original["cost_per_1000_calls_usd"]
    lines += ["", "| cost per 1,000 calls (USD) | warmline | original |", "|---|---|---|"]
    lines += [f"| {name} | {cost[name]:.4f} | {cost_original[name]:.4f} |" for name in cost]
    lines += ["", "| target | value | met |", "|---|---|---|"]
    for name, goal in goals.items():
        value = goal["value"]
        lines.append(
            f"| {name} | {_fmt(value) if value is not None else 'n/a'} | {'yes' if goal['met'] else 'NO'} |"
        )
    lines += ["", "| load check (warmline run) | result |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in ours["checks"].items()]
    return "\n".join(lines) + "\n"


def plot(ours: dict[str, Any], original: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(18, 6))
    for row, timeline in enumerate(ours["timelines"]):
        axes[0].plot([0, timeline["greeting"]], [row, row], color="tab:blue", linewidth=2)
        if timeline["ready"] is not None:
            axes[0].plot(
                [timeline["greeting"], timeline["ready"]], [row, row], color="tab:orange", linewidth=2
            )
        if timeline["cloned"] is not None:
            axes[0].scatter([timeline["cloned"]], [row], color="tab:green", s=8)
    axes[0].set(
        title="first-time calls (warmline): greeting, cloning, cloned voice", xlabel="s since call start"
    )
    for axis, key, label in (
        (axes[1], "readiness_lag", "readiness lag"),
        (axes[2], "queue_lag", "queue lag"),
    ):
        data = [ours.get(f"_{key}", []), original.get(f"_{key}", [])]
        axis.boxplot(data, tick_labels=["warmline", "original"])
        axis.set(title=f"{label} (ms)", yscale="symlog")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench ARGS='…'", description=__doc__)
    parser.add_argument("--calls", type=int, default=100, help="calls per run (default 100)")
    parser.add_argument("--concurrency", type=int, default=20, help="calls at once (default 20)")
    parser.add_argument("--out", default="bench-results", help="report directory (default bench-results/)")
    parser.add_argument(
        "--idle-between-calls",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also place calls one at a time, SECONDS apart, and count the cold starts each meets",
    )
    parser.add_argument(
        "--realistic", action="store_true", help="clones of 5-30 s (default: 1.25-7.5 s, a quarter of that)"
    )
    args = parser.parse_args(argv)
    if args.calls < 3 or args.concurrency < 1:
        parser.error("--calls must be at least 3 and --concurrency at least 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = f"python -m bench.load --calls {args.calls} --concurrency {args.concurrency}"
    command += " --realistic" if args.realistic else ""
    if args.idle_between_calls is not None:
        command += f" --idle-between-calls {args.idle_between_calls:g}"

    def say(message: str) -> None:
        print(f"==> {message}", flush=True)

    started = time.monotonic()
    ours = run_mode("warmline", args, out, say)
    ours["layer_mb"] = coldstart.layer_size_mb(coldstart.LAYER_DIR)
    original = run_mode("original", args, out, say)
    goals = targets(ours, original)
    if args.idle_between_calls is not None:
        ours["low_traffic"] = low_traffic(args, out, say)
        worst = ours["low_traffic"]["max_cold_starts_per_call"]
        goals["at most one cold start on the caller's path per call (low traffic)"] = {
            "value": float(worst),
            "met": worst <= 1,
        }
    report = {
        "command": command,
        "prices_usd": PRICES,
        "warmline": ours,
        "original": original,
        "targets": goals,
    }
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(ours, original, goals, command)
    (out / "bench.md").write_text(table)
    plot(ours, original, out / "bench.png")
    print()
    print(table)
    print(f"report in {out}/ (bench.json, bench.md, bench.png), {time.monotonic() - started:.0f} s")
    checks = ours["checks"]
    ok = all(
        checks[name]
        for name in (
            "no_5xx",
            "no_lost_job",
            "no_duplicate_clone",
            "every_caller_has_an_outcome",
            "every_handoff_counted_once_and_completed",
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
