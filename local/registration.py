"""Register a caller's voice sample on the running local stack, the way an operator does.

This is `warmline samples add --local` without its printing: the audio is checked and the sample
and consent are recorded by the CLI's own code. The consent log notes the source as `import` (a
program registered the caller, not an operator at the command line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warmline.consent import ConsentSource
from warmline_cli import audio, samples
from warmline_cli.target import from_local_state


def register_caller(state: dict[str, Any], number: str, files: list[Path], consent: str) -> str:
    """`state` is the stack's description, as in its local.json."""
    target = from_local_state(state)
    caller = samples.resolve_caller(target, number)
    checked = [audio.inspect(path) for path in files]
    samples.register(target, caller, checked, consent, source=ConsentSource.IMPORT)
    return caller.key
