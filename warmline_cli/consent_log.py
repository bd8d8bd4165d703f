"""`warmline samples consent`: the consent log (who registered a caller, when, on what consent,
through which path, and when it was withdrawn), shown or exported as CSV or JSON.

The log outlives `samples remove`; it holds caller keys, never numbers, and no audio.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from warmline.consent import EXPORT_FIELDS, ConsentEntry
from warmline_cli.console import CliError, NotFound, UsageError, progress, say
from warmline_cli.samples import registry_store, resolve_caller
from warmline_cli.target import Target

FORMATS = ("csv", "json")


def export_format(path: Path, requested: str | None) -> str:
    if requested:
        return requested
    suffix = path.suffix.lower().lstrip(".")
    if str(path) == "-":
        return "csv"
    if suffix in FORMATS:
        return suffix
    raise UsageError(f"--export {path}: say --format csv or --format json (or name the file .csv or .json)")


def render(entries: list[ConsentEntry], fmt: str) -> str:
    rows = [entry.row() for entry in entries]
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _entries(target: Target, raw_caller: str | None) -> list[ConsentEntry]:
    store = registry_store(target)
    if raw_caller is not None:
        caller = resolve_caller(target, raw_caller)
        entries = store.consent_log(caller.key)
        if not entries:
            raise NotFound(f"the consent log has no entry for {caller.masked} ({caller.key})")
        return entries
    progress("reading the consent log (a scan of the table)")
    return store.every_consent_entry(on_page=lambda scanned: progress(f"{scanned} items scanned"))


def consent(target: Target, raw_caller: str | None, export: Path | None, fmt: str | None) -> int:
    entries = _entries(target, raw_caller)
    if export is None:
        if not entries:
            say("the consent log is empty")
        for entry in entries:
            event, source = entry.event.value, entry.source.value
            say(f"{entry.at}  {entry.caller_key}  {event:<10}  {source:<6}  {entry.by}")
            if entry.consent:
                say(f"    consent: {entry.consent}")
        return 0
    text = render(entries, export_format(export, fmt))
    if str(export) == "-":
        sys.stdout.write(text)
        return 0
    try:
        export.write_text(text, encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot write {export}: {error.strerror or error}") from None
    callers = len({entry.caller_key for entry in entries})
    say(f"wrote {len(entries)} consent entries ({callers} caller(s)) to {export}")
    return 0
