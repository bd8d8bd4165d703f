"""boto3 clients whose waits are bounded: explicit connect and read timeouts, standard retries, and a
deadline after which no attempt starts (docs/api.md, "Time budgets").

botocore's defaults are a 60 s connect and a 60 s read timeout and legacy retries (up to 5 attempts),
far past the few seconds 3CX and the agent wait. Here every attempt ends within connect + read
seconds, at most `max_attempts` are made, and an attempt that would start after the invocation's
deadline is refused with DeadlineExceeded, so a slow AWS cannot hold an answer past it.

An attempt that failed the way AWS fails when it is slow or down (no answer: a read or connect
timeout, a refused or dropped connection; a 5xx; a throttle: what standard retries retry) and is not
retried raises AwsUnavailable: like DeadlineExceeded a TimeoutError, which the HTTP routes answer
503 `timeout` (warmline.http) and the adapters' callers catch without knowing botocore.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
from botocore.config import Config
from botocore.retries.standard import (
    OrRetryChecker,
    RetryEventAdapter,
    ThrottledRetryableChecker,
    ThrottlingStatusCodeChecker,
    TransientRetryableChecker,
    register_retry_handler,
)

from warmline.adapters.deadline import Deadline, DeadlineExceeded

# botocore's own test of a failed attempt that standard retries would retry, attempts aside:
# transient (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError,
# HTTP 500-504, RequestTimeout…), throttled (ThrottlingException,
# ProvisionedThroughputExceededException…, HTTP 429).
_SLOW_OR_DOWN = OrRetryChecker(
    [TransientRetryableChecker(), ThrottledRetryableChecker(), ThrottlingStatusCodeChecker()]
)
_ATTEMPT = RetryEventAdapter()


class AwsUnavailable(TimeoutError):
    """An AWS service did not answer, in time or at all, or was throttling, and no retry follows."""


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
            # The service checks every request; checking it here first too costs ~0.4 ms a request,
            # in the caller's wait, for requests the adapters build the same way every time.
            parameter_validation=False,
        )


def bounded_client(service: str, timeouts: Timeouts, deadline: Deadline) -> Any:
    """A client none of whose calls starts after `deadline`, nor retries unless the pause and a whole
    attempt fit before it: a call ends at most one attempt (connect + read) after the deadline."""
    client = boto3.client(service, config=timeouts.config())
    client.meta.events.register("before-send", partial(_refuse_after_deadline, deadline))
    _retry_only_in_time(client, timeouts, deadline)
    return client


def _refuse_after_deadline(deadline: Deadline, **_: Any) -> None:
    """botocore's before-send hook, once per attempt (retries included)."""
    left = deadline.remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded("no time left for another AWS attempt")


def _retry_only_in_time(client: Any, timeouts: Timeouts, deadline: Deadline) -> None:
    """Wrap the standard retry handler: a retry whose backoff pause and attempt would end past the
    deadline is not made (the error is raised now instead of after a pause that cannot help). When
    no retry follows an attempt that met a slow or down AWS, AwsUnavailable is raised in place of
    botocore's error: every call of every bounded client passes here after each attempt."""
    service = client.meta.service_model.service_id.hyphenize()
    event, unique_id = f"needs-retry.{service}", f"retry-config-{service}"
    client.meta.events.unregister(event, unique_id=unique_id)
    standard = register_retry_handler(client, timeouts.max_attempts)
    client.meta.events.unregister(event, unique_id=unique_id)

    def needs_retry(**kwargs: Any) -> float | None:
        pause = standard.needs_retry(**kwargs)
        left = deadline.remaining()
        if pause is not None and left is not None and pause + timeouts.attempt_seconds > left:
            pause = None
        if pause is None:
            _raise_if_slow_or_down(service, kwargs)
        return pause

    client.meta.events.register(event, needs_retry, unique_id=unique_id)


def _raise_if_slow_or_down(service: str, attempt: dict[str, Any]) -> None:
    """AwsUnavailable if the attempt (needs-retry's arguments) met a slow or down AWS."""
    context = _ATTEMPT.create_retry_context(**attempt)
    if not _SLOW_OR_DOWN.is_retryable(context):
        return
    error = context.caught_exception
    if error is not None:
        raise AwsUnavailable(f"{service} did not answer ({type(error).__name__})") from error
    status = context.http_response.status_code if context.http_response is not None else None
    raise AwsUnavailable(f"{service} answered {status} {context.get_error_code() or ''}".rstrip())
