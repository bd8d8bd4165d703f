"""The PIN record and the verified-handoff mark behave the same in DynamoDB (moto) and in the fake."""

import pytest

from tests.fakes import InMemoryCloneStore
from warmline.clone_state import CloneRecord, CloneStatus, PinRecord

CALLER = "ck_" + "c" * 32
NOW = 1_800_000_000
PIN = PinRecord("hmac-sha256:abc", set_at_ms=5)


@pytest.fixture(params=["dynamodb", "fake"])
def store(request):
    if request.param == "fake":
        return InMemoryCloneStore()
    return request.getfixturevalue("stack").store


def ready(store, voice="voice1"):
    pending = CloneRecord(CloneStatus.PENDING, "job1", expires_at=NOW + 900, requested_at_ms=NOW * 1000)
    assert store.start_clone(CALLER, pending, NOW)
    assert store.take_lease(
        CALLER, lease_token="t", now_ms=NOW * 1000, lease_expires_at_ms=NOW * 1000 + 60_000
    )
    assert store.mark_ready(
        CALLER,
        lease_token="t",
        voice_id=voice,
        ready_at_ms=NOW * 1000,
        clone_duration_ms=1,
        expires_at=NOW + 3600,
    )


def test_a_pin_is_saved_read_and_loaded_with_the_caller(store):
    assert store.get_pin(CALLER) is None and store.load(CALLER).pin is None

    store.save_pin(CALLER, PIN)

    assert store.get_pin(CALLER) == PIN
    assert store.load(CALLER).pin == PIN


def test_replace_pin_applies_only_over_the_record_it_expects(store):
    store.save_pin(CALLER, PIN)
    one = PinRecord(PIN.pin_hash, 5, attempts=1)
    locked = PinRecord(PIN.pin_hash, 5, attempts=3, lockouts=1, locked_until_ms=99)

    assert store.replace_pin(CALLER, PIN, one)
    assert not store.replace_pin(CALLER, PIN, locked)  # stale: another check won
    assert store.replace_pin(CALLER, one, locked)
    assert store.get_pin(CALLER) == locked
    assert not store.replace_pin(CALLER, PinRecord("hmac-sha256:other", 5, 3, 1, 99), one)  # PIN changed


def test_delete_pin_says_whether_there_was_one_and_removing_the_caller_removes_it(store):
    assert store.delete_pin(CALLER) is False
    store.save_pin(CALLER, PIN)
    assert store.delete_pin(CALLER) is True and store.get_pin(CALLER) is None

    store.save_pin(CALLER, PIN)
    store.delete_caller(CALLER)
    assert store.get_pin(CALLER) is None


def test_a_verified_handoff_is_claimed_once(store):
    ready(store)
    store.mark_handoff(CALLER, NOW * 1000, verified=True)

    assert not store.claim_verified_handoff(CALLER, "voice2", since_ms=0, at_ms=NOW * 1000 + 1)
    assert not store.claim_verified_handoff(CALLER, "voice1", since_ms=NOW * 1000 + 1, at_ms=NOW * 1000 + 1)
    assert store.claim_verified_handoff(CALLER, "voice1", since_ms=NOW * 1000, at_ms=NOW * 1000 + 7)
    assert not store.claim_verified_handoff(CALLER, "voice1", since_ms=0, at_ms=NOW * 1000 + 8)
    clone = store.get_clone(CALLER)
    assert (clone.verified_handoff_at_ms, clone.last_used_at_ms, clone.handoff_at_ms) == (
        0,
        NOW * 1000 + 7,
        NOW * 1000,
    )


def test_an_unverified_handoff_leaves_nothing_to_claim(store):
    ready(store)
    store.mark_handoff(CALLER, NOW * 1000)

    assert not store.claim_verified_handoff(CALLER, "voice1", since_ms=0, at_ms=NOW * 1000)
    assert store.get_clone(CALLER).handoff_at_ms == NOW * 1000
