"""`warmline samples import FILE.csv`: register many callers, with a report line per row.

The file (docs/cli.md, "Importing callers from a CSV file"): UTF-8 CSV with a header row naming
the columns `number`, `samples` (audio files separated by `;`, relative to the CSV file's folder),
`consent` and, optionally, `pin` (4 to 8 digits; empty for no PIN).

Nothing is half-registered. Every row is checked before anything is written (the number, a number
twice in the file, each file and the set as `samples add` checks them, the consent, the PIN, a
caller already registered with other samples); one bad row and nothing is registered. Then the
rows are registered one at a time, each all or nothing: a row that fails while it is written (AWS
refuses, the connection drops) has its uploads and PIN deleted again, and the report says so.

A row that re-registers a caller (`--replace`) keeps the caller's PIN unless its `pin` column gives
a new one; a row reported unchanged still sets the PIN its `pin` column gives, as `samples add`
does with the same files.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from warmline.clone_state import PinRecord
from warmline.consent import ConsentSource
from warmline.verification import InvalidPin, check_new_pin
from warmline_cli import audio, samples
from warmline_cli.console import OK, CliError, UsageError, confirm, say, warn
from warmline_cli.target import Target

REQUIRED_COLUMNS = ("number", "samples", "consent")
OPTIONAL_COLUMNS = ("pin",)
SAMPLE_SEPARATOR = ";"


@dataclass
class Row:
    line: int  # the row's line in the file (the header is line 1)
    label: str  # the masked number once it is known
    enrolment: samples.Enrolment | None = None
    registered: bool = False  # the caller is registered already
    unchanged: bool = False  # ... with these samples
    problem: str = ""
    notes: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        say(f"row {self.line}{' ' if self.label else ''}{self.label}: {text}")


@dataclass(frozen=True)
class ImportRequest:
    path: Path
    replace: bool = False
    yes: bool = False
    dry_run: bool = False


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows as {column: text} with their line numbers; the file's own problems as UsageError."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            columns = [name.strip().lower() for name in reader.fieldnames or []]
            _check_columns(path, columns)
            reader.fieldnames = columns
            rows = [(reader.line_num, row) for row in reader if not _blank(row)]
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{path}: cannot read it as a UTF-8 CSV file: {error}") from None
    if not rows:
        raise UsageError(f"{path}: no rows under the header")
    return rows


def _blank(row: dict[str | None, object]) -> bool:
    return not any(isinstance(value, str) and value.strip() for value in row.values())


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        found = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"
        raise UsageError(
            f"{path}: the header row names the columns number, samples, consent and optionally pin ({found})"
        )


def check_row(target: Target, line: int, values: dict[str, str], folder: Path) -> Row:
    """A row checked as `samples add` checks its arguments; `problem` says all that is wrong with it."""
    row = Row(line, "")
    if None in values:  # csv.DictReader puts the extra fields of a long row under None
        row.problem = "more fields than the header has columns (quote a consent that holds a comma)"
        return row
    problems: list[str] = []
    number = (values.get("number") or "").strip()
    caller = _checked(problems, lambda: samples.resolve_caller(target, number, what="number"))
    row.label = f"({caller.masked})" if caller else ""
    consent = _checked(
        problems, lambda: samples.checked_consent(values.get("consent") or "", "the consent column")
    )
    files = _checked(problems, lambda: _audio(values.get("samples") or "", folder))
    pin = _checked(problems, lambda: _pin(target, caller, values.get("pin") or ""))
    if problems or caller is None or consent is None or files is None:
        row.problem = "; ".join(problems)
        return row
    checked, row.notes = files
    row.enrolment = samples.Enrolment(caller, checked, consent, pin, ConsentSource.IMPORT)
    return row


def _checked[T](problems: list[str], check: Callable[[], T]) -> T | None:
    """`check()`, or None with its problem added to `problems`."""
    try:
        return check()
    except CliError as error:
        problems.append(str(error))
        return None


def _audio(column: str, folder: Path) -> tuple[list[audio.AudioFile], list[str]]:
    files = [folder / part.strip() for part in column.split(SAMPLE_SEPARATOR)]
    files = [path for path in files if path != folder]
    if not files:
        raise UsageError("samples: no audio file named")
    return samples.checked_audio(files)


def _pin(target: Target, caller: samples.Caller | None, text: str) -> PinRecord | None:
    """The row's PIN for its caller; without a valid number, only whether it would do as a PIN."""
    if not text.strip():
        return None
    try:
        pin = check_new_pin(text)
    except InvalidPin as problem:
        raise UsageError(f"pin: {problem}") from None
    return samples.new_pin(target, caller, pin) if caller else None


def _against_the_stack(target: Target, rows: list[Row], replace: bool) -> None:
    """A number twice in the file, and callers registered already (with these samples or others)."""
    seen: dict[str, int] = {}
    for row in rows:
        if row.enrolment is None:
            continue
        key = row.enrolment.caller.key
        if key in seen:
            row.problem = f"the same caller as row {seen[key]}"
            continue
        seen[key] = row.line
        profile = samples.registry(target).profile(key)
        if profile is None:
            continue
        row.registered = True
        row.unchanged = samples.same_samples(target, profile, row.enrolment.files)
        if not replace and not row.unchanged:
            row.problem = "registered with other samples: pass --replace to register these instead"


def _report_checks(rows: list[Row]) -> None:
    for row in rows:
        if row.problem:
            row.say(f"error: {row.problem}")
            continue
        assert row.enrolment is not None
        files = row.enrolment.files
        seconds = sum(file.seconds for file in files)
        speech = sum(file.speech_seconds for file in files)
        state = "already registered with these samples" if row.unchanged else "ok"
        row.say(f"{state}: {len(files)} file(s), {seconds:.0f} s of audio ({speech:.0f} s of speech)")
        for note in row.notes:
            warn(f"row {row.line}: {note}")


def import_callers(target: Target, request: ImportRequest) -> int:
    rows = [check_row(target, line, values, request.path.parent) for line, values in read_rows(request.path)]
    _against_the_stack(target, rows, request.replace)
    _report_checks(rows)
    bad = sum(1 for row in rows if row.problem)
    if bad:
        raise UsageError(f"{bad} of {len(rows)} row(s) have problems: nothing was registered")
    if request.dry_run:
        say(f"all {len(rows)} row(s) check out; nothing registered (--dry-run)")
        return 0
    replaced = [row for row in rows if row.registered and not row.unchanged]
    if replaced:
        confirm(
            f"Replace the registration of {len(replaced)} caller(s)? Their samples and clones are deleted "
            "and the file's registered instead.",
            request.yes,
        )
    return _write(target, rows)


def _write(target: Target, rows: list[Row]) -> int:
    counts = {"registered": 0, "unchanged": 0, "failed": 0}
    for row in rows:
        assert row.enrolment is not None
        if row.unchanged:
            pin = row.enrolment.pin
            set_pin = pin is not None and samples.update_pin(target, row.enrolment.caller, pin)
            row.say("unchanged, PIN set" if set_pin else "unchanged")
            counts["unchanged"] += 1
            continue
        enrolment = row.enrolment
        try:
            if row.registered:
                enrolment = samples.with_kept_pin(target, enrolment)
                samples.withdraw_caller(target, enrolment.caller)
            profile = samples.enrol(target, enrolment)
        except Exception as error:
            kept = "; its earlier registration was withdrawn" if row.registered else ""
            row.say(f"not registered: {error}; nothing of this row was kept{kept}")
            counts["failed"] += 1
            continue
        kept_pin = ", PIN kept" if row.enrolment.pin is None and enrolment.pin is not None else ""
        row.say(f"{OK} registered ({len(profile.sample_keys)} sample(s)){kept_pin}")
        counts["registered"] += 1
    say(", ".join(f"{name} {count}" for name, count in counts.items()))
    return 1 if counts["failed"] else 0
