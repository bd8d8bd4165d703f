"""What the CLI prints: results on stdout, progress on stderr, errors as one actionable line."""

from __future__ import annotations

import sys

OK = "✓"
FAIL = "✗"
WARN = "!"


class CliError(Exception):
    """A problem the operator can fix; printed as `error: <message>` without a traceback."""


def say(message: str = "") -> None:
    print(message, flush=True)


def progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"{WARN} {message}", file=sys.stderr, flush=True)
