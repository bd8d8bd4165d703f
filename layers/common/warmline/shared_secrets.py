"""The shared secrets callers send in X-Warmline-Secret (3CX, agent, operator), with rotation overlap.

`warmline secrets rotate` makes a new current value; the previous one stays accepted for
`overlap_seconds` after the new one was made, so 3CX and the agent can be switched over without a
dropped call. A value that matches neither makes the function read the secret afresh (at most once
per `refresh_seconds`), so a rotation is seen at once instead of when the cache expires.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from warmline.ports import Clock

logger = logging.getLogger(__name__)

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"


@dataclass(frozen=True)
class SecretVersion:
    value: str
    created_at: float  # epoch seconds


class SecretVersions(Protocol):
    def version(self, secret_id: str, stage: str) -> SecretVersion | None: ...

    def forget(self, secret_id: str) -> None: ...


class SharedSecret:
    def __init__(
        self,
        versions: SecretVersions,
        secret_id: str,
        *,
        clock: Clock,
        overlap_seconds: float,
        refresh_seconds: float,
    ) -> None:
        self.versions = versions
        self.secret_id = secret_id
        self.clock = clock
        self.overlap_seconds = overlap_seconds
        self.refresh_seconds = refresh_seconds
        self._refreshed_at = float("-inf")

    def accepts(self, given: str) -> bool:
        if self._matches(given):
            return True
        if time.monotonic() - self._refreshed_at < self.refresh_seconds:
            return False
        self._refreshed_at = time.monotonic()
        self.versions.forget(self.secret_id)
        return self._matches(given)

    def accepted_values(self) -> list[str]:
        current = self.versions.version(self.secret_id, CURRENT)
        if current is None:
            return []
        values = [current.value]
        if self.clock.now() - current.created_at < self.overlap_seconds:
            try:
                previous = self.versions.version(self.secret_id, PREVIOUS)
            except TimeoutError:
                # Secrets Manager did not answer (the current value is read at init): the current
                # value alone until it does, rather than no answer for every caller.
                logger.warning("%s: previous value not read, only the current one accepted", self.secret_id)
                previous = None
            if previous is not None:
                values.append(previous.value)
        return values

    def _matches(self, given: str) -> bool:
        # surrogatepass: a header may carry any code point, and encoding must not fail on one.
        given_bytes = given.encode("utf-8", "surrogatepass")
        matched = False
        for value in self.accepted_values():
            matched |= bool(value) and hmac.compare_digest(given_bytes, value.encode())
        return matched
