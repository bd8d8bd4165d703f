"""Clone-jobs queue consumer: one clone per job, partial batch failures reported to SQS."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from warmline.adapters.sqs import VisibilityHeartbeat
from warmline.clone_state import CloneJob
from warmline.cloning import Delivery, JobResult, RetryLater
from warmline.dependencies import dependencies
from warmline.observability import count_clone_result, logger, metrics

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
dependencies().warm_up(
    lambda deps: deps.clone_worker, secrets=lambda settings: (settings.elevenlabs_api_key_secret,)
)


def handle_job(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """One job; the processor gives it the invocation's context (its `lambda_context` parameter)."""
    deps = dependencies()
    try:
        job = CloneJob(**json.loads(record.body))
    except (TypeError, ValueError):
        # A malformed message can never succeed: drop it loudly rather than retry it to the DLQ.
        logger.error("malformed clone job dropped", extra={"message_id": record.message_id})
        return
    receive_count = int(record.attributes.approximate_receive_count or 1)
    logger.append_keys(caller_key=job.caller_key, job_id=job.job_id, threecx_call_id=job.threecx_call_id)
    heartbeat = VisibilityHeartbeat(
        deps.queue,
        record.receipt_handle,
        hide_seconds=deps.settings.clone_hide_seconds,
        every_seconds=deps.settings.clone_heartbeat_seconds,
    )
    with heartbeat:
        result = _run(job, receive_count, record.receipt_handle, lambda_context)
    logger.info(
        "clone job done",
        extra={"outcome": result.outcome, "error_code": result.error_code, "duration_ms": result.duration_ms},
    )
    count_clone_result(result)


def _run(job: CloneJob, receive_count: int, receipt_handle: str, context: LambdaContext) -> JobResult:
    deps = dependencies()
    delivery = Delivery(receive_count, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    try:
        return deps.clone_worker.run(job, delivery)
    except RetryLater as retry:
        logger.warning(
            "clone job left for a later delivery",
            extra={"reason": str(retry), "receive_count": receive_count, "marked_failed": bool(retry.failed)},
        )
        if retry.failed is not None:
            count_clone_result(retry.failed)
        if retry.after_seconds is not None:
            # Another worker holds the lease: look again the moment it ends, not a heartbeat later.
            deps.queue.hide(receipt_handle, retry.after_seconds)
        raise
    except Exception:
        if receive_count >= deps.settings.clone_max_receives:
            failed = deps.clone_worker.fail_after_last_delivery(job, delivery)
            if failed is not None:
                count_clone_result(failed)
        raise


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with dependencies().bounded_by(context):
        return process_partial_response(
            event=event, record_handler=handle_job, processor=processor, context=context
        )
