"""The caller's clone and voice-sample profile, as the domain sees them.

State machine per caller: (none) -> PENDING -> CLONING -> READY | FAILED. Every record carries
`expires_at` (epoch seconds, the table's TTL attribute); an expired record counts as no record,
whatever its status, because DynamoDB deletes expired items lazily (and moto never does).
`samples remove` replaces the record with a REMOVED marker that is expired from the start: it
counts as no record too, and tells a worker still cloning for the caller to delete its voice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from warmline.events import Event


class CloneStatus(StrEnum):
    PENDING = "PENDING"
    CLONING = "CLONING"
    READY = "READY"
    FAILED = "FAILED"
    REMOVED = "REMOVED"


IN_FLIGHT = frozenset({CloneStatus.PENDING, CloneStatus.CLONING})


@dataclass(frozen=True)
class CloneRecord:
    status: CloneStatus
    job_id: str
    expires_at: int
    requested_at_ms: int
    attempts: int = 0
    lease_token: str = ""
    lease_expires_at_ms: int = 0
    started_at_ms: int = 0
    cloned_voice_id: str = ""
    ready_at_ms: int = 0
    clone_duration_ms: int = 0
    error_code: str = ""
    error_message: str = ""
    call_started_at_ms: int = 0
    threecx_call_id: str = ""
    handoff_at_ms: int = 0  # when check_clone last handed the caller off (the call's first handoff)
    handoff_call_id: str = ""  # the call of that handoff (warmline.handoffs)
    # A handoff after the caller's PIN was accepted: the re-entry leg's conversation-init claims it
    # once (warmline.verification).
    verified_handoff_at_ms: int = 0
    last_used_at_ms: int = 0  # when conversation-init last handed out the READY clone
    removed_at_ms: int = 0  # REMOVED: when the caller's samples were removed

    def is_live(self, now: float) -> bool:
        return self.expires_at > now

    def is_ready(self, now: float) -> bool:
        return self.is_live(now) and self.status is CloneStatus.READY and bool(self.cloned_voice_id)

    def is_in_flight(self, now: float) -> bool:
        return self.is_live(now) and self.status in IN_FLIGHT

    def has_failed(self, now: float) -> bool:
        return self.is_live(now) and self.status is CloneStatus.FAILED

    def has_verified_handoff(self, now: float, window_seconds: float) -> bool:
        return (
            bool(self.verified_handoff_at_ms)
            and now * 1000 - self.verified_handoff_at_ms <= window_seconds * 1000
        )

    def last_used_ms(self) -> int:
        """When the clone was last made, handed over or handed out."""
        return max(self.last_used_at_ms, self.ready_at_ms, self.handoff_at_ms)

    def may_still_record(self, job_id: str, now: float) -> bool:
        """A worker of job `job_id` may still record a voice on this record: the job is in flight,
        or a worker holds an unexpired lease on it (a lease can outlast the record's expiry)."""
        if self.job_id != job_id:
            return False
        leased = self.status is CloneStatus.CLONING and self.lease_expires_at_ms > now * 1000
        return self.is_in_flight(now) or leased


class VoiceStatus(StrEnum):
    """What a caller's clone record makes of one of the caller's voices at the provider."""

    IN_USE = "in_use"  # the caller's live READY clone
    IN_FLIGHT = "in_flight"  # made for the job in flight: its worker records it or finds it by name
    GRACE = "grace"  # an expired clone handed out moments ago: a call may still be speaking in it
    EXPIRED = "expired"  # the clone of a READY record that has expired
    ORPHAN = "orphan"  # no record holds it: removed, failed, superseded, or an extra attempt's


def voice_status(
    record: CloneRecord | None, voice_id: str, job_id: str, now: float, grace_seconds: float = 0
) -> VoiceStatus:
    """`job_id` is the job the voice was made for (its name says so)."""
    if record is None:
        return VoiceStatus.ORPHAN
    if record.may_still_record(job_id, now):
        return VoiceStatus.IN_FLIGHT
    if record.status is not CloneStatus.READY or record.cloned_voice_id != voice_id:
        return VoiceStatus.ORPHAN
    if record.is_live(now):
        return VoiceStatus.IN_USE
    if now * 1000 - record.last_used_ms() < grace_seconds * 1000:
        return VoiceStatus.GRACE
    return VoiceStatus.EXPIRED


@dataclass(frozen=True)
class ReadyClone:
    """What a clone job records when its voice is made (CLONING -> READY)."""

    voice_id: str
    ready_at_ms: int
    clone_duration_ms: int
    expires_at: int


@dataclass(frozen=True)
class JobClaim:
    """What a last delivery that failed unexpectedly may fail: the record of its own job, while
    that record is PENDING, or CLONING under this delivery's lease or a lease that has lapsed."""

    job_id: str
    lease_token: str
    now_ms: int


@dataclass(frozen=True)
class CallerProfile:
    """A caller who agreed to have their voice cloned, and where their samples are."""

    caller_key: str
    sample_keys: tuple[str, ...]
    consent: str
    masked_number: str
    created_at_ms: int


@dataclass(frozen=True)
class IncomingNote:
    """What an incoming call through 3CX leaves behind for a few minutes (warmline.caller_id)."""

    caller_key: str  # "" when the caller withheld their number
    dialled_key: str  # the key of the number dialled (3CX's session.did); "" when unreadable
    threecx_call_id: str
    at_ms: int


class FirstClone(StrEnum):
    """What `CallRecords.start_first_clone` found."""

    STARTED = "started"  # the PENDING record is written, with the call's notes
    NO_SAMPLE = "no_sample"  # the caller has no voice sample, no PIN and no live clone: nothing written
    OTHER = "other"  # anything else (a live clone, a PIN, a concurrent write): nothing written


@dataclass(frozen=True)
class PendingConfirm:
    """The queued job's PENDING record lives on past the greeting, until `expires_at`."""

    job_id: str
    expires_at: int


@dataclass(frozen=True)
class CallFollowed:
    """The caller's clone in flight now follows this call (the IVR's greeting clock starts here)."""

    call_started_at_ms: int
    threecx_call_id: str


@dataclass(frozen=True)
class CallWrites:
    """What an answered incoming call leaves behind, written together (warmline.calls)."""

    caller_key: str  # "" when the caller withheld their number
    note: IncomingNote | None = None  # the call's notes (warmline.caller_id), unless already written
    note_expires_at: int = 0
    confirm: PendingConfirm | None = None
    followed: CallFollowed | None = None
    event: Event | None = None


@dataclass(frozen=True)
class HandoffKey:
    """One call's handoff: whose, which call (warmline.handoffs.call_of), and when check_clone
    answered transfer_to_agent."""

    caller_key: str
    call_id: str
    at_ms: int


@dataclass(frozen=True)
class Handoff:
    """A handoff warmline expects to see arrive: the caller's next conversation in the cloned voice
    (warmline.handoffs)."""

    caller_key: str
    call_id: str
    at_ms: int
    mode: str  # transfer (SIP REFER back to 3CX) or outbound (a call placed in the cloned voice)
    cloned_voice_id: str = ""
    threecx_call_id: str = ""
    greeting_conversation_id: str = ""
    agent_conversation_id: str = ""  # outbound: the placed call's conversation
    verified: bool = False  # after the caller's PIN was accepted

    @property
    def key(self) -> HandoffKey:
        return HandoffKey(self.caller_key, self.call_id, self.at_ms)


@dataclass(frozen=True)
class PinRecord:
    """A caller's PIN (a keyed hash, never the digits) and how their recent attempts went."""

    pin_hash: str
    set_at_ms: int
    attempts: int = 0  # attempts since the last accepted PIN or the last lock
    lockouts: int = 0  # locks since the last accepted PIN (each lasts twice as long as the one before)
    locked_until_ms: int = 0  # 0: not locked since the last accepted PIN

    def is_locked(self, now_ms: int) -> bool:
        return self.locked_until_ms > now_ms


@dataclass(frozen=True)
class CallerState:
    profile: CallerProfile | None
    clone: CloneRecord | None
    last_call: IncomingNote | None = None  # the caller's latest incoming call, while it is noted
    pin: PinRecord | None = None  # None: the caller has no PIN (the default)
    has_consent_log: bool = False  # read only when asked for: `CloneStore.load(with_consent_log=True)`

    @property
    def known(self) -> bool:
        """This stack has registered the caller at some time (a voice named for a caller it does
        not know belongs to another stack sharing the ElevenLabs account). Needs the state loaded
        `with_consent_log=True`: a withdrawn caller whose REMOVED marker expired is known by it alone."""
        return self.profile is not None or self.clone is not None or self.has_consent_log


@dataclass(frozen=True)
class CloneJob:
    """The message on the clone-jobs queue."""

    job_id: str
    caller_key: str
    requested_at_ms: int
    threecx_call_id: str = ""
