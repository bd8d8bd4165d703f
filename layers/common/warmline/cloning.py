"""One clone job: take the lease, clone the caller's voice once, record the outcome.

Cloning is not idempotent at the provider (a retried voices/add can make a second voice), so:
- a conditional lease makes one worker at a time own a caller's job;
- each job clones under a deterministic voice name, and before any attempt that might repeat an
  earlier one (a later delivery, or after an ambiguous failure) the worker looks that name up and
  reuses the voice it finds;
- 429s are retried with backoff inside the invocation's remaining time; 5xx and timeouts too,
  after the name lookup; then the message goes back to the queue, and on its last delivery the
  job is marked FAILED so the caller stops waiting (an unexpected error marks it FAILED only for
  its own job id, under its own lease or a lapsed one: `clone_state.JobClaim`);
- a last delivery that meets another delivery's live lease sends the job again, delayed until that
  lease ends, instead of leaving it to the dead-letter queue: if the holder died, the copy takes
  the lapsed lease and finishes the job;
- once the job is recorded READY, the caller's other voices are deleted (an expired clone, an
  extra attempt's voice);
- a job that saw an ambiguous failure or ran more than once is sent again with a delay
  (`clone_recheck_delay_seconds`) however it ended (READY, FAILED, or its record gone); that
  delivery finds the job done and deletes every voice of the caller the record does not hold, so
  a voice whose answer was lost, or that appeared after the job failed, is not left behind;
- a worker that cannot record its voice (the lease was lost, or `samples remove` left the REMOVED
  marker) deletes the voice unless the job is still in flight under another delivery, which will
  find it by name (`clone_state.voice_status` decides, as it does for the scheduled sweep);
- a clone ElevenLabs answers with `requires_verification` is deleted at once and the job FAILED
  (`needs_verification`): no caller is ever handed to a voice awaiting verification;
- before cloning, a full account makes room by deleting warmline's least recently used voice
  (`warmline.voice_slots`), never any other voice.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn

from warmline import voice_slots
from warmline.clone_state import CloneJob, CloneRecord, CloneStatus, JobClaim, ReadyClone, voice_status
from warmline.events import Event, EventType
from warmline.outcomes import NEEDS_VERIFICATION_CODE, FailureKind
from warmline.ports import Clock, CloneStore, EventStore, JobQueue, SampleStore
from warmline.settings import Settings
from warmline.voice_provider import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderVoice,
    RateLimited,
    VoiceCloner,
    VoiceLimitReached,
    VoiceSample,
)
from warmline.voice_slots import SlotPolicy, SubscriptionCache, VoiceSlots
from warmline.voice_sweep import DELETABLE, tidy_caller_voices

logger = logging.getLogger(__name__)

# Time kept back from the invocation's remaining time for the writes after a clone.
SAFETY_MARGIN_SECONDS = 3.0
MAX_QUEUE_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
VOICE_LIMIT_ROUNDS = 3  # voice_limit_reached answers a job makes room for before it fails


class Outcome(StrEnum):
    READY = "ready"
    FAILED = "failed"
    ALREADY_DONE = "already_done"


def failure_kind(error: ProviderError) -> FailureKind:
    if isinstance(error, VoiceLimitReached):
        return FailureKind.VOICE_LIMIT
    if isinstance(error, RateLimited):
        return FailureKind.RATE_LIMITED
    if isinstance(error, (ProviderUnavailable, ProviderTimeout)):
        return FailureKind.PROVIDER_UNAVAILABLE
    return FailureKind.REJECTED


@dataclass(frozen=True)
class JobResult:
    outcome: Outcome
    voice_id: str = ""
    error_code: str = ""
    failure_kind: str = ""
    duration_ms: int = 0
    # The plan's voice add/edits left after this clone; None when the plan reports no maximum.
    add_edits_left: int | None = None


class RetryLater(Exception):
    """Leave the message on the queue: it is delivered again after the visibility timeout.

    `failed` is set when this was the last delivery and the job was marked FAILED; `after_seconds`
    when the job should be looked at again that much later (when another worker's lease ends).
    """

    def __init__(
        self, message: str, failed: JobResult | None = None, after_seconds: int | None = None
    ) -> None:
        super().__init__(message)
        self.failed = failed
        self.after_seconds = after_seconds


@dataclass(frozen=True)
class JobOutcome:
    """What one delivery of a job came to, for the queue: done (the message is deleted), or left
    for a later delivery (`retry`), hidden for `hide_seconds` (None: the queue's visibility timeout)."""

    result: JobResult | None  # what to count (None: nothing ended, the job is retried)
    retry: bool = False
    hide_seconds: int | None = None
    reason: str = ""  # why it is retried

    @property
    def last_delivery_failed(self) -> bool:
        return self.retry and self.result is not None and self.result.outcome is Outcome.FAILED


voice_name = voice_slots.voice_name


@dataclass(frozen=True)
class BackoffPolicy:
    """The pauses between retried clone requests: doubling from `first_seconds` up to
    `max_seconds`, each spread by +-`jitter` so concurrent workers do not retry in step."""

    first_seconds: float = 0.5
    max_seconds: float = 8.0
    jitter: float = 0.2

    def pause(self, retry: int) -> float:
        """The pause before retry number `retry` (0 for the first)."""
        base = min(self.first_seconds * 2**retry, self.max_seconds)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class ClonePolicy:
    max_receives: int
    request_timeout_seconds: float
    start_delay_seconds: float
    recheck_delay_seconds: int
    ttl_seconds: float
    failed_retry_after_seconds: int
    voice_expiry_grace_seconds: int
    slots: SlotPolicy
    backoff: BackoffPolicy = BackoffPolicy()

    @classmethod
    def from_settings(cls, settings: Settings) -> ClonePolicy:
        return cls(
            max_receives=settings.clone_max_receives,
            request_timeout_seconds=settings.clone_request_timeout_seconds,
            start_delay_seconds=settings.clone_start_delay_seconds,
            recheck_delay_seconds=settings.clone_recheck_delay_seconds,
            ttl_seconds=settings.clone_ttl_hours * 3600,
            failed_retry_after_seconds=settings.failed_retry_after_seconds,
            voice_expiry_grace_seconds=settings.voice_expiry_grace_seconds,
            slots=SlotPolicy.from_settings(settings),
        )


@dataclass(frozen=True)
class CloneWorkerPorts:
    store: CloneStore
    samples: SampleStore
    cloner: Callable[[], VoiceCloner]  # called once per job: it reads the API key
    events: EventStore
    clock: Clock
    queue: JobQueue | None = None  # sends the delayed re-check of a job whose voice may exist twice


@dataclass(frozen=True)
class Delivery:
    """One delivery of a job: how many times the queue has handed it out, the time left, and the
    token of the lease it takes (so a failure after the lease was taken can name it)."""

    receive_count: int
    time_left: Callable[[], float]
    lease_token: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    kind: FailureKind
    details: dict[str, Any]


@dataclass
class CloneWorker:
    """The clone-jobs consumer's use case, built once per execution environment."""

    ports: CloneWorkerPorts
    policy: ClonePolicy
    # The provider's slot counts, per execution environment (warmline.voice_slots).
    subscriptions: SubscriptionCache = field(default_factory=SubscriptionCache)

    def run(self, job: CloneJob, delivery: Delivery) -> JobResult:
        store, now = self.ports.store, self.ports.clock.now()
        lease_token = delivery.lease_token
        lease_until_ms = int((now + delivery.time_left() + SAFETY_MARGIN_SECONDS) * 1000)
        cloner = self.ports.cloner()
        record = store.take_lease(
            job.caller_key,
            lease_token=lease_token,
            now_ms=int(now * 1000),
            lease_expires_at_ms=lease_until_ms,
        )
        if record is None:
            return self._not_leased(job, cloner, delivery)
        slots = VoiceSlots(cloner, store, self.ports.clock, self.subscriptions, self.policy.slots)
        return _CloneAttempt(self, slots, job, record, lease_token, delivery).run()

    def deliver(self, job: CloneJob, delivery: Delivery) -> JobOutcome:
        """The clone-jobs consumer's use case: one delivery of a job, whatever happens in it. An
        unexpected error leaves the message for a later delivery; on the last one the job is marked
        FAILED first, so the caller stops waiting."""
        try:
            return JobOutcome(self.run(job, delivery))
        except RetryLater as retry:
            logger.warning(
                "clone job left for a later delivery",
                extra={
                    "reason": str(retry),
                    "receive_count": delivery.receive_count,
                    "marked_failed": bool(retry.failed),
                },
            )
            return JobOutcome(retry.failed, retry=True, hide_seconds=retry.after_seconds, reason=str(retry))
        except Exception as error:
            logger.exception("clone job failed unexpectedly")
            failed = None
            if delivery.receive_count >= self.policy.max_receives:
                failed = self.fail_after_last_delivery(job, delivery)
            return JobOutcome(failed, retry=True, reason=f"unexpected error: {type(error).__name__}")

    def fail_after_last_delivery(self, job: CloneJob, delivery: Delivery) -> JobResult | None:
        """An unexpected error on the job's last delivery: mark it FAILED so the caller stops
        waiting, and re-check later for a voice the failed delivery may have made. Only this job's
        record, and only under this delivery's lease or none that is live: a stale delivery must not
        fail another delivery's (or job's) attempt in progress, whose voice would then be deleted."""
        self.schedule_recheck(job)
        details = {
            "job_id": job.job_id,
            "threecx_call_id": job.threecx_call_id,
            "requested_at_ms": job.requested_at_ms,
        }
        failure = Failure(
            "internal_error", "the clone job failed on its last delivery", FailureKind.INTERNAL, details
        )
        claim = JobClaim(job.job_id, delivery.lease_token, int(self.ports.clock.now() * 1000))
        if not self.mark_failed(job.caller_key, claim, failure):
            return None
        return JobResult(Outcome.FAILED, error_code="internal_error", failure_kind=FailureKind.INTERNAL.value)

    def schedule_recheck(self, job: CloneJob) -> None:
        """Send the job again, delayed: that delivery deletes any voice of the caller its record does
        not hold (one whose answer was lost may appear at the provider after the job ended)."""
        if self.ports.queue is None:
            return
        try:
            self.ports.queue.send(job, delay_seconds=self.policy.recheck_delay_seconds)
        except Exception:
            logger.exception("could not queue the re-check of a job whose voice may exist twice")

    def _send_later(self, job: CloneJob, delay_seconds: int) -> bool:
        if self.ports.queue is None:
            return False
        try:
            self.ports.queue.send(job, delay_seconds=min(delay_seconds, MAX_QUEUE_DELAY_SECONDS))
        except Exception:
            logger.exception("could not queue a clone job again for when another lease ends")
            return False
        return True

    def tidy(self, caller_key: str, cloner: VoiceCloner) -> None:
        tidy_caller_voices(
            caller_key,
            cloner=cloner,
            store=self.ports.store,
            clock=self.ports.clock,
            grace_seconds=self.policy.voice_expiry_grace_seconds,
        )

    def mark_failed(self, caller_key: str, lease: str | JobClaim, failure: Failure) -> bool:
        """FAILED under our lease token, or (a last delivery's unexpected error) by `JobClaim`."""
        now = self.ports.clock.now()
        message = failure.message[:500]
        code, expires_at = failure.code, int(now) + self.policy.failed_retry_after_seconds
        if isinstance(lease, JobClaim):
            applied = self.ports.store.fail_job(
                caller_key, lease, error_code=code, error_message=message, expires_at=expires_at
            )
        else:
            applied = self.ports.store.mark_failed(
                caller_key, lease_token=lease, error_code=code, error_message=message, expires_at=expires_at
            )
        if applied:
            data = {
                **failure.details,
                "error_code": failure.code,
                "failure_kind": failure.kind.value,
                "error_message": message,
            }
            self.ports.events.record(Event(EventType.CLONE_FAILED, int(now * 1000), caller_key, data))
        return applied

    def _not_leased(self, job: CloneJob, cloner: VoiceCloner, delivery: Delivery) -> JobResult:
        current = self.ports.store.get_clone(job.caller_key)
        now = self.ports.clock.now()
        if current is not None and current.is_in_flight(now):
            # Another delivery holds a live lease and is cloning now; look again when the lease ends.
            lease_left_ms = current.lease_expires_at_ms - int(now * 1000)
            after_seconds = max(1, lease_left_ms // 1000 + 1)
            if delivery.receive_count >= self.policy.max_receives and self._send_later(job, after_seconds):
                # The last delivery: left on the queue it would go to the dead-letter queue, and a
                # dead holder's record would stay CLONING. A fresh copy looks again instead.
                return JobResult(Outcome.ALREADY_DONE)
            raise RetryLater("another worker holds this caller's clone lease", after_seconds=after_seconds)
        # A repeated delivery, the delayed re-check, or a job whose caller was removed: of the
        # caller's voices only the one the record holds may remain.
        self.tidy(job.caller_key, cloner)
        if current is not None and current.job_id == job.job_id:
            return JobResult(Outcome.ALREADY_DONE, voice_id=current.cloned_voice_id)
        return JobResult(Outcome.ALREADY_DONE)


@dataclass
class _CloneAttempt:
    """One leased delivery of a job: at most one voice made, however many requests it takes."""

    worker: CloneWorker
    slots: VoiceSlots
    job: CloneJob
    record: CloneRecord
    lease_token: str
    delivery: Delivery
    # An answer was lost (timeout, 5xx) or an earlier attempt died: a voice may exist twice.
    in_doubt: bool = False
    request_sent_at: float = 0.0  # when the last voices/add request went out (0: none did)

    @property
    def caller_key(self) -> str:
        return self.job.caller_key

    @property
    def name(self) -> str:
        return voice_name(self.record.job_id, self.caller_key)

    @property
    def cloner(self) -> VoiceCloner:
        return self.slots.cloner

    @property
    def policy(self) -> ClonePolicy:
        return self.worker.policy

    @property
    def clock(self) -> Clock:
        return self.worker.ports.clock

    def run(self) -> JobResult:
        try:
            result = self._clone()
        except RetryLater as retry:
            if retry.failed is not None:
                self._recheck_if_in_doubt()
            raise
        self._recheck_if_in_doubt()
        return result

    def _clone(self) -> JobResult:
        voice_samples = self._samples()
        if isinstance(voice_samples, JobResult):
            return voice_samples
        if self.policy.start_delay_seconds:
            self.clock.sleep(self.policy.start_delay_seconds)
        started = self.clock.now()
        # A previous delivery may have created the voice before it died or lost its answer.
        self.in_doubt = self.record.attempts > 1
        existing = self._find_existing_voice() if self.in_doubt else None
        if existing is not None:
            return self._ready(existing.voice_id, started)
        refused = self._room_for_a_clone()
        if refused is not None:
            return refused
        return self._add_until_done(voice_samples, started)

    def _samples(self) -> list[VoiceSample] | JobResult:
        """The caller's voice samples, or the FAILED result when there are none to read."""
        profile = self.worker.ports.store.load(self.caller_key).profile
        if profile is None or not profile.sample_keys:
            return self._fail("no_sample", "the caller has no registered voice sample", FailureKind.NO_SAMPLE)
        try:
            return self.worker.ports.samples.read(profile.sample_keys)
        except KeyError as missing:
            return self._fail("sample_missing", f"voice sample not found: {missing}", FailureKind.NO_SAMPLE)

    def _add_until_done(self, voice_samples: list[VoiceSample], started: float) -> JobResult:
        """Attempts until one makes the voice or an answer ends the job: a full account makes room
        (a few rounds), a retryable failure waits out the backoff while the invocation has time."""
        limit_rounds, retries = VOICE_LIMIT_ROUNDS, 0
        while True:
            try:
                return self._attempt(voice_samples, started)
            except ProviderError as error:
                failure = error
            if isinstance(failure, VoiceLimitReached) and limit_rounds > 1:
                limit_rounds -= 1
                full = self._make_room_or_fail(known_full=True)
                if full is not None:
                    return full
                continue
            result = self._after_failed_attempt(failure, started, retries)
            if result is not None:
                return result
            retries += 1

    def _attempt(self, voice_samples: list[VoiceSample], started: float) -> JobResult:
        """One voices/add request; its ProviderError is for `_add_until_done` to weigh."""
        self.request_sent_at = self.clock.now()
        added = self.cloner.add_voice(
            name=self.name,
            samples=voice_samples,
            description=f"warmline clone for caller {self.caller_key} (job {self.record.job_id})",
            labels={},
            timeout_seconds=self._request_timeout(),
        )
        self.slots.cache.adjust(+1, add_edits=+1)
        if added.requires_verification:
            return self._needs_verification(added.voice_id)
        return self._ready(added.voice_id, started)

    def _needs_verification(self, voice_id: str) -> JobResult:
        """A voice ElevenLabs will not let anyone use before verification: a caller is never handed
        to it. Deleted at once (a failed delete leaves it to the re-check); the job FAILED."""
        if not self._delete_quietly(voice_id):
            self.in_doubt = True
        return self._fail(
            NEEDS_VERIFICATION_CODE,
            "ElevenLabs marked the clone requires_verification; warmline deleted it",
            FailureKind.NEEDS_VERIFICATION,
        )

    def _after_failed_attempt(self, error: ProviderError, started: float, retries: int) -> JobResult | None:
        """The job's result after this failure, or None once the backoff has passed and the next
        attempt may go."""
        if error.ambiguous:
            self.in_doubt = True
        if not error.retryable:
            return self._refused(error)
        logger.warning("clone attempt failed (%s), may retry", error.reason)
        if error.ambiguous:
            existing = self._find_existing_voice()
            if existing is not None:
                return self._ready(existing.voice_id, started)
        pause = self.policy.backoff.pause(retries)
        if self.delivery.time_left() < pause + self._minimum_attempt_seconds():
            self._give_up_delivery(error)
        self.clock.sleep(pause)
        return None

    def _room_for_a_clone(self) -> JobResult | None:
        """A FAILED result when no clone can be made now (the add/edit allowance is used up, or
        every slot is taken by voices that must stay); None when one can."""
        try:
            self.slots.check_add_edit_allowance()
        except voice_slots.AddEditAllowanceUsedUp as used_up:
            return self._fail("voice_add_edit_limit", str(used_up), FailureKind.ADD_EDIT_LIMIT)
        except ProviderError as error:
            logger.warning("could not read the add/edit allowance: %s", error.reason)
        return self._make_room_or_fail(known_full=False)

    def _make_room_or_fail(self, *, known_full: bool) -> JobResult | None:
        try:
            self.slots.make_room(known_full=known_full)
        except voice_slots.NoSlotFree as full:
            return self._fail("voice_slots_full", str(full), FailureKind.VOICE_LIMIT)
        except ProviderError as error:
            # The clone request itself will say whether the account is full.
            logger.warning("could not check the voice slots: %s", error.reason)
        return None

    def _refused(self, error: ProviderError) -> JobResult:
        """FAILED with the provider's reason; or, when the refusal came because the add/edit
        allowance ran out since this environment last read it, with that reason (ElevenLabs
        documents the counter, not the refusal's code)."""
        self.slots.cache.clear()
        try:
            self.slots.check_add_edit_allowance()
        except voice_slots.AddEditAllowanceUsedUp as used_up:
            return self._fail("voice_add_edit_limit", str(used_up), FailureKind.ADD_EDIT_LIMIT)
        except ProviderError:
            pass
        return self._fail(error.reason, error.message, failure_kind(error))

    def _recheck_if_in_doubt(self) -> None:
        if self.in_doubt:
            self.worker.schedule_recheck(self.job)

    def _request_timeout(self) -> float:
        left = self.delivery.time_left() - SAFETY_MARGIN_SECONDS
        return max(1.0, min(self.policy.request_timeout_seconds, left))

    def _minimum_attempt_seconds(self) -> float:
        return SAFETY_MARGIN_SECONDS + min(self.policy.request_timeout_seconds, 5.0)

    def _find_existing_voice(self) -> ProviderVoice | None:
        try:
            voices = self.cloner.list_voices(self.name)
        except ProviderError as error:
            logger.warning("could not list voices to look for an earlier attempt's clone: %s", error.reason)
            return None
        return next((voice for voice in voices if voice.name == self.name), None)

    def _ready(self, voice_id: str, started: float) -> JobResult:
        now = self.clock.now()
        duration_ms = int((now - started) * 1000)
        clone = ReadyClone(voice_id, int(now * 1000), duration_ms, int(now + self.policy.ttl_seconds))
        if not self.worker.ports.store.mark_ready(self.caller_key, lease_token=self.lease_token, clone=clone):
            return self._lost_lease(voice_id)
        self.worker.tidy(self.caller_key, self.cloner)
        data = {
            "job_id": self.record.job_id,
            "threecx_call_id": self.record.threecx_call_id,
            "cloned_voice_id": voice_id,
            "clone_duration_ms": duration_ms,
            "requested_at_ms": self.record.requested_at_ms,
            "worker_started_at_ms": int(started * 1000),
            "leased_at_ms": self.record.started_at_ms,
            "request_sent_at_ms": int(self.request_sent_at * 1000),
            "attempt": self.record.attempts,
        }
        self.worker.ports.events.record(Event(EventType.CLONE_READY, int(now * 1000), self.caller_key, data))
        subscription = self.slots.cache.current()
        return JobResult(
            Outcome.READY,
            voice_id=voice_id,
            duration_ms=duration_ms,
            add_edits_left=subscription.add_edits_left if subscription else None,
        )

    def _lost_lease(self, voice_id: str) -> JobResult:
        """The record no longer takes our voice: the lease expired and another delivery took the
        job, or the caller was removed (the REMOVED marker). Delete the voice unless that other
        delivery may still record it or find it by name."""
        current = self.worker.ports.store.get_clone(self.caller_key)
        status = voice_status(
            current, voice_id, self.record.job_id, self.clock.now(), self.policy.voice_expiry_grace_seconds
        )
        removed = current is not None and current.status is CloneStatus.REMOVED
        why = "the caller was removed during the clone" if removed else "clone lease lost before recording"
        logger.warning(why, extra={"voice_id": voice_id, "voice_status": status.value})
        if status not in DELETABLE:
            return JobResult(Outcome.ALREADY_DONE, voice_id=voice_id)
        self._delete_quietly(voice_id)
        return JobResult(Outcome.ALREADY_DONE)

    def _delete_quietly(self, voice_id: str) -> bool:
        try:
            self.cloner.delete_voice(voice_id)
        except ProviderError as error:
            logger.warning("could not delete a voice no record holds: %s", error.reason)
            return False
        return True

    def _fail(self, error_code: str, error_message: str, kind: FailureKind) -> JobResult:
        details = {
            "job_id": self.record.job_id,
            "threecx_call_id": self.record.threecx_call_id,
            "requested_at_ms": self.record.requested_at_ms,
            "attempt": self.record.attempts,
        }
        failure = Failure(error_code, error_message, kind, details)
        applied = self.worker.mark_failed(self.caller_key, self.lease_token, failure)
        # Not applied: the lease was lost, and whoever holds it now reports the outcome.
        outcome = Outcome.FAILED if applied else Outcome.ALREADY_DONE
        return JobResult(outcome, error_code=error_code, failure_kind=kind.value if applied else "")

    def _give_up_delivery(self, error: ProviderError) -> NoReturn:
        failed = None
        if self.delivery.receive_count >= self.policy.max_receives:
            result = self._fail(
                error.reason, f"gave up after the last delivery: {error.message}", failure_kind(error)
            )
            failed = result if result.outcome is Outcome.FAILED else None
        else:
            self.worker.ports.store.release_lease(self.caller_key, self.lease_token)
        raise RetryLater(f"provider still failing ({error.reason})", failed)
