"""The time an invocation has for its outside calls (AWS, ElevenLabs): set by the handler, read by
the adapters (docs/api.md, "Time budgets")."""

from __future__ import annotations

import time


class DeadlineExceeded(TimeoutError):
    """The invocation's time for AWS and ElevenLabs calls is used up."""


class Deadline:
    """When the current invocation's outside calls must be done by (monotonic clock); none when unset."""

    def __init__(self) -> None:
        self._at: float | None = None

    def start(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds

    def clear(self) -> None:
        self._at = None

    def remaining(self) -> float | None:
        """Seconds left, or None when no deadline is set."""
        return None if self._at is None else self._at - time.monotonic()

    def cap(self, seconds: float) -> float:
        """`seconds`, shortened to what is left; DeadlineExceeded when nothing is."""
        left = self.remaining()
        if left is None:
            return seconds
        if left <= 0:
            raise DeadlineExceeded("the invocation's time for outside calls is used up")
        return min(seconds, left)
