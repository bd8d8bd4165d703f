"""Caller numbers: normalised once, masked in every log line, and keyed by a keyed hash.

Phone numbers never become table keys, object keys or log lines: everything downstream of the
edge works with the caller key, an HMAC of the normalised number under a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re

WITHHELD = frozenset({"", "anonymous", "unknown", "private", "restricted", "withheld", "unavailable"})
_FORMATTING = re.compile(r"[\s\-.()/]")
_DIGITS = re.compile(r"\+?[0-9]{3,15}")
CALLER_KEY_PATTERN = re.compile(r"^ck_[0-9a-f]{32}$")


class InvalidCallerNumber(ValueError):
    """The text is not a phone number warmline can key a caller by."""


def is_withheld(raw: str) -> bool:
    return raw.strip().lower() in WITHHELD


def normalise_number(raw: str, default_country_code: str = "") -> str:
    """Return the number as `+<digits>` (international) or `<digits>` (no country known).

    `00` becomes `+`; with a default country code, a national `0...` number becomes `+<cc>...`.
    Spaces, dashes, dots, slashes and parentheses are ignored; anything else is an error.
    """
    text = _FORMATTING.sub("", raw.strip())
    if not _DIGITS.fullmatch(text):
        raise InvalidCallerNumber("caller number must be 3 to 15 digits, optionally with a leading +")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif default_country_code and text.startswith("0"):
        text = f"+{default_country_code}{text[1:]}"
    if len(text.lstrip("+")) < 3:
        raise InvalidCallerNumber("caller number must be 3 to 15 digits, optionally with a leading +")
    return text


def caller_key(normalised_number: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), normalised_number.encode(), hashlib.sha256).hexdigest()
    return f"ck_{digest[:32]}"


def mask(number: str) -> str:
    """`+441234567890` -> `+44******7890`: enough to tell callers apart in a log, not to dial."""
    digits = number.lstrip("+")
    prefix = "+" if number.startswith("+") else ""
    if len(digits) <= 4:
        return prefix + "*" * len(digits)
    head = digits[:2] if len(digits) > 8 else ""
    return prefix + head + "*" * (len(digits) - len(head) - 4) + digits[-4:]
