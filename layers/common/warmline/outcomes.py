"""The fixed sets of outcomes warmline counts: why a clone failed, what came of a wait in the IVR,
what a PIN check found, and what check_clone answers (its status and the agent's next action). Each
is a metric's dimension (warmline.observability), a field of its event (warmline.events) or of an
answer (warmline.wire); they live here, apart from the use cases that produce them, so that naming
them loads no use case (a function imports only the part of the domain it runs).
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    """Why a clone failed, in a few fixed kinds (the provider's own codes are open-ended)."""

    NO_SAMPLE = "no_sample"
    VOICE_LIMIT = "voice_limit"
    ADD_EDIT_LIMIT = "add_edit_limit"
    RATE_LIMITED = "rate_limited"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    REJECTED = "rejected"
    # ElevenLabs made the voice but marked it requires_verification: deleted at once, never used.
    NEEDS_VERIFICATION = "needs_verification"
    INTERNAL = "internal"


# The error code of a clone FAILED because ElevenLabs marked it requires_verification.
NEEDS_VERIFICATION_CODE = "requires_verification"


class IvrOutcome(StrEnum):
    """What came of one wait for the clone (key 1)."""

    READY = "ready"
    ASK_AGAIN = "ask_again"  # the wait ended first: the agent checks again (next_action check_again)
    TIMEOUT = "timeout"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    HANDOFF_FAILED = "handoff_failed"


class PinResult(StrEnum):
    NOT_SET = "not_set"  # the caller has no PIN: nothing to verify
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # a wrong PIN
    MISSING = "missing"  # the caller has a PIN and none came with the check (not a guess: no lock)
    LOCKED = "locked"  # too many wrong PINs lately: refused whatever PIN came


COUNTED_RESULTS = (PinResult.ACCEPTED, PinResult.REJECTED, PinResult.MISSING, PinResult.LOCKED)


class IvrStatus(StrEnum):
    READY = "ready"
    CLONING = "cloning"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    INVALID_KEY = "invalid_key"
    NOT_VERIFIED = "not_verified"  # the caller has a PIN, and it was wrong, missing or locked


class NextAction(StrEnum):
    TRANSFER_TO_AGENT = "transfer_to_agent"
    CHECK_AGAIN = "check_again"  # the agent calls check_clone again at once; the caller presses nothing
    OFFER_VOICEMAIL = "offer_voicemail"
    CONTINUE_WITH_DEFAULT_VOICE = "continue_with_default_voice"
    REPEAT_MENU = "repeat_menu"
