"""The cloning figures of GET /api/metrics/cloning, computed from stored events.

A figure with nothing to compute it from is None, never a guess. Percentiles are nearest-rank:
the p-th percentile of n sorted values is the value at 1-based rank ceil(p / 100 * n), so it is
always a time that was measured.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from warmline.events import Event, EventType
from warmline.outcomes import COUNTED_RESULTS, IvrOutcome


@dataclass(frozen=True)
class CloningReport:
    avg_clone_time_ms: float | None
    p50_clone_time_ms: int | None
    p95_clone_time_ms: int | None
    p99_clone_time_ms: int | None
    clone_timeout_rate: float | None
    cache_hit_rate: float | None
    async_clone_success_rate: float | None
    avg_wait_during_ivr_ms: float | None
    # From the IVR's transfer_to_agent answer to the re-entry's conversation-init, of the
    # completed handoffs (warmline.handoffs).
    p50_handoff_transfer_ms: int | None
    p95_handoff_transfer_ms: int | None
    clones_ready: int
    clones_failed: int
    clones_failed_by_reason: dict[str, int] = field(default_factory=dict)
    calls_with_voice_sample: int = 0
    cache_hits: int = 0
    ivr_waits: int = 0
    calls_waited_in_ivr: int = 0
    calls_timed_out_in_ivr: int = 0
    handoffs: int = 0  # once per call: its first transfer_to_agent answer
    handoffs_completed: int = 0  # the re-entry came within the window
    handoffs_lost: int = 0  # it did not (counted by the housekeeping sweep after the window)
    # Conversations and checks whose caller did not come in through 3CX (the caller ID did not
    # cross the SIP leg), and of those the ones tied to the only recent call (warmline.caller_id).
    caller_id_not_passed_through: int = 0
    caller_id_correlated: int = 0
    pin_checks_by_result: dict[str, int] = field(default_factory=dict)  # callers with a PIN only
    pin_lockouts: int = 0


def nearest_rank(sorted_values: list[int], percentile: float) -> int | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percentile / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _average(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def cloning_report(events: Iterable[Event]) -> CloningReport:
    by_type: dict[EventType, list[Event]] = {event_type: [] for event_type in EventType}
    for event in events:
        by_type[event.type].append(event)

    durations = sorted(int(e.data["clone_duration_ms"]) for e in by_type[EventType.CLONE_READY])
    failed = by_type[EventType.CLONE_FAILED]
    answered = by_type[EventType.CALL_ANSWERED]
    cache_hits = sum(1 for e in answered if e.data.get("cache_hit"))
    checks = by_type[EventType.IVR_CHECK]
    waits = [int(e.data["wait_ms"]) for e in checks]
    # A call is one 3CX call of one caller; it may press 1 several times.
    calls_waited = {(e.caller_key, e.data.get("threecx_call_id", "")) for e in checks}
    calls_timed_out = {
        (e.caller_key, e.data.get("threecx_call_id", ""))
        for e in checks
        if e.data.get("outcome") == IvrOutcome.TIMEOUT.value
    }
    return CloningReport(
        avg_clone_time_ms=_average(durations),
        p50_clone_time_ms=nearest_rank(durations, 50),
        p95_clone_time_ms=nearest_rank(durations, 95),
        p99_clone_time_ms=nearest_rank(durations, 99),
        clone_timeout_rate=_rate(len(calls_timed_out), len(calls_waited)),
        cache_hit_rate=_rate(cache_hits, len(answered)),
        async_clone_success_rate=_rate(len(durations), len(durations) + len(failed)),
        avg_wait_during_ivr_ms=_average(waits),
        clones_ready=len(durations),
        clones_failed=len(failed),
        clones_failed_by_reason=dict(Counter(e.data.get("failure_kind", "unknown") for e in failed)),
        calls_with_voice_sample=len(answered),
        cache_hits=cache_hits,
        ivr_waits=len(checks),
        calls_waited_in_ivr=len(calls_waited),
        calls_timed_out_in_ivr=len(calls_timed_out),
        **_handoff_counts(by_type),
        **_caller_id_counts(by_type[EventType.CALLER_ID_NOT_PASSED]),
        **_pin_counts(by_type[EventType.PIN_CHECK]),
    )


def _handoff_counts(by_type: dict[EventType, list[Event]]) -> dict[str, Any]:
    transfers = sorted(int(e.data["transfer_ms"]) for e in by_type[EventType.HANDOFF_COMPLETED])
    return {
        "p50_handoff_transfer_ms": nearest_rank(transfers, 50),
        "p95_handoff_transfer_ms": nearest_rank(transfers, 95),
        "handoffs": len(by_type[EventType.HANDOFF]),
        "handoffs_completed": len(transfers),
        "handoffs_lost": len(by_type[EventType.HANDOFF_LOST]),
    }


def _caller_id_counts(not_passed: list[Event]) -> dict[str, Any]:
    return {
        "caller_id_not_passed_through": len(not_passed),
        "caller_id_correlated": sum(1 for e in not_passed if e.data.get("correlated")),
    }


def _pin_counts(checks: list[Event]) -> dict[str, Any]:
    results = Counter(e.data.get("result", "") for e in checks)
    return {
        "pin_checks_by_result": {result.value: results[result.value] for result in COUNTED_RESULTS},
        "pin_lockouts": sum(1 for e in checks if e.data.get("locked_now")),
    }


DEFAULT_WINDOW_MS = 24 * 3600 * 1000
MAX_WINDOW_MS = 31 * 24 * 3600 * 1000
LATEST_INSTANT_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z


class InvalidWindow(ValueError):
    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


MAX_INSTANT_CHARS = 40  # the longest ISO-8601 form is 32 characters (with microseconds and an offset)


def parse_instant(parameter: str, text: str) -> int:
    """Epoch milliseconds (all digits) or ISO-8601 (a time without an offset is UTC) -> epoch ms."""
    text = text.strip()
    if len(text) > MAX_INSTANT_CHARS:
        raise InvalidWindow(parameter, f"must be at most {MAX_INSTANT_CHARS} characters")
    if text.isascii() and text.isdigit():
        at_ms = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            at_ms = int(moment.timestamp() * 1000)
        except (ValueError, OverflowError) as error:
            # OverflowError: a valid date whose offset moves it out of datetime's range (year 1 or 9999).
            raise InvalidWindow(
                parameter, "must be ISO-8601 (2026-11-24T10:00:00Z) or epoch milliseconds"
            ) from error
    if not 0 <= at_ms < LATEST_INSTANT_MS:
        raise InvalidWindow(parameter, "must be between 1970 and 2100")
    return at_ms


def parse_window(query: dict[str, str], now_ms: int) -> tuple[int, int]:
    """The window [from, to) in epoch ms: `to` defaults to now, `from` to 24 hours before `to`."""
    unknown = sorted(set(query) - {"from", "to"})
    if unknown:
        raise InvalidWindow(unknown[0], "unknown query parameter; use from and to")
    to_ms = parse_instant("to", query["to"]) if "to" in query else now_ms
    from_ms = parse_instant("from", query["from"]) if "from" in query else to_ms - DEFAULT_WINDOW_MS
    if from_ms >= to_ms:
        raise InvalidWindow("from", "must be before to")
    if to_ms - from_ms > MAX_WINDOW_MS:
        raise InvalidWindow("from", "the window may be at most 31 days")
    return from_ms, to_ms
