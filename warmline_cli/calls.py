"""`warmline calls list` and `warmline calls show`: recent calls, and one call as a timeline (text,
JSON or a PNG), read from the events the stack stores in its clone table (warmline_cli.call_timeline).
Callers appear masked (the number their profile keeps) and by caller key, never as a number."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warmline_cli.call_timeline import CallTimeline, as_json, build_calls, find_call, iso, text_lines
from warmline_cli.console import NotFound, UsageError, emit_json, say

if TYPE_CHECKING:
    from warmline_cli.target import Target

DEFAULT_HOURS = 24.0
MAX_HOURS = 30 * 24.0  # the events' own TTL (EVENT_TTL_SECONDS)
DEFAULT_LIMIT = 20


def add_actions(group: argparse.ArgumentParser, target: argparse.ArgumentParser) -> None:
    """`calls list` and `calls show` under the `calls` command's parser."""
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[target], help="the recent calls (callers masked)")
    listing.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many, newest first ({DEFAULT_LIMIT})"
    )
    show = actions.add_parser("show", parents=[target], help="one call's timeline, from its stored events")
    show.add_argument(
        "--call-id", required=True, metavar="ID", help="the call's id, as `calls list` prints it"
    )
    show.add_argument(
        "--png", type=Path, metavar="FILE", help="also draw the timeline as a PNG (needs matplotlib)"
    )
    for command in (listing, show):
        command.add_argument(
            "--hours",
            type=float,
            default=DEFAULT_HOURS,
            help=f"look this far back (default {DEFAULT_HOURS:g}; at most {MAX_HOURS:g}, the events' TTL)",
        )
        command.add_argument(
            "--json", action="store_true", help="print one JSON document (keys in docs/cli.md)"
        )


def recent_calls(target: Target, hours: float, now_ms: int | None = None) -> list[CallTimeline]:
    """The calls whose incoming webhook came in the last `hours`, oldest first, callers masked."""
    from warmline.adapters.dynamodb import DynamoEventStore

    if not 0 < hours <= MAX_HOURS:
        raise UsageError(f"--hours: give more than 0 and at most {MAX_HOURS:g}")
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    store = DynamoEventStore(target.client("dynamodb"), target.table, 0)
    calls = build_calls(store.between(now_ms - int(hours * 3_600_000), now_ms + 60_000))
    _mask_callers(target, calls)
    return calls


def _mask_callers(target: Target, calls: list[CallTimeline]) -> None:
    from warmline_cli.samples import registry_store

    store, masked = registry_store(target), {}
    for call in calls:
        if call.caller_key not in masked:
            profile = store.get_profile(call.caller_key)
            masked[call.caller_key] = profile.masked_number if profile else "(removed)"
        call.caller = masked[call.caller_key]


def list_calls(target: Target, args: argparse.Namespace) -> int:
    calls = list(reversed(recent_calls(target, args.hours)))[: max(args.limit, 0)]
    if args.json:
        emit_json({"calls": [_summary(call) for call in calls]})
        return 0
    if not calls:
        say(f"no calls from callers with voice samples in the last {args.hours:g} h")
        return 0
    say(f"{'started (UTC)':<25} {'call id':<34} {'caller':<16} {'voice':<9} {'seconds':>7}  outcome")
    for call in calls:
        seconds = (call.ended_at_ms - call.started_at_ms) / 1000
        say(
            f"{iso(call.started_at_ms):<25} {call.call_id:<34} {call.caller:<16} "
            f"{call.answered.get('voice', ''):<9} {seconds:>7.1f}  {call.outcome}"
        )
    return 0


def _summary(call: CallTimeline) -> dict[str, Any]:
    summary = as_json(call)
    del summary["steps"]
    return summary


def show_call(target: Target, args: argparse.Namespace) -> int:
    if args.png is not None:
        _check_matplotlib()
    call = find_call(recent_calls(target, args.hours), args.call_id)
    if call is None:
        raise NotFound(
            f"no call {args.call_id} in the last {args.hours:g} h (`warmline calls list` names the recent "
            "ones; --hours looks further back)"
        )
    if args.json:
        emit_json(as_json(call))
    else:
        say("\n".join(text_lines(call)))
    if args.png is not None:
        from warmline_cli.call_picture import draw

        draw(call, args.png)
        if not args.json:
            say(f"drawn: {args.png}")
    return 0


def _check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "--png needs matplotlib, which this install of warmline lacks: "
            "`pip install matplotlib` into the same environment (or `pipx inject warmline matplotlib`)"
        ) from None
