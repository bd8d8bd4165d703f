"""Things that happened, stored with their own TTL for analytics and the metrics endpoint.

`at_ms` is when it happened: the clone's ready_at, the failure's failed_at, the transfer's
transferred_at, the re-entry's arrival, the sweep's verdict. What each type carries in `data` is
listed in docs/observability.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    CLONE_READY = "clone_ready"
    CLONE_FAILED = "clone_failed"
    HANDOFF = "handoff"  # a call's first transfer_to_agent answer: the re-entry is now expected
    HANDOFF_COMPLETED = "handoff_completed"  # the re-entry arrived in the cloned voice in time
    HANDOFF_LOST = "handoff_lost"  # it did not (counted by the housekeeping sweep)
    IVR_TIMEOUT = "ivr_timeout"
    CALL_ANSWERED = "call_answered"  # an incoming call from a caller with a voice sample
    IVR_CHECK = "ivr_check"  # one wait for the clone after the caller pressed 1
    # ElevenLabs reported a caller who did not come in through 3CX (warmline.caller_id)
    CALLER_ID_NOT_PASSED = "caller_id_not_passed"
    PIN_CHECK = "pin_check"  # a check_clone from a caller with a PIN: was the PIN accepted?
    # conversation-init of a caller with a voice sample: a leg began (greeting, cloned or default voice)
    CONVERSATION_STARTED = "conversation_started"


@dataclass(frozen=True)
class Event:
    type: EventType
    at_ms: int
    caller_key: str
    data: dict[str, Any] = field(default_factory=dict)
