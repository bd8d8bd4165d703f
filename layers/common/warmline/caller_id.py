"""Is the caller ElevenLabs reports the caller who came in through 3CX?

3CX builds the SIP INVITE to ElevenLabs from its trunk's outbound parameters and, unless they are
set to pass the caller's number (docs/wiring.md, "Configuring 3CX"), presents the trunk's own number. Then
conversation-init and `check_clone` (`system__caller_id`) see the company number on every leg, no
clone is ever found, and nothing says why. So every incoming call leaves a note for a few minutes
(`caller_id_window_seconds`), under the caller and under the number dialled, and a caller with no
such note is reported. When exactly one recent call to the number the caller appears as (or to the
number ElevenLabs was called on) could be meant, and that call's caller has a PIN, the conversation
is correlated to that caller (who still gets the clone only after typing the PIN in this call);
between two or more calls it never guesses, and a caller without a PIN is never correlated: the
same number and a short window cannot tell them from anyone else calling that number then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from warmline.clone_state import CallerState, IncomingNote
from warmline.events import Event, EventType
from warmline.ports import CallLog, Clock, CloneStore, EventStore

logger = logging.getLogger(__name__)

FIX = (
    "on the 3CX SIP trunk to ElevenLabs set the Outbound Parameters 'From: User Part' and "
    "'P-Asserted-Identity' to OriginatorCallerID (docs/wiring.md, 'Configuring 3CX')"
)


class Resolution(StrEnum):
    PASSED = "passed"  # an incoming call from this caller came through 3CX moments ago
    CORRELATED = "correlated"  # not passed through, but exactly one recent call can be meant
    NOT_PASSED = "not_passed"  # not passed through, and no single call to tie it to


@dataclass(frozen=True)
class IdentifiedCaller:
    caller_key: str | None  # None: the correlated call's caller withheld their number
    resolution: Resolution
    state: CallerState | None  # the caller's profile and clone, as read (None when withheld)
    call: IncomingNote | None = None  # the incoming call through 3CX this conversation belongs to

    @property
    def passed_through(self) -> bool:
        return self.resolution is Resolution.PASSED


def report_not_passed(
    identified: IdentifiedCaller, *, seen_by: str, events: EventStore, at_ms: int, reference: str
) -> None:
    """One warning that names the fix, and an event for the metrics endpoint. `seen_by`:
    conversation_init or check_clone; `reference`: ElevenLabs' conversation or call id, if any."""
    correlated = identified.resolution is Resolution.CORRELATED
    logger.warning(
        "the caller ElevenLabs reports did not come in through 3CX in the last few minutes: the "
        "caller ID did not cross the SIP leg (%s); fix: %s",
        "tied to the only recent call to that number" if correlated else "answered in the default voice",
        FIX,
        extra={"seen_by": seen_by, "caller_id_resolution": identified.resolution.value},
    )
    data = {"seen_by": seen_by, "correlated": correlated, "reference": reference}
    try:
        events.record(Event(EventType.CALLER_ID_NOT_PASSED, at_ms, identified.caller_key or "", data))
    except Exception:
        # The event feeds the metrics endpoint; the conversation goes on without it.
        logger.exception("caller_id_not_passed event not stored")


@dataclass(frozen=True)
class CallerIdCheck:
    """Notes incoming calls, and tells whether a conversation's caller came in through 3CX; a caller
    who was not passed through is reported. `window_seconds`: `caller_id_window_seconds`."""

    store: CloneStore
    calls: CallLog
    events: EventStore
    clock: Clock
    window_seconds: int

    def identify(
        self, presented_key: str, dialled_keys: tuple[str, ...], *, seen_by: str, reference: str
    ) -> IdentifiedCaller:
        identified = self.find(presented_key, dialled_keys)
        if not identified.passed_through:
            at_ms = int(self.clock.now() * 1000)
            report_not_passed(
                identified, seen_by=seen_by, events=self.events, at_ms=at_ms, reference=reference
            )
        return identified

    def find(self, presented_key: str, dialled_keys: tuple[str, ...]) -> IdentifiedCaller:
        """`presented_key`: the key of the caller ElevenLabs reports; `dialled_keys`: of the numbers
        the call was made to, as ElevenLabs reports them (conversation-init's `called_number`)."""
        now_ms = int(self.clock.now() * 1000)
        since_ms = now_ms - self.window_seconds * 1000
        state = self.store.load(presented_key)
        if state.last_call is not None and state.last_call.at_ms >= since_ms:
            return IdentifiedCaller(presented_key, Resolution.PASSED, state, state.last_call)
        recent: dict[str, IncomingNote] = {}
        for dialled_key in dict.fromkeys((presented_key, *dialled_keys)):
            for note in self.calls.calls_to(dialled_key, since_ms):
                recent[note.threecx_call_id or f"{note.caller_key}@{note.at_ms}"] = note
        if len(recent) == 1:
            [meant] = recent.values()
            key = meant.caller_key or None
            if key is None:
                return IdentifiedCaller(None, Resolution.CORRELATED, None, meant)
            meant_state = self.store.load(key)
            # Only a caller with a PIN: the one recent call to the number in a short window proves
            # nothing (anyone calling that number then would get the clone); the PIN they must type
            # in this call before the clone speaks does.
            if meant_state.pin is not None:
                return IdentifiedCaller(key, Resolution.CORRELATED, meant_state, meant)
        return IdentifiedCaller(presented_key, Resolution.NOT_PASSED, state)

    def note(self, call: IncomingNote) -> None:
        """Leave the note conversation-init and check_clone look for; it expires with the window."""
        self.calls.note(call, expires_at=call.at_ms // 1000 + self.window_seconds)
