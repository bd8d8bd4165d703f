"""The caller registry's store behaves the same in DynamoDB (moto) and in the fake of tests/fakes.py:
profiles, the consent log (only ever added to), the PIN items, the callers it holds, and the
withdrawal that leaves the REMOVED marker (what a call then reads: test_clone_store_contract.py)."""

from dataclasses import replace
from types import SimpleNamespace

import pytest

from tests.fakes import InMemoryCloneStore, InMemoryRegistryStore
from warmline.adapters.dynamodb import DynamoRegistryStore
from warmline.clone_state import CallerProfile, CloneRecord, CloneStatus, PinRecord
from warmline.consent import ConsentEntry, ConsentEvent, ConsentSource

CALLER = "ck_" + "d" * 32
OTHER = "ck_" + "0" * 32
NOW_MS = 1_800_000_000_000
PROFILE = CallerProfile(CALLER, ("samples/a.mp3", "samples/b.mp3"), "agreed in a test", "+44******0000", 20)


def registered(key: str, at_ms: int) -> ConsentEntry:
    return ConsentEntry(key, ConsentEvent.REGISTERED, at_ms, "op", ConsentSource.CLI, "agreed in a test")


@pytest.fixture(params=["dynamodb", "fake"])
def stores(request):
    if request.param == "fake":
        clones = InMemoryCloneStore()
        return SimpleNamespace(registry=InMemoryRegistryStore(clones), clones=clones)
    stack = request.getfixturevalue("stack")
    return SimpleNamespace(
        registry=DynamoRegistryStore(stack.client("dynamodb"), stack.table), clones=stack.store
    )


def test_a_registration_is_read_back_and_listed_oldest_first(stores):
    registry = stores.registry
    assert registry.get_profile(CALLER) is None and registry.profiles() == []

    registry.register(PROFILE, registered(CALLER, NOW_MS))
    earlier = CallerProfile(OTHER, ("samples/c.mp3",), "agreed earlier", "", 10)
    registry.register(earlier, registered(OTHER, NOW_MS - 5))

    assert registry.get_profile(CALLER) == PROFILE
    assert registry.profiles() == [earlier, PROFILE]
    assert registry.consent_log(CALLER) == [registered(CALLER, NOW_MS)]


def test_the_consent_log_is_only_added_to_and_a_registration_is_all_or_nothing(stores):
    registry = stores.registry
    registry.register(PROFILE, registered(CALLER, NOW_MS))

    with pytest.raises(Exception):  # noqa: B017 (DynamoDB's TransactionCanceledException; the fake's own)
        registry.register(replace(PROFILE, consent="another text"), registered(CALLER, NOW_MS))

    assert registry.get_profile(CALLER) == PROFILE
    assert registry.consent_log(CALLER) == [registered(CALLER, NOW_MS)]


def test_withdrawing_keeps_the_log_and_leaves_the_removed_marker(stores):
    registry = stores.registry
    registry.register(PROFILE, registered(CALLER, NOW_MS))
    registry.save_pin(CALLER, PinRecord("hmac-sha256:abc", set_at_ms=5))
    withdrawal = ConsentEntry(CALLER, ConsentEvent.WITHDRAWN, NOW_MS + 100, "op", ConsentSource.CLI)

    registry.withdraw(CALLER, withdrawal)

    assert registry.get_profile(CALLER) is None and registry.get_pin(CALLER) is None
    assert registry.consent_log(CALLER) == [registered(CALLER, NOW_MS), withdrawal]
    assert stores.clones.get_clone(CALLER).status is CloneStatus.REMOVED


def test_the_callers_held_are_those_with_a_profile_or_a_live_clone_record(stores):
    registry = stores.registry
    registry.register(PROFILE, registered(CALLER, NOW_MS))
    record = CloneRecord(CloneStatus.PENDING, "job1", expires_at=NOW_MS // 1000 + 900, requested_at_ms=NOW_MS)
    assert stores.clones.start_clone(OTHER, record, NOW_MS / 1000)
    assert registry.holder_keys() == sorted([CALLER, OTHER])

    registry.withdraw(OTHER, ConsentEntry(OTHER, ConsentEvent.WITHDRAWN, NOW_MS + 1, "op", ConsentSource.CLI))

    assert registry.holder_keys() == [CALLER]


def test_a_pin_is_saved_replaced_and_deleted(stores):
    registry = stores.registry
    assert registry.get_pin(CALLER) is None and registry.delete_pin(CALLER) is False
    registry.save_pin(CALLER, PinRecord("hmac-sha256:abc", set_at_ms=5, attempts=2))
    registry.save_pin(CALLER, PinRecord("hmac-sha256:abc", set_at_ms=5))  # the attempts forgotten

    assert registry.get_pin(CALLER) == PinRecord("hmac-sha256:abc", set_at_ms=5)
    assert stores.clones.get_pin(CALLER) == registry.get_pin(CALLER)
    assert registry.delete_pin(CALLER) is True and registry.get_pin(CALLER) is None
