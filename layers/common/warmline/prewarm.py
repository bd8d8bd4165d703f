"""check_clone's execution environment, warm before the caller presses 1 (issue 23 §2).

A first-time caller hears the greeting for seconds, then presses 1, and check_clone answers. At low
traffic Lambda has reclaimed check_clone's environments by then, and the press would meet a cold
start. So the incoming-call webhook, which knows a press is seconds away, asks for one asynchronous
invocation of check_clone with WARM_UP_EVENT: Lambda starts an environment for it (if none is idle)
and the function answers it at once, doing nothing; the press then finds that environment idle.
The webhook does not wait for the invocation, and a warm-up that cannot be sent costs the call
nothing: it is logged and counted.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from warmline.calls import CallDecision, Voice
from warmline.ports import Clock

logger = logging.getLogger(__name__)

WARM_UP_EVENT = {"warmline": "warm-up"}
WARMED = {"warmed": True}


class FunctionWarmer(Protocol):
    def warm(self) -> None:
        """Ask for one invocation of the function with WARM_UP_EVENT, without waiting for it."""
        ...


@dataclass(frozen=True)
class WarmUp:
    sent: bool
    duration_ms: float  # what asking for it added to the webhook's answer


def caller_will_press(decision: CallDecision) -> bool:
    """The caller hears the greeting and its menu: while their clone is prepared, or (a caller with a
    PIN) before their ready clone is handed out; either way they will press 1."""
    return decision.voice is Voice.GREETING


def warm_ahead(warmer: FunctionWarmer | None, decision: CallDecision, clock: Clock) -> WarmUp | None:
    """Warm check_clone for a caller who will press; None when there is nothing to warm. Never raises."""
    if warmer is None or not caller_will_press(decision):
        return None
    started = clock.now()
    try:
        warmer.warm()
    except Exception as error:
        logger.warning("check_clone not warmed (the press may meet a cold start): %r", error)
        return WarmUp(False, (clock.now() - started) * 1000)
    return WarmUp(True, (clock.now() - started) * 1000)


def is_warm_up(event: Any) -> bool:
    return event == WARM_UP_EVENT


def answers_warm_up(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The handler, answering a warm-up at once: no logging, no metrics, no store."""

    @functools.wraps(handler)
    def lambda_handler(event: Any, context: Any) -> Any:
        if is_warm_up(event):
            return WARMED
        return handler(event, context)

    return lambda_handler
