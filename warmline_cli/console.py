"""What the CLI prints: results on stdout, progress on stderr, errors as one actionable line; the
exit codes; the confirmation a destructive command asks for."""

from __future__ import annotations

import json
import sys
from enum import IntEnum
from typing import Any

OK = "✓"
FAIL = "✗"
WARN = "!"


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # the command was right, but what it checked or did failed (AWS, ElevenLabs, a check)
    USAGE = 2  # the command line or an input it names is wrong (argparse uses 2 too); nothing changed
    NOT_FOUND = 3  # the caller, stack or message named does not exist
    BROKEN_PIPE = 141  # what reads the output stopped reading (`| head`): as a shell's SIGPIPE exit
    INTERRUPTED = 130


EXIT_CODES_HELP = """exit codes:
  0  done (also: `add` of a caller registered with the same samples, `remove` of an absent caller)
  1  failure: a check failed, the clone failed or timed out, AWS or ElevenLabs refused
  2  usage: a wrong option or argument, or a bad input (number, audio, consent, CSV row);
     a destructive command without --yes when standard input is not a terminal
  3  not found: the caller, the stack or the local stack does not exist
  141  what read the output stopped reading (`| head`)"""


class CliError(Exception):
    """A problem the operator can fix; printed as `error: <message>` without a traceback."""

    exit_code = ExitCode.FAILURE


class UsageError(CliError):
    """The command line or an input it names is wrong; nothing was changed."""

    exit_code = ExitCode.USAGE


class NotFound(CliError):
    """What the command names (a caller, a stack) does not exist."""

    exit_code = ExitCode.NOT_FOUND


def say(message: str = "") -> None:
    print(message, flush=True)


def progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"{WARN} {message}", file=sys.stderr, flush=True)


def emit_json(document: dict[str, Any]) -> None:
    """The one JSON document a `--json` command prints on stdout."""
    print(json.dumps(document, indent=2, ensure_ascii=False), flush=True)


def confirm(question: str, yes: bool) -> None:
    """Go on only with --yes, or when the operator answers y at a terminal; else raise UsageError."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Standard input is not a terminal: pass --yes; nothing changed")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("not confirmed; nothing changed")
