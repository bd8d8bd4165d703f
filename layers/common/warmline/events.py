"""Things that happened, stored with their own TTL for analytics and the metrics endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    CLONE_READY = "clone_ready"
    CLONE_FAILED = "clone_failed"
    HANDOFF = "handoff"
    IVR_TIMEOUT = "ivr_timeout"


@dataclass(frozen=True)
class Event:
    type: EventType
    at_ms: int
    caller_key: str
    data: dict[str, Any] = field(default_factory=dict)
