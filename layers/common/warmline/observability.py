"""Logs, metrics and traces: the one place that names what warmline measures.

Every metric is in the `warmline` namespace with the dimension `service=warmline`; the few that
need one more dimension take it from a fixed set of values (CloudWatch identifies a metric by its
namespace, name and all its dimensions, so an open-ended dimension would scatter it). The
dashboard and alarms in template.yaml name exactly these metrics; a test holds them together.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from warmline.clone_state import VoiceStatus
from warmline.outcomes import COUNTED_RESULTS, FailureKind, IvrOutcome, PinResult
from warmline.routes import CONVERSATION_INIT, INCOMING_CALL

if TYPE_CHECKING:
    from warmline.caller_id import IdentifiedCaller
    from warmline.calls import CallDecision
    from warmline.cloning import JobResult
    from warmline.handoffs import Arrival
    from warmline.housekeeping import SweepReport
    from warmline.ivr import IvrAnswer
    from warmline.prewarm import WarmUp

NAMESPACE = "warmline"
SERVICE = "warmline"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


# Traces are Lambda's own (the template's `Tracing: Active`): a segment per invocation with its
# initialization, invocation and overhead, tied across SQS and DynamoDB by the trace header botocore
# adds to each AWS call inside Lambda, and named in every log line (`xray_trace_id`). The X-Ray SDK
# (Powertools' Tracer) is not loaded: it builds botocore clients of its own at import, 0.3-0.5 s of
# every cold start on the development machine, for a subsegment per call that WebhookAwsTime and
# CloneDuration already measure.


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: MetricUnit
    # The extra dimension beside `service`, and every value it can take.
    dimension: str = ""
    values: tuple[str, ...] = ()


CLONE_DURATION = MetricSpec("CloneDuration", MetricUnit.Milliseconds)
CLONES_SUCCEEDED = MetricSpec("ClonesSucceeded", MetricUnit.Count)
CLONES_FAILED = MetricSpec("ClonesFailed", MetricUnit.Count)
CLONE_FAILURES_BY_REASON = MetricSpec(
    "CloneFailuresByReason", MetricUnit.Count, "reason", tuple(kind.value for kind in FailureKind)
)
# After each clone, the plan's voice add/edits still left (only when the plan reports a maximum).
VOICE_ADD_EDITS_LEFT = MetricSpec("VoiceAddEditsLeft", MetricUnit.Count)
CALLS_WITH_VOICE_SAMPLE = MetricSpec("CallsWithVoiceSample", MetricUnit.Count)
CACHE_HITS = MetricSpec("CacheHits", MetricUnit.Count)
CLONE_JOBS_ENQUEUED = MetricSpec("CloneJobsEnqueued", MetricUnit.Count)
CLONE_JOBS_DEDUPLICATED = MetricSpec("CloneJobsDeduplicated", MetricUnit.Count)
IVR_WAIT_TIME = MetricSpec("IvrWaitTime", MetricUnit.Milliseconds)
IVR_OUTCOMES = MetricSpec("IvrOutcome", MetricUnit.Count, "outcome", tuple(o.value for o in IvrOutcome))
# Handoffs, once per call (its first transfer_to_agent answer); those whose re-entry came in time,
# and the time it took (the IVR's answer to the re-entry's conversation-init); and those whose
# re-entry never came, counted by the housekeeping sweep (warmline.handoffs).
HANDOFFS = MetricSpec("Handoffs", MetricUnit.Count)
HANDOFFS_COMPLETED = MetricSpec("HandoffsCompleted", MetricUnit.Count)
HANDOFF_TRANSFER_TIME = MetricSpec("HandoffTransferTime", MetricUnit.Milliseconds)
HANDOFFS_LOST = MetricSpec("HandoffsLost", MetricUnit.Count)
# conversation-init or check_clone saw a caller who did not come in through 3CX moments before: the
# caller ID did not cross the SIP leg (warmline.caller_id); and of those, the ones tied to a call.
CALLER_ID_NOT_PASSED = MetricSpec("CallerIdNotPassedThrough", MetricUnit.Count)
CALLER_ID_CORRELATED = MetricSpec("CallerIdCorrelated", MetricUnit.Count)
# Requests answered 401: a 3CX or agent secret out of step, or someone probing the API.
UNAUTHORIZED_REQUESTS = MetricSpec("UnauthorizedRequests", MetricUnit.Count)
PIN_CHECKS = MetricSpec("PinChecks", MetricUnit.Count, "result", tuple(r.value for r in COUNTED_RESULTS))
# What the scheduled voice sweep deleted: expired clones, and voices no record held (orphans).
VOICES_DELETED_BY_SWEEP = MetricSpec(
    "VoicesDeletedBySweep",
    MetricUnit.Count,
    "reason",
    (VoiceStatus.EXPIRED.value, VoiceStatus.ORPHAN.value),
)
# The webhook's warm-up of check_clone (warmline.prewarm): sent or failed, and what asking for it
# added to the webhook's answer.
CHECK_CLONE_WARM_UPS = MetricSpec("CheckCloneWarmUps", MetricUnit.Count, "result", ("sent", "failed"))
CHECK_CLONE_WARM_UP_TIME = MetricSpec("CheckCloneWarmUpTime", MetricUnit.Milliseconds)
WEBHOOK_ROUTES = {
    INCOMING_CALL.key: "incoming_call",
    CONVERSATION_INIT.key: "conversation_init",
}
WEBHOOK_LATENCY = MetricSpec(
    "WebhookLatency", MetricUnit.Milliseconds, "route", tuple(WEBHOOK_ROUTES.values())
)
WEBHOOK_AWS_TIME = MetricSpec(
    "WebhookAwsTime", MetricUnit.Milliseconds, "route", tuple(WEBHOOK_ROUTES.values())
)

ALL_METRICS = (
    CLONE_DURATION,
    CLONES_SUCCEEDED,
    CLONES_FAILED,
    CLONE_FAILURES_BY_REASON,
    VOICE_ADD_EDITS_LEFT,
    CALLS_WITH_VOICE_SAMPLE,
    CACHE_HITS,
    CLONE_JOBS_ENQUEUED,
    CLONE_JOBS_DEDUPLICATED,
    IVR_WAIT_TIME,
    IVR_OUTCOMES,
    HANDOFFS,
    HANDOFFS_COMPLETED,
    HANDOFF_TRANSFER_TIME,
    HANDOFFS_LOST,
    CALLER_ID_NOT_PASSED,
    CALLER_ID_CORRELATED,
    UNAUTHORIZED_REQUESTS,
    PIN_CHECKS,
    VOICES_DELETED_BY_SWEEP,
    WEBHOOK_LATENCY,
    WEBHOOK_AWS_TIME,
    CHECK_CLONE_WARM_UPS,
    CHECK_CLONE_WARM_UP_TIME,
)


def metric_identities() -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, name, dimensions) of every metric warmline can emit."""
    found = set()
    for spec in ALL_METRICS:
        if spec.dimension:
            for value in spec.values:
                dimensions = frozenset({("service", SERVICE), (spec.dimension, value)})
                found.add((NAMESPACE, spec.name, dimensions))
        else:
            found.add((NAMESPACE, spec.name, frozenset({("service", SERVICE)})))
    return found


def _add(
    spec: MetricSpec, value: float, dimension_value: str = "", metadata: dict[str, Any] | None = None
) -> None:
    if not spec.dimension:
        metrics.add_metric(name=spec.name, unit=spec.unit, value=value)
        return
    if dimension_value not in spec.values:
        raise ValueError(f"{spec.name}: {spec.dimension}={dimension_value!r} is not one of {spec.values}")
    # A metric with its own dimension goes out as its own EMF document: the shared one has one
    # dimension set for all its metrics.
    with single_metric(
        name=spec.name,
        unit=spec.unit,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE, spec.dimension: dimension_value},
    ) as metric:
        for key, item in (metadata or {}).items():
            metric.add_metadata(key, item)


# --- from the domain's results ------------------------------------------------------------------
# Each counts the result of one use case, and imports what it compares with from that use case's
# module when it is called (the function calling it has loaded that module already): importing this
# module loads no use case.


def count_incoming_call(decision: CallDecision) -> None:
    from warmline.calls import CloneProgress, Voice

    if decision.progress in (CloneProgress.NO_SAMPLE, CloneProgress.WITHHELD):
        return
    _add(CALLS_WITH_VOICE_SAMPLE, 1)
    if decision.progress is CloneProgress.READY:  # a caller with a PIN may still have to verify
        _add(CACHE_HITS, 1)
    elif decision.job_queued:
        _add(CLONE_JOBS_ENQUEUED, 1)
    elif decision.voice is Voice.GREETING:
        _add(CLONE_JOBS_DEDUPLICATED, 1)


def count_clone_result(result: JobResult) -> None:
    from warmline.cloning import Outcome

    if result.outcome is Outcome.READY:
        _add(CLONES_SUCCEEDED, 1)
        _add(CLONE_DURATION, result.duration_ms)
        if result.add_edits_left is not None:
            _add(VOICE_ADD_EDITS_LEFT, result.add_edits_left)
    elif result.outcome is Outcome.FAILED:
        _add(CLONES_FAILED, 1)
        _add(CLONE_FAILURES_BY_REASON, 1, result.failure_kind)


def count_ivr_answer(answer: IvrAnswer) -> None:
    if answer.pin is not None and answer.pin.result is not PinResult.NOT_SET:
        _add(PIN_CHECKS, 1, answer.pin.result.value)
    if answer.outcome is None:
        return
    _add(IVR_WAIT_TIME, answer.wait_time_ms)
    _add(IVR_OUTCOMES, 1, answer.outcome.value)
    if answer.handoff_counted:
        _add(HANDOFFS, 1)


def count_handoff_arrival(arrival: Arrival) -> None:
    _add(HANDOFFS_COMPLETED, 1)
    _add(HANDOFF_TRANSFER_TIME, arrival.transfer_ms)


def count_sweep(report: SweepReport) -> None:
    """The metrics of one housekeeping sweep's report."""
    from warmline.handoffs import HandoffSweepReport
    from warmline.voice_sweep import VoiceSweepReport

    if isinstance(report, VoiceSweepReport):
        for reason in VOICES_DELETED_BY_SWEEP.values:
            _add(VOICES_DELETED_BY_SWEEP, report.deleted[reason], reason)
    elif isinstance(report, HandoffSweepReport):
        _add(HANDOFFS_LOST, report.lost)
        if report.completed_by_agent_transfer:
            _add(HANDOFFS_COMPLETED, report.completed_by_agent_transfer)


def count_caller_identity(identified: IdentifiedCaller) -> None:
    from warmline.caller_id import Resolution

    if identified.passed_through:
        return
    _add(CALLER_ID_NOT_PASSED, 1)
    if identified.resolution is Resolution.CORRELATED:
        _add(CALLER_ID_CORRELATED, 1)


def count_warm_up(warm_up: WarmUp | None) -> None:
    if warm_up is None:
        return
    _add(CHECK_CLONE_WARM_UPS, 1, "sent" if warm_up.sent else "failed")
    _add(CHECK_CLONE_WARM_UP_TIME, warm_up.duration_ms)


def count_http_answer(status: int) -> None:
    if status == 401:
        _add(UNAUTHORIZED_REQUESTS, 1)


# --- the webhook's own latency -------------------------------------------------------------------


class AwsCallTimer:
    """Wall time, and this thread's CPU time, spent inside AWS SDK calls on the clients it is
    attached to, since the last reset."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call", self._started)
        client.meta.events.register("after-call", self._ended)
        client.meta.events.register("after-call-error", self._ended)
        return client

    def reset(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def _started(self, context: dict[str, Any], **_: Any) -> None:
        context["warmline_started"] = (time.perf_counter(), time.thread_time())

    def _ended(self, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("warmline_started", None)
        if started is not None:
            self.seconds += time.perf_counter() - started[0]
            self.cpu_seconds += time.thread_time() - started[1]


@contextmanager
def webhook_latency(route_key: str, aws_timer: AwsCallTimer) -> Iterator[None]:
    """Time the handler's work on one webhook request, and the part of it spent in AWS calls. Beside
    them, as metadata (no metric), `own_cpu_ms`: the CPU the handler's thread spent outside AWS
    calls, warmline's own work, which no other process sharing the machine's cores can inflate."""
    route = WEBHOOK_ROUTES.get(route_key)
    aws_timer.reset()
    started, cpu_started = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        if route is not None:
            own_cpu_ms = (time.thread_time() - cpu_started - aws_timer.cpu_seconds) * 1000
            _add(WEBHOOK_LATENCY, round((time.perf_counter() - started) * 1000, 3), route)
            _add(
                WEBHOOK_AWS_TIME,
                round(aws_timer.seconds * 1000, 3),
                route,
                {"own_cpu_ms": round(own_cpu_ms, 3)},
            )
