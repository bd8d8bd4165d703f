"""The consent log: an append-only record, per caller key, of who registered a caller's voice
sample, when, on what consent, through which path, and when that consent was withdrawn.

It holds no phone number and no audio, and nothing deletes it: `samples remove` appends the
withdrawal and leaves the log in place, so proof of consent and of its withdrawal outlives the
samples, the profile and the clone.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

# A consent statement names who agreed, when and how, or where that is recorded: it is kept with
# the profile and in the log for good, so it is bounded (a longer text belongs in a document the
# statement refers to).
MAX_CONSENT_CHARACTERS = 1000


class ConsentEvent(StrEnum):
    REGISTERED = "registered"
    WITHDRAWN = "withdrawn"


class ConsentSource(StrEnum):
    CLI = "cli"  # an operator ran `warmline samples add` / `samples remove`
    IMPORT = "import"  # registered by a program (bulk import, the local stack's simulated callers)


@dataclass(frozen=True)
class ConsentEntry:
    caller_key: str
    event: ConsentEvent
    at_ms: int
    by: str  # who registered or withdrew: the operator's AWS identity
    source: ConsentSource
    consent: str = ""  # REGISTERED: the consent statement or a reference to it

    @property
    def at(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at_ms / 1000))

    def row(self) -> dict[str, Any]:
        """The entry as an export writes it (CSV columns, JSON fields)."""
        values = asdict(self)
        values.update(event=self.event.value, source=self.source.value, at=self.at)
        return {name: values[name] for name in EXPORT_FIELDS}


EXPORT_FIELDS = ("caller_key", "event", "at", "at_ms", "by", "source", "consent")


def is_withdrawn(log: list[ConsentEntry]) -> bool:
    """The caller's latest consent event is a withdrawal (`log` oldest first)."""
    return bool(log) and log[-1].event is ConsentEvent.WITHDRAWN
