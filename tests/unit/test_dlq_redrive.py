"""`warmline dlq redrive`'s rule for one dead letter (warmline_cli.dlq.ask_again) over the fakes, on a
controlled clock: a clone ready or truly under way is left alone, a FAILED one is asked for afresh,
and a CLONING record whose worker's lease has lapsed is taken over, never a live lease."""

import pytest

from tests.fakes import FakeClock, InMemoryCloneStore, InMemoryQueue
from warmline.calls import CloneRequests, PendingPolicy, QueueUnavailable
from warmline.clone_state import CloneJob, CloneRecord, CloneStatus
from warmline_cli.dlq import ask_again

CALLER = "ck_" + "a" * 32
LETTER = CloneJob("jobdead", CALLER, requested_at_ms=1, threecx_call_id="call-1")
POLICY = PendingPolicy(greeting_timeout_seconds=25, pending_expiry_seconds=900)


class World:
    def __init__(self, queue=None):
        self.clock = FakeClock()
        self.store = InMemoryCloneStore()
        self.queue = queue or InMemoryQueue()
        self.requests = CloneRequests(self.store, self.queue, POLICY)

    def redrive(self):
        return ask_again(self.requests, LETTER, self.clock.now())

    def cloning(self, lease_seconds):
        """The record a worker leaves once it took the lease, for `lease_seconds` from now."""
        now = self.clock.now()
        assert self.store.start_clone(
            CALLER, CloneRecord(CloneStatus.PENDING, "jobdead", int(now) + 600, 1), now
        )
        now_ms = int(now * 1000)
        leased = self.store.take_lease(
            CALLER, lease_token="worker", now_ms=now_ms, lease_expires_at_ms=now_ms + lease_seconds * 1000
        )
        assert leased is not None


@pytest.fixture
def world():
    return World()


def test_a_live_lease_is_under_way_and_once_it_lapses_its_job_is_queued_again(world):
    world.cloning(lease_seconds=120)

    assert world.redrive() == "a clone is ready or under way"
    assert world.queue.jobs == [] and world.store.clones[CALLER].lease_token == "worker"

    world.clock.advance(121)  # the worker died: its lease lapses while the record still lives
    assert world.redrive() == "its worker's lease has lapsed; clone job queued again"

    assert world.queue.jobs == [CloneJob("jobdead", CALLER, 1, "")]  # the record's job: found by name
    record = world.store.clones[CALLER]
    assert (record.status, record.lease_token, record.lease_expires_at_ms) == (CloneStatus.PENDING, "", 0)
    assert record.expires_at == int(world.clock.now()) + POLICY.pending_expiry_seconds
    assert world.store.take_lease(
        CALLER, lease_token="next", now_ms=int(world.clock.now() * 1000), lease_expires_at_ms=0
    )


def test_a_pending_job_and_a_ready_clone_are_left_alone(world):
    now = world.clock.now()
    world.store.clones[CALLER] = CloneRecord(CloneStatus.PENDING, "jobq", int(now) + 600, 1)
    assert world.redrive() == "a clone is ready or under way"
    world.store.clones[CALLER] = CloneRecord(
        CloneStatus.READY, "jobq", int(now) + 600, 1, cloned_voice_id="v1"
    )
    assert world.redrive() == "a clone is ready or under way"
    assert world.queue.jobs == [] and world.store.clones[CALLER].cloned_voice_id == "v1"


def test_a_failed_clone_and_an_expired_dead_lease_are_asked_for_afresh(world):
    now = world.clock.now()
    world.store.clones[CALLER] = CloneRecord(CloneStatus.FAILED, "jobdead", int(now) + 300, 1)
    assert world.redrive() == "clone job queued"
    world.store.clones.clear()
    world.cloning(lease_seconds=60)
    world.clock.advance(601)  # the record expired too: no record, as a call sees it

    assert world.redrive() == "clone job queued"

    assert len(world.queue.jobs) == 2 and "jobdead" not in {job.job_id for job in world.queue.jobs}


def test_a_take_over_the_queue_refuses_leaves_no_pending_record_behind():
    world = World(queue=InMemoryQueue(fail=True))
    world.cloning(lease_seconds=60)
    world.clock.advance(61)

    with pytest.raises(QueueUnavailable):
        world.redrive()

    assert CALLER not in world.store.clones  # the next call or redrive asks afresh
