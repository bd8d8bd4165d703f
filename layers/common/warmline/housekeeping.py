"""Scheduled housekeeping: a list of independent sweeps, run one after another on every schedule
tick (the housekeeping function). A sweep that fails is logged and reported, and the ones after it
still run; every sweep is idempotent and bounded per run, so a missed or repeated run is harmless.

A sweep is a function of a `SweepContext` that answers a report (a dataclass with `as_dict`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from warmline.ports import Clock, CloneStore, HandoffStore
from warmline.settings import Settings
from warmline.voice_provider import VoiceCloner

if TYPE_CHECKING:
    from warmline.agent_slots import AgentSlots, AgentTransferLog

logger = logging.getLogger(__name__)

# Time kept back from the invocation's remaining time: a sweep stops starting work under it.
SWEEP_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class SweepContext:
    """What the sweeps may use. `cloner` is called only by a sweep that needs it (it reads the
    API key), so one that does not is not stopped by a secret it cannot read."""

    store: CloneStore
    handoffs: HandoffStore
    cloner: Callable[[], VoiceCloner]
    clock: Clock
    settings: Settings
    time_left: Callable[[], float]  # seconds the invocation has left
    agent_slots: AgentSlots | None = None  # HandoffMode=agent_transfer's voice-slot agents
    # HandoffMode=agent_transfer: the conversations' history, where an agent transfer shows as done.
    agent_transfers: Callable[[], AgentTransferLog] | None = None


class SweepReport(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Sweep:
    name: str
    run: Callable[[SweepContext], SweepReport]


@dataclass(frozen=True)
class SweepOutcome:
    name: str
    report: SweepReport | None
    error: str = ""


def run_sweeps(sweeps: Sequence[Sweep], context: SweepContext) -> list[SweepOutcome]:
    outcomes = []
    for sweep in sweeps:
        try:
            outcomes.append(SweepOutcome(sweep.name, sweep.run(context)))
        except Exception as error:
            logger.exception("the %s sweep failed", sweep.name)
            outcomes.append(SweepOutcome(sweep.name, None, f"{type(error).__name__}: {error}"))
    return outcomes
