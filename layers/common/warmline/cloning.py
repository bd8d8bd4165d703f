"""One clone job: take the lease, clone the caller's voice once, record the outcome.

Cloning is not idempotent at the provider (a retried voices/add can make a second voice), so:
- a conditional lease makes one worker at a time own a caller's job;
- each job clones under a deterministic voice name, and before any attempt that might repeat an
  earlier one (a later delivery, or after an ambiguous failure) the worker looks that name up and
  reuses the voice it finds;
- 429s are retried with backoff inside the invocation's remaining time; 5xx and timeouts too,
  after the name lookup; then the message goes back to the queue, and on its last delivery the
  job is marked FAILED so the caller stops waiting.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from warmline.clone_state import CloneJob, CloneRecord, CloneStatus
from warmline.events import Event, EventType
from warmline.ports import Clock, CloneStore, EventStore, SampleStore
from warmline.settings import Settings
from warmline.voice_provider import ProviderError, ProviderVoice, VoiceProvider

logger = logging.getLogger(__name__)

# Time kept back from the invocation's remaining time for the writes after a clone.
SAFETY_MARGIN_SECONDS = 3.0
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0


class RetryLater(Exception):
    """Leave the message on the queue: it is delivered again after the visibility timeout."""


class Outcome(StrEnum):
    READY = "ready"
    FAILED = "failed"
    ALREADY_DONE = "already_done"


@dataclass(frozen=True)
class JobResult:
    outcome: Outcome
    voice_id: str = ""
    error_code: str = ""


def voice_name(job_id: str, caller_key: str) -> str:
    """Deterministic per job, so a repeated attempt can find what an earlier one created."""
    return f"warmline-{caller_key}-{job_id}"


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
) -> JobResult:
    now = clock.now()
    lease_token = uuid.uuid4().hex
    lease_until_ms = int((now + time_left() + SAFETY_MARGIN_SECONDS) * 1000)
    record = store.take_lease(
        job.caller_key, lease_token=lease_token, now_ms=int(now * 1000), lease_expires_at_ms=lease_until_ms
    )
    if record is None:
        return _not_leased(job, store=store, clock=clock)

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
    )
    return attempt.run()


def _not_leased(job: CloneJob, *, store: CloneStore, clock: Clock) -> JobResult:
    current = store.get_clone(job.caller_key)
    now = clock.now()
    if (
        current is None
        or not current.is_live(now)
        or current.status in (CloneStatus.READY, CloneStatus.FAILED)
    ):
        return JobResult(Outcome.ALREADY_DONE)
    # Another delivery holds a live lease and is cloning now; look again after the visibility timeout.
    raise RetryLater("another worker holds this caller's clone lease")


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

    @property
    def caller_key(self) -> str:
        return self.job.caller_key

    @property
    def name(self) -> str:
        return voice_name(self.record.job_id, self.caller_key)

    def run(self) -> JobResult:
        state = self.store.load(self.caller_key)
        if state.profile is None or not state.profile.sample_keys:
            return self._fail("no_sample", "the caller has no registered voice sample")
        try:
            voice_samples = self.samples.read(state.profile.sample_keys)
        except KeyError as missing:
            return self._fail("sample_missing", f"voice sample not found: {missing}")

        started = self.clock.now()
        # A previous delivery may have created the voice before it died or lost its answer.
        existing = self._find_existing_voice() if self.record.attempts > 1 else None
        if existing is not None:
            return self._ready(existing.voice_id, started)

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
                return self._ready(added.voice_id, started)
            except ProviderError as error:
                if not error.retryable:
                    return self._fail(error.reason, error.message)
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

    def _request_timeout(self) -> float:
        return max(
            1.0, min(self.settings.clone_request_timeout_seconds, self.time_left() - SAFETY_MARGIN_SECONDS)
        )

    def _minimum_attempt_seconds(self) -> float:
        return SAFETY_MARGIN_SECONDS + min(self.settings.clone_request_timeout_seconds, 5.0)

    def _find_existing_voice(self) -> ProviderVoice | None:
        try:
            voices = self.provider.list_voices()
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
        return JobResult(Outcome.READY, voice_id=voice_id)

    def _lost_lease(self, voice_id: str) -> JobResult:
        """Our lease expired and another worker took the job: keep one voice, delete ours if extra."""
        current = self.store.get_clone(self.caller_key)
        if current is not None and current.cloned_voice_id and current.cloned_voice_id != voice_id:
            self._delete_quietly(voice_id)
        logger.warning("clone lease lost before the result was written")
        return JobResult(Outcome.ALREADY_DONE, voice_id=current.cloned_voice_id if current else "")

    def _delete_quietly(self, voice_id: str) -> None:
        try:
            self.provider.delete_voice(voice_id)
        except ProviderError as error:
            logger.warning("could not delete a duplicate voice: %s", error.reason)

    def _fail(self, error_code: str, error_message: str) -> JobResult:
        now = self.clock.now()
        applied = self.store.mark_failed(
            self.caller_key,
            lease_token=self.lease_token,
            error_code=error_code,
            error_message=error_message[:500],
            expires_at=int(now) + self.settings.failed_retry_after_seconds,
        )
        if applied:
            self.events.record(
                Event(
                    EventType.CLONE_FAILED,
                    int(now * 1000),
                    self.caller_key,
                    {
                        "job_id": self.record.job_id,
                        "threecx_call_id": self.record.threecx_call_id,
                        "error_code": error_code,
                        "error_message": error_message[:500],
                        "requested_at_ms": self.record.requested_at_ms,
                        "attempt": self.record.attempts,
                    },
                )
            )
        return JobResult(Outcome.FAILED, error_code=error_code)

    def _give_up_delivery(self, error: ProviderError) -> JobResult:
        if self.last_delivery:
            self._fail(error.reason, f"gave up after the last delivery: {error.message}")
        else:
            self.store.release_lease(self.caller_key, self.lease_token)
        raise RetryLater(f"provider still failing ({error.reason})")
