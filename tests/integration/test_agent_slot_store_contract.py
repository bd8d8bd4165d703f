"""The voice-slot lease store behaves the same in DynamoDB (moto) and in the fake: a slot is taken
by one caller at a time, only while free and back in its placeholder voice, marked only by its
holder, freed only as it was read, and kept (lease and all) when configure saves the pool again."""

import threading

import pytest

from tests.agent_slot_fakes import FakeSlotStore
from warmline.adapters.dynamodb_slots import DynamoSlotStore
from warmline.agent_slots import Slot

NOW_MS = 1_800_000_000_000
POOL = [
    Slot(1, "agent_slot_1", ("tool_check", "tool_to_1")),
    Slot(2, "agent_slot_2", ("tool_check", "tool_to_2")),
]


@pytest.fixture(params=["dynamodb", "fake"])
def store(request):
    if request.param == "fake":
        made = FakeSlotStore()
    else:
        stack = request.getfixturevalue("stack")
        made = DynamoSlotStore(stack.client("dynamodb"), stack.table)
    made.save(POOL)
    return made


def _slot(store, number):
    return next(slot for slot in store.slots() if slot.number == number)


def test_the_pool_is_read_back_free_in_number_order(store):
    assert store.slots() == POOL


def test_a_slot_is_taken_once_until_its_lease_ends(store):
    assert store.take(1, "ck_a", NOW_MS + 60_000, NOW_MS)
    assert not store.take(1, "ck_b", NOW_MS + 60_000, NOW_MS + 59_999)
    assert store.take(1, "ck_b", NOW_MS + 120_000, NOW_MS + 60_000)  # the lease ran out
    assert _slot(store, 1).holder == "ck_b"


def test_a_slot_with_a_clone_on_it_is_not_taken_even_after_its_lease(store):
    assert store.take(1, "ck_a", NOW_MS + 60_000, NOW_MS)
    assert store.mark_voice(1, "ck_a", "clone_a", ready=True)

    assert not store.take(1, "ck_b", NOW_MS + 999_000, NOW_MS + 120_000)


def test_only_the_holder_marks_the_voice(store):
    assert store.take(1, "ck_a", NOW_MS + 60_000, NOW_MS)

    assert not store.mark_voice(1, "ck_b", "clone_b", ready=True)
    assert store.mark_voice(1, "ck_a", "clone_a", ready=False)
    assert (_slot(store, 1).voice_id, _slot(store, 1).voice_ready) == ("clone_a", False)


def test_a_slot_is_freed_only_as_it_was_read(store):
    assert store.take(1, "ck_a", NOW_MS + 60_000, NOW_MS)
    read = _slot(store, 1)
    assert store.mark_voice(1, "ck_a", "clone_a", ready=True)  # changed since it was read

    assert not store.free(read)
    assert store.free(_slot(store, 1))
    assert _slot(store, 1) == POOL[0]


def test_saving_the_pool_again_keeps_the_leases_of_kept_slots_and_drops_the_others(store):
    assert store.take(1, "ck_a", NOW_MS + 60_000, NOW_MS)
    again = [Slot(1, "agent_slot_1", ("tool_check", "tool_to_1", "tool_new"))]

    store.save(again)

    [slot] = store.slots()
    assert (slot.holder, slot.tool_ids) == ("ck_a", ("tool_check", "tool_to_1", "tool_new"))


def test_concurrent_takes_of_one_slot_have_one_winner(store):
    won = []

    def take(caller):
        if store.take(2, caller, NOW_MS + 60_000, NOW_MS):
            won.append(caller)

    threads = [threading.Thread(target=take, args=(f"ck_{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(won) == 1 and _slot(store, 2).holder == won[0]
