"""`warmline samples list` and `samples show`: the registered callers, their samples, PIN and clone,
as text or as one JSON document (keys in docs/cli.md)."""

from __future__ import annotations

import time
from typing import Any

from warmline.clone_state import CloneRecord, PinRecord
from warmline.outcomes import NEEDS_VERIFICATION_CODE
from warmline.registry import clone_status, live_clone
from warmline_cli.console import NotFound, emit_json, say
from warmline_cli.samples import iso, registry, resolve_caller
from warmline_cli.target import Target

VERIFICATION_ADVICE = (
    "ElevenLabs asked to verify this voice before use (requires_verification); warmline deleted the "
    "clone and the caller hears the default voice. Check that the sample is the caller's own voice, "
    "recorded with their consent, and that the ElevenLabs account may clone it (its voice "
    "verification, in the ElevenLabs app); then re-record it with `warmline samples add`."
)


def _clone_summary(record: CloneRecord | None, now: float) -> str:
    if record is not None and live_clone(record, now) is None:
        return f"none ({record.status.value.lower()}, expired)"
    return clone_status(record, now)


def _listing(target: Target) -> list[tuple[dict[str, Any], str]]:
    """Each caller for `samples list --json` (keys in docs/cli.md), with their clone in words."""
    rows, now = [], time.time()
    for profile, state in registry(target).listing():
        row = {
            "caller": profile.masked_number,
            "caller_key": profile.caller_key,
            "samples": len(profile.sample_keys),
            "registered_at": iso(profile.created_at_ms),
            "clone_status": clone_status(state.clone, now),
            "pin": state.pin is not None,
        }
        rows.append((row, _clone_summary(state.clone, now)))
    return rows


def list_callers(target: Target, as_json: bool = False) -> int:
    rows = _listing(target)
    if as_json:
        emit_json({"callers": [row for row, _ in rows]})
        return 0
    if not rows:
        say("no callers with voice samples")
        return 0
    say(f"{'caller':<16} {'key':<36} {'samples':>7}  {'registered':<20} {'pin':<4} clone")
    for row, clone in rows:
        registered, pin = _text_time(row["registered_at"]), "yes" if row["pin"] else "no"
        say(
            f"{row['caller']:<16} {row['caller_key']:<36} {row['samples']:>7}  "
            f"{registered:<20} {pin:<4} {clone}"
        )
    return 0


def _clone_details(record: CloneRecord | None) -> dict[str, Any] | None:
    live = live_clone(record, time.time())
    if live is None:
        return None
    return {
        "status": live.status.value.lower(),
        "voice_id": live.cloned_voice_id or None,
        "expires_at": iso(live.expires_at * 1000),
        "error_code": live.error_code or None,
        "error_message": live.error_message or None,
    }


def _pin_details(record: PinRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    locked = record.is_locked(int(time.time() * 1000))
    return {"set_at": iso(record.set_at_ms), "locked_until": iso(record.locked_until_ms) if locked else None}


def caller_details(target: Target, raw_caller: str) -> dict[str, Any]:
    """`samples show --json`: the caller's registration, samples, PIN and clone (keys in docs/cli.md)."""
    caller = resolve_caller(target, raw_caller)
    found = registry(target).on_file(caller.key)
    if found is None:
        raise NotFound(f"caller {caller.masked} has no voice samples (add them with `warmline samples add`)")
    profile, state = found.profile, found.state
    return {
        "caller": caller.masked,
        "caller_key": caller.key,
        "registered_at": iso(profile.created_at_ms),
        "consent": profile.consent,
        "pin": _pin_details(state.pin),
        "samples": [{"key": s.key, "bytes": s.size, "content_type": s.content_type} for s in found.samples],
        "clone_status": clone_status(state.clone, time.time()),
        "clone": _clone_details(state.clone),
    }


def show(target: Target, raw_caller: str, as_json: bool = False) -> int:
    details = caller_details(target, raw_caller)
    if as_json:
        emit_json(details)
        return 0
    say(f"caller      {details['caller']}")
    say(f"key         {details['caller_key']}")
    say(f"registered  {_text_time(details['registered_at'])}")
    say(f"consent     {details['consent']}")
    say(f"pin         {_pin_text(details['pin'])}")
    say("samples")
    for sample in details["samples"]:
        if sample["bytes"] is None:
            say(f"  {sample['key']}  MISSING from {target.bucket}")
        else:
            say(f"  {sample['key']}  {sample['bytes'] / 1_000_000:.2f} MB  {sample['content_type'] or ''}")
    _show_clone(details)
    return 0


def _show_clone(details: dict[str, Any]) -> None:
    clone = details["clone"]
    say(f"clone       {details['clone_status']}")
    if clone is None:
        return
    if clone["voice_id"]:
        say(f"voice id    {clone['voice_id']}")
    if clone["error_code"]:
        say(f"error       {clone['error_code']}: {clone['error_message']}")
    if clone["error_code"] == NEEDS_VERIFICATION_CODE:
        say(f"to do       {VERIFICATION_ADVICE}")
    say(f"expires     {_text_time(clone['expires_at'])}")


def _text_time(instant: str | None) -> str:
    return instant.replace("T", " ")[:16] + " UTC" if instant else "-"


def _pin_text(pin: dict[str, Any] | None) -> str:
    if pin is None:
        return "none"
    text = f"set {_text_time(pin['set_at'])}"
    if pin["locked_until"]:
        text += f", locked until {_text_time(pin['locked_until'])} (`warmline samples pin --unlock` lifts it)"
    return text
