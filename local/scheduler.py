"""EventBridge schedules on loopback: each `Schedule` event invokes its function once per period with
the event its rule sends. As on EventBridge the first run comes one period after the start, and a run
does not wait for the previous one; unlike Lambda, a failed run is not retried (the next tick runs).
`every_seconds` replaces every schedule's period, so a demo or a test sees in seconds what the
template does in minutes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from local.lambda_runtime import Invocation, LambdaRuntime
from local.template import ACCOUNT_ID, REGION, ScheduleSource

log = logging.getLogger("warmline.local.scheduler")


def scheduled_event(schedule: ScheduleSource, at: float) -> Any:
    """What EventBridge sends the function for one tick of the rule."""
    if schedule.input is not None:
        return schedule.input
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
        "region": REGION,
        "resources": [schedule.rule_arn],
        "detail": {},
    }


class Scheduler:
    def __init__(
        self, schedules: list[ScheduleSource], runtime: LambdaRuntime, every_seconds: float | None = None
    ):
        if every_seconds is not None and every_seconds <= 0:
            raise ValueError("every_seconds must be positive")
        self.schedules = [schedule for schedule in schedules if schedule.enabled]
        self.runtime = runtime
        self.every_seconds = every_seconds
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.counts = {s.name: {"runs": 0, "errors": 0} for s in self.schedules}

    def start(self) -> None:
        for schedule in self.schedules:
            threading.Thread(
                target=self._loop, args=(schedule,), name=f"schedule-{schedule.name}", daemon=True
            ).start()

    def _loop(self, schedule: ScheduleSource) -> None:
        period = self.every_seconds or schedule.period_seconds
        next_at = time.monotonic() + period
        while not self.stopping.wait(max(0.0, next_at - time.monotonic())):
            next_at += period
            threading.Thread(target=self.run, args=(schedule,), daemon=True).start()

    def run(self, schedule: ScheduleSource) -> Invocation:
        """One tick of the schedule, now; answers when the function has."""
        invocation = self.runtime.invoke(schedule.function, scheduled_event(schedule, time.time()))
        with self.lock:
            self.counts[schedule.name]["runs"] += 1
            self.counts[schedule.name]["errors"] += not invocation.ok
        if not invocation.ok and not self.stopping.is_set():
            log.warning("scheduled run of %s failed: %s", schedule.function, invocation.error)
        return invocation

    def run_function(self, function_id: str) -> list[Invocation]:
        """Run every schedule of one function once, now (what a test does instead of waiting)."""
        return [self.run(schedule) for schedule in self.schedules if schedule.function == function_id]

    def stop(self) -> None:
        self.stopping.set()  # the loops end at once; runs under way end with the runtime

    def stats(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {
                s.name: {
                    "function": s.function,
                    "every_seconds": self.every_seconds or s.period_seconds,
                    **self.counts[s.name],
                }
                for s in self.schedules
            }
