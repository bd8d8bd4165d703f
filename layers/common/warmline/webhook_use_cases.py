"""The webhook function's two routes, each one call: 3CX's incoming call and the agent's
conversation start. Each reads the caller's number (warmline.numbers), keys it, decides
(warmline.calls), records (the call's notes, its events, the metrics) and returns what the route
maps to its answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from warmline.agent_slots import AgentSlots, lease_slot
from warmline.caller_id import CallerIdCheck, IdentifiedCaller
from warmline.callers import is_withheld, mask
from warmline.calls import (
    SLOT_VARIABLE,
    CallDecision,
    CallDesk,
    CloneProgress,
    ConversationStart,
    IncomingCall,
    conversation_started_event,
    with_agents_own,
)
from warmline.handoffs import HandoffTracker
from warmline.numbers import CallerNumbers
from warmline.observability import (
    count_caller_identity,
    count_handoff_arrival,
    count_incoming_call,
    count_warm_up,
    logger,
)
from warmline.ports import EventStore
from warmline.post_call import lease_name
from warmline.prewarm import FunctionWarmer, warm_ahead


@dataclass(frozen=True)
class AnsweredCall:
    decision: CallDecision
    masked_caller: str  # "" when withheld


@dataclass(frozen=True)
class IncomingCalls:
    """POST /api/calls/incoming."""

    numbers: CallerNumbers
    desk: CallDesk
    check_clone_warmer: FunctionWarmer | None = None  # warms check_clone before the caller's press

    def answer(self, caller: str, dialled: str, threecx_call_id: str) -> AnsweredCall:
        """InvalidCallerNumber when `caller` is not a number (3CX is told: a 400); QueueUnavailable
        when the clone job could not be queued."""
        number = self.numbers.read(caller)
        key = self.numbers.key(number)
        masked = mask(number or "")
        logger.append_keys(threecx_call_id=threecx_call_id, caller=masked, caller_key=key)
        dialled_key = self.numbers.key(self.numbers.read_leniently(dialled)) or ""
        call = IncomingCall(key, number, threecx_call_id, dialled_key)
        decision = self.desk.answer(call)
        logger.info(
            "incoming call answered", extra={"voice": decision.voice, "clone_status": decision.progress}
        )
        count_incoming_call(decision)
        count_warm_up(warm_ahead(self.check_clone_warmer, decision, self.desk.clock))
        return AnsweredCall(decision, masked)


@dataclass(frozen=True)
class AgentConversation:
    """What ElevenLabs' conversation-initiation webhook says of a conversation (any field may be None)."""

    caller_id: str | None
    called_number: str | None
    call_sid: str | None
    agent_id: str | None


@dataclass(frozen=True)
class StartedConversation:
    start: ConversationStart
    dynamic_variables: dict[str, Any]  # warmline's and every other one the agent declares
    # HandoffMode=agent_transfer: the tools of the voice-slot agent leased for this call; None: the
    # agent's own (the handoff goes by REFER)
    tool_ids: list[str] | None = None


@dataclass(frozen=True)
class AgentDefaults:
    """The agent's own dynamic variables as `configure` recorded them. Read on every conversation,
    so `configure` takes effect with the next one; the last values read are kept only for when a
    read fails (AWS slow or down), since ElevenLabs fails a conversation that lacks one."""

    read: Callable[[str], dict[str, str] | None]
    _last_read: dict[str, dict[str, str]] = field(default_factory=dict)  # recorded agents only

    def of(self, agent_id: str | None) -> dict[str, str] | None:
        """None when not recorded, or not readable and never read before (the agent still gets
        warmline's variables)."""
        if not agent_id:
            return None
        try:
            recorded = self.read(agent_id)
        except Exception:
            logger.exception("could not read the agent's recorded dynamic variables: the last ones read")
            return self._last_read.get(agent_id)
        if recorded is None:
            self._last_read.pop(agent_id, None)
        else:
            self._last_read[agent_id] = recorded
        return recorded


@dataclass(frozen=True)
class ConversationStarts:
    """POST /api/agent/conversation-init: identify the caller (warmline.caller_id), choose the voice
    (warmline.calls), complete a handoff whose re-entry this is (warmline.handoffs), note the leg."""

    numbers: CallerNumbers
    desk: CallDesk
    caller_ids: CallerIdCheck
    handoffs: HandoffTracker
    events: EventStore
    agent_defaults: AgentDefaults
    agent_slots: AgentSlots | None = None  # HandoffMode=agent_transfer's voice-slot agents

    def start(self, conversation: AgentConversation) -> StartedConversation:
        number = self.numbers.read_leniently(conversation.caller_id)
        if number is None and conversation.caller_id and not is_withheld(conversation.caller_id):
            logger.warning("caller_id is not a number warmline can read: the agent's own voice")
        logger.append_keys(call_sid=conversation.call_sid, caller=mask(number or ""))
        try:
            identified = self._identify(number, conversation) if number else None
            key = identified.caller_key if identified else None
            logger.append_keys(caller_key=key)
            start = self.desk.start_conversation(key, identified.state if identified else None)
        except TimeoutError:
            # AWS did not answer (warmline.adapters.aws): a 503 would leave the agent with no
            # initiation data at all, so it gets its own voice and every variable.
            logger.exception("AWS did not answer in time: the agent's own voice")
            start = self.desk.unavailable_start()
            return StartedConversation(start, self._variables(start, conversation))
        logger.info("conversation started", extra={"voice": start.voice, "clone_status": start.progress})
        if identified is not None:
            self._note_leg(identified, start, conversation.call_sid or "")
        cloning = start.progress in (CloneProgress.PENDING, CloneProgress.CLONING) and bool(
            start.first_message
        )
        variables = self._variables(start, conversation)
        slot = lease_slot(self.agent_slots, key, cloning)
        if slot is None:
            return StartedConversation(start, variables)
        # The lease, named for ElevenLabs' post-call webhook to free it when the call ends.
        variables[SLOT_VARIABLE] = lease_name(slot.number, slot.leased_until_ms)
        return StartedConversation(start, variables, list(slot.tool_ids))

    def _variables(self, start: ConversationStart, conversation: AgentConversation) -> dict[str, Any]:
        return with_agents_own(start.dynamic_variables, self.agent_defaults.of(conversation.agent_id))

    def _identify(self, number: str, conversation: AgentConversation) -> IdentifiedCaller:
        """Did this caller come in through 3CX? Counted and reported when not (warmline.caller_id)."""
        called = self.numbers.key(self.numbers.read_leniently(conversation.called_number))
        identified = self.caller_ids.identify(
            self.numbers.key_of(number),
            (called,) if called else (),
            seen_by="conversation_init",
            reference=conversation.call_sid or "",
        )
        count_caller_identity(identified)
        return identified

    def _note_leg(self, identified: IdentifiedCaller, start: ConversationStart, reference: str) -> None:
        """The leg on the call's timeline (`warmline calls show`), stored with the completion of the
        handoff whose re-entry it is, if it is one (one request); the agent gets its answer whatever."""
        call_id = identified.call.threecx_call_id if identified.call is not None else ""
        at_ms = int(self.desk.clock.now() * 1000)
        started = conversation_started_event(identified.caller_key, start, call_id, reference, at_ms)
        also = (started,) if started is not None else ()
        try:
            arrival = self.handoffs.reentered(identified, start, reference, *also)
        except Exception:
            logger.exception("could not note the handoff's re-entry: the sweep will count it as lost")
            arrival = None
        if arrival is not None:
            count_handoff_arrival(arrival)
        elif started is not None:
            try:
                self.events.record(started)
            except Exception:
                logger.exception("conversation_started event not stored")
