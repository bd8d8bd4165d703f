"""Is the caller ElevenLabs reports the one who came in through 3CX? (docs/wiring.md, "Configuring 3CX")"""

import pytest

from tests.fakes import FailingEvents, InMemoryCallLog, InMemoryEvents
from warmline.caller_id import CallerIdCheck, Resolution
from warmline.clone_state import IncomingNote, PinRecord

CALLER = "ck_" + "a" * 32
OTHER = "ck_" + "b" * 32
TRUNK = "ck_" + "c" * 32  # the key of the company number 3CX presents when not configured
ELEVENLABS_NUMBER = "ck_" + "d" * 32


@pytest.fixture
def calls(store):
    return InMemoryCallLog(store)


def note(calls, clock, caller, *, dialled=TRUNK, call_id="3cx-1", seconds_ago=10.0, pin=True):
    """The note of `caller`'s call through 3CX; `pin`: the caller has a PIN (correlation needs one)."""
    if pin and caller:
        calls.store.pins[caller] = PinRecord("hmac-sha256:test", set_at_ms=0)
    at_ms = int((clock.now() - seconds_ago) * 1000)
    calls.note(IncomingNote(caller, dialled, call_id, at_ms), expires_at=at_ms // 1000 + 300)


def identify(presented, calls, store, clock, settings, dialled=()):
    check = CallerIdCheck(store, calls, InMemoryEvents(), clock, settings.caller_id_window_seconds)
    return check.find(presented, dialled)


def test_a_caller_who_came_in_through_3cx_is_passed_through(calls, store, clock, settings):
    note(calls, clock, CALLER)

    found = identify(CALLER, calls, store, clock, settings)

    assert (found.caller_key, found.resolution) == (CALLER, Resolution.PASSED)


def test_the_trunk_number_with_one_recent_call_to_it_is_correlated_to_that_caller(
    calls, store, clock, settings
):
    note(calls, clock, CALLER)

    found = identify(TRUNK, calls, store, clock, settings)

    assert (found.caller_key, found.resolution) == (CALLER, Resolution.CORRELATED)


def test_the_number_elevenlabs_was_called_on_counts_as_the_dialled_number(calls, store, clock, settings):
    note(calls, clock, CALLER, dialled=ELEVENLABS_NUMBER)

    found = identify(TRUNK, calls, store, clock, settings, dialled=(ELEVENLABS_NUMBER,))

    assert (found.caller_key, found.resolution) == (CALLER, Resolution.CORRELATED)


def test_a_caller_without_a_pin_is_never_correlated(calls, store, clock, settings):
    """The only recent call to the number and a short window prove nothing: whoever calls the same
    number in that window would be handed that caller's clone. A PIN typed in the call does."""
    note(calls, clock, CALLER, pin=False)

    found = identify(TRUNK, calls, store, clock, settings)

    assert (found.caller_key, found.resolution) == (TRUNK, Resolution.NOT_PASSED)


def test_never_a_guess_between_two_recent_calls(calls, store, clock, settings):
    note(calls, clock, CALLER, call_id="3cx-1")
    note(calls, clock, OTHER, call_id="3cx-2")

    found = identify(TRUNK, calls, store, clock, settings)

    assert (found.caller_key, found.resolution) == (TRUNK, Resolution.NOT_PASSED)


def test_a_repeated_webhook_of_one_call_is_one_call(calls, store, clock, settings):
    note(calls, clock, CALLER, call_id="3cx-1")
    note(calls, clock, CALLER, call_id="3cx-1", seconds_ago=9)

    assert identify(TRUNK, calls, store, clock, settings).resolution is Resolution.CORRELATED


def test_calls_older_than_the_window_do_not_count(calls, store, clock, settings):
    old = settings.caller_id_window_seconds + 1
    note(calls, clock, CALLER, seconds_ago=old)

    assert identify(CALLER, calls, store, clock, settings).resolution is Resolution.NOT_PASSED
    assert identify(TRUNK, calls, store, clock, settings).resolution is Resolution.NOT_PASSED


def test_a_withheld_call_can_be_the_one_call_meant(calls, store, clock, settings):
    note(calls, clock, "")

    found = identify(TRUNK, calls, store, clock, settings)

    assert (found.caller_key, found.resolution) == (None, Resolution.CORRELATED)


def test_a_caller_with_no_call_through_3cx_keeps_their_own_key(calls, store, clock, settings):
    found = identify(CALLER, calls, store, clock, settings)

    assert (found.caller_key, found.resolution) == (CALLER, Resolution.NOT_PASSED)
    assert found.state is not None and found.state.profile is None


def test_a_caller_not_passed_through_is_answered_although_the_report_cannot_be_stored(
    calls, store, clock, settings
):
    note(calls, clock, CALLER)
    check = CallerIdCheck(store, calls, FailingEvents(), clock, settings.caller_id_window_seconds)

    found = check.identify(TRUNK, (), seen_by="conversation_init", reference="conv_1")

    assert found.resolution is Resolution.CORRELATED
