"""Caller numbers: normalised once, masked in every log line, and keyed by a keyed hash.

Phone numbers never become table keys, object keys or log lines: everything downstream of the
edge works with the caller key, an HMAC of the normalised number under a secret.

Normalising follows libphonenumber's rules (`phonenumberslite`), with `DefaultCountryCode` as the
region for numbers written without a country: `+44 (0)20 7946 0000`, `020 7946 0000`,
`0044 20 7946 0000` and `tel:+44-20-7946-0000` are all `+442079460000`, so one person is one key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers

WITHHELD = frozenset({"", "anonymous", "unknown", "private", "restricted", "withheld", "unavailable"})
CALLER_KEY_PATTERN = re.compile(r"^ck_[0-9a-f]{32}$")
_NATIONAL_DIGITS = re.compile(r"[0-9]{3,15}")
_FORMATTING = re.compile(r"[\s\-.()/]")
_SIP_URI = re.compile(r"^<?sips?:(?P<user>[^@;>]*)@", re.IGNORECASE)


class InvalidCallerNumber(ValueError):
    """The text is not a phone number warmline can key a caller by."""


NO_COUNTRY = (
    "a number without its country code, and no default country is set: write it in E.164, with "
    "the country code (e.g. +44 20 7946 0000), or set the stack's DefaultCountryCode parameter "
    "(e.g. 44) so national numbers are read as that country's"
)


def is_withheld(raw: str) -> bool:
    return number_from_uri(raw).strip().lower() in WITHHELD


def number_from_uri(raw: str) -> str:
    """The user part of a `sip:`/`sips:` URI (`sip:+44…@pbx;transport=tls` -> `+44…`); other text as is.

    `tel:` URIs are left whole: libphonenumber reads them (RFC 3966) itself.
    """
    found = _SIP_URI.match(raw.strip())
    return found["user"] if found else raw


def normalise_number(raw: str, default_country_code: str = "") -> str:
    """The number in E.164 (`+<country><number>`), by libphonenumber's rules.

    `default_country_code` (e.g. `44`) is the region for numbers written without a country. With
    none, a number without its country (`020 …`, `12345`) cannot be placed: it is refused (keyed as
    written, it could never match the same person's number in another form).
    """
    text = number_from_uri(raw).strip()
    region = _region(default_country_code)
    if region is None and not text.startswith("+"):
        national = _FORMATTING.sub("", text)
        if national.startswith("00"):
            text = "+" + national[2:]
        elif _NATIONAL_DIGITS.fullmatch(national):
            raise InvalidCallerNumber(NO_COUNTRY)
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        if region is None and error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidCallerNumber(NO_COUNTRY) from None
        raise InvalidCallerNumber(f"not a phone number: {_reason(error)}") from None
    if phonenumbers.is_possible_number_with_reason(parsed) != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise InvalidCallerNumber("not a possible phone number (too short, too long or an unknown country)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _region(default_country_code: str) -> str | None:
    if not default_country_code:
        return None
    region = phonenumbers.region_code_for_country_code(int(default_country_code))
    return None if region == phonenumbers.UNKNOWN_REGION else region


def _reason(error: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no known country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "no digits a number is made of",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(error.error_type, "unreadable")


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


# A run of at least 7 digits, perhaps with a leading + and separators: a phone number, maybe.
_NUMBER_SHAPED = re.compile(r"\+?\d(?:[ ().-]*\d){6,}")
# Ids left whole, whatever digits they happen to hold: a UUID (3CX's and Twilio's often are), and an
# ElevenLabs conversation id (`conv_7401k5m9x2p8ec3rqv6dtnhb0fzw`: 20 or more lowercase letters and
# digits, a letter among them), which warmline looks up again in the conversation's history.
_WHOLE_IDS = re.compile(
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|conv_(?=[0-9a-z]*[a-z])[0-9a-z]{20,})"
)


def mask_numbers(text: str) -> str:
    """Every number-shaped run in an identifier masked as `mask` does (`call-+44 20 7946 0000` ->
    `call-+44******0000`), so a phone number sent in a field that is no number field is not logged
    or stored. Short numbers (3CX's call ids), UUIDs and ElevenLabs' conversation ids stay as they are."""

    def masked(found: re.Match[str]) -> str:
        run = found.group()
        return mask(("+" if run.startswith("+") else "") + re.sub(r"\D", "", run))

    pieces = _WHOLE_IDS.split(text)  # the ids kept whole at the odd indexes
    return "".join(piece if i % 2 else _NUMBER_SHAPED.sub(masked, piece) for i, piece in enumerate(pieces))
