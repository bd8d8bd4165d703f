"""Register a caller's voice sample on the running local stack, the way an operator does.

This is `warmline samples add --local` without its printing: the audio is checked and the sample
and consent are recorded by the CLI's own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warmline_cli import audio, samples
from warmline_cli.target import from_local_state


def register_caller(state: dict[str, Any], number: str, files: list[Path], consent: str) -> str:
    """`state` is the stack's description, as in its local.json."""
    target = from_local_state(state)
    caller = samples.resolve_caller(target, number)
    samples.register(target, caller, [audio.inspect(path) for path in files], consent)
    return caller.key
