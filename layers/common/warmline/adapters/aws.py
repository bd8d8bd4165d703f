"""boto3 clients whose waits are bounded: explicit connect and read timeouts, standard retries, and a
deadline after which no attempt starts (README, "Time budgets").

botocore's defaults are a 60 s connect and a 60 s read timeout and legacy retries (up to 5 attempts),
far past the few seconds 3CX and the agent wait. Here every attempt ends within connect + read
seconds, at most `max_attempts` are made, and an attempt that would start after the invocation's
deadline is refused with DeadlineExceeded, so a slow AWS cannot hold an answer past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
from botocore.config import Config

from warmline.adapters.deadline import Deadline, DeadlineExceeded


@dataclass(frozen=True)
class Timeouts:
    connect_seconds: float
    read_seconds: float
    max_attempts: int

    @property
    def attempt_seconds(self) -> float:
        """The longest one attempt can take."""
        return self.connect_seconds + self.read_seconds

    def config(self) -> Config:
        return Config(
            connect_timeout=self.connect_seconds,
            read_timeout=self.read_seconds,
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
        )


def bounded_client(service: str, timeouts: Timeouts, deadline: Deadline) -> Any:
    client = boto3.client(service, config=timeouts.config())
    client.meta.events.register("before-send", partial(_refuse_after_deadline, deadline))
    return client


def _refuse_after_deadline(deadline: Deadline, **_: Any) -> None:
    """botocore's before-send hook, once per attempt (retries included)."""
    left = deadline.remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded("no time left for another AWS attempt")
