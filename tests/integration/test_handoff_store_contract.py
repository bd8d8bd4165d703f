"""The handoff store behaves the same in DynamoDB (moto) and in the fake: a call's handoff is claimed
once, its mark lands on the clone record with it, it is settled once, and the sweep finds the
overdue ones in the day's partition."""

import threading
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes import InMemoryCloneStore, InMemoryEvents, InMemoryHandoffs
from warmline.adapters.dynamodb import DynamoEventStore, DynamoHandoffStore
from warmline.clone_state import CloneRecord, CloneStatus, Handoff, ReadyClone
from warmline.events import Event, EventType

CALLER = "ck_" + "d" * 32
NOW_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z
DAY_MS = 86_400_000


@dataclass
class Stores:
    clones: Any
    handoffs: Any
    events: Any  # () -> the events stored around NOW_MS

    def ready(self, voice="voice1"):
        now = NOW_MS // 1000
        pending = CloneRecord(CloneStatus.PENDING, "job1", expires_at=now + 900, requested_at_ms=NOW_MS)
        assert self.clones.start_clone(CALLER, pending, now)
        lease = {"lease_token": "t", "now_ms": NOW_MS, "lease_expires_at_ms": NOW_MS + 60_000}
        assert self.clones.take_lease(CALLER, **lease)
        assert self.clones.mark_ready(CALLER, lease_token="t", clone=ReadyClone(voice, NOW_MS, 1, now + 3600))


@pytest.fixture(params=["dynamodb", "fake"])
def stores(request):
    if request.param == "fake":
        clones, events = InMemoryCloneStore(), InMemoryEvents()
        return Stores(clones, InMemoryHandoffs(clones, events), lambda: list(events.events))
    stack = request.getfixturevalue("stack")
    client = stack.client("dynamodb")
    events = DynamoEventStore(client, stack.table, 60)
    return Stores(
        stack.store,
        DynamoHandoffStore(client, stack.table, 60),
        lambda: events.between(NOW_MS - 3 * DAY_MS, NOW_MS + 3 * DAY_MS),
    )


def handoff(call="call-1", at_ms=NOW_MS, verified=False):
    return Handoff(CALLER, call, at_ms, "transfer", "voice1", "3cx-1", "conv_1", "", verified)


def event(kind, at_ms=NOW_MS, **data):
    return Event(kind, at_ms, CALLER, data)


def test_a_calls_handoff_is_claimed_once_with_its_mark_and_event(stores):
    stores.ready()

    assert stores.handoffs.expect(handoff(), event(EventType.HANDOFF, NOW_MS, n=1))
    assert not stores.handoffs.expect(
        handoff(at_ms=NOW_MS + 400), event(EventType.HANDOFF, NOW_MS + 400, n=2)
    )
    assert stores.handoffs.expect(
        handoff("call-2", NOW_MS + 500), event(EventType.HANDOFF, NOW_MS + 500, n=3)
    )

    assert [e.data["n"] for e in stores.events()] == [1, 3]
    clone = stores.clones.get_clone(CALLER)
    assert (clone.handoff_at_ms, clone.handoff_call_id, clone.verified_handoff_at_ms) == (
        NOW_MS + 500,
        "call-2",
        0,
    )


def test_without_a_clone_record_nothing_is_claimed(stores):
    assert not stores.handoffs.expect(handoff(), event(EventType.HANDOFF))

    assert stores.events() == [] and stores.handoffs.overdue(NOW_MS + DAY_MS, 10) == []
    assert stores.clones.get_clone(CALLER) is None


def test_concurrent_claims_of_one_call_have_one_winner(stores):
    stores.ready()
    won = []

    def claim(n):
        if stores.handoffs.expect(handoff(at_ms=NOW_MS + n), event(EventType.HANDOFF, n=n)):
            won.append(n)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(won) == 1
    assert [e.data["n"] for e in stores.events()] == won
    assert stores.clones.get_clone(CALLER).handoff_at_ms == NOW_MS + won[0]


def test_a_verified_handoff_is_claimed_once_by_the_next_leg(stores):
    stores.ready()
    stores.handoffs.expect(handoff(verified=True), event(EventType.HANDOFF))

    assert not stores.clones.claim_verified_handoff(CALLER, "voice2", since_ms=0, at_ms=NOW_MS + 1)
    assert not stores.clones.claim_verified_handoff(CALLER, "voice1", since_ms=NOW_MS + 1, at_ms=NOW_MS + 1)
    assert stores.clones.claim_verified_handoff(CALLER, "voice1", since_ms=NOW_MS, at_ms=NOW_MS + 7)
    assert not stores.clones.claim_verified_handoff(CALLER, "voice1", since_ms=0, at_ms=NOW_MS + 8)
    clone = stores.clones.get_clone(CALLER)
    assert (clone.verified_handoff_at_ms, clone.last_used_at_ms, clone.handoff_at_ms) == (
        0,
        NOW_MS + 7,
        NOW_MS,
    )


def test_an_unverified_handoff_leaves_nothing_to_claim(stores):
    stores.ready()
    stores.handoffs.expect(handoff(), event(EventType.HANDOFF))

    assert not stores.clones.claim_verified_handoff(CALLER, "voice1", since_ms=0, at_ms=NOW_MS)
    assert stores.clones.get_clone(CALLER).handoff_at_ms == NOW_MS


def test_a_handoff_is_settled_once_with_its_event(stores):
    stores.ready()
    stores.handoffs.expect(handoff(), event(EventType.HANDOFF))

    assert stores.handoffs.settle(handoff().key, event(EventType.HANDOFF_COMPLETED, NOW_MS + 900))
    assert not stores.handoffs.settle(handoff().key, event(EventType.HANDOFF_LOST, NOW_MS + 60_000))

    assert [e.type for e in stores.events()] == [EventType.HANDOFF, EventType.HANDOFF_COMPLETED]
    assert stores.handoffs.overdue(NOW_MS + DAY_MS, 10) == []


def test_overdue_are_the_expected_ones_made_before_the_time_oldest_first_back_to_the_day_before(stores):
    stores.ready()
    made = [
        handoff("two-days-ago", NOW_MS - 2 * DAY_MS),
        handoff("yesterday", NOW_MS - DAY_MS + 1),
        handoff("earlier", NOW_MS - 60_000),
        handoff("due-now", NOW_MS - 1),
        handoff("not-yet", NOW_MS),
        handoff("settled", NOW_MS - 30_000),
    ]
    for each in made:
        assert stores.handoffs.expect(each, event(EventType.HANDOFF, each.at_ms))
    stores.handoffs.settle(made[-1].key, event(EventType.HANDOFF_COMPLETED))

    overdue = stores.handoffs.overdue(NOW_MS, 10)

    assert overdue == [made[1], made[2], made[3]]  # every field comes back as it was written
    assert stores.handoffs.overdue(NOW_MS, 2) == [made[1], made[2]]
