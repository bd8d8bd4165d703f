"""What happens when a call arrives and when the agent's conversation starts.

An incoming call either finds the caller's clone ready (cloned voice, no job), finds no sample
(default voice, no job), or makes sure exactly one clone job is under way (greeting voice).
Conversation-init then tells the agent which voice and first message to use.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from warmline.clone_state import (
    CallerState,
    CallFollowed,
    CallWrites,
    CloneJob,
    CloneRecord,
    CloneStatus,
    FirstClone,
    IncomingNote,
    PendingConfirm,
)
from warmline.events import Event, EventType
from warmline.ports import CallRecords, Clock, CloneStore, JobQueue
from warmline.settings import Settings
from warmline.voice_provider import AgentCall, AgentCalls, ProviderError

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
    UNAVAILABLE = "unavailable"  # conversation-init only: AWS did not answer, nothing is known


class QueueUnavailable(Exception):
    """The clone job could not be queued; its PENDING record was removed again or, if the store
    failed too, left unconfirmed to lapse with the greeting."""


@dataclass(frozen=True)
class IncomingCall:
    caller_key: str | None  # None when the caller withheld their number
    caller_number: str | None
    threecx_call_id: str
    dialled_key: str = ""  # the key of the number dialled (3CX's session.did); "" when unreadable


@dataclass(frozen=True)
class CallDecision:
    voice: Voice
    progress: CloneProgress
    job_queued: bool
    cloned_voice_id: str = ""
    greeting_call_placed: bool = False
    conversation_id: str = ""
    pin_required: bool = False

    @property
    def waits_for_clone(self) -> bool:
        """The caller hears the greeting while a clone job is under way."""
        return self.voice is Voice.GREETING and self.progress is not CloneProgress.READY


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


@dataclass(frozen=True)
class PendingPolicy:
    """How long a PENDING record lives: first only as long as the greeting (no job may come), then,
    once its job is queued, `pending_expiry_seconds`."""

    greeting_timeout_seconds: float
    pending_expiry_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> PendingPolicy:
        return cls(settings.greeting_timeout_seconds, settings.pending_expiry_seconds)


@dataclass(frozen=True)
class CallPolicy:
    """What the caller hears, and how: the greeting, the handoff message, the delivery mode."""

    greeting_mode: Literal["sip", "outbound"]
    greeting_voice_id: str
    greeting_message: str
    handoff_message: str
    handoff_window_seconds: int
    pending: PendingPolicy
    note_seconds: int = 300  # how long an incoming call's notes live (`caller_id_window_seconds`)

    @classmethod
    def from_settings(cls, settings: Settings) -> CallPolicy:
        return cls(
            greeting_mode=settings.greeting_mode,
            greeting_voice_id=settings.greeting_voice_id,
            greeting_message=settings.greeting_message,
            handoff_message=settings.handoff_message,
            handoff_window_seconds=settings.handoff_window_seconds,
            pending=PendingPolicy.from_settings(settings),
            note_seconds=settings.caller_id_window_seconds,
        )


TAKEOVER_LEASE_MS = 60_000  # a lapsed lease is taken over only to hand the record back as PENDING


@dataclass(frozen=True)
class CloneRequests:
    """Start a caller's clone: the webhook on an incoming call, the CLI's `--prewarm`; and take over
    one whose worker died (`warmline dlq redrive`)."""

    store: CloneStore
    queue: JobQueue
    policy: PendingPolicy

    def request(self, caller_key: str, threecx_call_id: str, now: float) -> bool:
        """Make the caller's record PENDING and queue one clone job, unless a live record exists.

        True if this call queued the job. Concurrent callers race on the conditional write; only the
        winner enqueues. If the job cannot be queued the PENDING record is removed again.

        The PENDING record first lives only as long as the greeting (`greeting_timeout_seconds`): if
        the process dies between the write and the send, no job will come, and the next call must not
        find the caller still pending. Once the job is queued the record is confirmed for
        `pending_expiry_seconds`.
        """
        job, record = self.new_job(caller_key, threecx_call_id, now)
        if not self.store.start_clone(caller_key, record, now):
            return False
        self.send(job)
        try:
            self.store.confirm_pending(caller_key, job.job_id, expires_at=self.confirm(job, now).expires_at)
        except Exception:
            # The job is queued; unconfirmed, the record lapses with the greeting and a later call
            # queues again (the worker then keeps one voice).
            logger.warning("clone job queued but its record not confirmed", exc_info=True)
        return True

    def take_over_abandoned(self, caller_key: str, now: float) -> bool:
        """A CLONING record under a lapsed lease (its worker died; `warmline dlq redrive`): take the
        lease with the worker's own conditional write (only one taker wins, and never over a live
        lease), give the record back as PENDING and queue its job again, confirmed as a call's is.
        The job keeps the record's id, so its next worker finds by name a voice the dead one made
        (one voice, not two). False: nothing to take over."""
        now_ms = int(now * 1000)
        record = self.store.get_clone(caller_key)
        if not (record and record.status is CloneStatus.CLONING and record.lease_expires_at_ms < now_ms):
            return False  # none, READY, FAILED, PENDING (a job is queued) or a live lease: leave it
        token = f"redrive-{uuid.uuid4().hex}"
        taken = self.store.take_lease(
            caller_key, lease_token=token, now_ms=now_ms, lease_expires_at_ms=now_ms + TAKEOVER_LEASE_MS
        )
        if taken is None:
            return False  # expired, or another worker took it first: under way after all
        self.store.release_lease(caller_key, token)
        again = CloneJob(taken.job_id, caller_key, taken.requested_at_ms, taken.threecx_call_id)
        self.send(again)  # QueueUnavailable: the PENDING record is removed again
        self.store.confirm_pending(caller_key, again.job_id, expires_at=self.confirm(again, now).expires_at)
        return True

    def new_job(self, caller_key: str, threecx_call_id: str, now: float) -> tuple[CloneJob, CloneRecord]:
        """A new clone job, and its PENDING record that lives as long as the greeting."""
        now_ms = int(now * 1000)
        job = CloneJob(uuid.uuid4().hex, caller_key, now_ms, threecx_call_id)
        record = CloneRecord(
            status=CloneStatus.PENDING,
            job_id=job.job_id,
            requested_at_ms=now_ms,
            expires_at=int(now + self.policy.greeting_timeout_seconds),
            call_started_at_ms=now_ms,
            threecx_call_id=threecx_call_id,
        )
        return job, record

    def confirm(self, job: CloneJob, now: float) -> PendingConfirm:
        """The queued job's record, confirmed for `pending_expiry_seconds`."""
        return PendingConfirm(job.job_id, int(now) + self.policy.pending_expiry_seconds)

    def send(self, job: CloneJob) -> None:
        """Queue the job; if it cannot be, remove its PENDING record again (QueueUnavailable)."""
        try:
            self.queue.send(job)
        except Exception as error:
            self._withdraw(job)
            raise QueueUnavailable("the clone job could not be queued") from error

    def _withdraw(self, job: CloneJob) -> None:
        try:
            self.store.remove_pending(job.caller_key, job.job_id)
        except Exception:
            # The store failed too (a hung queue can spend the whole deadline): the record is still
            # the unconfirmed one, which lapses with the greeting, as after a crash before the send.
            logger.warning("clone job not queued, its PENDING record left to lapse", exc_info=True)


@dataclass(frozen=True)
class CallDesk:
    """The incoming-call desk (the webhook function): answers 3CX's incoming call and the agent's
    conversation start. Built once per execution environment."""

    store: CloneStore
    queue: JobQueue
    clock: Clock
    policy: CallPolicy
    records: CallRecords
    # Greeting mode outbound: the agent's calls (called per call: it reads the API key).
    agent_calls: Callable[[], AgentCalls] | None = None

    def answer(self, call: IncomingCall) -> CallDecision:
        """Decide, and write what the call leaves behind: the clone record and its job, the call's
        notes (warmline.caller_id) and its event. A first-time call (a voice sample, no PIN, no
        clone) makes two requests to the store; the caller's state is read only when the first says
        the call is not one. QueueUnavailable when the job could not be queued."""
        agent_calls = self.agent_calls() if self.agent_calls is not None else None
        now = self.clock.now()
        note = IncomingNote(call.caller_key or "", call.dialled_key, call.threecx_call_id, int(now * 1000))
        if call.caller_key is None:
            decision = CallDecision(Voice.DEFAULT, CloneProgress.WITHHELD, job_queued=False)
            writes = CallWrites("", note=note, note_expires_at=self._note_expiry(note))
        else:
            decision, writes = self._decide(call.caller_key, note, now)
        outbound = self.policy.greeting_mode == "outbound" and agent_calls is not None
        if outbound and decision.waits_for_clone and call.caller_number:
            assert agent_calls is not None
            decision = self._place_greeting_call(call, decision, agent_calls)
        self._record(replace(writes, event=call_answered_event(call, decision, note.at_ms)))
        return decision

    def _note_expiry(self, note: IncomingNote) -> int:
        return note.at_ms // 1000 + self.policy.note_seconds

    def _decide(self, caller_key: str, note: IncomingNote, now: float) -> tuple[CallDecision, CallWrites]:
        requests = CloneRequests(self.store, self.queue, self.policy.pending)
        job, record = requests.new_job(caller_key, note.threecx_call_id, now)
        expiry = self._note_expiry(note)
        first = self.records.start_first_clone(caller_key, record, note, note_expires_at=expiry, now=now)
        if first is FirstClone.STARTED:
            requests.send(job)
            decision = CallDecision(Voice.GREETING, CloneProgress.PENDING, job_queued=True)
            return decision, CallWrites(caller_key, confirm=requests.confirm(job, now))
        writes = CallWrites(caller_key, note=note, note_expires_at=expiry)
        if first is FirstClone.NO_SAMPLE:
            return CallDecision(Voice.DEFAULT, CloneProgress.NO_SAMPLE, job_queued=False), writes
        decision = self._decide_from_state(caller_key, note, now)
        if decision.waits_for_clone and not decision.job_queued:
            # The clone in flight now follows this call: the IVR's greeting clock starts here.
            writes = replace(writes, followed=CallFollowed(note.at_ms, note.threecx_call_id))
        return decision, writes

    def _decide_from_state(self, caller_key: str, note: IncomingNote, now: float) -> CallDecision:
        """The caller's state read: what any call but a first-time one finds."""
        state = self.store.load(caller_key)
        progress = _progress_of(state, now)
        pin_required = state.pin is not None
        if progress is CloneProgress.READY:
            return self._ready_call(state, now)
        if progress in (CloneProgress.NO_SAMPLE, CloneProgress.FAILED):
            return CallDecision(Voice.DEFAULT, progress, job_queued=False, pin_required=pin_required)
        in_flight = state.clone is not None and state.clone.is_in_flight(now)
        requests = CloneRequests(self.store, self.queue, self.policy.pending)
        job_queued = not in_flight and requests.request(caller_key, note.threecx_call_id, now)
        return CallDecision(Voice.GREETING, progress, job_queued=job_queued, pin_required=pin_required)

    def _record(self, writes: CallWrites) -> None:
        """The call must still be routed: without its notes the agent's side may report its caller
        as not passed, without its event only the metrics endpoint misses it."""
        try:
            self.records.record(writes)
        except Exception:
            logger.exception(
                "incoming call not noted (its notes, its event or its record's confirm not stored)"
            )

    def _ready_call(self, state: CallerState, now: float) -> CallDecision:
        clone, pin_required = state.clone, state.pin is not None
        assert clone is not None
        if pin_required and not clone.has_verified_handoff(now, self.policy.handoff_window_seconds):
            # The caller verifies in the greeting first. Over SIP, never by an outbound greeting call:
            # this may be the re-entry leg of a handoff, which 3CX must route to the agent.
            return CallDecision(Voice.GREETING, CloneProgress.READY, job_queued=False, pin_required=True)
        return CallDecision(
            Voice.CLONED,
            CloneProgress.READY,
            job_queued=False,
            cloned_voice_id=clone.cloned_voice_id,
            pin_required=pin_required,
        )

    def _place_greeting_call(
        self, call: IncomingCall, decision: CallDecision, agent_calls: AgentCalls
    ) -> CallDecision:
        variables = dynamic_variables(
            call.caller_key or "",
            Voice.GREETING,
            decision.progress,
            call.threecx_call_id,
            pin_required=decision.pin_required,
        )
        greeting = AgentCall(
            call.caller_number or "", self.policy.greeting_voice_id, self.policy.greeting_message, variables
        )
        try:
            placed = agent_calls.place_call(greeting)
        except ProviderError as error:
            # The call still reaches the agent over SIP, where conversation-init supplies the greeting.
            logger.warning("greeting call not placed, routing over SIP instead: %s", error.reason)
            return decision
        return replace(decision, greeting_call_placed=True, conversation_id=placed.conversation_id or "")

    def start_conversation(
        self, caller_key: str | None, state: CallerState | None = None
    ) -> ConversationStart:
        """`state`: the caller's state when it was just read (warmline.caller_id reads it)."""
        if caller_key is None:
            progress = CloneProgress.WITHHELD
            variables = dynamic_variables("", Voice.DEFAULT, progress, "")
            return ConversationStart(Voice.DEFAULT, progress, None, None, variables)
        now = self.clock.now()
        state = state or self.store.load(caller_key)
        progress = _progress_of(state, now)
        clone = state.clone
        call_id = clone.threecx_call_id if clone is not None else ""
        pin_required = state.pin is not None

        def start(voice: Voice, voice_id: str | None, first_message: str | None) -> ConversationStart:
            variables = dynamic_variables(caller_key, voice, progress, call_id, pin_required=pin_required)
            return ConversationStart(voice, progress, voice_id, first_message, variables)

        if progress is CloneProgress.READY:
            assert clone is not None
            return start(*self._ready_voice(caller_key, clone, pin_required, now))
        if clone is not None and clone.is_in_flight(now):
            return start(Voice.GREETING, self.policy.greeting_voice_id, self.policy.greeting_message)
        return start(Voice.DEFAULT, None, None)

    def unavailable_start(self) -> ConversationStart:
        """What the agent gets when AWS did not answer: its own voice, every variable, and nothing
        that needs the caller's state (conversation-init answers 200 whatever happens)."""
        progress = CloneProgress.UNAVAILABLE
        variables = dynamic_variables("", Voice.DEFAULT, progress, "")
        return ConversationStart(Voice.DEFAULT, progress, None, None, variables)

    def _ready_voice(
        self, caller_key: str, clone: CloneRecord, pin_required: bool, now: float
    ) -> tuple[Voice, str | None, str | None]:
        """The voice, voice id and first message of a conversation whose caller's clone is READY."""
        now_ms = int(now * 1000)
        window_ms = self.policy.handoff_window_seconds * 1000
        if pin_required:
            # The clone only on the leg after a handoff that followed an accepted PIN, and only once;
            # before that, the greeting, in which the agent asks for the PIN.
            if self.store.claim_verified_handoff(
                caller_key, clone.cloned_voice_id, since_ms=now_ms - window_ms, at_ms=now_ms
            ):
                return Voice.CLONED, clone.cloned_voice_id, self.policy.handoff_message
            return Voice.GREETING, self.policy.greeting_voice_id, self.policy.greeting_message
        handed_off = clone.handoff_at_ms and now_ms - clone.handoff_at_ms <= window_ms
        # Its last use decides which voice goes when the voice slots are full (warmline.voice_slots).
        self.store.touch_clone(caller_key, clone.cloned_voice_id, now_ms)
        return Voice.CLONED, clone.cloned_voice_id, self.policy.handoff_message if handed_off else None


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


def conversation_started_event(
    caller_key: str | None, start: ConversationStart, threecx_call_id: str, reference: str, at_ms: int
) -> Event | None:
    """A leg of a call began (the greeting, or the re-entry in the cloned voice), for the call's
    timeline; None for callers without a voice sample. `reference`: ElevenLabs' call_sid, if any."""
    if caller_key is None or start.progress in (CloneProgress.NO_SAMPLE, CloneProgress.WITHHELD):
        return None
    data = {
        "threecx_call_id": threecx_call_id,
        "voice": start.voice.value,
        "clone_status": start.progress.value,
        "reference": reference,
    }
    return Event(EventType.CONVERSATION_STARTED, at_ms, caller_key, data)


# The two dynamic variables warmline reads back (warmline.post_call: ElevenLabs' post-call webhook
# carries a conversation's starting variables).
CALLER_VARIABLE = "warmline_caller_key"
SLOT_VARIABLE = "warmline_voice_slot"


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
        CALLER_VARIABLE: caller_key,
        "warmline_mode": voice.value,
        "warmline_clone_status": progress.value,
        "warmline_threecx_call_id": threecx_call_id,
        # "yes": in the greeting, ask for the caller's PIN and pass it to check_clone.
        "warmline_pin_required": "yes" if pin_required else "no",
        # HandoffMode=agent_transfer: the voice-slot lease conversation-init gave this conversation
        # (warmline.post_call reads it back from ElevenLabs' post-call webhook); "" when none.
        SLOT_VARIABLE: "",
    }


def with_agents_own(variables: dict[str, Any], agent_defaults: dict[str, str] | None) -> dict[str, Any]:
    """warmline's variables and every other one the agent declares, with its default: ElevenLabs
    fails a conversation whose initiation data lacks one. warmline's own values win."""
    return {**(agent_defaults or {}), **variables}


@dataclass(frozen=True)
class ConversationStart:
    voice: Voice
    progress: CloneProgress
    voice_id: str | None  # None: the agent's own voice
    first_message: str | None  # None: the agent's own first message
    dynamic_variables: dict[str, Any]
