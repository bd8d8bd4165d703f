"""Register a caller's voice sample on the running local stack, the way an operator does.

This is `warmline samples add --local` without its printing: the audio is checked and the sample
and consent are recorded by the CLI's own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warmline.verification import check_new_pin
from warmline_cli import audio, samples
from warmline_cli.target import from_local_state


def register_caller(
    state: dict[str, Any], number: str, files: list[Path], consent: str, pin: str | None = None
) -> str:
    """`state` is the stack's description, as in its local.json; `pin`, if any, as `--pin` sets it."""
    target = from_local_state(state)
    caller = samples.resolve_caller(target, number)
    samples.register(target, caller, [audio.inspect(path) for path in files], consent)
    if pin is not None:
        samples.save_pin(target, caller, check_new_pin(pin))
    return caller.key
