"""An incoming call's writes (`CallRecords`) behave the same in DynamoDB (moto) and in the fakes of
tests/fakes.py: the first clone starts, or is refused, in the same cases, and the confirm, the
follow-up, the notes and the event land the same way."""

from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.fakes import (
    InMemoryCallLog,
    InMemoryCallRecords,
    InMemoryCloneStore,
    InMemoryEvents,
    InMemoryRegistryStore,
)
from warmline.adapters.dynamodb import DynamoCallLog, DynamoCallRecords, DynamoEventStore, DynamoRegistryStore
from warmline.clone_state import (
    CallerProfile,
    CallFollowed,
    CallWrites,
    CloneRecord,
    CloneStatus,
    FirstClone,
    IncomingNote,
    PendingConfirm,
    PinRecord,
)
from warmline.events import Event, EventType

CALLER = "ck_" + "c" * 32
DIALLED = "ck_" + "d" * 32
NOW = 1_800_000_000  # seconds
NOW_MS = NOW * 1000
PENDING = CloneRecord(CloneStatus.PENDING, "job1", expires_at=NOW + 35, requested_at_ms=NOW_MS)
PROFILE = CallerProfile(CALLER, ("samples/a.mp3",), "agreed in a test", "+44 **** 0000", 1)
NOTE = IncomingNote(CALLER, DIALLED, "3cx-1", NOW_MS)


@dataclass
class Records:
    records: Any
    clones: Any
    calls: Any
    events: Any
    registry: Any


@pytest.fixture(params=["dynamodb", "fake"])
def stores(request):
    if request.param == "fake":
        clones = InMemoryCloneStore()
        calls, events = InMemoryCallLog(clones), InMemoryEvents()
        records = InMemoryCallRecords(clones, calls, events)
        return Records(records, clones, calls, events, InMemoryRegistryStore(clones))
    stack = request.getfixturevalue("stack")
    client = stack.client("dynamodb")
    events = DynamoEventStore(client, stack.table, 3600)
    records, calls = DynamoCallRecords(client, stack.table, 3600), DynamoCallLog(client, stack.table)
    return Records(records, stack.store, calls, events, DynamoRegistryStore(client, stack.table))


def start(stores):
    return stores.records.start_first_clone(CALLER, PENDING, NOTE, note_expires_at=NOW + 300, now=NOW)


def events_of(stores):
    if isinstance(stores.events, InMemoryEvents):
        return stores.events.events
    return stores.events.between(NOW_MS - 1, NOW_MS + 1)


def test_a_caller_with_a_sample_and_nothing_else_starts_with_the_calls_notes(stores):
    stores.registry.save_profile(PROFILE)

    assert start(stores) is FirstClone.STARTED

    state = stores.clones.load(CALLER)
    assert state.clone == PENDING and state.last_call == NOTE
    assert stores.calls.calls_to(DIALLED, NOW_MS) == [NOTE]


def test_a_caller_without_a_sample_is_told_apart_and_nothing_is_written(stores):
    assert start(stores) is FirstClone.NO_SAMPLE

    assert stores.clones.load(CALLER).clone is None
    assert stores.calls.calls_to(DIALLED, NOW_MS) == []


@pytest.mark.parametrize(
    "existing",
    [
        replace(PENDING, job_id="other"),  # a job in flight
        replace(PENDING, status=CloneStatus.READY, cloned_voice_id="v1", expires_at=NOW + 3600),
        replace(PENDING, status=CloneStatus.FAILED, expires_at=NOW + 60),
    ],
    ids=["in_flight", "ready", "failed"],
)
def test_a_live_clone_record_refuses_the_first_clone(stores, existing):
    stores.registry.save_profile(PROFILE)
    assert stores.clones.start_clone(CALLER, existing, NOW)

    assert start(stores) is FirstClone.OTHER
    assert stores.clones.load(CALLER).clone == existing
    assert stores.calls.calls_to(DIALLED, NOW_MS) == []


def test_an_expired_record_is_replaced(stores):
    stores.registry.save_profile(PROFILE)
    assert stores.clones.start_clone(CALLER, replace(PENDING, job_id="old", expires_at=NOW), NOW - 10)

    assert start(stores) is FirstClone.STARTED
    assert stores.clones.load(CALLER).clone == PENDING


def test_a_caller_with_a_pin_takes_the_slow_path(stores):
    stores.registry.save_profile(PROFILE)
    stores.registry.save_pin(CALLER, PinRecord("hmac-sha256:x", set_at_ms=0))

    assert start(stores) is FirstClone.OTHER
    assert stores.clones.load(CALLER).clone is None


def test_the_confirm_and_the_event_are_written_together(stores):
    stores.registry.save_profile(PROFILE)
    start(stores)
    event = Event(EventType.CALL_ANSWERED, NOW_MS, CALLER, {"job_queued": True})

    stores.records.record(CallWrites(CALLER, confirm=PendingConfirm("job1", NOW + 900), event=event))

    assert stores.clones.load(CALLER).clone.expires_at == NOW + 900
    assert [e.type for e in events_of(stores)] == [EventType.CALL_ANSWERED]


def test_a_follow_up_of_a_record_that_moved_on_still_writes_the_notes_and_the_event(stores):
    ready = replace(PENDING, status=CloneStatus.READY, cloned_voice_id="v1", expires_at=NOW + 3600)
    assert stores.clones.start_clone(CALLER, ready, NOW)
    event = Event(EventType.CALL_ANSWERED, NOW_MS, CALLER, {})

    followed = CallFollowed(NOW_MS, "3cx-2")
    stores.records.record(CallWrites(CALLER, NOTE, NOW + 300, followed=followed, event=event))

    assert stores.clones.load(CALLER).clone == ready  # READY is not followed
    assert stores.clones.load(CALLER).last_call == NOTE
    assert [e.type for e in events_of(stores)] == [EventType.CALL_ANSWERED]
