from dataclasses import replace

import pytest

from tests.fakes import InMemoryQueue
from tests.unit.conftest import CALLER, call_desk
from warmline.calls import (
    CloneProgress,
    IncomingCall,
    QueueUnavailable,
    Voice,
)
from warmline.clone_state import CloneRecord, CloneStatus


def call(key=CALLER, call_id="3cx-1"):
    return IncomingCall(
        caller_key=key, caller_number="+442079460000", threecx_call_id=call_id, dialled_key="ck_dialled"
    )


def answer(store, queue, clock, settings, incoming=None, provider=None):
    return call_desk(store, clock, settings, queue, provider).answer(incoming or call())


def ready_record(clock, voice="clone123", handoff_at_ms=0):
    return CloneRecord(
        status=CloneStatus.READY,
        job_id="j1",
        expires_at=int(clock.now()) + 3600,
        requested_at_ms=0,
        cloned_voice_id=voice,
        handoff_at_ms=handoff_at_ms,
    )


def test_first_call_with_a_sample_queues_exactly_one_job_and_greets(
    registered, store, queue, clock, settings
):
    decision = answer(store, queue, clock, settings)

    assert decision.voice is Voice.GREETING
    assert decision.job_queued
    assert [job.caller_key for job in queue.jobs] == [CALLER]
    record = store.clones[CALLER]
    assert record.status is CloneStatus.PENDING
    assert record.job_id == queue.jobs[0].job_id
    assert record.threecx_call_id == "3cx-1"


def test_repeated_webhooks_for_one_caller_give_one_job(registered, store, queue, clock, settings):
    first = answer(store, queue, clock, settings)
    clock.advance(2)
    second = answer(store, queue, clock, settings, call(call_id="3cx-2"))

    assert first.job_queued and not second.job_queued
    assert second.voice is Voice.GREETING
    assert len(queue.jobs) == 1
    assert store.clones[CALLER].threecx_call_id == "3cx-2"
    assert store.clones[CALLER].call_started_at_ms == int(clock.now() * 1000)


def test_ready_clone_is_reused_without_a_job(registered, store, queue, clock, settings):
    store.clones[CALLER] = ready_record(clock)

    decision = answer(store, queue, clock, settings)

    assert decision.voice is Voice.CLONED
    assert decision.cloned_voice_id == "clone123"
    assert queue.jobs == []


def test_expired_ready_clone_counts_as_none(registered, store, queue, clock, settings):
    store.clones[CALLER] = replace(ready_record(clock), expires_at=int(clock.now()) - 1)

    decision = answer(store, queue, clock, settings)

    assert decision.voice is Voice.GREETING
    assert decision.job_queued


def test_caller_without_sample_gets_default_voice_and_no_job(store, queue, clock, settings):
    decision = answer(store, queue, clock, settings)

    assert (decision.voice, decision.progress) == (Voice.DEFAULT, CloneProgress.NO_SAMPLE)
    assert queue.jobs == [] and store.clones == {}


def test_withheld_number_gets_default_voice(store, queue, clock, settings):
    decision = answer(store, queue, clock, settings, IncomingCall(None, None, "3cx-9", "100"))

    assert decision.progress is CloneProgress.WITHHELD
    assert queue.jobs == []


def test_recent_failure_is_not_retried_until_it_expires(registered, store, queue, clock, settings):
    store.clones[CALLER] = CloneRecord(
        status=CloneStatus.FAILED, job_id="j0", expires_at=int(clock.now()) + 60, requested_at_ms=0
    )
    assert answer(store, queue, clock, settings).voice is Voice.DEFAULT
    clock.advance(61)
    assert answer(store, queue, clock, settings).job_queued


def test_queue_failure_leaves_nothing_written(registered, store, clock, settings):

    with pytest.raises(QueueUnavailable):
        answer(store, InMemoryQueue(fail=True), clock, settings)
    assert CALLER not in store.clones


def test_a_pending_record_that_cannot_be_removed_either_lapses_with_the_greeting(
    registered, store, clock, settings, monkeypatch
):
    """The queue and then the store fail (the invocation's deadline spent on a hung queue): the
    answer is still QueueUnavailable, and the record left is the unconfirmed one a crash between the
    write and the send leaves, which lapses when the greeting does."""

    def store_gone(caller_key, job_id):
        raise TimeoutError("no time left for another AWS attempt")

    monkeypatch.setattr(store, "remove_pending", store_gone)
    with pytest.raises(QueueUnavailable):
        answer(store, InMemoryQueue(fail=True), clock, settings)
    left = store.clones[CALLER]
    assert left.status is CloneStatus.PENDING
    assert left.expires_at == int(clock.now() + settings.greeting_timeout_seconds)


def test_outbound_greeting_places_a_call_with_the_greeting_override(
    registered, store, queue, clock, provider
):
    from warmline.settings import Settings

    settings = Settings(
        greeting_mode="outbound", elevenlabs_agent_id="agent1", elevenlabs_agent_phone_number_id="pn1"
    )
    decision = answer(store, queue, clock, settings, provider=provider)

    assert decision.greeting_call_placed
    placed = provider.calls_placed[0]
    assert placed.to_number == "+442079460000"
    assert placed.voice_id == settings.greeting_voice_id
    assert placed.first_message == settings.greeting_message
    assert placed.dynamic_variables["warmline_threecx_call_id"] == "3cx-1"


def test_conversation_init_while_cloning_uses_the_greeting(registered, store, queue, clock, settings):
    answer(store, queue, clock, settings)

    start = call_desk(store, clock, settings).start_conversation(CALLER)

    assert start.voice_id == settings.greeting_voice_id
    assert start.first_message == settings.greeting_message
    assert start.dynamic_variables["warmline_mode"] == "greeting"


def test_conversation_init_after_handoff_uses_clone_and_thanks(registered, store, clock, settings):
    store.clones[CALLER] = ready_record(clock, handoff_at_ms=int(clock.now() * 1000) - 5000)

    start = call_desk(store, clock, settings).start_conversation(CALLER)

    assert (start.voice_id, start.first_message) == ("clone123", settings.handoff_message)


def test_conversation_init_for_repeat_caller_uses_clone_with_agents_own_first_message(
    registered, store, clock, settings
):
    store.clones[CALLER] = ready_record(clock)

    start = call_desk(store, clock, settings).start_conversation(CALLER)

    assert (start.voice_id, start.first_message) == ("clone123", None)


@pytest.mark.parametrize("status", [CloneStatus.FAILED, None])
def test_conversation_init_without_clone_uses_agents_own_voice(registered, store, clock, settings, status):
    if status:
        store.clones[CALLER] = CloneRecord(
            status=status, job_id="j", expires_at=int(clock.now()) + 60, requested_at_ms=0
        )

    start = call_desk(store, clock, settings).start_conversation(CALLER)

    assert (start.voice, start.voice_id, start.first_message) == (Voice.DEFAULT, None, None)
    assert set(start.dynamic_variables) == {
        "warmline_caller_key",
        "warmline_mode",
        "warmline_clone_status",
        "warmline_threecx_call_id",
        "warmline_pin_required",
        "warmline_voice_slot",
    }


class ProcessKilled(BaseException):
    """What a crash looks like to the code after it: nothing more runs (no except Exception)."""


class DyingQueue:
    def send(self, job, delay_seconds=0):
        raise ProcessKilled


def test_a_queued_job_confirms_its_record_for_the_whole_pending_time(
    registered, store, queue, clock, settings
):
    answer(store, queue, clock, settings)

    assert store.clones[CALLER].expires_at == int(clock.now()) + settings.pending_expiry_seconds


def test_a_crash_between_the_pending_write_and_the_send_holds_the_caller_no_longer_than_the_greeting(
    registered, store, queue, clock, settings
):
    with pytest.raises(ProcessKilled):
        answer(store, DyingQueue(), clock, settings)
    record = store.clones[CALLER]
    assert record.status is CloneStatus.PENDING and queue.jobs == []
    assert record.expires_at <= clock.now() + settings.greeting_timeout_seconds

    # Within the greeting the caller hears the greeting; at its end the record is gone...
    clock.advance(settings.greeting_timeout_seconds - 1)
    assert call_desk(store, clock, settings).start_conversation(CALLER).voice is Voice.GREETING
    clock.advance(1)
    assert call_desk(store, clock, settings).start_conversation(CALLER).voice is Voice.DEFAULT

    # ...and the next call queues the job the crash lost.
    retried = answer(store, queue, clock, settings, call(call_id="3cx-2"))
    assert retried.job_queued and [job.caller_key for job in queue.jobs] == [CALLER]
