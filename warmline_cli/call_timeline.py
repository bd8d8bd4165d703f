"""One call as a timeline, from the stored events (docs/observability.md, "Stored events").

A call begins with its `call_answered` event (3CX's incoming webhook, from a caller with a voice
sample) and holds the caller's events until their next call (at most `CALL_HORIZON_MS`): the
greeting leg's conversation start, the worker's lease, voices/add request and ready, each
check_clone after the key press, the handoff and the re-entry leg (HandoffMode=agent_transfer: the
switch to the voice-slot agent in the same conversation, as the housekeeping sweep read it in
ElevenLabs' conversation history). Numbers never appear: a call is
named by its 3CX call id, its caller by the caller key (and the masked number the profile keeps).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from warmline.events import Event, EventType

AGENT_TRANSFER = "agent_transfer"
CALL_HORIZON_MS = 15 * 60 * 1000  # a call's events come within this of its incoming webhook

# The lanes of the picture, in the order a call goes through them.
STEPS = (
    "incoming webhook",
    "job queued",
    "greeting",
    "lease",
    "clone request",
    "ready",
    "key press",
    "check_clone",
    "handoff",
    "re-entry",
    "switch",
)


@dataclass(frozen=True)
class Step:
    name: str
    at_ms: int
    end_ms: int | None = None  # a span (the voices/add request, a check_clone wait)
    detail: str = ""


@dataclass
class CallTimeline:
    call_id: str
    caller_key: str
    started_at_ms: int
    answered: dict[str, Any]  # the call_answered event's data
    steps: list[Step] = field(default_factory=list)
    caller: str = ""  # the masked number, when the caller's profile is still there

    @property
    def ended_at_ms(self) -> int:
        return max((step.end_ms or step.at_ms for step in self.steps), default=self.started_at_ms)

    @property
    def outcome(self) -> str:
        names = {step.name for step in self.steps}
        if "switch" in names:
            return "switched to the cloned voice in the same conversation"
        if "re-entry" in names:
            return "re-entered in the cloned voice"
        if "handoff lost" in names:
            return "handoff lost"
        if any(step.name == "handoff" and step.detail == f"{AGENT_TRANSFER} mode" for step in self.steps):
            return "handed off in the same conversation; the switch not confirmed yet"
        if "handoff" in names:
            return "handed off; no re-entry seen"
        if self.answered.get("voice") == "cloned":
            return "cloned voice from the start"
        return "no handoff"


def build_calls(events: Iterable[Event]) -> list[CallTimeline]:
    """Every call whose incoming webhook is among `events`, oldest first."""
    by_caller: dict[str, list[Event]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e.at_ms):
        if event.caller_key:
            by_caller[event.caller_key].append(event)
    calls = []
    for caller_events in by_caller.values():
        calls.extend(_calls_of_one_caller(caller_events))
    return sorted(calls, key=lambda call: call.started_at_ms)


def find_call(calls: list[CallTimeline], call_id: str) -> CallTimeline | None:
    """The latest call with this id (3CX may reuse one)."""
    matching = [call for call in calls if call.call_id == call_id]
    return matching[-1] if matching else None


def _calls_of_one_caller(events: list[Event]) -> list[CallTimeline]:
    answered = [event for event in events if event.type is EventType.CALL_ANSWERED]
    calls = []
    for index, start in enumerate(answered):
        until = start.at_ms + CALL_HORIZON_MS
        if index + 1 < len(answered):
            until = min(until, answered[index + 1].at_ms)
        own = [event for event in events if start.at_ms <= event.at_ms < until]
        calls.append(_call(start, own))
    return calls


def _call(start: Event, events: list[Event]) -> CallTimeline:
    threecx_call_id = str(start.data.get("threecx_call_id") or "")
    call = CallTimeline(threecx_call_id or f"at-{start.at_ms}", start.caller_key, start.at_ms, start.data)
    handed_off_at = next((e.at_ms for e in events if e.type is EventType.HANDOFF), None)
    for event in events:
        call.steps.extend(_steps_of(event, call, handed_off_at))
    if sum(step.name == "job queued" for step in call.steps) > 1:
        # The worker's event says when the job was queued; the webhook's only that it was.
        call.steps = [s for s in call.steps if s.name != "job queued" or s.detail != _QUEUED]
    if any(step.name == "re-entry" and step.detail.startswith("transfer") for step in call.steps):
        # The re-entry's conversation start says less than its handoff_completed: keep that one.
        call.steps = [s for s in call.steps if s.name != "re-entry" or s.detail.startswith("transfer")]
    call.steps.sort(key=lambda step: (step.at_ms, _lane(step.name)))
    return call


def _lane(name: str) -> int:
    return STEPS.index(name) if name in STEPS else len(STEPS)


def _steps_of(event: Event, call: CallTimeline, handed_off_at: int | None) -> list[Step]:
    if event.type is EventType.CONVERSATION_STARTED:
        return [_conversation(event, handed_off_at)]
    if event.type is EventType.CLONE_READY:
        return _clone_steps(event, call)
    if event.type is EventType.IVR_CHECK:
        return _check_steps(event, call)
    describe = _DESCRIBE.get(event.type)
    return describe(event) if describe is not None else []


def _answered(event: Event) -> list[Step]:
    data = event.data
    detail = f"voice {data.get('voice')}, clone {data.get('clone_status')}"
    steps = [Step("incoming webhook", event.at_ms, detail=detail)]
    if data.get("job_queued"):
        steps.append(Step("job queued", event.at_ms, detail=_QUEUED))
    return steps


_QUEUED = "one clone job on the queue"


def _conversation(event: Event, handed_off_at: int | None) -> Step:
    voice = event.data.get("voice")
    if handed_off_at is not None and event.at_ms >= handed_off_at:
        return Step("re-entry", event.at_ms, detail=f"conversation-init, {voice} voice")
    name = "greeting" if voice == "greeting" else "conversation"
    return Step(name, event.at_ms, detail=f"conversation-init, {voice} voice")


def _clone_steps(event: Event, call: CallTimeline) -> list[Step]:
    data = event.data
    steps = []
    if call.answered.get("job_queued") and data.get("threecx_call_id") == call.answered.get(
        "threecx_call_id"
    ):
        # This call's job: queued when its record was written, moments after the webhook arrived.
        queued_at = int(data.get("requested_at_ms") or call.started_at_ms)
        steps.append(Step("job queued", queued_at, detail=f"job {str(data.get('job_id'))[:8]}"))
    if data.get("leased_at_ms"):
        steps.append(Step("lease", int(data["leased_at_ms"]), detail=f"attempt {data.get('attempt')}"))
    sent = int(data.get("request_sent_at_ms") or data.get("worker_started_at_ms") or 0)
    if sent:
        steps.append(Step("clone request", sent, event.at_ms, "POST /v1/voices/add"))
    steps.append(Step("ready", event.at_ms, detail=f"clone {data.get('clone_duration_ms')} ms"))
    return steps


def _check_steps(event: Event, call: CallTimeline) -> list[Step]:
    wait_ms = int(event.data.get("wait_ms") or 0)
    pressed = event.at_ms - wait_ms
    check = Step("check_clone", pressed, event.at_ms, f"{event.data.get('outcome')} after {wait_ms} ms")
    if any(step.name == "key press" for step in call.steps):
        return [check]
    return [Step("key press", pressed, detail="1"), check]


def _handoff(event: Event) -> list[Step]:
    data = event.data
    fallback = data.get("handoff_fallback")
    detail = f"{data.get('handoff_mode')} mode" + (f" (fell back: {fallback})" if fallback else "")
    return [Step("handoff", event.at_ms, detail=detail)]


def _completed(event: Event) -> list[Step]:
    """The re-entry leg's conversation-init; in agent_transfer mode, the switch the sweep read in
    the conversation's history (at the handoff plus its transfer time, not when the sweep ran)."""
    data = event.data
    if data.get("handoff_mode") != AGENT_TRANSFER or not data.get("handoff_at_ms"):
        return [Step("re-entry", event.at_ms, detail=f"transfer leg {data.get('transfer_ms')} ms")]
    transfer_ms = int(data.get("transfer_ms") or 0)
    detail = f"transfer_to_agent in the same conversation, {transfer_ms} ms (whole seconds)"
    return [Step("switch", int(data["handoff_at_ms"]) + transfer_ms, detail=detail)]


def _simple(name: str, describe: Callable[[dict[str, Any]], str]) -> Callable[[Event], list[Step]]:
    return lambda event: [Step(name, event.at_ms, detail=describe(event.data))]


_DESCRIBE: dict[EventType, Callable[[Event], list[Step]]] = {
    EventType.CALL_ANSWERED: _answered,
    EventType.CLONE_FAILED: _simple("clone failed", lambda d: f"{d.get('error_code')}"),
    EventType.PIN_CHECK: _simple("PIN check", lambda d: f"{d.get('result')}"),
    EventType.IVR_TIMEOUT: _simple("IVR timeout", lambda d: "the greeting timeout passed"),
    EventType.HANDOFF: _handoff,
    EventType.HANDOFF_COMPLETED: _completed,
    EventType.HANDOFF_LOST: _simple("handoff lost", lambda d: f"after {d.get('waited_ms')} ms"),
    EventType.CALLER_ID_NOT_PASSED: _simple("caller ID not passed", lambda d: f"{d.get('seen_by')}"),
}


def iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_json(call: CallTimeline) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "caller": call.caller,
        "caller_key": call.caller_key,
        "started_at": iso(call.started_at_ms),
        "started_at_ms": call.started_at_ms,
        "duration_ms": call.ended_at_ms - call.started_at_ms,
        "voice": call.answered.get("voice"),
        "clone_status": call.answered.get("clone_status"),
        "outcome": call.outcome,
        "steps": [_step_json(step, call.started_at_ms) for step in call.steps],
    }


def _step_json(step: Step, start_ms: int) -> dict[str, Any]:
    return {
        "step": step.name,
        "at_ms": step.at_ms,
        "offset_ms": step.at_ms - start_ms,
        "duration_ms": None if step.end_ms is None else step.end_ms - step.at_ms,
        "detail": step.detail,
    }


def text_lines(call: CallTimeline) -> list[str]:
    """The timeline as an operator reads it: seconds since the incoming webhook, step, detail."""
    who = f"{call.caller} ({call.caller_key})" if call.caller else call.caller_key
    lines = [f"call {call.call_id}  caller {who}  {iso(call.started_at_ms)}"]
    for step in call.steps:
        offset = (step.at_ms - call.started_at_ms) / 1000
        span = "" if step.end_ms is None else f" [{(step.end_ms - step.at_ms) / 1000:.3f} s]"
        lines.append(f"  {offset:+8.3f} s  {step.name:<20} {step.detail}{span}")
    total = (call.ended_at_ms - call.started_at_ms) / 1000
    lines.append(f"outcome: {call.outcome} ({total:.3f} s from the incoming webhook)")
    return lines
