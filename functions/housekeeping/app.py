"""Scheduled housekeeping (an EventBridge schedule): run every sweep, report and count what each did.

Each sweep is independent: one that fails does not stop the others, and the invocation then ends in
an error (Lambda's Errors metric and its retries of a scheduled invocation see it).
"""

from __future__ import annotations

from typing import Any

from warmline.agent_slots import sweep_slots
from warmline.dependencies import dependencies
from warmline.handoffs import settle_overdue_handoffs
from warmline.housekeeping import Sweep, SweepContext, run_sweeps
from warmline.observability import count_sweep, logger, metrics
from warmline.voice_sweep import sweep_voices

# The handoffs first: a few quick writes that must not wait behind a long voice sweep.
SWEEPS = (
    Sweep("handoffs", settle_overdue_handoffs),
    Sweep("slots", sweep_slots),  # before the voices: a clone is taken off its slot agent first
    Sweep("voices", sweep_voices),
)

dependencies().warm_up(
    lambda deps: (deps.store, deps.handoff_store),
    secrets=lambda settings: (settings.elevenlabs_api_key_secret,),
)


class SweepsFailed(Exception):
    pass


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = dependencies()
    sweep_context = SweepContext(
        store=deps.store,
        handoffs=deps.handoff_store,
        cloner=deps.provider,
        clock=deps.clock,
        settings=deps.settings,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        agent_slots=deps.agent_slots,
        agent_transfers=deps.provider if deps.agent_slots is not None else None,
    )
    summary: dict[str, Any] = {}
    with deps.bounded_by(context):
        outcomes = run_sweeps(SWEEPS, sweep_context)
    for outcome in outcomes:
        if outcome.report is None:
            summary[outcome.name] = {"error": outcome.error}
            continue
        summary[outcome.name] = outcome.report.as_dict()
        logger.info(f"{outcome.name} sweep done", extra={"report": summary[outcome.name]})
        count_sweep(outcome.report)
    failed = [name for name, report in summary.items() if "error" in report]
    if failed:
        raise SweepsFailed(f"sweep(s) failed: {', '.join(failed)} (see the log above)")
    return {"sweeps": summary}
