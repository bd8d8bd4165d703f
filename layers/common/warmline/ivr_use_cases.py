"""The ivr_check function's two routes, each one call: the agent's check_clone tool and the
operator's cloning figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from warmline.callers import mask
from warmline.cloning_report import CloningReport, cloning_report, parse_window
from warmline.events import Event
from warmline.ivr import CheckRequest, IvrAnswer, IvrDesk
from warmline.numbers import CallerNumbers
from warmline.observability import count_caller_identity, count_ivr_answer, logger
from warmline.ports import Clock
from warmline.verification import PinEntry


@dataclass(frozen=True)
class CheckedKey:
    answer: IvrAnswer
    masked_caller: str  # "" when the number could not be read


@dataclass(frozen=True)
class KeyPress:
    """What the agent's check_clone tool sends: the caller as the path has it (percent-decoded),
    the key pressed, and optionally the conversation and the PIN the caller typed."""

    caller_id: str
    pressed_key: str
    conversation_id: str = ""
    pin: str | None = None


@dataclass(frozen=True)
class KeyPresses:
    """POST /api/ivr/check-clone/{caller_id}."""

    numbers: CallerNumbers
    desk: IvrDesk
    pepper: Callable[[], str]  # the PIN pepper (it reads the secret only when a PIN is checked)

    def check(self, press: KeyPress) -> CheckedKey:
        # A number warmline cannot read is no caller: the agent goes on in its own voice, as
        # conversation-init does. A 4xx would be hidden from the agent (ElevenLabs'
        # tool_error_handling_mode), which then tells the caller nothing.
        number = self.numbers.read_leniently(press.caller_id) or ""
        masked = mask(number) if number else ""
        logger.append_keys(caller=masked or "unreadable", conversation_id=press.conversation_id)
        check = CheckRequest(
            self.numbers.key(number),
            number,
            press.pressed_key.strip(),
            conversation_id=press.conversation_id,
            pin=PinEntry(press.pin, pepper=self.pepper),
        )
        logger.append_keys(caller_key=check.caller_key)
        answer = self.desk.check(check)
        if answer.identified is not None:
            logger.append_keys(caller_key=answer.identified.caller_key)
            count_caller_identity(answer.identified)
        _log(answer)
        count_ivr_answer(answer)
        return CheckedKey(answer, masked)


def _log(answer: IvrAnswer) -> None:
    logger.info(
        "check_clone answered",
        extra={
            "status": answer.status,
            "next_action": answer.next_action,
            "wait_time_ms": answer.wait_time_ms,
            "pin": answer.pin.result if answer.pin is not None else None,
            "handoff_counted": answer.handoff_counted,
        },
    )


@dataclass(frozen=True)
class Figures:
    from_ms: int
    to_ms: int
    report: CloningReport


class EventHistory(Protocol):
    def between(self, start_ms: int, end_ms: int) -> list[Event]:
        """The events with start_ms <= at_ms < end_ms, oldest first."""
        ...


@dataclass(frozen=True)
class CloningFigures:
    """GET /api/metrics/cloning."""

    events: EventHistory
    clock: Clock

    def of(self, query: Mapping[str, str]) -> Figures:
        """The figures of the window the query names (InvalidWindow when it names none)."""
        from_ms, to_ms = parse_window(dict(query), int(self.clock.now() * 1000))
        return Figures(from_ms, to_ms, cloning_report(self.events.between(from_ms, to_ms)))
