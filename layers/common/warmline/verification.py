"""Optional caller verification: a PIN a caller types on the keypad before their cloned voice speaks.

Caller ID can be spoofed; without a PIN anyone who presents a registered caller's number hears the
agent in that caller's voice. A caller with a PIN gets their clone only after check_clone accepted
the PIN in this call: the handoff is marked verified, and the re-entry leg's conversation-init
claims that mark once (warmline.calls).

The PIN is stored as HMAC-SHA256 under a secret pepper (Secrets Manager, never in the table), with
the caller key as context, so the table alone does not give a PIN away and two callers with the
same PIN have different hashes. A slow hash would not help: a PIN has at most 10^8 values, so
whoever holds the pepper can try them all whatever the hash costs; the pepper is what keeps an
offline guess out of reach. Online guessing is bounded by the lockout: each attempt is reserved with
a conditional write before the PIN is compared, so concurrent guesses cannot pass the limit, and the
attempt that reaches the limit locks at once (a correct PIN on it lifts the lock again), so a crash
between reserving and comparing leaves a lock that ends, never a free guess.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

from warmline.clone_state import PinRecord
from warmline.outcomes import PinResult
from warmline.ports import Clock, PinStore
from warmline.settings import Settings

PIN_PATTERN = re.compile(r"^[0-9]{4,8}$")
# Each lock before a correct PIN lasts twice as long as the one before, up to a day.
MAX_LOCKOUT_SECONDS = 86_400
_RESERVE_TRIES = 3


class InvalidPin(ValueError):
    """The PIN an operator tried to set is not one warmline accepts."""


@dataclass(frozen=True)
class PinVerdict:
    result: PinResult
    locked_now: bool = False  # this wrong PIN started a lock

    @property
    def passed(self) -> bool:
        return self.result in (PinResult.NOT_SET, PinResult.ACCEPTED)


def _no_pepper() -> str:
    raise ValueError("a PIN came without a way to read the pepper")


@dataclass(frozen=True)
class PinEntry:
    """The PIN that came with a check (None: none), and how to read the pepper it is hashed with."""

    digits: str | None = None
    pepper: Callable[[], str] = _no_pepper


NO_PIN = PinEntry()


def check_new_pin(pin: str) -> str:
    """A PIN an operator sets: 4 to 8 digits, not one digit repeated, not a run such as 1234 or 9876."""
    pin = pin.strip()
    if not PIN_PATTERN.fullmatch(pin):
        raise InvalidPin("a PIN is 4 to 8 digits (what a phone keypad can type), nothing else")
    steps = {int(b) - int(a) for a, b in pairwise(pin)}
    if steps in ({0}, {1}, {-1}):
        raise InvalidPin("that PIN is too easy to guess (one digit repeated, or a run like 1234)")
    return pin


def hash_pin(caller_key: str, pin: str, pepper: str) -> str:
    digest = hmac.new(pepper.encode(), f"{caller_key}:{pin}".encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest}"


def typed_digits(text: str) -> str:
    """What the caller typed, without spaces and without the closing # (the keypad's terminator)."""
    return text.replace(" ", "").removesuffix("#")


@dataclass(frozen=True)
class PinPolicy:
    max_failures: int  # wrong PINs before a lock
    lockout_seconds: int  # the first lock's length; each later lock doubles it

    @classmethod
    def from_settings(cls, settings: Settings) -> PinPolicy:
        return cls(settings.pin_max_failures, settings.pin_lockout_seconds)


def lockout_seconds(earlier_lockouts: int, policy: PinPolicy) -> int:
    return min(policy.lockout_seconds * 2 ** min(earlier_lockouts, 20), MAX_LOCKOUT_SECONDS)


def next_attempt(record: PinRecord, now_ms: int, policy: PinPolicy) -> PinRecord | None:
    """The record with one more attempt reserved; None while the caller is locked out."""
    if record.is_locked(now_ms):
        return None
    # A lock that has ended starts a new round of attempts.
    attempts = (0 if record.locked_until_ms else record.attempts) + 1
    if attempts < policy.max_failures:
        return replace(record, attempts=attempts, locked_until_ms=0)
    until_ms = now_ms + lockout_seconds(record.lockouts, policy) * 1000
    return replace(record, attempts=attempts, lockouts=record.lockouts + 1, locked_until_ms=until_ms)


def verify_pin(
    caller_key: str, entry: PinEntry, *, store: PinStore, clock: Clock, policy: PinPolicy
) -> PinVerdict:
    return PinCheck(store, clock, policy).verify(caller_key, entry, store.get_pin(caller_key))


@dataclass(frozen=True)
class PinCheck:
    store: PinStore
    clock: Clock
    policy: PinPolicy

    def verify(self, caller_key: str, entry: PinEntry, record: PinRecord | None) -> PinVerdict:
        """`record`: the caller's PIN as just read (the caller's identification reads it)."""
        store, clock, policy = self.store, self.clock, self.policy
        if record is None:
            return PinVerdict(PinResult.NOT_SET)
        typed = typed_digits(entry.digits or "")
        if not typed:
            return PinVerdict(PinResult.MISSING)
        # The pepper first: a Secrets Manager error must not spend (and three of them lock) an attempt.
        pepper = entry.pepper()
        now_ms = int(clock.now() * 1000)
        reserved = _reserve_attempt(caller_key, record, store=store, now_ms=now_ms, policy=policy)
        if reserved is None:
            return PinVerdict(PinResult.LOCKED)
        typed_hash = hash_pin(caller_key, typed, pepper)
        if hmac.compare_digest(typed_hash.encode(), reserved.pin_hash.encode()):
            store.replace_pin(
                caller_key, reserved, replace(reserved, attempts=0, lockouts=0, locked_until_ms=0)
            )
            return PinVerdict(PinResult.ACCEPTED)
        return PinVerdict(PinResult.REJECTED, locked_now=reserved.is_locked(now_ms))


def _reserve_attempt(
    caller_key: str, record: PinRecord, *, store: PinStore, now_ms: int, policy: PinPolicy
) -> PinRecord | None:
    """Write the next attempt, unless another check changed the record first (then read it again).

    None when locked, or when other checks keep winning the race (a burst of guesses is refused).
    """
    current: PinRecord | None = record
    for _ in range(_RESERVE_TRIES):
        if current is None:
            return None
        reserved = next_attempt(current, now_ms, policy)
        if reserved is None:
            return None
        if store.replace_pin(caller_key, current, reserved):
            return reserved
        current = store.get_pin(caller_key)
    return None
