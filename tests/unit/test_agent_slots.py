"""HandoffMode=agent_transfer's voice-slot agents (warmline.agent_slots): leased once per call,
given the clone by the worker, answered by check_clone only when the slot speaks in it, and never
left with a cloned voice after the call (released early, on a new call of the caller, or swept)."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.agent_slot_fakes import FakeSlotAgents, FakeSlotStore
from tests.fakes import FakeClock
from tests.unit.conftest import CALLER
from warmline.agent_slots import AgentSlots, Slot, SlotPolicy, SweptSlots
from warmline.events import EventType
from warmline.handoffs import settle_overdue_handoffs
from warmline.housekeeping import SweepContext
from warmline.ivr import CheckRequest, IvrDesk, IvrPolicy, IvrPorts
from warmline.outcomes import NextAction
from warmline.settings import Settings

PLACEHOLDER = "voice_greeting"
LEASE_SECONDS = 660


@pytest.fixture
def pool():
    store, agents, clock = FakeSlotStore(), FakeSlotAgents(), FakeClock()
    store.save([Slot(n, f"agent_slot_{n}", ("tool_check", f"tool_to_{n}")) for n in (1, 2)])
    return AgentSlots(store, lambda: agents, clock, SlotPolicy(LEASE_SECONDS, PLACEHOLDER)), agents, clock


def test_each_caller_leases_a_slot_of_their_own_until_none_is_left(pool):
    slots, _agents, _clock = pool

    first, second, third = slots.lease("ck_a"), slots.lease("ck_b"), slots.lease("ck_c")

    assert first is not None and second is not None and first.number != second.number
    assert third is None  # this call hands off by REFER


def test_concurrent_first_callers_never_share_a_slot(pool):
    slots, _agents, _clock = pool

    with ThreadPoolExecutor(max_workers=6) as threads:
        leased = list(threads.map(slots.lease, [f"ck_{n:06x}" for n in range(6)]))

    taken = [slot.number for slot in leased if slot is not None]
    assert sorted(taken) == [1, 2]
    assert {slot.holder for slot in slots.store.slots()} == {s.holder for s in leased if s is not None}


def test_the_worker_puts_the_clone_on_the_callers_slot_and_check_clone_finds_it(pool):
    slots, agents, _clock = pool
    slot = slots.lease("ck_a")

    assert slots.clone_ready("ck_a", "clone_a")

    assert agents.voices[slot.agent_id] == "clone_a"
    assert slots.ready_slot("ck_a", "clone_a").number == slot.number
    assert agents.patches == [(slot.agent_id, "clone_a")]  # check_clone found it there: no second PATCH


def test_check_clone_puts_the_clone_on_the_slot_itself_when_it_is_ready_before_the_worker_did(pool):
    slots, agents, _clock = pool
    slot = slots.lease("ck_a")

    assert slots.ready_slot("ck_a", "clone_a").number == slot.number

    assert agents.voices[slot.agent_id] == "clone_a"


def test_check_clone_finds_no_slot_when_its_patch_fails(pool):
    slots, agents, _clock = pool
    agents.failing.add(slots.lease("ck_a").agent_id)

    assert slots.ready_slot("ck_a", "clone_a") is None


def test_a_caller_without_a_slot_gets_no_patch(pool):
    slots, agents, _clock = pool

    assert not slots.clone_ready("ck_nobody", "clone_x")
    assert agents.patches == []


def test_a_failed_patch_leaves_the_call_to_the_refer_and_the_sweep_resets_the_slot(pool):
    slots, agents, clock = pool
    slot = slots.lease("ck_a")
    agents.failing.add(slot.agent_id)

    assert not slots.clone_ready("ck_a", "clone_a")
    assert slots.ready_slot("ck_a", "clone_a") is None

    agents.failing.clear()
    clock.advance(LEASE_SECONDS)
    assert slots.sweep() == SweptSlots(released=1, reset_failed=0)
    assert agents.voices[slot.agent_id] == PLACEHOLDER  # the PATCH may have landed: reset anyway


def test_releasing_puts_the_placeholder_voice_back_before_freeing_the_slot(pool):
    slots, agents, _clock = pool
    slot = slots.lease("ck_a")
    slots.clone_ready("ck_a", "clone_a")

    assert slots.release("ck_a")

    assert agents.voices[slot.agent_id] == PLACEHOLDER
    assert slots.held_by("ck_a") is None
    assert all(s.can_lease(0) for s in slots.store.slots())


def test_a_slot_whose_reset_failed_is_not_leased_again_until_the_sweep_resets_it(pool):
    slots, agents, clock = pool
    slot = slots.lease("ck_a")
    slots.clone_ready("ck_a", "clone_a")
    agents.failing.add(slot.agent_id)

    assert not slots.release("ck_a")
    clock.advance(LEASE_SECONDS)
    assert slots.sweep() == SweptSlots(released=0, reset_failed=1)
    leased = [slots.lease(f"ck_{n}") for n in range(3)]
    assert [s.number for s in leased if s is not None] == [n for n in (1, 2) if n != slot.number]

    agents.failing.clear()
    assert slots.sweep() == SweptSlots(released=1, reset_failed=0)
    assert agents.voices[slot.agent_id] == PLACEHOLDER


def test_a_second_call_of_the_same_caller_frees_the_first_calls_slot_without_a_clone(pool):
    slots, agents, _clock = pool
    slots.lease("ck_a")

    slots.lease("ck_a")

    assert [s.holder for s in slots.store.slots()].count("ck_a") == 1
    assert agents.patches == []  # conversation-init calls no ElevenLabs


def test_a_slot_with_a_clone_from_an_earlier_call_waits_for_the_sweep_and_the_new_one_counts(
    pool,
):
    slots, agents, clock = pool
    first = slots.lease("ck_a")
    slots.clone_ready("ck_a", "clone_a")
    clock.advance(1)

    again = slots.lease("ck_a")

    assert again is not None and again.number != first.number
    assert agents.patches == [(first.agent_id, "clone_a")]
    assert slots.held_by("ck_a").number == again.number
    clock.advance(LEASE_SECONDS)
    assert slots.sweep() == SweptSlots(released=2, reset_failed=0)
    assert agents.voices[first.agent_id] == PLACEHOLDER


def test_the_sweep_releases_expired_leases_only(pool):
    slots, agents, clock = pool
    slots.lease("ck_a")
    slots.clone_ready("ck_a", "clone_a")
    clock.advance(LEASE_SECONDS - 1)
    slots.lease("ck_b")

    assert slots.sweep() == SweptSlots(released=0, reset_failed=0)
    clock.advance(1)
    assert slots.sweep() == SweptSlots(released=1, reset_failed=0)
    assert slots.held_by("ck_a") is None and slots.held_by("ck_b") is not None
    assert "clone_a" not in agents.voices.values()


def test_a_clone_patched_after_the_slot_was_released_is_taken_off_again(pool):
    slots, agents, _clock = pool
    slot = slots.lease("ck_a")
    real_set_voice = agents.set_voice

    def released_meanwhile(agent_id, voice_id):
        real_set_voice(agent_id, voice_id)
        if voice_id == "clone_a":
            slots.release("ck_a")  # the call ended while the worker's PATCH was on its way

    agents.set_voice = released_meanwhile

    assert not slots.clone_ready("ck_a", "clone_a")
    assert agents.voices[slot.agent_id] == PLACEHOLDER


# ---- check_clone and the handoff sweep in HandoffMode=agent_transfer ---------------------------------


class FakeTransferLog:
    """The greeting conversations' history: {conversation id: when its agent transfer succeeded}."""

    def __init__(self):
        self.transferred: dict[str, int] = {}

    def agent_transfer_at_ms(self, conversation_id):
        return self.transferred.get(conversation_id)


@pytest.fixture
def transfer_mode(pool, store, events, clock):
    from tests.fakes import InMemoryHandoffs
    from tests.unit.test_calls import ready_record

    slots, agents, _clock = pool
    slots = AgentSlots(slots.store, lambda: agents, clock, slots.policy)  # on the handoff tests' clock
    store.clones[CALLER] = ready_record(clock)
    settings = Settings(handoff_mode="agent_transfer")
    ports = IvrPorts(store, events, InMemoryHandoffs(store, events), clock, None, slots)
    return IvrDesk(ports, IvrPolicy.from_settings(settings)), slots, agents, settings


def _press(desk):
    return desk.check(CheckRequest(CALLER, "+442079460000", "1", "conv_greeting"))


def test_check_clone_hands_a_caller_with_a_slot_over_by_agent_transfer(transfer_mode, store):
    desk, slots, agents, _settings = transfer_mode
    slot = slots.lease(CALLER)

    answer = _press(desk)

    assert (answer.next_action, answer.handoff_mode, answer.handoff_fallback) == (
        NextAction.TRANSFER_TO_AGENT,
        "agent_transfer",
        "",
    )
    assert agents.voices[slot.agent_id] == store.clones[CALLER].cloned_voice_id


@pytest.mark.parametrize("why", ["no slot", "patch fails"])
def test_check_clone_falls_back_to_the_refer_without_a_slot_speaking_in_the_clone(transfer_mode, events, why):
    desk, slots, agents, _settings = transfer_mode
    if why == "patch fails":
        agents.failing.add(slots.lease(CALLER).agent_id)

    answer = _press(desk)

    assert (answer.next_action, answer.handoff_mode) == (NextAction.TRANSFER_TO_AGENT, "transfer")
    assert answer.handoff_fallback == "clone_not_on_slot"
    [handoff] = events.of_type(EventType.HANDOFF)
    assert (handoff.data["handoff_mode"], handoff.data["handoff_fallback"]) == (
        "transfer",
        "clone_not_on_slot",
    )


def test_the_sweep_completes_an_agent_transfer_the_history_shows_and_counts_the_others_lost(
    transfer_mode, store, events, clock
):
    desk, slots, _agents, settings = transfer_mode
    slots.lease(CALLER)
    _press(desk)
    [handoff] = events.of_type(EventType.HANDOFF)
    log = FakeTransferLog()
    log.transferred["conv_greeting"] = handoff.at_ms + 1000
    clock.advance(settings.handoff_window_seconds + 1)
    context = SweepContext(
        store, desk.ports.handoffs, lambda: None, clock, settings, lambda: 100.0, slots, lambda: log
    )

    report = settle_overdue_handoffs(context)

    assert (report.completed_by_agent_transfer, report.lost) == (1, 0)
    [completed] = events.of_type(EventType.HANDOFF_COMPLETED)
    assert completed.data["transfer_ms"] == 1000 and completed.data["handoff_mode"] == "agent_transfer"


def test_the_sweep_counts_an_agent_transfer_the_history_does_not_show_as_lost(
    transfer_mode, store, events, clock
):
    desk, slots, _agents, settings = transfer_mode
    slots.lease(CALLER)
    _press(desk)
    clock.advance(settings.handoff_window_seconds + 1)
    context = SweepContext(
        store, desk.ports.handoffs, lambda: None, clock, settings, lambda: 100.0, slots, FakeTransferLog
    )

    report = settle_overdue_handoffs(context)

    assert (report.completed_by_agent_transfer, report.lost) == (0, 1)
    [lost] = events.of_type(EventType.HANDOFF_LOST)
    assert lost.data["handoff_mode"] == "agent_transfer"
