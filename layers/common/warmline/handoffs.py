"""Every handoff is seen to complete, or is counted as lost.

The switch to the cloned voice is a new leg that warmline does not control: the agent transfers the
call (a SIP REFER to 3CX), 3CX routes it back to the agent, and the new conversation's
conversation-init reaches warmline with the caller's number (`HandoffMode=transfer`); or ElevenLabs
places an outbound call in the cloned voice, whose conversation-init reaches warmline
(`HandoffMode=outbound`); or the agent transfers the same conversation to the caller's voice-slot
agent (`HandoffMode=agent_transfer`: no conversation-init comes, so the sweep reads the greeting
conversation's history for the transfer's success, and counts the handoff completed with its
transfer time, or lost). Any step can fail, and then the caller stays in the greeting voice or is
dropped. So:

- **Expected, once per call.** When check_clone first answers `transfer_to_agent` for a call, it
  claims the call's handoff with a conditional write keyed by the call (`call_of`): of concurrent
  checks of one call exactly one wins, and only its handoff is counted, noted as expected and marked
  on the clone record (`HandoffStore.expect`).
- **Completed.** The caller's conversation-init in the cloned voice within `handoff_window_seconds`
  takes the handoff off the expected ones (a conditional delete) and stores the transfer time: from
  the IVR's answer to the re-entry, the caller-visible cost of the transfer leg (`HandoffTracker`).
  A caller with a PIN gets the clone on the re-entry only by claiming the verified mark
  (warmline.verification), so only that conversation completes the handoff; a re-entry whose caller
  ID was not passed through completes it when warmline ties it to the caller's call (correlated,
  warmline.caller_id), and otherwise gets the default voice and the handoff is lost.
- **Lost.** The housekeeping sweep (`settle_overdue_handoffs`) reads the handoffs still expected past
  the window, oldest first and at most `handoff_sweep_max` per run, from the day's partition of
  expected handoffs (never a scan: a completed handoff has left it), and takes each off with the
  same conditional delete: a lost handoff is counted once, at worst the window plus the schedule's
  period after the IVR's answer, and a re-entry racing the sweep is either completed or lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from warmline.caller_id import IdentifiedCaller
from warmline.calls import ConversationStart, Voice
from warmline.clone_state import CloneRecord, Handoff, HandoffKey, IncomingNote
from warmline.events import Event, EventType
from warmline.housekeeping import SWEEP_MARGIN_SECONDS, SweepContext
from warmline.ports import Clock, HandoffStore
from warmline.settings import Settings

logger = logging.getLogger(__name__)

LIKELY_CAUSES = {
    "transfer": (
        "the 3CX trunk refused the agent's SIP REFER, the Refer-To number does not route back to "
        "the agent, or the re-entry leg's caller ID was not passed through (see CallerIdNotPassedThrough)"
    ),
    "outbound": (
        "the caller did not answer the outbound call in the cloned voice, the call failed after "
        "ElevenLabs accepted it, or its conversation-init did not reach warmline"
    ),
    "agent_transfer": (
        "the agent did not call the warmline_handoff_to_clone tool, or its transfer to the voice-slot "
        "agent failed (the greeting conversation's history shows no transfer_to_agent success)"
    ),
}
TROUBLESHOOTING = "docs/troubleshooting.md, 'Lost handoffs'"


def call_of(last_call: IncomingNote | None, conversation_id: str, clone: CloneRecord) -> str:
    """What identifies the caller's call, so that its handoff is counted once however many checks
    race: the caller's incoming call through 3CX (its arrival time tells calls apart even when 3CX
    sends no call id); without one, the agent's conversation; without that, the call that last
    waited for this clone."""
    if last_call is not None:
        return f"3cx:{last_call.at_ms}:{last_call.threecx_call_id}"
    if conversation_id:
        return f"conversation:{conversation_id}"
    return f"clone:{clone.call_started_at_ms}:{clone.threecx_call_id}"


@dataclass(frozen=True)
class Arrival:
    """A handoff that completed: its re-entry came, `transfer_ms` after the IVR's answer."""

    key: HandoffKey
    transfer_ms: int


@dataclass(frozen=True)
class HandoffTracker:
    """Completes the expected handoff of a caller whose re-entry arrives (see the module docstring)."""

    store: HandoffStore
    clock: Clock
    settings: Settings

    def reentered(
        self, identified: IdentifiedCaller, start: ConversationStart, reference: str, *also: Event
    ) -> Arrival | None:
        """A conversation starts: if it is the caller's in the cloned voice within the window of
        their latest handoff, that handoff is complete. `reference`: ElevenLabs' call_sid, if any;
        `also`: events stored with the completion, when it is one (None: they are not stored)."""
        clone = identified.state.clone if identified.state is not None else None
        if identified.caller_key is None or start.voice is not Voice.CLONED or clone is None:
            return None
        if not clone.handoff_call_id:
            return None
        key = HandoffKey(identified.caller_key, clone.handoff_call_id, clone.handoff_at_ms)
        now_ms = int(self.clock.now() * 1000)
        transfer_ms = now_ms - key.at_ms
        if not 0 <= transfer_ms <= self.settings.handoff_window_seconds * 1000:
            return None  # a later conversation, or a re-entry past the window: the sweep counts it lost
        data = {
            "call_id": key.call_id,
            "handoff_at_ms": key.at_ms,
            "transfer_ms": transfer_ms,
            "handoff_mode": self.settings.handoff_mode,
            "caller_id": identified.resolution.value,
            "reference": reference,
        }
        event = Event(EventType.HANDOFF_COMPLETED, now_ms, key.caller_key, data)
        if not self.store.settle(key, event, *also):
            logger.info("a conversation in the cloned voice for a handoff already settled")
            return None
        logger.info("handoff completed", extra={"call_id": key.call_id, "transfer_ms": transfer_ms})
        return Arrival(key, transfer_ms)


@dataclass
class HandoffSweepReport:
    overdue: int = 0  # handoffs still expected past their window, read this run
    lost: int = 0  # of those, counted as lost now
    completed_meanwhile: int = 0  # their re-entry took them off between the read and the settling
    left_for_next_run: int = 0  # read, but the run ran out of time
    # HandoffMode=agent_transfer: no re-entry comes; the conversation's history shows the transfer.
    completed_by_agent_transfer: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def settle_overdue_handoffs(context: SweepContext) -> HandoffSweepReport:
    """One run of the scheduled sweep that counts the handoffs whose re-entry never came."""
    settings = context.settings
    now_ms = int(context.clock.now() * 1000)
    due_before_ms = now_ms - settings.handoff_window_seconds * 1000
    overdue = context.handoffs.overdue(due_before_ms, settings.handoff_sweep_max)
    report = HandoffSweepReport(overdue=len(overdue))
    for handoff in overdue:
        transferred_at_ms = _agent_transfer_at_ms(context, handoff)
        if context.time_left() < SWEEP_MARGIN_SECONDS:
            report.left_for_next_run += 1
        elif transferred_at_ms is not None:
            completed = _transferred_event(handoff, transferred_at_ms, now_ms)
            report.completed_by_agent_transfer += context.handoffs.settle(handoff.key, completed)
        elif context.handoffs.settle(handoff.key, _lost_event(handoff, now_ms, settings)):
            report.lost += 1
            _warn_lost(handoff, now_ms - handoff.at_ms, settings)
        else:
            report.completed_meanwhile += 1
    return report


def _agent_transfer_at_ms(context: SweepContext, handoff: Handoff) -> int | None:
    """HandoffMode=agent_transfer: when the greeting conversation's transfer to the voice slot
    succeeded, as ElevenLabs' history says; None when it did not, or cannot be read (lost)."""
    if handoff.mode != "agent_transfer" or context.agent_transfers is None:
        return None
    try:
        return context.agent_transfers().agent_transfer_at_ms(handoff.greeting_conversation_id)
    except Exception:
        logger.exception("the conversation's history could not be read: the handoff counts as lost")
        return None


def _transferred_event(handoff: Handoff, transferred_at_ms: int, now_ms: int) -> Event:
    data = {
        "call_id": handoff.call_id,
        "handoff_at_ms": handoff.at_ms,
        # The history's times are whole seconds into the call: this is that coarse.
        "transfer_ms": max(0, transferred_at_ms - handoff.at_ms),
        "handoff_mode": handoff.mode,
        "caller_id": "conversation_history",
        "reference": handoff.greeting_conversation_id,
    }
    return Event(EventType.HANDOFF_COMPLETED, now_ms, handoff.caller_key, data)


def _lost_event(handoff: Handoff, now_ms: int, settings: Settings) -> Event:
    data = {
        "call_id": handoff.call_id,
        "threecx_call_id": handoff.threecx_call_id,
        "handoff_mode": handoff.mode,
        "handoff_at_ms": handoff.at_ms,
        "waited_ms": now_ms - handoff.at_ms,
        "window_seconds": settings.handoff_window_seconds,
        "greeting_conversation_id": handoff.greeting_conversation_id,
        "agent_conversation_id": handoff.agent_conversation_id,
        "verified": handoff.verified,
    }
    return Event(EventType.HANDOFF_LOST, now_ms, handoff.caller_key, data)


def _warn_lost(handoff: Handoff, waited_ms: int, settings: Settings) -> None:
    logger.warning(
        "handoff lost: check_clone answered transfer_to_agent %.1f s ago and the caller's conversation "
        "in the cloned voice did not come within %d s; likely causes: %s (%s)",
        waited_ms / 1000,
        settings.handoff_window_seconds,
        LIKELY_CAUSES.get(handoff.mode, LIKELY_CAUSES["transfer"]),
        TROUBLESHOOTING,
        extra={
            "caller_key": handoff.caller_key,
            "call_id": handoff.call_id,
            "threecx_call_id": handoff.threecx_call_id,
            "handoff_mode": handoff.mode,
        },
    )
