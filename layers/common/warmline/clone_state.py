"""The caller's clone and voice-sample profile, as the domain sees them.

State machine per caller: (none) -> PENDING -> CLONING -> READY | FAILED. Every record carries
`expires_at` (epoch seconds, the table's TTL attribute); an expired record counts as no record,
whatever its status, because DynamoDB deletes expired items lazily (and moto never does).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CloneStatus(StrEnum):
    PENDING = "PENDING"
    CLONING = "CLONING"
    READY = "READY"
    FAILED = "FAILED"


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
    handoff_at_ms: int = 0
    # A handoff after the caller's PIN was accepted: the re-entry leg's conversation-init claims it
    # once (warmline.verification).
    verified_handoff_at_ms: int = 0
    last_used_at_ms: int = 0  # when conversation-init last handed out the READY clone

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


@dataclass(frozen=True)
class CallerProfile:
    """A caller who agreed to have their voice cloned, and where their samples are."""

    caller_key: str
    sample_keys: tuple[str, ...]
    consent: str
    masked_number: str
    created_at_ms: int


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
    pin: PinRecord | None = None  # None: the caller has no PIN (the default)


@dataclass(frozen=True)
class CloneJob:
    """The message on the clone-jobs queue."""

    job_id: str
    caller_key: str
    requested_at_ms: int
    threecx_call_id: str = ""
