"""One way to read a caller's number (warmline.numbers), for 3CX's call and the agent's side alike."""

import pytest

from warmline.callers import InvalidCallerNumber
from warmline.numbers import CallerNumbers

NUMBERS = CallerNumbers("44", key_of=lambda number: f"key:{number}")


@pytest.mark.parametrize(
    "raw",
    [
        "+44 (0)20 7946 0000",
        "020 7946 0000",
        "0044 20 7946 0000",
        "tel:+44-20-7946-0000",
        "sip:+442079460000@pbx",
    ],
)
def test_every_form_of_a_number_is_one_number_and_one_key(raw):
    assert NUMBERS.read(raw) == NUMBERS.read_leniently(raw) == "+442079460000"
    assert NUMBERS.key(NUMBERS.read(raw)) == "key:+442079460000"


@pytest.mark.parametrize("raw", [None, "", "anonymous", "sip:anonymous@anonymous.invalid", "Withheld"])
def test_a_withheld_number_is_no_number_and_no_key(raw):
    assert NUMBERS.read(raw) is None and NUMBERS.key(NUMBERS.read(raw)) is None


def test_text_that_is_not_a_number_is_refused_strictly_and_none_leniently():
    with pytest.raises(InvalidCallerNumber):
        NUMBERS.read("not a number")
    assert NUMBERS.read_leniently("not a number") is None
