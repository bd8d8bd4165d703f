"""One clone job: take the lease, clone the caller's voice once, record the outcome.

Cloning is not idempotent at the provider (a retried voices/add can make a second voice), so:
- a conditional lease makes one worker at a time own a caller's job;
- each job clones under a deterministic voice name, and before any attempt that might repeat an
  earlier one (a later delivery, or after an ambiguous failure) the worker looks that name up and
  reuses the voice it finds;
- 429s are retried with backoff inside the invocation's remaining time; 5xx and timeouts too,
  after the name lookup; then the message goes back to the queue, and on its last delivery the
  job is marked FAILED so the caller stops waiting;
- once the job is recorded READY, the caller's other voices are deleted (an expired clone, an
  extra attempt's voice);
- a job that saw an ambiguous failure or ran more than once is sent again with a delay
  (`clone_recheck_delay_seconds`) however it ended (READY, FAILED, or its record gone); that
  delivery finds the job done and deletes every voice of the caller the record does not hold, so
  a voice whose answer was lost, or that appeared after the job failed, is not left behind;
- a worker that cannot record its voice (the lease was lost, or `samples remove` left the REMOVED
  marker) deletes the voice unless the job is still in flight under another delivery, which will
  find it by name (`clone_state.voice_status` decides, as it does for the scheduled sweep);
- before cloning, a full account makes room by deleting warmline's least recently used voice
  (`warmline.voice_slots`), never any other voice.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from warmline import voice_slots
from warmline.clone_state import CloneJob, CloneRecord, CloneStatus, voice_status
from warmline.events import Event, EventType
from warmline.ports import Clock, CloneStore, EventStore, JobQueue, SampleStore
from warmline.settings import Settings
from warmline.voice_provider import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderVoice,
    RateLimited,
    VoiceLimitReached,
    VoiceProvider,
)
from warmline.voice_sweep import DELETABLE, tidy_caller_voices

logger = logging.getLogger(__name__)

# Time kept back from the invocation's remaining time for the writes after a clone.
SAFETY_MARGIN_SECONDS = 3.0
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0


class Outcome(StrEnum):
    READY = "ready"
    FAILED = "failed"
    ALREADY_DONE = "already_done"


class FailureKind(StrEnum):
    """Why a clone failed, in a few fixed kinds (the provider's own codes are open-ended)."""

    NO_SAMPLE = "no_sample"
    VOICE_LIMIT = "voice_limit"
    ADD_EDIT_LIMIT = "add_edit_limit"
    RATE_LIMITED = "rate_limited"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    REJECTED = "rejected"
    INTERNAL = "internal"


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


voice_name = voice_slots.voice_name
VOICE_LIMIT_ROUNDS = 3  # voice_limit_reached answers a job makes room for before it fails


def run_clone_job(
    job: CloneJob,
    *,
    receive_count: int,
    time_left: Callable[[], float],
    store: CloneStore,
    samples: SampleStore,
    provider: VoiceProvider,
    events: EventStore,
    clock: Clock,
    settings: Settings,
    queue: JobQueue | None = None,
) -> JobResult:
    """`queue` sends the delayed re-check of a job whose voice may have been made twice."""
    now = clock.now()
    lease_token = uuid.uuid4().hex
    lease_until_ms = int((now + time_left() + SAFETY_MARGIN_SECONDS) * 1000)
    record = store.take_lease(
        job.caller_key, lease_token=lease_token, now_ms=int(now * 1000), lease_expires_at_ms=lease_until_ms
    )
    if record is None:
        return _not_leased(job, store=store, provider=provider, clock=clock, settings=settings)

    last_delivery = receive_count >= settings.clone_max_receives
    attempt = _CloneAttempt(
        job=job,
        record=record,
        lease_token=lease_token,
        last_delivery=last_delivery,
        time_left=time_left,
        store=store,
        samples=samples,
        provider=provider,
        events=events,
        clock=clock,
        settings=settings,
        queue=queue,
    )
    return attempt.run()


def _not_leased(
    job: CloneJob, *, store: CloneStore, provider: VoiceProvider, clock: Clock, settings: Settings
) -> JobResult:
    current = store.get_clone(job.caller_key)
    now = clock.now()
    if current is not None and current.is_in_flight(now):
        # Another delivery holds a live lease and is cloning now; look again when the lease ends.
        lease_left_ms = current.lease_expires_at_ms - int(now * 1000)
        raise RetryLater(
            "another worker holds this caller's clone lease", after_seconds=max(1, lease_left_ms // 1000 + 1)
        )
    # A repeated delivery, the delayed re-check, or a job whose caller was removed: of the
    # caller's voices only the one the record holds may remain.
    tidy_caller_voices(job.caller_key, provider=provider, store=store, clock=clock, settings=settings)
    held = current is not None and current.job_id == job.job_id
    return JobResult(Outcome.ALREADY_DONE, voice_id=current.cloned_voice_id if held else "")


@dataclass
class _CloneAttempt:
    job: CloneJob
    record: CloneRecord
    lease_token: str
    last_delivery: bool
    time_left: Callable[[], float]
    store: CloneStore
    samples: SampleStore
    provider: VoiceProvider
    events: EventStore
    clock: Clock
    settings: Settings
    queue: JobQueue | None = None
    # An answer was lost (timeout, 5xx) or an earlier attempt died: a voice may exist twice.
    in_doubt: bool = False

    @property
    def caller_key(self) -> str:
        return self.job.caller_key

    @property
    def name(self) -> str:
        return voice_name(self.record.job_id, self.caller_key)

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
        state = self.store.load(self.caller_key)
        if state.profile is None or not state.profile.sample_keys:
            return self._fail("no_sample", "the caller has no registered voice sample", FailureKind.NO_SAMPLE)
        try:
            voice_samples = self.samples.read(state.profile.sample_keys)
        except KeyError as missing:
            return self._fail("sample_missing", f"voice sample not found: {missing}", FailureKind.NO_SAMPLE)

        if self.settings.clone_start_delay_seconds:
            self.clock.sleep(self.settings.clone_start_delay_seconds)
        started = self.clock.now()
        # A previous delivery may have created the voice before it died or lost its answer.
        self.in_doubt = self.record.attempts > 1
        existing = self._find_existing_voice() if self.in_doubt else None
        if existing is not None:
            return self._ready(existing.voice_id, started)

        refused = self._room_for_a_clone()
        if refused is not None:
            return refused
        limit_rounds = VOICE_LIMIT_ROUNDS
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                added = self.provider.add_voice(
                    name=self.name,
                    samples=voice_samples,
                    description=f"warmline clone for caller {self.caller_key} (job {self.record.job_id})",
                    labels={},
                    timeout_seconds=self._request_timeout(),
                )
                voice_slots.SUBSCRIPTION_CACHE.adjust(+1, add_edits=+1)
                return self._ready(added.voice_id, started)
            except ProviderError as error:
                if isinstance(error, VoiceLimitReached) and limit_rounds > 1:
                    limit_rounds -= 1
                    try:
                        self._make_room(known_full=True)
                    except voice_slots.NoSlotFree as full:
                        return self._fail("voice_slots_full", str(full), FailureKind.VOICE_LIMIT)
                    continue
                if error.ambiguous:
                    self.in_doubt = True
                if not error.retryable:
                    return self._refused(error)
                logger.warning("clone attempt failed (%s), may retry", error.reason)
                if error.ambiguous:
                    existing = self._find_existing_voice()
                    if existing is not None:
                        return self._ready(existing.voice_id, started)
                pause = backoff * random.uniform(0.8, 1.2)
                if self.time_left() < pause + self._minimum_attempt_seconds():
                    return self._give_up_delivery(error)
                self.clock.sleep(pause)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _room_for_a_clone(self) -> JobResult | None:
        """A FAILED result when no clone can be made now (the add/edit allowance is used up, or
        every slot is taken by voices that must stay); None when one can."""
        try:
            voice_slots.check_add_edit_allowance(
                provider=self.provider, clock=self.clock, settings=self.settings
            )
        except voice_slots.AddEditAllowanceUsedUp as used_up:
            return self._fail("voice_add_edit_limit", str(used_up), FailureKind.ADD_EDIT_LIMIT)
        except ProviderError as error:
            logger.warning("could not read the add/edit allowance: %s", error.reason)
        try:
            self._make_room(known_full=False)
        except voice_slots.NoSlotFree as full:
            return self._fail("voice_slots_full", str(full), FailureKind.VOICE_LIMIT)
        return None

    def _refused(self, error: ProviderError) -> JobResult:
        """FAILED with the provider's reason; or, when the refusal came because the add/edit
        allowance ran out since this environment last read it, with that reason (ElevenLabs
        documents the counter, not the refusal's code)."""
        voice_slots.SUBSCRIPTION_CACHE.clear()
        try:
            voice_slots.check_add_edit_allowance(
                provider=self.provider, clock=self.clock, settings=self.settings
            )
        except voice_slots.AddEditAllowanceUsedUp as used_up:
            return self._fail("voice_add_edit_limit", str(used_up), FailureKind.ADD_EDIT_LIMIT)
        except ProviderError:
            pass
        return self._fail(error.reason, error.message, failure_kind(error))

    def _make_room(self, *, known_full: bool) -> None:
        try:
            voice_slots.make_room(
                provider=self.provider,
                store=self.store,
                clock=self.clock,
                settings=self.settings,
                known_full=known_full,
            )
        except ProviderError as error:
            # The clone request itself will say whether the account is full.
            logger.warning("could not check the voice slots: %s", error.reason)

    def _recheck_if_in_doubt(self) -> None:
        if self.in_doubt:
            schedule_recheck(self.job, queue=self.queue, settings=self.settings)

    def _request_timeout(self) -> float:
        return max(
            1.0, min(self.settings.clone_request_timeout_seconds, self.time_left() - SAFETY_MARGIN_SECONDS)
        )

    def _minimum_attempt_seconds(self) -> float:
        return SAFETY_MARGIN_SECONDS + min(self.settings.clone_request_timeout_seconds, 5.0)

    def _find_existing_voice(self) -> ProviderVoice | None:
        try:
            voices = self.provider.list_voices(self.name)
        except ProviderError as error:
            logger.warning("could not list voices to look for an earlier attempt's clone: %s", error.reason)
            return None
        return next((voice for voice in voices if voice.name == self.name), None)

    def _ready(self, voice_id: str, started: float) -> JobResult:
        now = self.clock.now()
        duration_ms = int((now - started) * 1000)
        applied = self.store.mark_ready(
            self.caller_key,
            lease_token=self.lease_token,
            voice_id=voice_id,
            ready_at_ms=int(now * 1000),
            clone_duration_ms=duration_ms,
            expires_at=int(now + self.settings.clone_ttl_hours * 3600),
        )
        if not applied:
            return self._lost_lease(voice_id)
        self._tidy()
        self.events.record(
            Event(
                EventType.CLONE_READY,
                int(now * 1000),
                self.caller_key,
                {
                    "job_id": self.record.job_id,
                    "threecx_call_id": self.record.threecx_call_id,
                    "cloned_voice_id": voice_id,
                    "clone_duration_ms": duration_ms,
                    "requested_at_ms": self.record.requested_at_ms,
                    "worker_started_at_ms": int(started * 1000),
                    "attempt": self.record.attempts,
                },
            )
        )
        subscription = voice_slots.SUBSCRIPTION_CACHE.current()
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
        current = self.store.get_clone(self.caller_key)
        status = voice_status(
            current, voice_id, self.record.job_id, self.clock.now(), self.settings.voice_expiry_grace_seconds
        )
        removed = current is not None and current.status is CloneStatus.REMOVED
        why = "the caller was removed during the clone" if removed else "clone lease lost before recording"
        logger.warning(why, extra={"voice_id": voice_id, "voice_status": status.value})
        if status not in DELETABLE:
            return JobResult(Outcome.ALREADY_DONE, voice_id=voice_id)
        self._delete_quietly(voice_id)
        return JobResult(Outcome.ALREADY_DONE)

    def _tidy(self) -> None:
        tidy_caller_voices(
            self.caller_key,
            provider=self.provider,
            store=self.store,
            clock=self.clock,
            settings=self.settings,
        )

    def _delete_quietly(self, voice_id: str) -> None:
        try:
            self.provider.delete_voice(voice_id)
        except ProviderError as error:
            logger.warning("could not delete a voice no record holds: %s", error.reason)

    def _fail(self, error_code: str, error_message: str, kind: FailureKind) -> JobResult:
        applied = _mark_failed(
            self.caller_key,
            self.lease_token,
            error_code,
            error_message,
            kind,
            details={
                "job_id": self.record.job_id,
                "threecx_call_id": self.record.threecx_call_id,
                "requested_at_ms": self.record.requested_at_ms,
                "attempt": self.record.attempts,
            },
            store=self.store,
            events=self.events,
            clock=self.clock,
            settings=self.settings,
        )
        # Not applied: the lease was lost, and whoever holds it now reports the outcome.
        outcome = Outcome.FAILED if applied else Outcome.ALREADY_DONE
        return JobResult(outcome, error_code=error_code, failure_kind=kind.value if applied else "")

    def _give_up_delivery(self, error: ProviderError) -> JobResult:
        failed = None
        if self.last_delivery:
            result = self._fail(
                error.reason, f"gave up after the last delivery: {error.message}", failure_kind(error)
            )
            failed = result if result.outcome is Outcome.FAILED else None
        else:
            self.store.release_lease(self.caller_key, self.lease_token)
        raise RetryLater(f"provider still failing ({error.reason})", failed)


def schedule_recheck(job: CloneJob, *, queue: JobQueue | None, settings: Settings) -> None:
    """Send the job again, delayed: that delivery deletes any voice of the caller its record does
    not hold (one whose answer was lost may appear at the provider after the job ended)."""
    if queue is None:
        return
    try:
        queue.send(job, delay_seconds=settings.clone_recheck_delay_seconds)
    except Exception:
        logger.exception("could not queue the re-check of a job whose voice may exist twice")


def fail_after_last_delivery(
    job: CloneJob,
    *,
    store: CloneStore,
    events: EventStore,
    clock: Clock,
    settings: Settings,
    queue: JobQueue | None = None,
) -> JobResult | None:
    """An unexpected error on the job's last delivery: mark it FAILED so the caller stops waiting,
    and re-check later for a voice the failed delivery may have made."""
    schedule_recheck(job, queue=queue, settings=settings)
    applied = _mark_failed(
        job.caller_key,
        None,
        "internal_error",
        "the clone job failed on its last delivery",
        FailureKind.INTERNAL,
        details={
            "job_id": job.job_id,
            "threecx_call_id": job.threecx_call_id,
            "requested_at_ms": job.requested_at_ms,
        },
        store=store,
        events=events,
        clock=clock,
        settings=settings,
    )
    if not applied:
        return None
    return JobResult(Outcome.FAILED, error_code="internal_error", failure_kind=FailureKind.INTERNAL.value)


def _mark_failed(
    caller_key: str,
    lease_token: str | None,
    error_code: str,
    error_message: str,
    kind: FailureKind,
    *,
    details: dict[str, Any],
    store: CloneStore,
    events: EventStore,
    clock: Clock,
    settings: Settings,
) -> bool:
    now = clock.now()
    applied = store.mark_failed(
        caller_key,
        lease_token=lease_token,
        error_code=error_code,
        error_message=error_message[:500],
        expires_at=int(now) + settings.failed_retry_after_seconds,
    )
    if applied:
        events.record(
            Event(
                EventType.CLONE_FAILED,
                int(now * 1000),
                caller_key,
                {
                    **details,
                    "error_code": error_code,
                    "failure_kind": kind.value,
                    "error_message": error_message[:500],
                },
            )
        )
    return applied
