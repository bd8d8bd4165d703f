"""The one way a test waits for something to happen: `eventually(check, within=…)` polls `check` until
it gives a true value, which it returns, or fails at the deadline with what was seen last.

A test never waits a fixed time to show that something did NOT happen: it advances the stack's clock
(`LocalStack.clock`, local/clock.py) or runs the schedule itself (`stack.scheduler.run_function`).
tests/conftest.py fails a test whose own thread sleeps more than a second at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 0.5


def eventually[T](
    check: Callable[[], T],
    *,
    within: float,
    what: str = "",
    every: float = POLL_SECONDS,
    longest: float = MAX_POLL_SECONDS,
) -> T:
    """`check()`'s first true value within `within` seconds. A check that raises AssertionError is
    retried too (so it may assert); the last error or value is in the failure's message. The pause
    between checks grows from `every` to at most `longest` (where the moment matters, keep both short)."""
    deadline = time.monotonic() + within
    pause = every
    while True:
        try:
            seen: object = check()
        except AssertionError as error:
            seen = error
        else:
            if seen:
                return seen  # type: ignore[return-value]
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"not {what or 'true'} within {within} s; last seen: {seen!r}")
        time.sleep(min(pause, left))
        pause = min(pause * 1.5, longest)


def holds(check: Callable[[], object], *, during: float, what: str = "", every: float = 0.1) -> None:
    """`check()` stays true for `during` seconds (polled). Only for a window that is the scenario's own
    real timing (an SQS visibility timeout on moto's clock): where the stack's clock or a schedule
    decides, advance it instead."""
    ends = time.monotonic() + during
    while time.monotonic() < ends:
        assert check(), f"{what or 'the condition'} stopped holding before {during} s"
        time.sleep(min(every, max(0.0, ends - time.monotonic())))
