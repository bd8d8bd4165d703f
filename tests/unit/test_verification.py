"""Caller verification by PIN: the hash, the lockout, check_clone and conversation-init, on the fakes."""

import threading
from dataclasses import replace

import pytest

from tests.fakes import FailingEvents, InMemoryCloneStore, InMemoryHandoffs
from tests.unit.conftest import CALLER, call_desk, ivr_desk
from tests.unit.test_calls import answer, call, ready_record
from warmline.calls import CloneProgress, Voice, call_answered_event
from warmline.clone_state import PinRecord
from warmline.events import EventType
from warmline.ivr import NOT_VERIFIED_SAY, CheckRequest
from warmline.outcomes import IvrStatus, NextAction
from warmline.settings import Settings
from warmline.verification import (
    MAX_LOCKOUT_SECONDS,
    NO_PIN,
    InvalidPin,
    PinEntry,
    PinPolicy,
    PinResult,
    check_new_pin,
    hash_pin,
    next_attempt,
    verify_pin,
)

PEPPER = "pepper-for-tests"
PIN = "482916"
OTHER = "ck_" + "b" * 32


def with_pin(store, key=CALLER, pin=PIN):
    store.pins[key] = PinRecord(hash_pin(key, pin, PEPPER), set_at_ms=0)


def entry(digits):
    return PinEntry(digits, pepper=lambda: PEPPER)


def verify(store, clock, settings, digits):
    return verify_pin(
        CALLER, entry(digits), store=store, clock=clock, policy=PinPolicy.from_settings(settings)
    )


def press(store, events, clock, settings, key="1", pin=NO_PIN):
    desk = ivr_desk(store, events, InMemoryHandoffs(store, events), clock, settings)
    return desk.check(CheckRequest(CALLER, "+442079460000", key, pin=pin))


def press_one(store, events, clock, settings, digits=None):
    return press(store, events, clock, settings, pin=entry(digits) if digits is not None else PinEntry())


# ---- the stored hash ------------------------------------------------------------------------------


def test_the_hash_is_keyed_by_the_pepper_and_differs_per_caller():
    assert hash_pin(CALLER, PIN, PEPPER) == hash_pin(CALLER, PIN, PEPPER)
    assert hash_pin(CALLER, PIN, PEPPER) != hash_pin(OTHER, PIN, PEPPER)
    assert hash_pin(CALLER, PIN, PEPPER) != hash_pin(CALLER, PIN, "another pepper")
    assert PIN not in hash_pin(CALLER, PIN, PEPPER)
    assert hash_pin(CALLER, PIN, PEPPER).startswith("hmac-sha256:")


@pytest.mark.parametrize("pin", ["0751", "482916", " 13572468 "])
def test_an_operator_may_set_four_to_eight_digits(pin):
    assert check_new_pin(pin) == pin.strip()


@pytest.mark.parametrize(
    ("pin", "problem"),
    [
        ("123", "4 to 8 digits"),
        ("123456789", "4 to 8 digits"),
        ("12a4", "4 to 8 digits"),
        ("", "4 to 8 digits"),
        ("0000", "too easy"),
        ("1234", "too easy"),
        ("987654", "too easy"),
    ],
)
def test_a_pin_that_is_no_pin_or_easy_to_guess_is_refused(pin, problem):
    with pytest.raises(InvalidPin, match=problem):
        check_new_pin(pin)


# ---- verification and the lockout -----------------------------------------------------------------


def test_a_caller_without_a_pin_needs_none_and_the_pepper_is_never_read(store, clock, settings):
    def no_pepper():
        raise AssertionError("the pepper was read")

    verdict = verify_pin(
        CALLER,
        PinEntry("1111", no_pepper),
        store=store,
        clock=clock,
        policy=PinPolicy.from_settings(settings),
    )

    assert verdict.result is PinResult.NOT_SET and verdict.passed


def test_the_right_pin_is_accepted_as_typed_on_a_keypad(store, clock, settings):
    with_pin(store)

    assert verify(store, clock, settings, PIN).result is PinResult.ACCEPTED
    assert verify(store, clock, settings, "482 916#").result is PinResult.ACCEPTED
    assert store.pins[CALLER].attempts == 0


def test_a_wrong_pin_is_rejected_and_a_missing_one_is_not_counted_as_a_guess(store, clock, settings):
    with_pin(store)

    wrong = verify(store, clock, settings, "482917")
    missing = verify(store, clock, settings, None)

    assert (wrong.result, wrong.passed, wrong.locked_now) == (PinResult.REJECTED, False, False)
    assert (missing.result, missing.passed) == (PinResult.MISSING, False)
    assert verify(store, clock, settings, "").result is PinResult.MISSING
    assert verify(store, clock, settings, " #").result is PinResult.MISSING
    assert store.pins[CALLER].attempts == 1


def test_a_pepper_that_cannot_be_read_spends_no_attempt(store, clock, settings):
    """Secrets Manager failing three times must not lock a genuine caller out."""
    with_pin(store)

    def unreadable():
        raise ConnectionError("Secrets Manager did not answer")

    policy = PinPolicy.from_settings(settings)
    for _ in range(settings.pin_max_failures):
        with pytest.raises(ConnectionError):
            verify_pin(CALLER, PinEntry(PIN, pepper=unreadable), store=store, clock=clock, policy=policy)

    assert store.pins[CALLER].attempts == 0 and not store.pins[CALLER].is_locked(int(clock.now() * 1000))
    assert verify(store, clock, settings, PIN).result is PinResult.ACCEPTED


def test_a_wrong_pin_is_answered_although_its_event_cannot_be_stored(registered, store, clock, settings):
    with_pin(store)
    store.clones[CALLER] = ready_record(clock)

    answer_ = press_one(store, FailingEvents(), clock, settings, "000000")

    assert (answer_.status, answer_.next_action) == (
        IvrStatus.NOT_VERIFIED,
        NextAction.CONTINUE_WITH_DEFAULT_VOICE,
    )


def test_after_three_wrong_pins_even_the_right_one_is_refused_until_the_lock_ends(store, clock, settings):
    with_pin(store)

    results = [verify(store, clock, settings, "111222") for _ in range(3)]

    assert [r.result for r in results] == [PinResult.REJECTED] * 3
    assert [r.locked_now for r in results] == [False, False, True]
    clock.advance(settings.pin_lockout_seconds - 1)
    assert verify(store, clock, settings, PIN).result is PinResult.LOCKED
    clock.advance(1)
    assert verify(store, clock, settings, PIN).result is PinResult.ACCEPTED
    assert store.pins[CALLER] == PinRecord(store.pins[CALLER].pin_hash, set_at_ms=0)


def test_each_lock_before_a_correct_pin_lasts_twice_as_long_up_to_a_day(store, clock):
    settings = Settings(pin_max_failures=1, pin_lockout_seconds=3600)
    with_pin(store)
    lengths = []
    for _ in range(7):
        assert verify(store, clock, settings, "111222").locked_now
        lengths.append(store.pins[CALLER].locked_until_ms / 1000 - clock.now())
        clock.time = store.pins[CALLER].locked_until_ms / 1000

    assert lengths == [3600, 7200, 14400, 28800, 57600, MAX_LOCKOUT_SECONDS, MAX_LOCKOUT_SECONDS]
    assert verify(store, clock, settings, PIN).result is PinResult.ACCEPTED
    assert verify(store, clock, settings, "111222").locked_now
    assert store.pins[CALLER].locked_until_ms / 1000 - clock.now() == 3600  # back to the first length


def test_a_correct_pin_forgets_the_wrong_ones_before_it(store, clock, settings):
    with_pin(store)
    for digits in ("111222", "111222", PIN, "111222", "111222"):
        verify(store, clock, settings, digits)

    assert store.pins[CALLER].attempts == 2 and not store.pins[CALLER].is_locked(int(clock.now() * 1000))


def test_the_last_allowed_attempt_locks_at_once_so_a_crash_cannot_leave_a_free_guess(clock, settings):
    record = PinRecord("hash", set_at_ms=0, attempts=2)
    now_ms = int(clock.now() * 1000)

    reserved = next_attempt(record, now_ms, PinPolicy.from_settings(settings))

    # Reserved and locked before the PIN is compared: if the check dies here, the lock still ends.
    assert reserved.attempts == 3 and reserved.is_locked(now_ms)
    assert next_attempt(reserved, now_ms, PinPolicy.from_settings(settings)) is None
    ended = reserved.locked_until_ms
    assert next_attempt(reserved, ended, PinPolicy.from_settings(settings)) == replace(
        reserved, attempts=1, locked_until_ms=0
    )


def test_concurrent_guesses_cannot_get_past_the_limit(clock, settings):
    store = InMemoryCloneStore()
    with_pin(store)
    guessers = 12
    all_read = threading.Barrier(guessers)
    first_read = threading.local()
    original_get_pin = store.get_pin

    def get_pin_together(key):
        record = original_get_pin(key)
        if not getattr(first_read, "done", False):  # every guess reads the record before any writes
            first_read.done = True
            all_read.wait(timeout=5)
        return record

    store.get_pin = get_pin_together
    results = []

    def guess(n):
        results.append(verify(store, clock, settings, f"{900000 + n}").result)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guessers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    compared = [r for r in results if r is PinResult.REJECTED]
    assert 1 <= len(compared) <= settings.pin_max_failures
    assert len(results) == guessers and set(results) <= {PinResult.REJECTED, PinResult.LOCKED}
    assert store.pins[CALLER].attempts <= settings.pin_max_failures


# ---- check_clone: the clone only for a verified caller ---------------------------------------------


def test_check_clone_with_the_right_pin_hands_off_and_marks_the_handoff_verified(
    registered, store, events, clock, settings
):
    with_pin(store)
    store.clones[CALLER] = ready_record(clock)

    answer_ = press_one(store, events, clock, settings, PIN)

    assert (answer_.status, answer_.next_action) == (IvrStatus.READY, NextAction.TRANSFER_TO_AGENT)
    assert answer_.pin.result is PinResult.ACCEPTED
    assert store.clones[CALLER].verified_handoff_at_ms == int(clock.now() * 1000)
    assert [e.data["result"] for e in events.of_type(EventType.PIN_CHECK)] == ["accepted"]
    assert len(events.of_type(EventType.HANDOFF)) == 1


@pytest.mark.parametrize(("digits", "result"), [("111222", "rejected"), (None, "missing")])
def test_check_clone_with_a_wrong_or_missing_pin_goes_on_in_the_default_voice_at_once(
    registered, store, events, clock, settings, digits, result
):
    with_pin(store)
    store.clones[CALLER] = ready_record(clock)

    answer_ = press_one(store, events, clock, settings, digits)

    assert (answer_.status, answer_.next_action) == (
        IvrStatus.NOT_VERIFIED,
        NextAction.CONTINUE_WITH_DEFAULT_VOICE,
    )
    assert answer_.say == NOT_VERIFIED_SAY and answer_.cloned_voice_id == ""
    assert answer_.outcome is None and answer_.wait_time_ms == 0 and clock.sleeps == []
    assert store.clones[CALLER].handoff_at_ms == 0 and store.clones[CALLER].verified_handoff_at_ms == 0
    assert [e.type for e in events.events] == [EventType.PIN_CHECK]
    assert events.events[0].data["result"] == result


def test_a_locked_caller_is_refused_with_the_right_pin(registered, store, events, clock, settings):
    with_pin(store)
    store.clones[CALLER] = ready_record(clock)
    for _ in range(settings.pin_max_failures):
        press_one(store, events, clock, settings, "111222")

    answer_ = press_one(store, events, clock, settings, PIN)

    assert answer_.status is IvrStatus.NOT_VERIFIED and answer_.pin.result is PinResult.LOCKED
    assert [e.data["locked_now"] for e in events.of_type(EventType.PIN_CHECK)] == [False, False, True, False]


def test_a_caller_without_a_pin_is_checked_as_before_whatever_pin_comes(
    registered, store, events, clock, settings
):
    store.clones[CALLER] = ready_record(clock)

    answer_ = press_one(store, events, clock, settings, "111222")

    assert answer_.next_action is NextAction.TRANSFER_TO_AGENT
    assert answer_.pin.result is PinResult.NOT_SET
    assert events.of_type(EventType.PIN_CHECK) == []
    assert store.clones[CALLER].verified_handoff_at_ms == 0


def test_voicemail_needs_no_pin(registered, store, events, clock, settings):
    with_pin(store)
    store.clones[CALLER] = ready_record(clock)

    answer_ = press(store, events, clock, settings, key="2")

    assert answer_.next_action is NextAction.OFFER_VOICEMAIL and events.events == []


# ---- conversation-init and the incoming call: no clone before the PIN -------------------------------


def test_a_caller_with_a_pin_and_a_ready_clone_starts_in_the_greeting(registered, store, clock, settings):
    with_pin(store)
    store.clones[CALLER] = ready_record(clock, handoff_at_ms=int(clock.now() * 1000) - 5000)

    start = call_desk(store, clock, settings).start_conversation(CALLER)

    assert (start.voice, start.voice_id) == (Voice.GREETING, settings.greeting_voice_id)
    assert start.first_message == settings.greeting_message
    assert start.dynamic_variables["warmline_pin_required"] == "yes"
    assert start.dynamic_variables["warmline_clone_status"] == "ready"
    assert store.clones[CALLER].last_used_at_ms == 0  # not handed out


def test_the_leg_after_a_verified_handoff_gets_the_clone_once(registered, store, events, clock, settings):
    with_pin(store)
    store.clones[CALLER] = ready_record(clock)
    press_one(store, events, clock, settings, PIN)
    clock.advance(3)

    handoff_leg = call_desk(store, clock, settings).start_conversation(CALLER)
    next_caller = call_desk(store, clock, settings).start_conversation(CALLER)

    assert (handoff_leg.voice, handoff_leg.voice_id) == (Voice.CLONED, "clone123")
    assert handoff_leg.first_message == settings.handoff_message
    assert store.clones[CALLER].last_used_at_ms == int(clock.now() * 1000)
    assert next_caller.voice is Voice.GREETING


def test_a_verified_handoff_not_taken_within_the_window_expires(registered, store, events, clock, settings):
    with_pin(store)
    store.clones[CALLER] = ready_record(clock)
    press_one(store, events, clock, settings, PIN)
    clock.advance(settings.handoff_window_seconds + 1)

    assert call_desk(store, clock, settings).start_conversation(CALLER).voice is Voice.GREETING


def test_a_caller_without_a_pin_gets_the_clone_at_once_as_before(registered, store, clock, settings):
    store.clones[CALLER] = ready_record(clock)

    start = call_desk(store, clock, settings).start_conversation(CALLER)

    assert (start.voice, start.voice_id) == (Voice.CLONED, "clone123")
    assert start.dynamic_variables["warmline_pin_required"] == "no"


def test_an_incoming_call_with_a_pin_and_a_ready_clone_is_greeted_not_called_back(
    registered, store, queue, clock, provider
):
    settings = Settings(
        greeting_mode="outbound", elevenlabs_agent_id="a", elevenlabs_agent_phone_number_id="p"
    )
    with_pin(store)
    store.clones[CALLER] = ready_record(clock)

    decision = answer(store, queue, clock, settings, provider=provider)

    assert (decision.voice, decision.progress, decision.job_queued) == (
        Voice.GREETING,
        CloneProgress.READY,
        False,
    )
    # Over SIP: this may be the re-entry leg of a handoff, which must reach the agent.
    assert not decision.greeting_call_placed and provider.calls_placed == []
    assert call_answered_event(call(), decision, 0).data["cache_hit"] is True
    assert queue.jobs == []
