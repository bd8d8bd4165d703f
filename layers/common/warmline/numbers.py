"""One way to read a caller's number, from 3CX or ElevenLabs, and to key it.

A number arrives as digits in any of their forms, or as a `sip:`/`tel:` URI (warmline.callers
normalises them all to E.164). Withheld (absent, `anonymous`, ...) is not an error: that caller
gets the default voice. Text that is not a number is one only where the sender can be told
(3CX's incoming call: a 400); the agent's side reads it as no number at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from warmline.callers import InvalidCallerNumber, is_withheld, normalise_number


@dataclass(frozen=True)
class CallerNumbers:
    default_country_code: str
    key_of: Callable[[str], str]  # the caller key of a normalised number (it reads the key's secret)

    def read(self, raw: str | None) -> str | None:
        """The number in E.164; None when absent or withheld. InvalidCallerNumber when it is not one."""
        if raw is None or is_withheld(raw):
            return None
        return normalise_number(raw, self.default_country_code)

    def read_leniently(self, raw: str | None) -> str | None:
        """The number in E.164; None when absent, withheld or not a number."""
        try:
            return self.read(raw)
        except InvalidCallerNumber:
            return None

    def key(self, number: str | None) -> str | None:
        """The caller key of a number `read` gave; None for none."""
        return self.key_of(number) if number else None
