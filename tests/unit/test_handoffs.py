"""Every handoff is seen to complete or counted as lost, once per call: the domain on the fakes."""

import threading
from dataclasses import replace

import pytest

from tests.fakes import InMemoryHandoffs
from tests.unit.conftest import CALLER, call_desk, ivr_desk
from tests.unit.test_calls import ready_record
from warmline.caller_id import IdentifiedCaller, Resolution
from warmline.clone_state import CloneRecord, CloneStatus, IncomingNote, PinRecord
from warmline.events import EventType
from warmline.handoffs import HandoffTracker, call_of, settle_overdue_handoffs
from warmline.housekeeping import SweepContext
from warmline.ivr import CheckRequest
from warmline.outcomes import NextAction
from warmline.settings import Settings
from warmline.verification import PinEntry, hash_pin

CALL = IncomingNote(CALLER, "ck_dialled", "3cx-call-1", at_ms=1_799_999_990_000)
OTHER_CALL = replace(CALL, threecx_call_id="3cx-call-2", at_ms=1_799_999_995_000)


@pytest.fixture
def handoffs(store, events):
    return InMemoryHandoffs(store, events)


@pytest.fixture
def ready(store, clock):
    store.clones[CALLER] = ready_record(clock)


def press_one(store, events, handoffs, clock, settings, call=CALL, pin=None):
    desk = ivr_desk(store, events, handoffs, clock, settings)
    entry = PinEntry(pin, pepper=lambda: "pepper") if pin else PinEntry()
    return desk.check(CheckRequest(CALLER, "+442079460000", "1", "conv_greeting", entry, call))


def reentry(store, handoffs, clock, settings, resolution=Resolution.PASSED, key=CALLER):
    """The caller's next conversation starts, as conversation-init sees it."""
    state = store.load(key)
    start = call_desk(store, clock, settings).start_conversation(key, state)
    tracker = HandoffTracker(handoffs, clock, settings)
    return tracker.reentered(IdentifiedCaller(key, resolution, state), start, "call_sid_1")


def sweep(store, handoffs, clock, settings, time_left=100.0):
    context = SweepContext(store, handoffs, lambda: None, clock, settings, lambda: time_left)
    return settle_overdue_handoffs(context)


# ---- once per call ----------------------------------------------------------------------------------


def test_a_calls_first_transfer_answer_is_its_one_handoff(ready, store, events, handoffs, clock, settings):
    first = press_one(store, events, handoffs, clock, settings)
    clock.advance(0.5)
    again = press_one(store, events, handoffs, clock, settings)

    assert first.next_action is again.next_action is NextAction.TRANSFER_TO_AGENT
    assert (first.handoff_counted, again.handoff_counted) == (True, False)
    [handoff] = events.of_type(EventType.HANDOFF)
    assert handoff.data["call_id"] == call_of(CALL, "", store.clones[CALLER])
    assert handoff.data["threecx_call_id"] == "3cx-call-1"
    assert store.clones[CALLER].handoff_at_ms == handoff.at_ms  # the first answer's, not the second's
    assert len(handoffs.expected) == 1


def test_concurrent_checks_of_one_call_count_one_handoff(ready, store, events, handoffs, clock, settings):
    answers = []
    barrier = threading.Barrier(25)

    def check():
        barrier.wait()
        answers.append(press_one(store, events, handoffs, clock, settings))

    threads = [threading.Thread(target=check) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(answer.next_action is NextAction.TRANSFER_TO_AGENT for answer in answers)
    assert sum(answer.handoff_counted for answer in answers) == 1
    assert len(events.of_type(EventType.HANDOFF)) == 1


def test_each_call_of_a_caller_has_its_own_handoff(ready, store, events, handoffs, clock, settings):
    press_one(store, events, handoffs, clock, settings, call=CALL)
    clock.advance(60)
    later = press_one(store, events, handoffs, clock, settings, call=OTHER_CALL)

    assert later.handoff_counted
    assert [e.data["threecx_call_id"] for e in events.of_type(EventType.HANDOFF)] == [
        "3cx-call-1",
        "3cx-call-2",
    ]


def test_a_call_is_its_3cx_call_then_the_conversation_then_the_clones_call():
    clone = CloneRecord(CloneStatus.READY, "j", 0, 0, call_started_at_ms=7, threecx_call_id="old")
    untold = replace(CALL, threecx_call_id="")

    assert call_of(CALL, "conv_1", clone) == "3cx:1799999990000:3cx-call-1"
    # 3CX sent no call id: the time the call came in still tells two calls apart.
    assert call_of(untold, "conv_1", clone) != call_of(replace(untold, at_ms=CALL.at_ms + 1), "conv_1", clone)
    assert call_of(None, "conv_1", clone) == "conversation:conv_1"
    assert call_of(None, "", clone) == "clone:7:old"


def test_a_handoff_that_cannot_be_noted_still_transfers_the_caller(ready, store, events, clock, settings):
    class Unavailable:
        def expect(self, handoff, event):
            raise TimeoutError("no answer before the request's deadline")

    answer = press_one(store, events, Unavailable(), clock, settings)

    assert answer.next_action is NextAction.TRANSFER_TO_AGENT and not answer.handoff_counted
    assert events.of_type(EventType.IVR_CHECK)[0].data["outcome"] == "ready"


# ---- completed ------------------------------------------------------------------------------------


def test_the_re_entry_in_the_cloned_voice_completes_the_handoff_once(
    ready, store, events, handoffs, clock, settings
):
    press_one(store, events, handoffs, clock, settings)
    clock.advance(1.25)

    arrival = reentry(store, handoffs, clock, settings)
    again = reentry(store, handoffs, clock, settings)

    assert arrival.transfer_ms == 1250 and again is None
    [completed] = events.of_type(EventType.HANDOFF_COMPLETED)
    assert completed.data["transfer_ms"] == 1250
    assert completed.data["caller_id"] == "passed" and completed.data["reference"] == "call_sid_1"
    assert handoffs.expected == {}
    clock.advance(60)
    assert sweep(store, handoffs, clock, settings).overdue == 0


def test_a_re_entry_after_the_window_does_not_complete_it_and_the_sweep_counts_it_lost(
    ready, store, events, handoffs, clock, settings
):
    press_one(store, events, handoffs, clock, settings)
    clock.advance(settings.handoff_window_seconds + 0.001)

    assert reentry(store, handoffs, clock, settings) is None
    report = sweep(store, handoffs, clock, settings)

    assert (report.overdue, report.lost) == (1, 1)
    assert events.of_type(EventType.HANDOFF_COMPLETED) == []


def test_a_re_entry_the_caller_id_did_not_reach_completes_nothing(
    ready, store, events, handoffs, clock, settings
):
    press_one(store, events, handoffs, clock, settings)
    clock.advance(1)

    # The company number, which has no clone: default voice, and the handoff stays expected.
    assert reentry(store, handoffs, clock, settings, Resolution.NOT_PASSED, key="ck_company") is None
    # Tied to the caller's call (the only recent one to that number): it is the re-entry.
    arrival = reentry(store, handoffs, clock, settings, Resolution.CORRELATED)

    assert arrival is not None
    assert events.of_type(EventType.HANDOFF_COMPLETED)[0].data["caller_id"] == "correlated"


def test_with_a_pin_only_the_leg_that_claims_the_verified_handoff_completes_it(
    registered, store, events, handoffs, clock, settings
):
    store.pins[CALLER] = PinRecord(hash_pin(CALLER, "482916", "pepper"), set_at_ms=0)
    store.clones[CALLER] = ready_record(clock)
    assert press_one(store, events, handoffs, clock, settings, pin="482916").handoff_counted
    clock.advance(2)

    assert reentry(store, handoffs, clock, settings) is not None
    # A spoofer right after gets the greeting, and there is nothing left to complete.
    assert reentry(store, handoffs, clock, settings) is None
    assert len(events.of_type(EventType.HANDOFF_COMPLETED)) == 1


def test_a_caller_with_a_pin_who_is_greeted_again_does_not_complete_the_handoff(
    registered, store, events, handoffs, clock, settings
):
    store.pins[CALLER] = PinRecord(hash_pin(CALLER, "482916", "pepper"), set_at_ms=0)
    store.clones[CALLER] = ready_record(clock)
    press_one(store, events, handoffs, clock, settings, pin="482916")
    store.clones[CALLER] = replace(store.clones[CALLER], verified_handoff_at_ms=0)  # taken by another leg
    clock.advance(2)

    assert reentry(store, handoffs, clock, settings) is None
    assert len(handoffs.expected) == 1


# ---- lost: the housekeeping sweep -----------------------------------------------------------------


def test_the_sweep_counts_an_overdue_handoff_lost_once_and_leaves_the_others(
    ready, store, events, handoffs, clock, settings
):
    press_one(store, events, handoffs, clock, settings, call=CALL)
    clock.advance(settings.handoff_window_seconds - 5)
    press_one(store, events, handoffs, clock, settings, call=OTHER_CALL)  # 5 s from its window's end
    clock.advance(5.5)

    first = sweep(store, handoffs, clock, settings)
    second = sweep(store, handoffs, clock, settings)

    assert (first.overdue, first.lost, second.overdue, second.lost) == (1, 1, 0, 0)
    [lost] = events.of_type(EventType.HANDOFF_LOST)
    assert lost.data["threecx_call_id"] == "3cx-call-1"
    assert lost.data["waited_ms"] == (settings.handoff_window_seconds + 0.5) * 1000
    assert lost.data["handoff_mode"] == "transfer" and lost.data["window_seconds"] == 30
    assert len(handoffs.expected) == 1


def test_the_sweep_settles_at_most_its_bound_oldest_first_and_stops_when_time_runs_out(
    ready, store, events, handoffs, clock
):
    settings = Settings(handoff_sweep_max=2)
    for n in range(3):
        press_one(store, events, handoffs, clock, settings, call=replace(CALL, at_ms=CALL.at_ms + n))
        clock.advance(1)
    clock.advance(60)

    bounded = sweep(store, handoffs, clock, settings)
    out_of_time = sweep(store, handoffs, clock, settings, time_left=1.0)
    last = sweep(store, handoffs, clock, settings)

    assert (bounded.overdue, bounded.lost) == (2, 2)
    assert (out_of_time.lost, out_of_time.left_for_next_run) == (0, 1)
    assert last.lost == 1
    lost_calls = [e.data["call_id"] for e in events.of_type(EventType.HANDOFF_LOST)]
    handed_off = [e.data["call_id"] for e in events.of_type(EventType.HANDOFF)]
    assert lost_calls == handed_off


def test_the_sweep_looks_back_to_the_day_before(ready, store, events, handoffs, clock, settings):
    press_one(store, events, handoffs, clock, settings)
    clock.advance(86_400 + 60)  # the housekeeping function did not run for a day

    assert sweep(store, handoffs, clock, settings).lost == 1


def test_a_lost_handoff_is_logged_with_its_likely_causes(
    ready, store, events, handoffs, clock, settings, caplog
):
    press_one(store, events, handoffs, clock, settings)
    clock.advance(45)

    sweep(store, handoffs, clock, settings)

    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    text = warning.getMessage()
    assert "handoff lost" in text and "45.0 s ago" in text
    assert "refused the agent's SIP REFER" in text and "Refer-To" in text and "caller ID" in text
    assert warning.call_id == events.of_type(EventType.HANDOFF)[0].data["call_id"]


# ---- outbound handoff mode ------------------------------------------------------------------------


def test_outbound_mode_expects_the_placed_calls_conversation(ready, store, events, handoffs, clock, provider):
    settings = Settings(
        handoff_mode="outbound", elevenlabs_agent_id="a", elevenlabs_agent_phone_number_id="p"
    )
    desk = ivr_desk(store, events, handoffs, clock, settings, provider)

    answer = desk.check(CheckRequest(CALLER, "+442079460000", "1", call=CALL))
    clock.advance(4)
    arrival = reentry(store, handoffs, clock, settings)

    assert answer.handoff_counted and arrival.transfer_ms == 4000
    [expected] = [e for e in events.events if e.type is EventType.HANDOFF]
    assert expected.data["agent_conversation_id"] == "conv_1" and expected.data["handoff_mode"] == "outbound"


def test_an_outbound_call_not_placed_is_no_handoff(ready, store, events, handoffs, clock, provider):
    settings = Settings(
        handoff_mode="outbound", elevenlabs_agent_id="a", elevenlabs_agent_phone_number_id="p"
    )
    desk = ivr_desk(store, events, handoffs, clock, settings, provider)

    answer = desk.check(CheckRequest(CALLER, "", "1", call=CALL))  # no number to call back

    assert answer.next_action is NextAction.CONTINUE_WITH_DEFAULT_VOICE and not answer.handoff_counted
    assert handoffs.expected == {} and events.of_type(EventType.HANDOFF) == []
