"""The clone store and the call log behave the same in DynamoDB (moto) and in the fakes of
tests/fakes.py: every conditional write applies, or is refused, in the same cases, and what is read
back is the same record. (The PIN record, the handoff store and the caller registry's store have
their own contract suites: test_pin_store_contract.py, test_handoff_store_contract.py,
test_registry_store_contract.py; here the registry only writes what a call then reads.)"""

from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.fakes import InMemoryCallLog, InMemoryCloneStore, InMemoryRegistryStore
from warmline.adapters.dynamodb import DynamoCallLog, DynamoRegistryStore
from warmline.clone_state import (
    CallerProfile,
    CloneRecord,
    CloneStatus,
    IncomingNote,
    JobClaim,
    PinRecord,
    ReadyClone,
)
from warmline.consent import ConsentEntry, ConsentEvent, ConsentSource

CALLER = "ck_" + "e" * 32
DIALLED = "ck_" + "f" * 32
NOW = 1_800_000_000  # seconds
NOW_MS = NOW * 1000
PENDING = CloneRecord(CloneStatus.PENDING, "job1", expires_at=NOW + 900, requested_at_ms=NOW_MS)
PROFILE = CallerProfile(CALLER, ("samples/a.mp3",), "agreed in a test", "+44 **** 0000", 1)


@dataclass
class Stores:
    clones: Any
    calls: Any
    registry: Any  # the registry's writes, which the clone store's `load` reads
    clones_client: Any = None  # DynamoDB's, to play what its TTL does
    table: str = ""


@pytest.fixture(params=["dynamodb", "fake"])
def stores(request):
    if request.param == "fake":
        clones = InMemoryCloneStore()
        return Stores(clones, InMemoryCallLog(clones), InMemoryRegistryStore(clones))
    stack = request.getfixturevalue("stack")
    client = stack.client("dynamodb")
    calls, registry = DynamoCallLog(client, stack.table), DynamoRegistryStore(client, stack.table)
    return Stores(stack.store, calls, registry, client, stack.table)


def lease(store, token="t1", now_ms=NOW_MS, seconds=60):
    return store.take_lease(
        CALLER, lease_token=token, now_ms=now_ms, lease_expires_at_ms=now_ms + seconds * 1000
    )


def ready(store, voice="voice1"):
    assert store.start_clone(CALLER, PENDING, NOW)
    assert lease(store)
    assert store.mark_ready(
        CALLER,
        lease_token="t1",
        clone=ReadyClone(voice, ready_at_ms=NOW_MS + 5, clone_duration_ms=5, expires_at=NOW + 3600),
    )


def test_a_clone_starts_only_where_none_is_live(stores):
    store = stores.clones
    assert store.get_clone(CALLER) is None

    assert store.start_clone(CALLER, PENDING, NOW)
    assert not store.start_clone(CALLER, replace(PENDING, job_id="job2"), NOW + 899)  # still live
    assert store.get_clone(CALLER) == PENDING

    # From the second it expires (expires_at <= now), it counts as no record.
    assert store.start_clone(CALLER, replace(PENDING, job_id="job3", expires_at=NOW + 2000), NOW + 900)
    assert store.get_clone(CALLER).job_id == "job3"


def test_a_pending_clone_is_removed_or_confirmed_only_for_its_own_job(stores):
    store = stores.clones
    store.start_clone(CALLER, PENDING, NOW)

    store.remove_pending(CALLER, "other-job")
    store.confirm_pending(CALLER, "other-job", expires_at=NOW + 5000)
    store.confirm_pending(CALLER, "job1", expires_at=NOW + 100)  # never shortened
    assert store.get_clone(CALLER) == PENDING

    store.confirm_pending(CALLER, "job1", expires_at=NOW + 1800)
    assert store.get_clone(CALLER).expires_at == NOW + 1800

    store.remove_pending(CALLER, "job1")
    assert store.get_clone(CALLER) is None


def test_only_a_failed_clone_is_forgotten(stores):
    store = stores.clones
    store.start_clone(CALLER, PENDING, NOW)
    store.forget_failure(CALLER)
    assert store.get_clone(CALLER) == PENDING  # in flight: left as it is

    assert store.fail_job(
        CALLER,
        JobClaim("job1", "t1", NOW_MS),
        error_code="invalid_api_key",
        error_message="bad key",
        expires_at=NOW + 300,
    )
    store.forget_failure(CALLER)
    assert store.get_clone(CALLER) is None
    assert store.start_clone(CALLER, replace(PENDING, job_id="job2"), NOW)  # a new job may start


def test_a_call_is_noted_on_a_clone_in_flight_only(stores):
    store = stores.clones
    store.start_clone(CALLER, PENDING, NOW)
    store.note_call(CALLER, call_started_at_ms=NOW_MS + 1, threecx_call_id="3cx-1")
    assert (store.get_clone(CALLER).call_started_at_ms, store.get_clone(CALLER).threecx_call_id) == (
        NOW_MS + 1,
        "3cx-1",
    )

    store.remove_pending(CALLER, "job1")
    ready(store)
    store.note_call(CALLER, call_started_at_ms=NOW_MS + 9, threecx_call_id="3cx-2")
    assert store.get_clone(CALLER).threecx_call_id == ""


def test_one_worker_holds_the_lease_until_it_ends_or_is_released(stores):
    store = stores.clones
    assert lease(store) is None  # no record
    store.start_clone(CALLER, PENDING, NOW)

    taken = lease(store)
    assert (taken.status, taken.lease_token, taken.attempts, taken.started_at_ms) == (
        CloneStatus.CLONING,
        "t1",
        1,
        NOW_MS,
    )
    assert taken == store.get_clone(CALLER)
    assert lease(store, "t2", now_ms=NOW_MS + 59_000) is None  # held

    store.release_lease(CALLER, "t2")  # not the holder: nothing happens
    assert store.get_clone(CALLER).lease_token == "t1"
    store.release_lease(CALLER, "t1")
    released = store.get_clone(CALLER)
    assert (released.status, released.lease_token, released.lease_expires_at_ms) == (
        CloneStatus.PENDING,
        "",
        0,
    )

    assert lease(store, "t3").attempts == 2
    assert lease(store, "t4", now_ms=NOW_MS + 61_000).attempts == 3  # t3's lease ran out
    assert lease(store, "t5", now_ms=(NOW + 900) * 1000) is None  # the record expired


def test_only_the_lease_holder_marks_the_clone_ready(stores):
    store = stores.clones
    store.start_clone(CALLER, PENDING, NOW)
    lease(store)
    done = ReadyClone("voice1", ready_at_ms=NOW_MS + 5, clone_duration_ms=5, expires_at=NOW + 3600)

    assert not store.mark_ready(CALLER, lease_token="other", clone=done)
    assert store.mark_ready(CALLER, lease_token="t1", clone=done)
    assert not store.mark_ready(CALLER, lease_token="t1", clone=done)  # no longer cloning
    record = store.get_clone(CALLER)
    assert record == replace(
        PENDING,
        status=CloneStatus.READY,
        attempts=1,
        started_at_ms=NOW_MS,
        cloned_voice_id="voice1",
        ready_at_ms=NOW_MS + 5,
        clone_duration_ms=5,
        expires_at=NOW + 3600,
    )


def test_a_clone_fails_by_its_lease_holder_or_without_a_lease_while_in_flight(stores):
    store = stores.clones
    failure = {"error_code": "voice_limit", "error_message": "no slot", "expires_at": NOW + 60}
    store.start_clone(CALLER, PENDING, NOW)
    lease(store)

    assert not store.mark_failed(CALLER, lease_token="other", **failure)
    assert store.mark_failed(CALLER, lease_token="t1", **failure)
    failed = store.get_clone(CALLER)
    assert (failed.status, failed.error_code, failed.error_message, failed.lease_token) == (
        CloneStatus.FAILED,
        "voice_limit",
        "no slot",
        "",
    )
    assert not store.fail_job(CALLER, JobClaim("job1", "t1", NOW_MS), **failure)  # not in flight any more

    store.start_clone(CALLER, replace(PENDING, job_id="job2", expires_at=NOW + 9000), NOW + 60)
    assert store.fail_job(CALLER, JobClaim("job2", "t9", NOW_MS), **failure)  # pending: the last delivery's


def test_a_last_delivery_fails_only_its_own_job_under_its_own_or_a_lapsed_lease(stores):
    store = stores.clones
    failure = {"error_code": "internal_error", "error_message": "boom", "expires_at": NOW + 60}
    store.start_clone(CALLER, PENDING, NOW)
    lease(store, token="live", seconds=60)

    assert not store.fail_job(CALLER, JobClaim("job0", "live", NOW_MS), **failure)  # another job's
    assert not store.fail_job(CALLER, JobClaim("job1", "mine", NOW_MS + 1000), **failure)  # a live lease
    assert store.get_clone(CALLER).status is CloneStatus.CLONING
    assert store.fail_job(CALLER, JobClaim("job1", "live", NOW_MS + 1000), **failure)  # its own lease

    store.start_clone(CALLER, replace(PENDING, expires_at=NOW + 9000), NOW + 60)
    lease(store, token="dead", now_ms=NOW_MS + 61_000, seconds=10)
    assert store.fail_job(CALLER, JobClaim("job1", "mine", NOW_MS + 72_000), **failure)  # lapsed
    assert store.get_clone(CALLER).status is CloneStatus.FAILED


def test_a_ready_clone_is_touched_and_expired_only_for_its_voice(stores):
    store = stores.clones
    ready(store)

    store.touch_clone(CALLER, "other-voice", NOW_MS + 10)
    assert not store.expire_clone(CALLER, "other-voice", NOW + 10)
    assert store.get_clone(CALLER).last_used_at_ms == 0

    store.touch_clone(CALLER, "voice1", NOW_MS + 10)
    assert store.get_clone(CALLER).last_used_at_ms == NOW_MS + 10
    assert store.expire_clone(CALLER, "voice1", NOW + 10)
    assert store.get_clone(CALLER).expires_at == NOW + 9
    assert not store.get_clone(CALLER).is_live(NOW + 10)


def test_withdrawing_a_caller_leaves_only_the_consent_log_and_a_removed_marker(stores):
    store = stores.clones
    stores.registry.register(
        PROFILE, ConsentEntry(CALLER, ConsentEvent.REGISTERED, NOW_MS, "op", ConsentSource.CLI, "ok")
    )
    stores.registry.save_pin(CALLER, PinRecord("hmac-sha256:abc", set_at_ms=5))
    stores.calls.note(IncomingNote(CALLER, DIALLED, "3cx-1", NOW_MS), NOW + 300)
    ready(store)
    state = store.load(CALLER, with_consent_log=True)
    assert (state.profile, state.has_consent_log, state.last_call.threecx_call_id) == (PROFILE, True, "3cx-1")

    withdrawal = ConsentEntry(CALLER, ConsentEvent.WITHDRAWN, NOW_MS + 100, "op", ConsentSource.CLI)
    stores.registry.withdraw(CALLER, withdrawal)

    state = store.load(CALLER, with_consent_log=True)
    assert (state.profile, state.pin, state.last_call, state.has_consent_log) == (None, None, None, True)
    assert state.known
    assert state.clone == CloneRecord(
        CloneStatus.REMOVED, "", expires_at=NOW, requested_at_ms=0, removed_at_ms=NOW_MS + 100
    )
    assert not state.clone.is_live(NOW)
    assert store.start_clone(CALLER, PENDING, NOW)  # a removed marker counts as no record


def test_the_call_log_finds_the_calls_to_a_number_since_a_moment(stores):
    first = IncomingNote(CALLER, DIALLED, "3cx-1", NOW_MS)
    withheld = IncomingNote("", DIALLED, "3cx-2", NOW_MS + 1000)
    elsewhere = IncomingNote(CALLER, "ck_" + "0" * 32, "3cx-3", NOW_MS + 2000)
    for note in (first, withheld, elsewhere):
        stores.calls.note(note, NOW + 300)

    assert stores.calls.calls_to(DIALLED, NOW_MS) == [first, withheld]
    assert stores.calls.calls_to(DIALLED, NOW_MS + 1) == [withheld]
    assert stores.clones.load(CALLER).last_call == elsewhere
    assert stores.clones.load("ck_" + "1" * 32).last_call is None


def test_the_callers_state_is_read_whole_however_long_their_consent_log_grew(stores):
    """Entries written before consent text was bounded can hold 300 kB each: past 1 MB of them, one
    Query page of the caller ended before PIN and PROFILE (the PIN check failed open, the worker
    found no profile). The fixed items are read by key (issue 21, point 2)."""
    store = stores.clones
    long_consent = "x" * 300_000
    for n in range(4):
        entry = ConsentEntry(
            CALLER, ConsentEvent.REGISTERED, NOW_MS + n, "op", ConsentSource.CLI, long_consent
        )
        stores.registry.register(replace(PROFILE, consent=long_consent), entry)
    stores.registry.save_pin(CALLER, PinRecord("hmac-sha256:abc", set_at_ms=5))
    stores.calls.note(IncomingNote(CALLER, DIALLED, "3cx-1", NOW_MS), NOW + 300)

    state = store.load(CALLER)

    assert state.profile == replace(PROFILE, consent=long_consent)
    assert state.pin == PinRecord("hmac-sha256:abc", set_at_ms=5)
    assert state.last_call.threecx_call_id == "3cx-1"
    assert store.load(CALLER, with_consent_log=True).has_consent_log


def test_a_caller_known_only_by_their_consent_log_is_known_when_the_log_is_asked_for(stores):
    """The sweep's question (a voice named for a caller this stack once registered is its own): a
    withdrawn caller whose REMOVED marker TTL took is known by the consent log alone."""
    store = stores.clones
    assert not store.load(CALLER, with_consent_log=True).known
    stores.registry.register(
        PROFILE, ConsentEntry(CALLER, ConsentEvent.REGISTERED, NOW_MS, "op", ConsentSource.CLI, "ok")
    )
    stores.registry.withdraw(
        CALLER, ConsentEntry(CALLER, ConsentEvent.WITHDRAWN, NOW_MS + 1, "op", ConsentSource.CLI)
    )
    forget_clone_record(stores)  # as DynamoDB's TTL does with the expired marker, days later

    assert store.load(CALLER, with_consent_log=True).known
    assert not store.load(CALLER).has_consent_log  # not asked: not read


def forget_clone_record(stores):
    if isinstance(stores.clones, InMemoryCloneStore):
        del stores.clones.clones[CALLER]
    else:
        stores.clones_client.delete_item(
            TableName=stores.table, Key={"pk": {"S": f"CALLER#{CALLER}"}, "sk": {"S": "CLONE"}}
        )


def test_the_call_path_reads_the_callers_items_by_key_and_never_the_consent_log(stack):
    client, operations = stack.client("dynamodb"), []

    def note(event_name, **_):
        operations.append(event_name.split(".")[-1])

    client.meta.events.register("before-call.dynamodb", note)
    try:
        stack.store.load(CALLER)
    finally:
        client.meta.events.unregister("before-call.dynamodb", note)
    assert operations == ["BatchGetItem"]
