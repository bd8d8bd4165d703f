"""What happens when a call arrives and when the agent's conversation starts.

An incoming call either finds the caller's clone ready (cloned voice, no job), finds no sample
(default voice, no job), or makes sure exactly one clone job is under way (greeting voice).
Conversation-init then tells the agent which voice and first message to use.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from warmline.clone_state import CallerState, CloneJob, CloneRecord, CloneStatus
from warmline.events import Event, EventType
from warmline.ports import Clock, CloneStore, JobQueue
from warmline.settings import Settings
from warmline.voice_provider import ProviderError, VoiceProvider

logger = logging.getLogger(__name__)


class Voice(StrEnum):
    CLONED = "cloned"
    GREETING = "greeting"
    DEFAULT = "default"


class CloneProgress(StrEnum):
    READY = "ready"
    PENDING = "pending"
    CLONING = "cloning"
    FAILED = "failed"
    NO_SAMPLE = "no_sample"
    WITHHELD = "withheld"


class QueueUnavailable(Exception):
    """The clone job could not be queued; nothing was left written."""


@dataclass(frozen=True)
class IncomingCall:
    caller_key: str | None  # None when the caller withheld their number
    caller_number: str | None
    threecx_call_id: str
    dialled_number: str


@dataclass(frozen=True)
class CallDecision:
    voice: Voice
    progress: CloneProgress
    job_queued: bool
    cloned_voice_id: str = ""
    greeting_call_placed: bool = False
    conversation_id: str = ""
    pin_required: bool = False


def _progress_of(state: CallerState, now: float) -> CloneProgress:
    clone = state.clone
    if clone is not None and clone.is_ready(now):
        return CloneProgress.READY
    if state.profile is None:
        return CloneProgress.NO_SAMPLE
    if clone is not None and clone.has_failed(now):
        return CloneProgress.FAILED
    if clone is not None and clone.is_in_flight(now):
        return CloneProgress.CLONING if clone.status is CloneStatus.CLONING else CloneProgress.PENDING
    return CloneProgress.PENDING


def answer_incoming_call(
    call: IncomingCall,
    *,
    store: CloneStore,
    queue: JobQueue,
    clock: Clock,
    settings: Settings,
    provider: VoiceProvider | None = None,
) -> CallDecision:
    if call.caller_key is None:
        return CallDecision(Voice.DEFAULT, CloneProgress.WITHHELD, job_queued=False)

    now = clock.now()
    state = store.load(call.caller_key)
    progress = _progress_of(state, now)
    pin_required = state.pin is not None
    if progress is CloneProgress.READY:
        assert state.clone is not None
        if pin_required and not state.clone.has_verified_handoff(now, settings.handoff_window_seconds):
            # The caller verifies in the greeting first. Over SIP, never by an outbound greeting call:
            # this may be the re-entry leg of a handoff, which 3CX must route to the agent.
            return CallDecision(Voice.GREETING, progress, job_queued=False, pin_required=True)
        return CallDecision(
            Voice.CLONED,
            progress,
            job_queued=False,
            cloned_voice_id=state.clone.cloned_voice_id,
            pin_required=pin_required,
        )
    if progress in (CloneProgress.NO_SAMPLE, CloneProgress.FAILED):
        return CallDecision(Voice.DEFAULT, progress, job_queued=False, pin_required=pin_required)

    now_ms = int(now * 1000)
    in_flight = state.clone is not None and state.clone.is_in_flight(now)
    job_queued = not in_flight and request_clone(
        call.caller_key, call.threecx_call_id, store=store, queue=queue, now=now, settings=settings
    )
    if not job_queued:
        store.note_call(call.caller_key, call_started_at_ms=now_ms, threecx_call_id=call.threecx_call_id)

    decision = CallDecision(Voice.GREETING, progress, job_queued=job_queued, pin_required=pin_required)
    if settings.greeting_mode == "outbound" and provider is not None and call.caller_number:
        decision = _place_greeting_call(call, decision, provider=provider, settings=settings)
    return decision


def call_answered_event(call: IncomingCall, decision: CallDecision, at_ms: int) -> Event | None:
    """What the metrics endpoint needs of an answered call; None for callers without a voice sample."""
    if call.caller_key is None or decision.progress in (CloneProgress.NO_SAMPLE, CloneProgress.WITHHELD):
        return None
    return Event(
        EventType.CALL_ANSWERED,
        at_ms,
        call.caller_key,
        {
            "threecx_call_id": call.threecx_call_id,
            "voice": decision.voice.value,
            "clone_status": decision.progress.value,
            "cache_hit": decision.progress is CloneProgress.READY,
            "job_queued": decision.job_queued,
            "cloned_voice_id": decision.cloned_voice_id,
        },
    )


def request_clone(
    caller_key: str,
    threecx_call_id: str,
    *,
    store: CloneStore,
    queue: JobQueue,
    now: float,
    settings: Settings,
) -> bool:
    """Make the caller's record PENDING and queue one clone job, unless a live record exists.

    True if this call queued the job. Concurrent callers race on the conditional write; only the
    winner enqueues. If the job cannot be queued the PENDING record is removed again.

    The PENDING record first lives only as long as the greeting (`greeting_timeout_seconds`): if the
    process dies between the write and the send, no job will come, and the next call must not find
    the caller still pending. Once the job is queued the record is confirmed for
    `pending_expiry_seconds`.
    """
    now_ms = int(now * 1000)
    job = CloneJob(
        job_id=uuid.uuid4().hex,
        caller_key=caller_key,
        requested_at_ms=now_ms,
        threecx_call_id=threecx_call_id,
    )
    record = CloneRecord(
        status=CloneStatus.PENDING,
        job_id=job.job_id,
        requested_at_ms=now_ms,
        expires_at=int(now + settings.greeting_timeout_seconds),
        call_started_at_ms=now_ms,
        threecx_call_id=threecx_call_id,
    )
    if not store.start_clone(caller_key, record, now):
        return False
    try:
        queue.send(job)
    except Exception as error:
        store.remove_pending(caller_key, job.job_id)
        raise QueueUnavailable("the clone job could not be queued") from error
    try:
        store.confirm_pending(caller_key, job.job_id, expires_at=int(now) + settings.pending_expiry_seconds)
    except Exception:
        # The job is queued; unconfirmed, the record lapses with the greeting and a later call
        # queues again (the worker then keeps one voice).
        logger.warning("clone job queued but its record not confirmed", exc_info=True)
    return True


def _place_greeting_call(
    call: IncomingCall, decision: CallDecision, *, provider: VoiceProvider, settings: Settings
) -> CallDecision:
    client_data = {
        "conversation_config_override": {
            "tts": {"voice_id": settings.greeting_voice_id},
            "agent": {"first_message": settings.greeting_message},
        },
        "dynamic_variables": dynamic_variables(
            call.caller_key or "",
            Voice.GREETING,
            decision.progress,
            call.threecx_call_id,
            pin_required=decision.pin_required,
        ),
    }
    try:
        placed = provider.place_outbound_call(
            telephony=settings.outbound_telephony,
            agent_id=settings.elevenlabs_agent_id,
            agent_phone_number_id=settings.elevenlabs_agent_phone_number_id,
            to_number=call.caller_number or "",
            client_data=client_data,
        )
    except ProviderError as error:
        # The call still reaches the agent over SIP, where conversation-init supplies the greeting.
        logger.warning("greeting call not placed, routing over SIP instead: %s", error.reason)
        return decision
    return replace(decision, greeting_call_placed=True, conversation_id=placed.conversation_id or "")


def dynamic_variables(
    caller_key: str,
    voice: Voice,
    progress: CloneProgress,
    threecx_call_id: str,
    *,
    pin_required: bool = False,
) -> dict[str, Any]:
    """Every variable warmline defines for the agent, always all present (ElevenLabs requires it)."""
    return {
        "warmline_caller_key": caller_key,
        "warmline_mode": voice.value,
        "warmline_clone_status": progress.value,
        "warmline_threecx_call_id": threecx_call_id,
        # "yes": in the greeting, ask for the caller's PIN and pass it to check_clone.
        "warmline_pin_required": "yes" if pin_required else "no",
    }


@dataclass(frozen=True)
class ConversationStart:
    voice: Voice
    progress: CloneProgress
    voice_id: str | None  # None: the agent's own voice
    first_message: str | None  # None: the agent's own first message
    dynamic_variables: dict[str, Any]


def start_conversation(
    caller_key: str | None,
    *,
    store: CloneStore,
    clock: Clock,
    settings: Settings,
    state: CallerState | None = None,
) -> ConversationStart:
    """`state`: the caller's state when it was just read (warmline.caller_id reads it)."""
    if caller_key is None:
        progress = CloneProgress.WITHHELD
        return ConversationStart(
            Voice.DEFAULT, progress, None, None, dynamic_variables("", Voice.DEFAULT, progress, "")
        )
    now = clock.now()
    state = state or store.load(caller_key)
    progress = _progress_of(state, now)
    clone = state.clone
    call_id = clone.threecx_call_id if clone is not None else ""
    pin_required = state.pin is not None

    def start(voice: Voice, voice_id: str | None, first_message: str | None) -> ConversationStart:
        variables = dynamic_variables(caller_key, voice, progress, call_id, pin_required=pin_required)
        return ConversationStart(voice, progress, voice_id, first_message, variables)

    if progress is CloneProgress.READY:
        assert clone is not None
        now_ms = int(now * 1000)
        if pin_required:
            # The clone only on the leg after a handoff that followed an accepted PIN, and only once;
            # before that, the greeting, in which the agent asks for the PIN.
            since_ms = now_ms - settings.handoff_window_seconds * 1000
            if store.claim_verified_handoff(
                caller_key, clone.cloned_voice_id, since_ms=since_ms, at_ms=now_ms
            ):
                return start(Voice.CLONED, clone.cloned_voice_id, settings.handoff_message)
            return start(Voice.GREETING, settings.greeting_voice_id, settings.greeting_message)
        handed_off = (
            clone.handoff_at_ms and now_ms - clone.handoff_at_ms <= settings.handoff_window_seconds * 1000
        )
        # Its last use decides which voice goes when the voice slots are full (warmline.voice_slots).
        store.touch_clone(caller_key, clone.cloned_voice_id, now_ms)
        return start(Voice.CLONED, clone.cloned_voice_id, settings.handoff_message if handed_off else None)
    if clone is not None and clone.is_in_flight(now):
        return start(Voice.GREETING, settings.greeting_voice_id, settings.greeting_message)
    return start(Voice.DEFAULT, None, None)
