"""HandoffMode=agent_transfer (experimental): the caller is handed over to their cloned voice in the
same conversation, by ElevenLabs' agent-to-agent transfer, instead of a SIP REFER and a new leg.

ElevenLabs fixes a conversation's voice when it starts, but a `transfer_to_agent` moves the
conversation to another agent, which speaks in its own voice. So `warmline elevenlabs configure`
keeps a pool of voice-slot agents (copies of the main agent in the greeting voice, each with a
workspace tool that transfers to it), and per call:

1. conversation-init leases a free slot for the caller (`AgentSlots.lease`: a conditional write,
   so concurrent first callers never share one) and gives the conversation that slot's tools;
2. the worker, when the clone is ready, PATCHes the slot agent's voice to the clone
   (`clone_ready`), recording first that the clone may be on it;
3. `check_clone` answers the transfer as in the REFER mode, naming the mode to use: agent_transfer
   when the slot speaks in the clone (`ready_slot`), else the REFER for this call (no free slot, a
   failed PATCH): counted either way;
4. the slot is released (`release`) when the call goes on without a handoff, when the same caller
   calls again, when the call ends (`end_lease`, ElevenLabs' post-call webhook: warmline.post_call),
   and when its lease expires (`sweep`, scheduled): its voice is put back to the
   placeholder first, so a cloned voice never stays on a slot agent after its call (a person's
   likeness), and a slot whose reset failed is not leased again until the sweep has reset it.

This rests on one undocumented behaviour, that the target agent's configuration is read when the
transfer happens: `warmline elevenlabs probe voice-switch` settles it, and `configure` refuses
the mode until that probe passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Protocol

from warmline.ports import Clock
from warmline.voice_provider import ProviderError

if TYPE_CHECKING:
    from warmline.housekeeping import SweepContext

AGENT_TRANSFER = "agent_transfer"
REFER = "transfer"  # the SIP REFER handoff's HandoffMode
NO_FREE_SLOT = "no_free_slot"
CLONE_NOT_ON_SLOT = "clone_not_on_slot"  # no lease, or the PATCH failed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    """One voice-slot agent, and who holds it."""

    number: int
    agent_id: str
    tool_ids: tuple[str, ...]  # a conversation leasing the slot gets these (its transfer tool among them)
    holder: str = ""  # the caller key leasing it; "" when free
    leased_until_ms: int = 0
    voice_id: str = ""  # a clone that may be on the slot agent ("" : its placeholder voice)
    voice_ready: bool = False  # the PATCH of `voice_id` onto the agent succeeded

    def lease_over(self, now_ms: int) -> bool:
        return not self.holder or self.leased_until_ms <= now_ms

    def can_lease(self, now_ms: int) -> bool:
        """Free, and its agent back in the placeholder voice."""
        return self.lease_over(now_ms) and not self.voice_id


class SlotStore(Protocol):
    """Where the pool lives (DynamoDB in AWS). Every write is conditional on who holds the slot."""

    def slots(self) -> list[Slot]: ...

    def take(self, number: int, caller_key: str, until_ms: int, now_ms: int) -> bool:
        """Lease slot `number` to `caller_key`, only if `Slot.can_lease` holds at `now_ms`."""
        ...

    def mark_voice(self, number: int, caller_key: str, voice_id: str, *, ready: bool) -> bool:
        """Record the clone on the slot, only while `caller_key` holds it."""
        ...

    def free(self, slot: Slot) -> bool:
        """Clear the holder and the voice, only if the slot is still as read (holder, lease, voice)."""
        ...

    def save(self, slots: list[Slot]) -> None:
        """The pool as `configure` made it (replaces it; leases of kept slots stay)."""
        ...


class SlotAgents(Protocol):
    """The slot agents at ElevenLabs."""

    def set_voice(self, agent_id: str, voice_id: str) -> None:
        """PATCH the agent's `tts.voice_id`; ProviderError when it failed."""
        ...


class AgentTransferLog(Protocol):
    """ElevenLabs' conversation history, as the handoff sweep reads it in this mode: no new
    conversation-init marks the handoff done, so the greeting conversation's own record does."""

    def agent_transfer_at_ms(self, conversation_id: str) -> int | None:
        """When the conversation's transfer_to_agent succeeded (epoch ms), or None."""
        ...


@dataclass(frozen=True)
class SlotPolicy:
    lease_seconds: int  # at least the longest conversation (ElevenLabs' max_duration_seconds)
    placeholder_voice_id: str  # a slot agent's voice when no call holds it (the greeting voice)


@dataclass(frozen=True)
class SweptSlots:
    released: int  # leases that had expired
    reset_failed: int  # slots whose voice could not be put back: the next sweep tries again

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class AgentSlots:
    store: SlotStore
    agents: Callable[[], SlotAgents]  # called when needed: it reads the API key
    clock: Clock
    policy: SlotPolicy

    def lease(self, caller_key: str) -> Slot | None:
        """A slot for the caller's call, or None when every slot is taken (the call hands off by
        REFER). A lease the same caller still holds (a call before this one) is freed first when no
        clone is on it; one with a clone is left to the sweep (conversation-init calls no ElevenLabs)."""
        now_ms = self._now_ms()
        slots = self.store.slots()
        for held in [
            s for s in slots if s.holder == caller_key and not s.lease_over(now_ms) and not s.voice_id
        ]:
            self.store.free(held)
        until_ms = now_ms + self.policy.lease_seconds * 1000
        for slot in _from(slots, caller_key):
            if slot.can_lease(now_ms) and self.store.take(slot.number, caller_key, until_ms, now_ms):
                return replace(slot, holder=caller_key, leased_until_ms=until_ms)
        return None

    def clone_ready(self, caller_key: str, voice_id: str) -> bool:
        """The worker: put the clone on the caller's slot agent. False when the caller holds no
        slot or the PATCH failed (check_clone then hands off by REFER)."""
        slot = self.held_by(caller_key)
        if slot is None:
            return False
        # First the record that the clone may be on the agent, so a failure after the PATCH still
        # leaves the sweep something to reset.
        if not self.store.mark_voice(slot.number, caller_key, voice_id, ready=False):
            return False
        try:
            self.agents().set_voice(slot.agent_id, voice_id)
        except ProviderError as error:
            logger.warning("slot agent %s not given the clone: %s", slot.number, error.reason)
            return False
        if self.store.mark_voice(slot.number, caller_key, voice_id, ready=True):
            return True
        # The slot was released meanwhile (the call ended): the clone must not stay on it.
        self._reset_voice(slot)
        return False

    def ready_slot(self, caller_key: str, voice_id: str) -> Slot | None:
        """check_clone: the caller's slot, if its agent speaks in this clone (PATCHed now when the
        worker has not yet: the clone may be READY before the worker's PATCH, or before the lease)."""
        slot = self.held_by(caller_key)
        if slot is None:
            return None
        if slot.voice_ready and slot.voice_id == voice_id:
            return slot
        return slot if self.clone_ready(caller_key, voice_id) else None

    def held_by(self, caller_key: str) -> Slot | None:
        """The caller's current slot: their newest lease still running."""
        now_ms = self._now_ms()
        held = [s for s in self.store.slots() if s.holder == caller_key and not s.lease_over(now_ms)]
        return max(held, key=lambda slot: slot.leased_until_ms, default=None)

    def release(self, caller_key: str) -> bool:
        """The caller's call goes on without a handoff to the slot: free it now. True when one was."""
        slot = self.held_by(caller_key)
        return slot is not None and self._release(slot)

    def end_lease(self, caller_key: str, number: int, leased_until_ms: int) -> bool:
        """The call that leased slot `number` until `leased_until_ms` has ended (ElevenLabs' post-call
        webhook): free that lease now, clone off first. False when the slot no longer holds that
        lease (already freed, or leased again since): nothing is touched."""
        for slot in self.store.slots():
            if (
                slot.number == number
                and slot.holder == caller_key
                and slot.leased_until_ms == leased_until_ms
            ):
                return self._release(slot)
        return False

    def sweep(self) -> SweptSlots:
        """Scheduled: every expired lease released, every clone left on a free slot taken off."""
        now_ms = self._now_ms()
        stale = [s for s in self.store.slots() if s.lease_over(now_ms) and (s.holder or s.voice_id)]
        released = sum(self._release(slot) for slot in stale)
        return SweptSlots(released=released, reset_failed=len(stale) - released)

    def _release(self, slot: Slot) -> bool:
        """The placeholder voice back on the agent, then the slot freed; False (slot kept as it is,
        not leasable) when the reset failed."""
        if slot.voice_id and not self._reset_voice(slot):
            return False
        return self.store.free(slot)

    def _reset_voice(self, slot: Slot) -> bool:
        try:
            self.agents().set_voice(slot.agent_id, self.policy.placeholder_voice_id)
        except ProviderError as error:
            logger.warning("slot agent %s keeps a clone for now: %s", slot.number, error.reason)
            return False
        return True

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)


def lease_slot(slots: AgentSlots | None, caller_key: str | None, cloning: bool) -> Slot | None:
    """conversation-init, for a caller whose clone is being made (`cloning`): lease a slot, whose
    tools the conversation gets in place of the agent's own (among them the transfer to the slot);
    None (the agent's own tools: the handoff goes by REFER) in the other modes, for other callers,
    and when no slot is free or the lease failed."""
    if slots is None or not caller_key or not cloning:
        return None
    try:
        slot = slots.lease(caller_key)
    except Exception:
        logger.exception("no voice slot leased: this call hands off by REFER")
        return None
    if slot is None:
        logger.warning("every voice slot is taken: this call hands off by REFER (%s)", NO_FREE_SLOT)
        return None
    return slot


def put_clone_on_slot(slots: AgentSlots, caller_key: str, voice_id: str) -> bool:
    """The worker, after READY: the clone onto the caller's slot agent, if they hold one; never raises
    (check_clone tries again, or hands off by REFER)."""
    try:
        return slots.clone_ready(caller_key, voice_id)
    except Exception:
        logger.exception("the clone was not put on the caller's voice slot")
        return False


def handoff_mode_for(slots: AgentSlots | None, caller_key: str, voice_id: str) -> tuple[str, str]:
    """check_clone, clone ready: (the handoff mode for this call, why it fell back to the REFER, or
    "")."""
    try:
        slot = slots.ready_slot(caller_key, voice_id) if slots is not None else None
    except Exception:
        logger.exception("the caller's voice slot could not be read: handing off by REFER")
        slot = None
    return (AGENT_TRANSFER, "") if slot is not None else (REFER, CLONE_NOT_ON_SLOT)


def release_slot(slots: AgentSlots | None, caller_key: str) -> None:
    """check_clone, the call goes on without a handoff (failed clone, timeout): free the slot now."""
    if slots is None:
        return
    try:
        slots.release(caller_key)
    except Exception:
        logger.exception("the caller's voice slot was not released: the sweep will")


def sweep_slots(context: SweepContext) -> SweptSlots:
    """The housekeeping sweep: expired leases released, clones taken off free slot agents."""
    if context.agent_slots is None:
        return SweptSlots(released=0, reset_failed=0)
    return context.agent_slots.sweep()


def _from(slots: list[Slot], caller_key: str) -> list[Slot]:
    """The slots in number order, starting at one the caller key picks, so concurrent callers
    mostly try different slots first instead of racing for the first free one."""
    ordered = sorted(slots, key=lambda slot: slot.number)
    if not ordered:
        return []
    start = int(caller_key[-6:], 16) % len(ordered) if _is_hex(caller_key[-6:]) else 0
    return ordered[start:] + ordered[:start]


def _is_hex(text: str) -> bool:
    return bool(text) and all(char in "0123456789abcdefABCDEF" for char in text)
