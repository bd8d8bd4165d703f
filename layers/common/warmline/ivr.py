"""The caller pressed a key while the clone is prepared: wait a little for it, then say what next.

The wait is bounded (at most 8 s: the caller hears the agent again within 10 s) and reads the
clone record with strongly consistent reads, polling quickly at first and backing off, so a clone
that becomes ready is noticed within one poll interval. A wait that ends before the clone answers
`check_again`: the agent reassures the caller and calls check_clone again by itself, so the caller
presses 1 once, until the clone is ready or the greeting timeout gives the fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from warmline.agent_slots import AGENT_TRANSFER, AgentSlots, handoff_mode_for, release_slot
from warmline.caller_id import CallerIdCheck, IdentifiedCaller
from warmline.calls import CloneProgress, Voice, dynamic_variables
from warmline.clone_state import CallerState, CloneRecord, Handoff, IncomingNote
from warmline.events import Event, EventType
from warmline.handoffs import call_of
from warmline.outcomes import IvrOutcome, IvrStatus, NextAction, PinResult
from warmline.ports import Clock, CloneStore, EventStore, HandoffStore
from warmline.settings import Settings
from warmline.verification import NO_PIN, PinCheck, PinEntry, PinPolicy, PinVerdict
from warmline.voice_provider import AgentCall, AgentCalls, ProviderError

logger = logging.getLogger(__name__)


SAY = {
    NextAction.TRANSFER_TO_AGENT: "Your assistant is ready. Connecting you now.",
    NextAction.CHECK_AGAIN: "Still preparing your assistant, one moment please.",
    NextAction.OFFER_VOICEMAIL: "Of course. Please leave your message after the tone.",
    NextAction.CONTINUE_WITH_DEFAULT_VOICE: "Thanks for your patience. Let's carry on together now.",
    NextAction.REPEAT_MENU: "Sorry, I didn't catch that. Press 1 to continue, or 2 to leave a message.",
}
NOT_VERIFIED_SAY = "I couldn't verify your PIN, so let's carry on together now."
# The greeting timeout passed and the operator chose voicemail (GreetingTimeoutFallback).
TIMEOUT_VOICEMAIL_SAY = "Sorry to keep you waiting. Please leave your message after the tone."
TIMEOUT_FALLBACKS = {
    "default_voice": NextAction.CONTINUE_WITH_DEFAULT_VOICE,
    "voicemail": NextAction.OFFER_VOICEMAIL,
}
CHECK_KEY = "1"
VOICEMAIL_KEY = "2"
WAITING_KEYS = (CHECK_KEY, VOICEMAIL_KEY)  # the keys whose answer depends on the caller's clone


@dataclass(frozen=True)
class IvrAnswer:
    status: IvrStatus
    next_action: NextAction
    wait_time_ms: int
    cloned_voice_id: str = ""
    handoff_mode: str = ""
    pin: PinVerdict | None = None  # None: no PIN check (not key 1)
    handoff_counted: bool = False  # this answer is the call's first handoff (warmline.handoffs)
    timed_out: bool = False  # the greeting timeout passed: the operator's fallback
    # HandoffMode=agent_transfer fell back to the REFER: why (warmline.agent_slots)
    handoff_fallback: str = ""
    identified: IdentifiedCaller | None = None  # None: the caller was not looked up

    @property
    def clone_ready(self) -> bool:
        return self.status is IvrStatus.READY

    @property
    def say(self) -> str:
        if self.status is IvrStatus.NOT_VERIFIED:
            return NOT_VERIFIED_SAY
        if self.timed_out and self.next_action is NextAction.OFFER_VOICEMAIL:
            return TIMEOUT_VOICEMAIL_SAY
        return SAY[self.next_action]

    @property
    def outcome(self) -> IvrOutcome | None:
        """None when the caller did not wait (voicemail, an unknown key, a PIN not accepted)."""
        if self.status is IvrStatus.NOT_VERIFIED:
            return None
        if self.timed_out:
            return IvrOutcome.TIMEOUT
        if self.next_action in (NextAction.OFFER_VOICEMAIL, NextAction.REPEAT_MENU):
            return None
        if self.status is IvrStatus.READY:
            return (
                IvrOutcome.READY
                if self.next_action is NextAction.TRANSFER_TO_AGENT
                else IvrOutcome.HANDOFF_FAILED
            )
        if self.status is IvrStatus.CLONING:
            return IvrOutcome.ASK_AGAIN if self.next_action is NextAction.CHECK_AGAIN else IvrOutcome.TIMEOUT
        return IvrOutcome.FAILED if self.status is IvrStatus.FAILED else IvrOutcome.UNAVAILABLE


def _status_of(clone: CloneRecord | None, now: float) -> IvrStatus:
    if clone is None or not clone.is_live(now):
        return IvrStatus.UNAVAILABLE
    if clone.is_ready(now):
        return IvrStatus.READY
    if clone.has_failed(now):
        return IvrStatus.FAILED
    return IvrStatus.CLONING


@dataclass(frozen=True)
class WaitPolicy:
    """How long key 1 waits for the clone, and how often it reads the record meanwhile: quickly at
    first, then backing off by half up to `max_poll_seconds`."""

    max_wait_seconds: float
    first_poll_seconds: float
    max_poll_seconds: float
    greeting_timeout_seconds: float  # no wait goes past the greeting's end

    def next_poll(self, interval: float) -> float:
        return min(interval * 1.5, self.max_poll_seconds)


@dataclass(frozen=True)
class IvrPolicy:
    wait: WaitPolicy
    pins: PinPolicy
    handoff_mode: Literal["transfer", "outbound", "agent_transfer"]
    handoff_message: str
    timeout_fallback: NextAction = NextAction.CONTINUE_WITH_DEFAULT_VOICE  # GreetingTimeoutFallback

    @classmethod
    def from_settings(cls, settings: Settings) -> IvrPolicy:
        wait = WaitPolicy(
            settings.ivr_max_wait_seconds,
            settings.ivr_first_poll_seconds,
            settings.ivr_max_poll_seconds,
            settings.greeting_timeout_seconds,
        )
        pins = PinPolicy.from_settings(settings)
        fallback = TIMEOUT_FALLBACKS[settings.greeting_timeout_fallback]
        return cls(wait, pins, settings.handoff_mode, settings.handoff_message, fallback)


def wait_for_clone(
    caller_key: str, *, store: CloneStore, clock: Clock, policy: WaitPolicy
) -> tuple[CloneRecord | None, float]:
    """Poll until the clone is ready or failed, the wait is used up, or the greeting time is over.

    Returns the last record read and the time the wait ended.
    """
    started = clock.now()
    deadline = started + policy.max_wait_seconds
    interval = policy.first_poll_seconds
    while True:
        clone = store.get_clone(caller_key)
        now = clock.now()
        if _status_of(clone, now) is not IvrStatus.CLONING:
            return clone, now
        assert clone is not None
        greeting_over = clone.call_started_at_ms / 1000 + policy.greeting_timeout_seconds
        remaining = min(deadline, greeting_over) - now
        if remaining <= 0:
            return clone, now
        clock.sleep(min(interval, remaining))
        interval = policy.next_poll(interval)


@dataclass(frozen=True)
class CheckRequest:
    """One check_clone request. `caller_key` None: the caller cannot be known (a withheld number);
    `caller_number` "": the number is not the caller's to call back (warmline.caller_id); `call`: the
    incoming call through 3CX the check belongs to, when known (its handoff is counted once)."""

    caller_key: str | None
    caller_number: str
    pressed_key: str
    conversation_id: str = ""
    pin: PinEntry = NO_PIN
    call: IncomingNote | None = None
    state: CallerState | None = None  # the caller's state as their identification read it


@dataclass(frozen=True)
class IvrPorts:
    store: CloneStore
    events: EventStore
    handoffs: HandoffStore
    clock: Clock
    # Handoff mode outbound: the agent's calls (called per check: it reads the API key).
    agent_calls: Callable[[], AgentCalls] | None = None
    agent_slots: AgentSlots | None = None  # Handoff mode agent_transfer: the voice-slot agents
    # Did the caller come in through 3CX? (warmline.caller_id; None: the caller is taken as given)
    caller_ids: CallerIdCheck | None = None


@dataclass(frozen=True)
class IvrDesk:
    """The IVR desk (the check_clone tool): what the caller's key press leads to. Built once per
    execution environment."""

    ports: IvrPorts
    policy: IvrPolicy

    def check(self, request: CheckRequest) -> IvrAnswer:
        ports = self.ports
        agent_calls = ports.agent_calls() if ports.agent_calls is not None else None
        started = ports.clock.now()
        if request.pressed_key not in WAITING_KEYS:
            return IvrAnswer(IvrStatus.INVALID_KEY, NextAction.REPEAT_MENU, 0)
        if request.caller_key is None:
            return _unknown_caller(request.pressed_key)
        # The keys whose answer depends on the caller's clone: whose clone is it?
        identified = self._identify(request.caller_key, request.conversation_id)
        if identified is not None:
            request = _as_identified(request, identified)
        if request.caller_key is None:
            answer = _unknown_caller(request.pressed_key)
        elif request.pressed_key == VOICEMAIL_KEY:
            status = _status_of(ports.store.get_clone(request.caller_key), ports.clock.now())
            answer = IvrAnswer(status, NextAction.OFFER_VOICEMAIL, _ms_since(started, ports.clock.now()))
        else:
            answer = _Check(request, request.caller_key, False, self, agent_calls).run(started)
        return replace(answer, identified=identified)

    def _identify(self, caller_key: str, conversation_id: str) -> IdentifiedCaller | None:
        if self.ports.caller_ids is None:
            return None
        return self.ports.caller_ids.identify(
            caller_key, (), seen_by="check_clone", reference=conversation_id
        )


def _unknown_caller(pressed_key: str) -> IvrAnswer:
    """A caller warmline cannot know (withheld, unreadable): no clone to wait for."""
    action = (
        NextAction.OFFER_VOICEMAIL if pressed_key == VOICEMAIL_KEY else NextAction.CONTINUE_WITH_DEFAULT_VOICE
    )
    return IvrAnswer(IvrStatus.UNAVAILABLE, action, 0)


def _as_identified(request: CheckRequest, identified: IdentifiedCaller) -> CheckRequest:
    """The check of the caller ElevenLabs reports, unless they did not come in through 3CX: then of
    the caller it is tied to, if any, with no number to call back (warmline.caller_id)."""
    if identified.passed_through:
        return replace(request, call=identified.call, state=identified.state)
    return replace(
        request,
        caller_key=identified.caller_key,
        caller_number="",
        call=identified.call,
        state=identified.state,
    )


@dataclass(frozen=True)
class _Check:
    """One key-1 check of a known caller, and whether a PIN was accepted."""

    request: CheckRequest
    caller_key: str
    verified: bool
    desk: IvrDesk
    agent_calls: AgentCalls | None

    @property
    def ports(self) -> IvrPorts:
        return self.desk.ports

    @property
    def policy(self) -> IvrPolicy:
        return self.desk.policy

    def run(self, started: float) -> IvrAnswer:
        ports, request = self.ports, self.request
        pins = PinCheck(ports.store, ports.clock, self.policy.pins)
        known = request.state.pin if request.state is not None else ports.store.get_pin(self.caller_key)
        verdict = pins.verify(self.caller_key, request.pin, known)
        pin_events = _pin_events(self.caller_key, verdict, request.conversation_id, ports.clock)
        if not verdict.passed:
            _record_without_failing_the_answer(ports.events, *pin_events)
            return IvrAnswer(IvrStatus.NOT_VERIFIED, NextAction.CONTINUE_WITH_DEFAULT_VOICE, 0, pin=verdict)

        clone, ended = wait_for_clone(
            self.caller_key, store=ports.store, clock=ports.clock, policy=self.policy.wait
        )
        # The check's events are written together, in one request, once the answer is known: every
        # round trip after the clone is ready adds to the caller's wait.
        pending = _PendingEvents()
        check = replace(self, verified=verdict.result is PinResult.ACCEPTED)
        answer = check.after_wait(clone, ended, _ms_since(started, ended), pending)
        assert answer.outcome is not None
        data = {
            "threecx_call_id": clone.threecx_call_id if clone is not None else "",
            "conversation_id": request.conversation_id,
            "wait_ms": answer.wait_time_ms,
            "outcome": answer.outcome.value,
        }
        checked = Event(EventType.IVR_CHECK, int(ended * 1000), self.caller_key, data)
        _record_without_failing_the_answer(ports.events, *pin_events, *pending.events, checked)
        if answer.next_action is NextAction.CONTINUE_WITH_DEFAULT_VOICE:
            release_slot(ports.agent_slots, self.caller_key)
        return replace(answer, pin=verdict)

    def after_wait(
        self, clone: CloneRecord | None, ended: float, waited_ms: int, events: _PendingEvents
    ) -> IvrAnswer:
        status = _status_of(clone, ended)
        if status is IvrStatus.READY:
            assert clone is not None
            return self._hand_off(clone, waited_ms)
        if status is not IvrStatus.CLONING:
            return IvrAnswer(status, NextAction.CONTINUE_WITH_DEFAULT_VOICE, waited_ms)
        assert clone is not None
        waited_since_call_start_ms = int(ended * 1000) - clone.call_started_at_ms
        if waited_since_call_start_ms < self.policy.wait.greeting_timeout_seconds * 1000:
            return IvrAnswer(status, NextAction.CHECK_AGAIN, waited_ms)
        data = {
            "threecx_call_id": clone.threecx_call_id,
            "waited_since_call_start_ms": waited_since_call_start_ms,
            "conversation_id": self.request.conversation_id,
        }
        events.record(Event(EventType.IVR_TIMEOUT, int(ended * 1000), self.caller_key, data))
        return IvrAnswer(status, self.policy.timeout_fallback, waited_ms, timed_out=True)

    def _hand_off(self, clone: CloneRecord, waited_ms: int) -> IvrAnswer:
        agent_conversation_id, fallback = "", ""
        mode: str = self.policy.handoff_mode
        if mode == AGENT_TRANSFER:
            mode, fallback = handoff_mode_for(self.ports.agent_slots, self.caller_key, clone.cloned_voice_id)
        if mode == "outbound":
            placed = self._place_handoff_call(clone)
            if placed is None:
                return IvrAnswer(
                    IvrStatus.READY, NextAction.CONTINUE_WITH_DEFAULT_VOICE, waited_ms, clone.cloned_voice_id
                )
            agent_conversation_id = placed
        request = self.request
        handoff = Handoff(
            caller_key=self.caller_key,
            call_id=call_of(request.call, request.conversation_id, clone),
            at_ms=int(self.ports.clock.now() * 1000),
            mode=mode,
            cloned_voice_id=clone.cloned_voice_id,
            threecx_call_id=request.call.threecx_call_id
            if request.call is not None
            else clone.threecx_call_id,
            greeting_conversation_id=request.conversation_id,
            agent_conversation_id=agent_conversation_id,
            verified=self.verified,
        )
        counted = _expect(self.ports.handoffs, handoff, waited_ms, clone.ready_at_ms, fallback)
        return IvrAnswer(
            IvrStatus.READY,
            NextAction.TRANSFER_TO_AGENT,
            waited_ms,
            cloned_voice_id=clone.cloned_voice_id,
            handoff_mode=mode,
            handoff_counted=counted,
            handoff_fallback=fallback,
        )

    def _place_handoff_call(self, clone: CloneRecord) -> str | None:
        """Handoff mode outbound: call the caller back in the cloned voice. The placed call's
        conversation id, or None when it could not be placed (the caller goes on in the default voice)."""
        if self.agent_calls is None:
            raise ValueError("handoff mode outbound needs a voice provider")
        if not self.request.caller_number:
            logger.warning("no number to call the caller back on: continuing in the default voice")
            return None
        variables = dynamic_variables(
            self.caller_key,
            Voice.CLONED,
            CloneProgress.READY,
            clone.threecx_call_id,
            pin_required=self.verified,
        )
        call = AgentCall(
            self.request.caller_number, clone.cloned_voice_id, self.policy.handoff_message, variables
        )
        try:
            placed = self.agent_calls.place_call(call)
        except ProviderError as error:
            logger.warning("handoff call not placed, continuing in the default voice: %s", error.reason)
            return None
        return placed.conversation_id or ""


def _pin_events(caller_key: str, verdict: PinVerdict, conversation_id: str, clock: Clock) -> list[Event]:
    """The pin_check event of a caller with a PIN; none for the others."""
    if verdict.result is PinResult.NOT_SET:
        return []
    data = {
        "result": verdict.result.value,
        "locked_now": verdict.locked_now,
        "conversation_id": conversation_id,
    }
    return [Event(EventType.PIN_CHECK, int(clock.now() * 1000), caller_key, data)]


def _record_without_failing_the_answer(events: EventStore, *batch: Event) -> None:
    """The events feed the metrics endpoint: the caller's answer must not fail for want of them (a
    slow or failing store past the request's deadline, say)."""
    try:
        events.record(*batch)
    except Exception:
        logger.exception("check_clone events not stored")


class _PendingEvents:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, *events: Event) -> None:
        self.events.extend(events)


def _expect(
    handoffs: HandoffStore, handoff: Handoff, waited_ms: int, ready_at_ms: int, fallback: str = ""
) -> bool:
    """Claim the call's handoff (warmline.handoffs): True for the call's first, the one counted.
    Verified: the next leg's conversation-init may hand out the clone of a caller with a PIN.
    `fallback`: why HandoffMode=agent_transfer fell back to the REFER for this call."""
    data = {
        "call_id": handoff.call_id,
        "threecx_call_id": handoff.threecx_call_id,
        "greeting_conversation_id": handoff.greeting_conversation_id,
        "agent_conversation_id": handoff.agent_conversation_id,
        "cloned_voice_id": handoff.cloned_voice_id,
        "handoff_mode": handoff.mode,
        "handoff_fallback": fallback,
        "ivr_wait_ms": waited_ms,
        "ready_at_ms": ready_at_ms,
    }
    try:
        return handoffs.expect(handoff, Event(EventType.HANDOFF, handoff.at_ms, handoff.caller_key, data))
    except Exception:
        # The caller is transferred all the same (the clone is ready); only the count, the handoff
        # message and, for a caller with a PIN, the clone on the re-entry are missed.
        logger.exception("the handoff could not be noted: transferring the caller uncounted")
        return False


def _ms_since(started: float, ended: float) -> int:
    return max(0, int((ended - started) * 1000))
