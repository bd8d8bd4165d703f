"""Things that happened, stored with their own TTL for analytics and the metrics endpoint.

`at_ms` is when it happened: the clone's ready_at, the failure's failed_at, the transfer's
transferred_at. What each type carries in `data` is listed in docs/observability.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    CLONE_READY = "clone_ready"
    CLONE_FAILED = "clone_failed"
    HANDOFF = "handoff"
    IVR_TIMEOUT = "ivr_timeout"
    CALL_ANSWERED = "call_answered"  # an incoming call from a caller with a voice sample
    IVR_CHECK = "ivr_check"  # one wait for the clone after the caller pressed 1
    PIN_CHECK = "pin_check"  # a check_clone from a caller with a PIN: was the PIN accepted?


@dataclass(frozen=True)
class Event:
    type: EventType
    at_ms: int
    caller_key: str
    data: dict[str, Any] = field(default_factory=dict)
