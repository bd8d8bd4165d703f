from dataclasses import replace

from tests.fakes import InMemoryHandoffs
from tests.unit.conftest import CALLER, ivr_desk
from warmline.clone_state import CloneRecord, CloneStatus
from warmline.events import EventType
from warmline.ivr import CheckRequest
from warmline.outcomes import IvrOutcome, IvrStatus, NextAction
from warmline.settings import Settings


def in_flight(clock, started_ago=1.0):
    return CloneRecord(
        status=CloneStatus.CLONING,
        job_id="j1",
        expires_at=int(clock.now()) + 900,
        requested_at_ms=int((clock.now() - started_ago) * 1000),
        call_started_at_ms=int((clock.now() - started_ago) * 1000),
        threecx_call_id="3cx-1",
    )


def check(store, events, clock, settings, key="1", provider=None):
    desk = ivr_desk(store, events, InMemoryHandoffs(store, events), clock, settings, provider)
    return desk.check(CheckRequest(CALLER, "+442079460000", key))


def test_returns_the_moment_the_clone_becomes_ready(store, events, clock, settings):
    store.clones[CALLER] = in_flight(clock)
    ready_at = clock.now() + 1.0

    def become_ready():
        if clock.now() >= ready_at and store.clones[CALLER].status is CloneStatus.CLONING:
            store.clones[CALLER] = replace(
                store.clones[CALLER], status=CloneStatus.READY, cloned_voice_id="v1"
            )

    store.on_get_clone = become_ready
    answer = check(store, events, clock, settings)

    assert answer.status is IvrStatus.READY and answer.next_action is NextAction.TRANSFER_TO_AGENT
    assert answer.cloned_voice_id == "v1"
    # Noticed within one poll interval of becoming ready.
    assert 1000 <= answer.wait_time_ms <= 1000 + settings.ivr_max_poll_seconds * 1000
    assert len(events.of_type(EventType.HANDOFF)) == 1
    assert store.clones[CALLER].handoff_at_ms == int(clock.now() * 1000)


def test_polls_start_near_50ms_and_grow_to_their_cap_of_at_most_250ms(store, events, clock, settings):
    store.clones[CALLER] = in_flight(clock)

    answer = check(store, events, clock, settings)

    assert answer.status is IvrStatus.CLONING and answer.next_action is NextAction.CHECK_AGAIN
    assert clock.sleeps[0] == 0.05
    assert max(clock.sleeps) == settings.ivr_max_poll_seconds <= 0.25
    growing = clock.sleeps[:-1]  # the last sleep is whatever time is left
    assert growing == sorted(growing)
    assert abs(sum(clock.sleeps) - settings.ivr_max_wait_seconds) < 1e-3
    assert answer.wait_time_ms == 8000


def test_after_the_greeting_timeout_a_caller_still_waiting_gets_the_fallback(store, events, clock, settings):
    store.clones[CALLER] = in_flight(clock, started_ago=30)

    answer = check(store, events, clock, settings)

    # The wait stops at the greeting timeout (35 s after the call began), not after the full 8 s.
    assert answer.wait_time_ms == 5000
    assert answer.next_action is NextAction.CONTINUE_WITH_DEFAULT_VOICE
    assert answer.outcome is IvrOutcome.TIMEOUT
    assert [e.data["threecx_call_id"] for e in events.of_type(EventType.IVR_TIMEOUT)] == ["3cx-1"]


def test_the_operator_can_choose_voicemail_as_the_greeting_timeouts_fallback(store, events, clock, settings):
    store.clones[CALLER] = in_flight(clock, started_ago=30)
    voicemail = settings.model_copy(update={"greeting_timeout_fallback": "voicemail"})

    answer = check(store, events, clock, voicemail)

    assert answer.wait_time_ms == 5000 and answer.status is IvrStatus.CLONING
    assert answer.next_action is NextAction.OFFER_VOICEMAIL
    assert answer.say == "Sorry to keep you waiting. Please leave your message after the tone."
    assert answer.outcome is IvrOutcome.TIMEOUT  # counted as a timeout, as the default voice is
    assert len(events.of_type(EventType.IVR_TIMEOUT)) == 1
    [checked] = events.of_type(EventType.IVR_CHECK)
    assert checked.data["outcome"] == "timeout"


def test_failed_clone_means_default_voice_at_once(store, events, clock, settings):
    store.clones[CALLER] = replace(in_flight(clock), status=CloneStatus.FAILED)

    answer = check(store, events, clock, settings)

    assert (answer.status, answer.next_action, answer.wait_time_ms) == (
        IvrStatus.FAILED,
        NextAction.CONTINUE_WITH_DEFAULT_VOICE,
        0,
    )


def test_no_clone_record_is_unavailable(store, events, clock, settings):
    answer = check(store, events, clock, settings)
    assert (answer.status, answer.next_action) == (
        IvrStatus.UNAVAILABLE,
        NextAction.CONTINUE_WITH_DEFAULT_VOICE,
    )


def test_expired_ready_clone_is_never_handed_out(store, events, clock, settings):
    store.clones[CALLER] = replace(
        in_flight(clock), status=CloneStatus.READY, cloned_voice_id="old", expires_at=int(clock.now()) - 1
    )
    answer = check(store, events, clock, settings)
    assert answer.status is IvrStatus.UNAVAILABLE and answer.cloned_voice_id == ""


def test_key_two_offers_voicemail_and_other_keys_repeat_the_menu(store, events, clock, settings):
    store.clones[CALLER] = in_flight(clock)
    assert check(store, events, clock, settings, key="2").next_action is NextAction.OFFER_VOICEMAIL
    invalid = check(store, events, clock, settings, key="7")
    assert (invalid.status, invalid.next_action) == (IvrStatus.INVALID_KEY, NextAction.REPEAT_MENU)
    assert clock.sleeps == []


def test_outbound_handoff_places_a_call_in_the_cloned_voice(store, events, clock, provider):
    settings = Settings(
        handoff_mode="outbound", elevenlabs_agent_id="a", elevenlabs_agent_phone_number_id="p"
    )
    store.clones[CALLER] = replace(in_flight(clock), status=CloneStatus.READY, cloned_voice_id="v9")

    answer = check(store, events, clock, settings, provider=provider)

    assert answer.handoff_mode == "outbound"
    placed = provider.calls_placed[0]
    assert placed.voice_id == "v9"
    assert placed.first_message == settings.handoff_message
    assert events.of_type(EventType.HANDOFF)[0].data["agent_conversation_id"] == "conv_1"


class UnavailableEvents:
    def record(self, *events):
        raise TimeoutError("the event store did not answer before the request's deadline")


def test_the_answer_does_not_fail_when_its_events_cannot_be_stored(store, clock, settings):
    store.clones[CALLER] = replace(in_flight(clock), status=CloneStatus.READY, cloned_voice_id="v1")

    answer = check(store, UnavailableEvents(), clock, settings)

    assert answer.status is IvrStatus.READY and answer.next_action is NextAction.TRANSFER_TO_AGENT


def test_a_wait_that_ends_before_the_clone_tells_the_agent_to_check_again_without_a_key(
    store, events, clock, settings
):
    store.clones[CALLER] = in_flight(clock)

    answer = check(store, events, clock, settings)

    # One press: the agent calls check_clone again by itself; the caller is reassured, not asked.
    assert answer.next_action is NextAction.CHECK_AGAIN and answer.outcome is IvrOutcome.ASK_AGAIN
    assert "press" not in answer.say.lower() and answer.say
    assert answer.wait_time_ms <= 8000  # the caller hears the agent again within 10 s
