"""The PIN record behaves the same in DynamoDB (moto) and in the fakes: set and cleared through the
registry store, read and counted through the clone store (the verified-handoff mark:
test_handoff_store_contract.py)."""

from types import SimpleNamespace

import pytest

from tests.fakes import InMemoryCloneStore, InMemoryRegistryStore
from warmline.adapters.dynamodb import DynamoRegistryStore
from warmline.clone_state import PinRecord
from warmline.consent import ConsentEntry, ConsentEvent, ConsentSource

CALLER = "ck_" + "c" * 32
NOW = 1_800_000_000
PIN = PinRecord("hmac-sha256:abc", set_at_ms=5)


@pytest.fixture(params=["dynamodb", "fake"])
def store(request):
    """The clone store (get_pin, replace_pin, load) with the registry's PIN writes beside it."""
    if request.param == "fake":
        clones = InMemoryCloneStore()
        registry = InMemoryRegistryStore(clones)
    else:
        stack = request.getfixturevalue("stack")
        clones, registry = stack.store, DynamoRegistryStore(stack.client("dynamodb"), stack.table)
    return SimpleNamespace(
        get_pin=clones.get_pin,
        replace_pin=clones.replace_pin,
        load=clones.load,
        save_pin=registry.save_pin,
        delete_pin=registry.delete_pin,
        withdraw=registry.withdraw,
        registry=registry,
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


def test_delete_pin_says_whether_there_was_one_and_withdrawing_the_caller_removes_it(store):
    assert store.delete_pin(CALLER) is False
    store.save_pin(CALLER, PIN)
    assert store.delete_pin(CALLER) is True and store.get_pin(CALLER) is None
    assert store.registry.get_pin(CALLER) is None

    store.save_pin(CALLER, PIN)
    store.withdraw(
        CALLER, ConsentEntry(CALLER, ConsentEvent.WITHDRAWN, NOW * 1000, "test", ConsentSource.CLI)
    )
    assert store.get_pin(CALLER) is None
