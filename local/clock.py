"""The local stack's clock: the system clock plus an offset that a test (or a demo) moves forward.

Every function process of the stack reads the offset from one file (`local/lambda_runtime.py`
installs it as warmline's clock there), and so do Secrets Manager's dates in moto (local/aws.py), so
a test advances leases, PIN lockouts, secret overlaps, handoff windows and clone expiry instead of
waiting for them. The offset only grows: what was written at an earlier "now" stays in the past.
SQS (visibility timeouts, delays), DynamoDB and S3 in moto, the functions' own timeouts and the
schedules keep the real time; a test runs a schedule itself (`stack.scheduler.run_function`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from local.lambda_runtime import CLOCK_FILE_VARIABLE

__all__ = ["CLOCK_FILE", "CLOCK_FILE_VARIABLE", "StackClock"]
CLOCK_FILE = "clock-offset"


class StackClock:
    """The offset file's writer: `now()` is what the stack's functions see as now."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.offset_seconds = 0.0
        self._write()

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> float:
        """Move the functions' clock `seconds` forward (at once, for every function); the new now."""
        if seconds < 0:
            raise ValueError("the stack's clock only moves forward")
        with self._lock:
            self.offset_seconds += seconds
            self._write()
        return self.now()

    def _write(self) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(repr(self.offset_seconds))
        os.replace(temporary, self.path)  # a reader sees the old offset or the new one, never half
