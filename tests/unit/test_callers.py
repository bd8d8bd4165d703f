"""Caller numbers: every written form of one number is one key (libphonenumber's rules)."""

import pytest

from warmline.callers import (
    InvalidCallerNumber,
    caller_key,
    mask,
    mask_numbers,
    normalise_number,
    number_from_uri,
)

LONDON = "+442079460000"


@pytest.mark.parametrize(
    "written",
    [
        "+44 (0)20 7946 0000",
        "+44(0)2079460000",
        "020 7946 0000",
        "0044 20 7946 0000",
        "+442079460000",
        "+44 20 7946 0000",
        "(020) 7946-0000",
        "tel:+44-20-7946-0000",
        "tel:+442079460000",
    ],
)
def test_every_written_form_of_a_uk_number_is_one_e164_number(written):
    assert normalise_number(written, "44") == LONDON


def test_one_person_one_caller_key():
    forms = ["+44 (0)20 7946 0000", "020 7946 0000", "0044 20 7946 0000", "+442079460000"]

    assert len({caller_key(normalise_number(form, "44"), "secret") for form in forms}) == 1


@pytest.mark.parametrize(
    "written", ["(415) 555-2671", "415.555.2671", "+1 415 555 2671", "011 1 415 555 2671"]
)
def test_north_american_numbers_take_the_plus_and_the_country_code(written):
    assert normalise_number(written, "1") == "+14155552671"


def test_international_numbers_need_no_default_country():
    assert normalise_number("+44 (0)20 7946 0000") == LONDON
    assert normalise_number("0044 20 7946 0000") == LONDON
    assert normalise_number("tel:+44-20-7946-0000") == LONDON


@pytest.mark.parametrize(
    "written", ["020 7946 0002", "12345", "(020) 7946-0002", "4155552671", "tel:020-7946-0002"]
)
def test_without_a_default_country_a_number_without_its_country_is_refused_saying_how_to_fix_it(written):
    """Keyed as written it could never match the caller ID of the same person (issue 21, point 14)."""
    with pytest.raises(InvalidCallerNumber) as refused:
        normalise_number(written)

    assert "+44 20 7946 0000" in str(refused.value) and "DefaultCountryCode" in str(refused.value)
    assert written not in str(refused.value)  # the message may be logged or answered: no number in it


@pytest.mark.parametrize(
    "written", ["hello", "+44 12", "12", "+", "0044", "+44 20 7946 0000 0000 0000", "sip:pbx.example.com"]
)
def test_what_is_not_a_possible_phone_number_is_an_error(written):
    with pytest.raises(InvalidCallerNumber):
        normalise_number(written, "44")


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        ("sip:+447700900123@pbx.example.com", "+447700900123"),
        ("sips:+447700900123@pbx.example.com:5061;transport=tls", "+447700900123"),
        ("<sip:+447700900123@pbx.example.com>", "+447700900123"),
        ("sip:02079460000@10.0.0.1;user=phone", "02079460000"),
        ("tel:+447700900123", "tel:+447700900123"),
        ("+447700900123", "+447700900123"),
    ],
)
def test_a_sip_uri_is_reduced_to_its_user_part(uri, number):
    assert number_from_uri(uri) == number


def test_a_sip_uri_normalises_like_its_number():
    assert normalise_number("sip:020 7946 0000@pbx.example.com", "44") == LONDON


def test_masking_keeps_the_country_and_the_last_four_digits():
    assert mask(LONDON) == "+44******0000"
    assert mask("0000") == "****"


@pytest.mark.parametrize(
    ("identifier", "logged"),
    [
        ("CA0f3e2d1c", "CA0f3e2d1c"),  # no run of 7 digits
        ("3cx-1234", "3cx-1234"),  # 3CX's short call ids stay
        ("+442079460000", "+44******0000"),
        ("conv_(020) 7946-0000x", "conv_(02*****0000x"),
        ("a1234567b7654321", "a***4567b***4321"),
        ("00000000-01dc-27dd-cc8a-799100000029", "00000000-01dc-27dd-cc8a-799100000029"),  # a UUID
        (
            "conv-+447700900123-00000000-01dc-27dd-cc8a-799100000029",
            "conv-+44******0123-00000000-01dc-27dd-cc8a-799100000029",
        ),
        # ElevenLabs' own ids are looked up again (the conversation's history): kept whole.
        ("conv_7401k5m9x2p8ec3rqv6d8675309z", "conv_7401k5m9x2p8ec3rqv6d8675309z"),
        ("conv_442079460000", "conv_44******0000"),  # digits only: a number, not an id
    ],
)
def test_number_shaped_runs_in_an_identifier_are_masked(identifier, logged):
    assert mask_numbers(identifier) == logged
