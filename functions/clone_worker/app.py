"""Clone-jobs queue consumer: one clone per job, partial batch failures reported to SQS."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from warmline.adapters.sqs import VisibilityHeartbeat
from warmline.agent_slots import put_clone_on_slot
from warmline.clone_state import CloneJob
from warmline.cloning import Delivery, JobOutcome, Outcome
from warmline.dependencies import dependencies
from warmline.observability import count_clone_result, logger, metrics

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
dependencies().warm_up(
    lambda deps: (deps.clone_worker, deps.queue),
    secrets=lambda settings: (settings.elevenlabs_api_key_secret,),
)


class DeliverAgain(Exception):
    """Reported to SQS as this message's batch item failure: it is delivered again."""


def handle_job(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """One job; the processor gives it the invocation's context (its `lambda_context` parameter)."""
    deps = dependencies()
    try:
        job = CloneJob(**json.loads(record.body))
    except (TypeError, ValueError):
        # A malformed message can never succeed: drop it loudly rather than retry it to the DLQ.
        logger.error("malformed clone job dropped", extra={"message_id": record.message_id})
        return
    logger.append_keys(caller_key=job.caller_key, job_id=job.job_id, threecx_call_id=job.threecx_call_id)
    receive_count = int(record.attributes.approximate_receive_count or 1)
    delivery = Delivery(receive_count, time_left=lambda: lambda_context.get_remaining_time_in_millis() / 1000)
    settings = deps.settings
    hide, every = settings.clone_hide_seconds, settings.clone_heartbeat_seconds
    with VisibilityHeartbeat(deps.queue, record.receipt_handle, hide_seconds=hide, every_seconds=every):
        outcome = deps.clone_worker.deliver(job, delivery)
    result = outcome.result
    if (
        deps.agent_slots is not None
        and result is not None
        and result.outcome is Outcome.READY
        and result.voice_id
    ):
        put_clone_on_slot(deps.agent_slots, job.caller_key, result.voice_id)  # HandoffMode=agent_transfer
    _map(outcome, record.receipt_handle)


def _map(outcome: JobOutcome, receipt_handle: str) -> None:
    """The outcome to the queue: hidden until another lease ends, delivered again, or done."""
    if outcome.result is not None:
        count_clone_result(outcome.result)
    if outcome.hide_seconds is not None:
        # Another worker holds the lease: look again the moment it ends, not a heartbeat later.
        dependencies().queue.hide(receipt_handle, outcome.hide_seconds)
    if outcome.retry:
        raise DeliverAgain(outcome.reason)
    result = outcome.result
    assert result is not None
    logger.info(
        "clone job done",
        extra={"outcome": result.outcome, "error_code": result.error_code, "duration_ms": result.duration_ms},
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with dependencies().bounded_by(context):
        return process_partial_response(
            event=event, record_handler=handle_job, processor=processor, context=context
        )
