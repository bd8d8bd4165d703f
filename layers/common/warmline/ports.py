"""What the domain needs from the outside world. Adapters implement these over AWS; tests use fakes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from warmline.clone_state import (
    CallerProfile,
    CallerState,
    CallWrites,
    CloneJob,
    CloneRecord,
    FirstClone,
    Handoff,
    HandoffKey,
    IncomingNote,
    JobClaim,
    PinRecord,
    ReadyClone,
)
from warmline.consent import ConsentEntry
from warmline.events import Event
from warmline.voice_provider import VoiceSample


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


class PinStore(Protocol):
    def get_pin(self, caller_key: str) -> PinRecord | None:
        """The caller's PIN record, strongly consistent; None if they have no PIN."""
        ...

    def replace_pin(self, caller_key: str, expected: PinRecord, new: PinRecord) -> bool:
        """Write `new`'s attempts and lock if the record is still `expected`. True if applied."""
        ...


class CloneStore(PinStore, Protocol):
    """A caller's clone lifecycle, and their state as a call reads it (the PIN's attempts included:
    warmline.verification). Registering and withdrawing callers is the RegistryStore's."""

    def load(self, caller_key: str, *, with_consent_log: bool = False) -> CallerState:
        """Profile, clone record, PIN record and last incoming call in one strongly consistent read,
        by key (never the consent log, however long); `with_consent_log`: also whether the caller
        has a consent entry (`CallerState.has_consent_log`, for `known`)."""
        ...

    def get_clone(self, caller_key: str) -> CloneRecord | None:
        """The clone record, strongly consistent (expired records included: callers check)."""
        ...

    def start_clone(self, caller_key: str, record: CloneRecord, now: float) -> bool:
        """Write `record` (PENDING) unless a live record exists. True if this call wrote it."""
        ...

    def remove_pending(self, caller_key: str, job_id: str) -> None:
        """Undo `start_clone` when its job could not be queued."""
        ...

    def confirm_pending(self, caller_key: str, job_id: str, *, expires_at: int) -> None:
        """The job of this in-flight record is queued: let the record live until `expires_at`."""
        ...

    def note_call(self, caller_key: str, *, call_started_at_ms: int, threecx_call_id: str) -> None:
        """Remember when the caller's latest call began, on an in-flight record."""
        ...

    def take_lease(
        self, caller_key: str, *, lease_token: str, now_ms: int, lease_expires_at_ms: int
    ) -> CloneRecord | None:
        """PENDING (or CLONING with an expired lease) -> CLONING under this token; None if not possible."""
        ...

    def release_lease(self, caller_key: str, lease_token: str) -> None:
        """CLONING under this token -> PENDING, so the next delivery can start at once."""
        ...

    def mark_ready(self, caller_key: str, *, lease_token: str, clone: ReadyClone) -> bool:
        """CLONING under this token -> READY. False if the lease was lost."""
        ...

    def mark_failed(
        self,
        caller_key: str,
        *,
        lease_token: str,
        error_code: str,
        error_message: str,
        expires_at: int,
    ) -> bool:
        """CLONING under this token -> FAILED. False if not applied."""
        ...

    def fail_job(
        self, caller_key: str, claim: JobClaim, *, error_code: str, error_message: str, expires_at: int
    ) -> bool:
        """-> FAILED as `claim` allows (clone_state.JobClaim). False if not applied."""
        ...

    def claim_verified_handoff(self, caller_key: str, voice_id: str, *, since_ms: int, at_ms: int) -> bool:
        """Remove a verified-handoff mark made since `since_ms` on the READY clone `voice_id`, noting
        the clone's use at `at_ms`. True for the one caller that removed it."""
        ...

    def touch_clone(self, caller_key: str, voice_id: str, at_ms: int) -> None:
        """Note that the READY clone `voice_id` was handed out (its last use, for voice slots)."""
        ...

    def expire_clone(self, caller_key: str, voice_id: str, now: float) -> bool:
        """Expire the READY record whose clone is `voice_id` (about to be deleted). True if applied."""
        ...


class CallLog(Protocol):
    """Incoming calls through 3CX, each kept until `expires_at` (a few minutes: warmline.caller_id)."""

    def note(self, call: IncomingNote, expires_at: int) -> None:
        """Remember the call under its caller (the caller's `last_call`) and its dialled number."""
        ...

    def calls_to(self, dialled_key: str, since_ms: int) -> list[IncomingNote]:
        """The calls noted to this dialled number at or after `since_ms`."""
        ...


class RegistryStore(Protocol):
    """The caller registry's items (warmline.registry): profiles, the consent log, PINs."""

    def get_profile(self, caller_key: str) -> CallerProfile | None: ...

    def profiles(self) -> list[CallerProfile]:
        """Every caller's profile, the oldest registration first."""
        ...

    def holder_keys(self) -> list[str]:
        """The callers with a profile or a clone record other than the REMOVED marker."""
        ...

    def register(self, profile: CallerProfile, consent: ConsentEntry) -> None:
        """The profile and its consent entry, both or neither."""
        ...

    def withdraw(self, caller_key: str, withdrawal: ConsentEntry) -> None:
        """Append the withdrawal to the consent log, delete the profile, the PIN and the last call,
        and leave the REMOVED marker as the clone record, all at once."""
        ...

    def consent_log(self, caller_key: str) -> list[ConsentEntry]:
        """One caller's consent entries, oldest first."""
        ...

    def get_pin(self, caller_key: str) -> PinRecord | None: ...

    def save_pin(self, caller_key: str, record: PinRecord) -> None:
        """A new PIN (or the same one with its attempts and lock cleared)."""
        ...

    def delete_pin(self, caller_key: str) -> bool:
        """True if the caller had a PIN."""
        ...


class CallRecords(Protocol):
    """An incoming call's writes, folded into as few requests as their rules allow (warmline.calls):
    a first-time call makes two, the caller's state being read only when the first one says so."""

    def start_first_clone(
        self, caller_key: str, record: CloneRecord, note: IncomingNote, *, note_expires_at: int, now: float
    ) -> FirstClone:
        """If the caller has a voice sample, no PIN and no live clone record (the call that
        `CallDesk.answer` would queue a job for): the PENDING record and the call's notes, together."""
        ...

    def record(self, writes: CallWrites) -> None:
        """Every write of `writes`, in one request; the confirm or the follow-up of a clone record
        that has moved on (its condition fails) is left out, the rest still written."""
        ...


class JobQueue(Protocol):
    def send(self, job: CloneJob, delay_seconds: int = 0) -> None: ...


class SampleStore(Protocol):
    def read(self, keys: tuple[str, ...]) -> list[VoiceSample]:
        """Raises KeyError naming the first key that does not exist."""
        ...


@dataclass(frozen=True)
class StoredSample:
    key: str
    size: int | None  # None: the object is missing
    content_type: str | None = None


@dataclass(frozen=True)
class SampleVersion:
    key: str
    version_id: str


class SampleArchive(SampleStore, Protocol):
    """The samples as the registry keeps them: every version of a caller's objects counts."""

    def write(self, caller_key: str, filename: str, content: bytes, content_type: str) -> str:
        """Store the file under the caller; its object key."""
        ...

    def copy(self, key: str, caller_key: str) -> str:
        """Copy the object `key` under the caller, keeping its file name; the new key."""
        ...

    def describe(self, keys: tuple[str, ...]) -> list[StoredSample]: ...

    def versions(self, caller_key: str) -> list[SampleVersion]:
        """Every version (and delete marker) of the caller's objects."""
        ...

    def delete_versions(self, versions: list[SampleVersion]) -> None: ...

    def holder_keys(self) -> list[str]:
        """The callers with any object version in the archive."""
        ...


class EventStore(Protocol):
    def record(self, *events: Event) -> None:
        """Store the events, in one request where the store allows."""
        ...


class HandoffStore(Protocol):
    """The handoffs warmline expects to see arrive (warmline.handoffs)."""

    def expect(self, handoff: Handoff, event: Event) -> bool:
        """Claim the call's handoff, all or nothing: note it as expected, mark it on the caller's
        clone record (`handoff_at_ms`, `handoff_call_id`, and the verified mark the next leg claims
        when `handoff.verified`), and store `event`. False, writing nothing, if this call's handoff
        was claimed before (or the clone record is gone)."""
        ...

    def settle(self, key: HandoffKey, event: Event, *also: Event) -> bool:
        """Take the handoff off the expected ones and store its outcome `event` (and `also`), all or
        none. True for the one caller that took it off; False if it was no longer expected."""
        ...

    def overdue(self, before_ms: int, limit: int) -> list[Handoff]:
        """Expected handoffs made before `before_ms`, on its UTC day or the day before, oldest
        first, at most `limit`."""
        ...
