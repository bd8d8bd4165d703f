"""How stored events become one call's timeline (warmline_cli.call_timeline): what belongs to which
call, and events written before the timeline's own fields existed."""

from warmline.events import Event, EventType
from warmline_cli.call_timeline import build_calls, find_call, text_lines

T0 = 1_796_600_000_000


def answered(at_ms, caller="ck_a", call_id="c1", **data):
    values = {"threecx_call_id": call_id, "voice": "greeting", "clone_status": "pending", "job_queued": True}
    return Event(EventType.CALL_ANSWERED, at_ms, caller, {**values, **data})


def test_each_caller_s_events_go_to_their_own_call_and_a_lost_handoff_says_so():
    events = [
        answered(T0),
        answered(T0 + 100, caller="ck_b", call_id="c2", voice="default", job_queued=False),
        Event(EventType.IVR_CHECK, T0 + 3000, "ck_a", {"wait_ms": 500, "outcome": "ready"}),
        Event(EventType.IVR_CHECK, T0 + 3200, "ck_b", {"wait_ms": 0, "outcome": "unavailable"}),
        Event(EventType.HANDOFF, T0 + 3010, "ck_a", {"handoff_mode": "transfer"}),
        Event(EventType.HANDOFF_LOST, T0 + 40_000, "ck_a", {"waited_ms": 36_990}),
    ]

    calls = build_calls(reversed(events))  # in any order

    assert [call.call_id for call in calls] == ["c1", "c2"]
    first = find_call(calls, "c1")
    assert [(s.name, s.at_ms - T0) for s in first.steps] == [
        ("incoming webhook", 0),
        ("job queued", 0),
        ("key press", 2500),
        ("check_clone", 2500),
        ("handoff", 3010),
        ("handoff lost", 40_000),
    ]
    assert first.outcome == "handoff lost"
    assert [s.name for s in find_call(calls, "c2").steps] == ["incoming webhook", "key press", "check_clone"]


def test_a_clone_ready_event_from_before_the_lease_fields_still_draws_the_clone_request():
    ready = {
        "threecx_call_id": "c1",
        "job_id": "job12345678",
        "requested_at_ms": T0 + 5,
        "worker_started_at_ms": T0 + 400,
        "clone_duration_ms": 1600,
        "attempt": 1,
    }
    events = [answered(T0), Event(EventType.CLONE_READY, T0 + 2000, "ck_a", ready)]

    [call] = build_calls(events)

    assert [(s.name, s.at_ms - T0, s.end_ms) for s in call.steps] == [
        ("incoming webhook", 0, None),
        ("job queued", 5, None),  # the worker's own time for it, not the webhook's
        ("clone request", 400, T0 + 2000),
        ("ready", 2000, None),
    ]
    assert text_lines(call)[-1] == "outcome: no handoff (2.000 s from the incoming webhook)"


def test_a_call_without_a_3cx_call_id_is_named_by_its_time():
    [call] = build_calls([answered(T0, call_id="")])

    assert call.call_id == f"at-{T0}" and find_call([call], f"at-{T0}") is call


def test_an_agent_transfer_shows_the_switch_in_the_same_conversation_not_a_missing_re_entry():
    handoff = {"handoff_mode": "agent_transfer", "handoff_fallback": ""}
    completed = {"handoff_mode": "agent_transfer", "handoff_at_ms": T0 + 3010, "transfer_ms": 1000}
    handed_off = [answered(T0), Event(EventType.HANDOFF, T0 + 3010, "ck_a", handoff)]

    [waiting] = build_calls(handed_off)
    # The housekeeping sweep reads the conversation's history later, and writes when the switch was.
    [call] = build_calls([*handed_off, Event(EventType.HANDOFF_COMPLETED, T0 + 90_000, "ck_a", completed)])

    assert waiting.outcome == "handed off in the same conversation; the switch not confirmed yet"
    assert [(s.name, s.at_ms - T0) for s in call.steps][-2:] == [("handoff", 3010), ("switch", 4010)]
    assert call.steps[-1].detail == "transfer_to_agent in the same conversation, 1000 ms (whole seconds)"
    assert call.outcome == "switched to the cloned voice in the same conversation"
    assert "no re-entry" not in text_lines(call)[-1]


def test_a_call_that_fell_back_to_the_refer_says_why_on_its_handoff():
    handoff = {"handoff_mode": "transfer", "handoff_fallback": "clone_not_on_slot"}
    [call] = build_calls([answered(T0), Event(EventType.HANDOFF, T0 + 3010, "ck_a", handoff)])

    assert call.steps[-1].detail == "transfer mode (fell back: clone_not_on_slot)"
    assert call.outcome == "handed off; no re-entry seen"
