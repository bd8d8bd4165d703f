"""Callers' voice samples: add (checked audio + consent, optionally a PIN; a re-registration keeps
the caller's PIN), list, show, remove (the withdrawal in the consent log, the profile, the clone
record, the PIN and every S3 version of the samples, always; then the caller's clones at ElevenLabs,
or the sweep deletes them), a caller's PIN: set, clear, unlock, and rekey (a caller registered under
the numbering rule before libphonenumber's)."""

from __future__ import annotations

import getpass
import hashlib
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from warmline.adapters.dynamodb import CLONE, PROFILE, DynamoCloneStore
from warmline.adapters.elevenlabs import ElevenLabsClient
from warmline.adapters.s3 import S3SampleStore, sample_key
from warmline.callers import InvalidCallerNumber, caller_key, is_withheld, mask, normalise_number
from warmline.clone_state import CallerProfile, CallerState, CloneRecord, CloneStatus, PinRecord
from warmline.consent import MAX_CONSENT_CHARACTERS, ConsentEntry, ConsentEvent, ConsentSource
from warmline.outcomes import NEEDS_VERIFICATION_CODE
from warmline.verification import InvalidPin, check_new_pin, hash_pin
from warmline.voice_provider import ProviderError
from warmline.voice_slots import voice_name
from warmline_cli import audio
from warmline_cli.console import CliError, NotFound, UsageError, confirm, emit_json, progress, say, warn
from warmline_cli.target import Target

MIN_CONSENT_CHARACTERS = 10


@dataclass(frozen=True)
class Caller:
    number: str
    key: str
    shown_as: str = ""  # a caller named by key: the masked number their profile keeps (no number)

    @property
    def masked(self) -> str:
        return self.shown_as or mask(self.number)


def resolve_caller(target: Target, raw: str, what: str = "--caller") -> Caller:
    if is_withheld(raw):
        raise UsageError(f"{what}: {raw!r} is not a caller number")
    try:
        number = normalise_number(raw, target.default_country_code)
    except InvalidCallerNumber as error:
        raise UsageError(f"{what}: {error}") from None
    return Caller(number, caller_key(number, target.secret("CallerKeySecret")))


def clone_store(target: Target) -> DynamoCloneStore:
    return DynamoCloneStore(target.client("dynamodb"), target.table)


def register(
    target: Target,
    caller: Caller,
    checked: list[audio.AudioFile],
    consent: str,
    on_upload: Callable[[str], None] = lambda message: None,
    source: ConsentSource = ConsentSource.CLI,
) -> CallerProfile:
    """Upload checked samples, then record the caller's profile and its entry in the consent log
    (together or not at all); if anything fails, the samples uploaded are deleted again."""
    consent = bounded_consent(consent)
    store = clone_store(target)
    if store.get_profile(caller.key) is not None:
        raise CliError(
            f"caller {caller.masked} already has samples; `--replace` registers them again "
            f"(or remove them first: `warmline samples remove --caller {caller.number}`)"
        )
    samples = S3SampleStore(target.client("s3"), target.bucket)
    try:
        keys = []
        for number, file in enumerate(checked, start=1):
            on_upload(f"uploading {file.path.name} ({file.size / 1_000_000:.2f} MB)")
            name = f"sample-{number:02d}.{file.extension}"
            keys.append(samples.write(caller.key, name, file.path.read_bytes(), file.content_type))
        profile = CallerProfile(
            caller_key=caller.key,
            sample_keys=tuple(keys),
            consent=consent,
            masked_number=caller.masked,
            created_at_ms=int(time.time() * 1000),
        )
        entry = ConsentEntry(
            caller.key, ConsentEvent.REGISTERED, profile.created_at_ms, target.operator(), source, consent
        )
        store.register(profile, entry)
    except BaseException:
        _delete_sample_versions(target, caller.key)  # unregistered, the uploads are nobody's
        raise
    return profile


@dataclass(frozen=True)
class Enrolment:
    """A caller to register: checked samples, consent, and a PIN if they have one."""

    caller: Caller
    files: list[audio.AudioFile]
    consent: str
    pin: PinRecord | None = None
    source: ConsentSource = ConsentSource.CLI


def enrol(target: Target, enrolment: Enrolment) -> CallerProfile:
    """Register the caller with their PIN, all or nothing: the PIN is written first (harmless
    without a profile) and deleted again if the registration fails."""
    store = clone_store(target)
    if enrolment.pin is not None:
        store.save_pin(enrolment.caller.key, enrolment.pin)
    try:
        return register(
            target, enrolment.caller, enrolment.files, enrolment.consent, progress, enrolment.source
        )
    except BaseException:
        if enrolment.pin is not None:
            store.delete_pin(enrolment.caller.key)
        raise


def checked_consent(consent: str, field: str = "--consent") -> str:
    consent = (consent or "").strip()
    if len(consent) < MIN_CONSENT_CHARACTERS:
        raise UsageError(
            f"no voice sample without consent: {field} must say who agreed, when and how "
            f'(at least {MIN_CONSENT_CHARACTERS} characters, e.g. "Jane Doe, by phone, 2026-11-24, recorded")'
        )
    return bounded_consent(consent, field)


def bounded_consent(consent: str, field: str = "--consent") -> str:
    if len(consent) > MAX_CONSENT_CHARACTERS:
        raise UsageError(
            f"{field} is {len(consent)} characters, over the {MAX_CONSENT_CHARACTERS}-character limit: "
            "say who agreed, when and how, and give a reference to where the rest is recorded "
            "(a ticket, a signed form) instead of the whole text"
        )
    return consent


def checked_audio(files: list[Path]) -> tuple[list[audio.AudioFile], list[str]]:
    """Every file inspected, and the set checked: the files and the warnings, or a UsageError."""
    try:
        checked = [audio.inspect(path) for path in files]
        return checked, audio.check_set(checked)
    except audio.AudioProblem as problem:
        raise UsageError(str(problem)) from None


def _digests(contents: list[bytes]) -> list[str]:
    return sorted(hashlib.sha256(content).hexdigest() for content in contents)


def same_samples(target: Target, profile: CallerProfile, checked: list[audio.AudioFile]) -> bool:
    """Whether the caller's stored samples are these files (in any order): sizes first, then bytes."""
    if len(profile.sample_keys) != len(checked):
        return False
    s3 = target.client("s3")
    try:
        heads = [s3.head_object(Bucket=target.bucket, Key=key) for key in profile.sample_keys]
        if sorted(head["ContentLength"] for head in heads) != sorted(file.size for file in checked):
            return False
        stored = [s3.get_object(Bucket=target.bucket, Key=key)["Body"].read() for key in profile.sample_keys]
    except ClientError:
        return False  # a sample is missing: not the same
    return _digests(stored) == _digests([file.path.read_bytes() for file in checked])


@dataclass(frozen=True)
class AddRequest:
    caller: str
    files: list[Path]
    consent: str
    pin: str | None = None  # already read and checked (read_pin)
    replace: bool = False
    yes: bool = False


def add(target: Target, request: AddRequest) -> Caller:
    """Register the caller (see docs/cli.md): a no-op for the same samples, a
    re-registration with --replace, refused for other samples without it."""
    consent = checked_consent(request.consent)
    caller = resolve_caller(target, request.caller)  # before the audio, which takes seconds to decode
    checked, warnings = checked_audio(request.files)
    for file in checked:
        say(f"  {file.describe()}")
    for warning in warnings:
        warn(warning)
    pin_record = new_pin(target, caller, request.pin) if request.pin is not None else None
    existing = clone_store(target).get_profile(caller.key)
    if existing is not None and not request.replace:
        if not same_samples(target, existing, checked):
            raise CliError(
                f"caller {caller.masked} ({caller.key}) is registered with other samples: "
                "pass --replace to register these instead (their old samples and clones are deleted)"
            )
        say(f"{caller.masked} ({caller.key}) is already registered with these samples: nothing changed")
        if pin_record is not None and update_pin(target, caller, pin_record):
            say(PIN_SET)
        return caller
    enrolment = Enrolment(caller, checked, consent, pin_record)
    if existing is not None:
        confirm(
            f"Replace the registration of {caller.masked} ({caller.key})? Their samples and clones are "
            "deleted and these files registered instead (their PIN stays, unless --pin gives a new one).",
            request.yes,
        )
        enrolment = with_kept_pin(target, enrolment)
        withdraw_caller(target, caller)
    profile = enrol(target, enrolment)
    total = sum(file.seconds for file in checked)
    say(
        f"registered {caller.masked} ({caller.key}): {len(profile.sample_keys)} sample(s), "
        f"{total:.0f} s of audio"
    )
    if pin_record is not None:
        say(PIN_SET)
    elif enrolment.pin is not None:
        say(PIN_KEPT)
    return caller


def with_kept_pin(target: Target, enrolment: Enrolment) -> Enrolment:
    """A re-registration of a caller keeps their PIN (as it is: its attempts and any lock too),
    unless it brings a new one: withdrawing them deletes it, and `enrol` writes it again."""
    if enrolment.pin is not None:
        return enrolment
    return replace(enrolment, pin=clone_store(target).get_pin(enrolment.caller.key))


def update_pin(target: Target, caller: Caller, record: PinRecord) -> bool:
    """Set the PIN of a caller registered with the same samples, unless it is their PIN already
    (then nothing changes: its attempts and any lock stay). True if it was set."""
    store = clone_store(target)
    current = store.get_pin(caller.key)
    if current is not None and current.pin_hash == record.pin_hash:
        return False
    store.save_pin(caller.key, record)
    return True


def _profiles(target: Target) -> list[CallerProfile]:
    deserializer = TypeDeserializer()
    paginator = target.client("dynamodb").get_paginator("scan")
    profiles = []
    pages = paginator.paginate(
        TableName=target.table,
        FilterExpression="sk = :profile",
        ExpressionAttributeValues={":profile": {"S": PROFILE}},
    )
    for page in pages:
        for item in page.get("Items", []):
            values = {name: deserializer.deserialize(value) for name, value in item.items()}
            profiles.append(
                CallerProfile(
                    caller_key=values["caller_key"],
                    sample_keys=tuple(values.get("sample_keys", ())),
                    consent=values.get("consent", ""),
                    masked_number=values.get("masked_number", ""),
                    created_at_ms=int(values.get("created_at_ms", 0)),
                )
            )
    return sorted(profiles, key=lambda profile: profile.created_at_ms)


def iso(at_ms: int) -> str | None:
    """An instant for JSON: ISO-8601 in UTC to the second (`2026-11-24T10:00:00Z`), or None."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at_ms / 1000)) if at_ms else None


def _live(record: CloneRecord | None) -> CloneRecord | None:
    return record if record is not None and record.is_live(time.time()) else None


def _clone_status(record: CloneRecord | None) -> str:
    """none, pending, cloning, ready or failed: what a call would find now."""
    live = _live(record)
    return live.status.value.lower() if live is not None else "none"


def _clone_summary(record: CloneRecord | None) -> str:
    if record is not None and _live(record) is None:
        return f"none ({record.status.value.lower()}, expired)"
    return _clone_status(record)


def _listing(target: Target) -> list[tuple[dict[str, Any], str]]:
    """Each caller for `samples list --json` (keys in docs/cli.md), with their clone in words."""
    store = clone_store(target)
    rows = []
    for profile in _profiles(target):
        state = store.load(profile.caller_key)
        row = {
            "caller": profile.masked_number,
            "caller_key": profile.caller_key,
            "samples": len(profile.sample_keys),
            "registered_at": iso(profile.created_at_ms),
            "clone_status": _clone_status(state.clone),
            "pin": state.pin is not None,
        }
        rows.append((row, _clone_summary(state.clone)))
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


def _registered(target: Target, raw_caller: str) -> tuple[Caller, CallerProfile]:
    caller = resolve_caller(target, raw_caller)
    profile = clone_store(target).get_profile(caller.key)
    if profile is None:
        raise NotFound(f"caller {caller.masked} has no voice samples (add them with `warmline samples add`)")
    return caller, profile


def _sample_details(target: Target, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    s3 = target.client("s3")
    details = []
    for key in keys:
        try:
            head = s3.head_object(Bucket=target.bucket, Key=key)
            size, content_type = head["ContentLength"], head.get("ContentType")
            details.append({"key": key, "bytes": size, "content_type": content_type})
        except ClientError:
            details.append({"key": key, "bytes": None, "content_type": None})  # missing from the bucket
    return details


def _clone_details(record: CloneRecord | None) -> dict[str, Any] | None:
    live = _live(record)
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
    caller, profile = _registered(target, raw_caller)
    state = clone_store(target).load(caller.key)
    return {
        "caller": caller.masked,
        "caller_key": caller.key,
        "registered_at": iso(profile.created_at_ms),
        "consent": profile.consent,
        "pin": _pin_details(state.pin),
        "samples": _sample_details(target, profile.sample_keys),
        "clone_status": _clone_status(state.clone),
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
    clone = details["clone"]
    say(f"clone       {details['clone_status']}")
    if clone is not None:
        if clone["voice_id"]:
            say(f"voice id    {clone['voice_id']}")
        if clone["error_code"]:
            say(f"error       {clone['error_code']}: {clone['error_message']}")
        if clone["error_code"] == NEEDS_VERIFICATION_CODE:
            say(f"to do       {VERIFICATION_ADVICE}")
        say(f"expires     {_text_time(clone['expires_at'])}")
    return 0


VERIFICATION_ADVICE = (
    "ElevenLabs asked to verify this voice before use (requires_verification); warmline deleted the "
    "clone and the caller hears the default voice. Check that the sample is the caller's own voice, "
    "recorded with their consent, and that the ElevenLabs account may clone it (its voice "
    "verification, in the ElevenLabs app); then re-record it with `warmline samples add`."
)


def _text_time(instant: str | None) -> str:
    return instant.replace("T", " ")[:16] + " UTC" if instant else "-"


def _pin_text(pin: dict[str, Any] | None) -> str:
    if pin is None:
        return "none"
    text = f"set {_text_time(pin['set_at'])}"
    if pin["locked_until"]:
        text += f", locked until {_text_time(pin['locked_until'])} (`warmline samples pin --unlock` lifts it)"
    return text


def _sample_versions(s3: Any, bucket: str, caller: str) -> list[dict[str, str]]:
    prefix = f"samples/{caller}/"
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
    return found


def _delete_versions(s3: Any, bucket: str, versions: list[dict[str, str]]) -> None:
    for start in range(0, len(versions), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": versions[start : start + 1000], "Quiet": True})


def _delete_sample_versions(target: Target, caller_key: str) -> None:
    s3 = target.client("s3")
    _delete_versions(s3, target.bucket, _sample_versions(s3, target.bucket, caller_key))


def _voices_of(client: ElevenLabsClient, caller: Caller) -> set[str]:
    prefix = voice_name("", caller.key)
    return {voice.voice_id for voice in client.list_voices(prefix) if voice.name.startswith(prefix)}


@dataclass
class _Holdings:
    """What warmline holds of a caller in AWS: their state and the object versions of their samples."""

    state: CallerState
    versions: list[dict[str, str]]

    @property
    def withdrawn(self) -> bool:
        clone = self.state.clone
        return self.state.profile is None and (clone is None or clone.status is CloneStatus.REMOVED)

    @property
    def empty(self) -> bool:
        return self.withdrawn and not self.versions

    def describe(self) -> str:
        parts = [] if self.withdrawn else ["their profile and PIN"]
        if self.versions:
            parts.append(f"{len(self.versions)} sample object version(s)")
        return ", ".join([*parts, "their clones at ElevenLabs"])


def _holdings(target: Target, caller: Caller) -> _Holdings:
    state = clone_store(target).load(caller.key)
    return _Holdings(state, _sample_versions(target.client("s3"), target.bucket, caller.key))


def _elevenlabs(target: Target) -> ElevenLabsClient:
    return ElevenLabsClient(target.secret("ElevenLabsApiKeySecret"), target.elevenlabs_base_url)


def remove(target: Target, raw_caller: str, yes: bool = False) -> int:
    """Withdraw the caller (`remove_caller`), after the operator confirms."""
    return remove_caller(target, resolve_caller(target, raw_caller), yes)


def remove_caller(target: Target, caller: Caller, yes: bool = False) -> int:
    """Withdraw the caller (`_withdraw`), after the operator confirms. A caller already withdrawn
    has only their leftover clones at ElevenLabs deleted, without a question; one warmline holds
    nothing of is already removed: that is success (remove is idempotent). Clones ElevenLabs could
    not delete now: exit 1, the withdrawal stands and the sweep deletes them."""
    holdings = _holdings(target, caller)
    if not holdings.empty:
        confirm(f"Withdraw {caller.masked} ({caller.key}): delete {holdings.describe()}?", yes)
    left = _withdraw(target, caller, holdings)
    if left is not None:
        raise CliError(left)
    return 0


# ---- callers named by key, or all of them (teardown: docs/deployment.md, section 10) ----------------

_CALLER_KEY = re.compile(r"ck_[0-9a-f]{32}")


def caller_by_key(target: Target, key: str) -> Caller:
    """A caller named by the key `samples list` shows, for an operator who has no number to give."""
    if not _CALLER_KEY.fullmatch(key):
        raise UsageError(
            f"--key: {key!r} is not a caller key (ck_ and 32 hex digits, as `samples list` shows)"
        )
    profile = clone_store(target).get_profile(key)
    return Caller(
        "", key, shown_as=profile.masked_number if profile and profile.masked_number else "(no number)"
    )


def remove_by_key(target: Target, key: str, yes: bool = False) -> int:
    return remove_caller(target, caller_by_key(target, key), yes)


def _every_caller_key(target: Target) -> list[str]:
    """Each caller warmline holds something of: a profile, a clone record that is not the REMOVED
    marker, or sample objects in the bucket (a registration interrupted before its profile)."""
    found: dict[str, None] = {}
    pages = (
        target.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=target.table,
            FilterExpression="sk = :profile OR (sk = :clone AND #status <> :removed)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":profile": {"S": PROFILE},
                ":clone": {"S": CLONE},
                ":removed": {"S": CloneStatus.REMOVED.value},
            },
            ProjectionExpression="caller_key",
        )
    )
    for page in pages:
        found.update(dict.fromkeys(item["caller_key"]["S"] for item in page.get("Items", [])))
    s3 = target.client("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=target.bucket, Prefix="samples/"):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            found.setdefault(entry["Key"].split("/")[1], None)
    return sorted(found)


def remove_all(target: Target, yes: bool = False) -> int:
    """Withdraw every caller (`_every_caller_key`) after one question for all of them."""
    callers = [caller_by_key(target, key) for key in _every_caller_key(target)]
    if not callers:
        say(f"{target.description} holds no caller's samples, profile or clone: nothing to remove")
        return 0
    named = ", ".join(caller.masked for caller in callers[:5]) + (" …" if len(callers) > 5 else "")
    confirm(
        f"Withdraw all {len(callers)} caller(s) of {target.description} ({named}): delete their profiles, "
        "PINs, clones and every version of their samples?",
        yes,
    )
    left = [caller for caller in callers if not withdraw_caller(target, caller)]
    say(f"withdrew {len(callers)} caller(s); `warmline samples list` shows none now")
    if left:
        raise CliError(
            f"ElevenLabs kept the clones of {len(left)} caller(s) for now: their withdrawal stands and the "
            "housekeeping sweep deletes the clones once ElevenLabs answers (or run `samples remove --all` "
            "again)"
        )
    return 0


def withdraw_caller(target: Target, caller: Caller, elevenlabs: ElevenLabsClient | None = None) -> bool:
    """Withdraw the caller (see `_withdraw`) without asking; clones ElevenLabs could not delete now
    are a warning (the sweep deletes them). False if such clones are left."""
    left = _withdraw(target, caller, _holdings(target, caller), elevenlabs)
    if left is not None:
        warn(left)
    return left is None


def _withdraw(
    target: Target, caller: Caller, holdings: _Holdings, elevenlabs: ElevenLabsClient | None = None
) -> str | None:
    """First, whatever ElevenLabs does: the consent log records the withdrawal, the profile and PIN
    go and the REMOVED marker replaces the clone record at once (no call is handed the clone from
    then on, and a worker still cloning deletes the voice it can no longer record); every version
    of the samples is deleted. Then the caller's clones at ElevenLabs; if ElevenLabs cannot list or
    delete them now, what is left is said (the returned message), for the scheduled voice sweep to
    delete once it answers: a withdrawn caller's voices are orphans to it."""
    if not holdings.withdrawn:
        withdrawal = ConsentEntry(
            caller.key, ConsentEvent.WITHDRAWN, int(time.time() * 1000), target.operator(), ConsentSource.CLI
        )
        clone_store(target).withdraw(caller.key, withdrawal)
        say(f"withdrew {caller.masked} ({caller.key}): profile removed, consent log notes the withdrawal")
    if holdings.versions:
        _delete_versions(target.client("s3"), target.bucket, holdings.versions)
        say(f"deleted {len(holdings.versions)} sample object version(s) from {target.bucket}")
    try:
        deleted = _delete_clones(elevenlabs or _elevenlabs(target), caller, holdings.state.clone)
    except (ProviderError, CliError) as error:
        reason = f"ElevenLabs: {error.message}" if isinstance(error, ProviderError) else str(error)
        done = "holds nothing here" if holdings.empty else "is withdrawn and their samples are deleted"
        return (
            f"{reason}; {caller.masked} {done}, but any clone of them at ElevenLabs is not deleted "
            "yet: no call is handed one (the REMOVED marker), and the scheduled voice sweep deletes "
            "them once ElevenLabs answers (or run `warmline samples remove` again)"
        )
    if holdings.empty and not deleted:
        say(f"caller {caller.masked} ({caller.key}) has no samples, profile or clone: nothing to remove")
    return None


def _delete_clones(client: ElevenLabsClient, caller: Caller, clone: CloneRecord | None) -> int:
    """Delete the caller's clones at ElevenLabs (their record's, and every voice named for them:
    an earlier attempt's, one a worker finished while this ran); how many."""
    progress("looking for the caller's clones at ElevenLabs")
    voice_ids = _voices_of(client, caller)
    if clone is not None and clone.cloned_voice_id:
        voice_ids.add(clone.cloned_voice_id)
    for voice_id in sorted(voice_ids):
        client.delete_voice(voice_id)
        say(f"deleted the clone {voice_id} at ElevenLabs")
    return len(voice_ids)


# ---- callers registered under the rule before libphonenumber's -----------------------------------

_LEGACY_FORMATTING = re.compile(r"[\s\-.()/]")
_LEGACY_DIGITS = re.compile(r"\+?[0-9]{3,15}")


def legacy_number(raw: str, default_country_code: str) -> str | None:
    """The number as warmline normalised it before it used libphonenumber's rules (formatting
    dropped, `00` -> `+`, a national `0…` -> `+<cc>…`), or None if that rule refused it."""
    text = _LEGACY_FORMATTING.sub("", raw.strip())
    if not _LEGACY_DIGITS.fullmatch(text):
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    elif default_country_code and text.startswith("0"):
        text = f"+{default_country_code}{text[1:]}"
    return text if len(text.lstrip("+")) >= 3 else None


def _old_callers(target: Target, raw_caller: str, caller: Caller) -> list[Caller]:
    """The caller under each earlier rule that keys them apart from today's: the rule before
    libphonenumber's, and the number as written (how a national number was keyed while no
    DefaultCountryCode was set, before such numbers were refused)."""
    numbers = dict.fromkeys(
        (legacy_number(raw_caller, target.default_country_code), legacy_number(raw_caller, ""))
    )
    secret = target.secret("CallerKeySecret")
    return [
        Caller(number, caller_key(number, secret))
        for number in numbers
        if number is not None and number != caller.number
    ]


def rekey(target: Target, raw_caller: str, new_pin: str | None = None) -> int:
    """Move a caller registered under the old rule to the key the current rule gives their number:
    the samples and the consent move; their old clone is deleted (the next call clones afresh). A
    PIN is bound to the key it was set under, so a caller with one needs `new_pin` (the same PIN,
    asked again)."""
    caller = resolve_caller(target, raw_caller)
    olds = _old_callers(target, raw_caller, caller)
    if not olds:
        say(f"{caller.masked} is keyed the same under both rules ({caller.key}): nothing to do")
        return 0
    store = clone_store(target)
    found = [(old, profile) for old in olds if (profile := store.get_profile(old.key)) is not None]
    if not found:
        keys = ", ".join(old.key for old in olds)
        raise NotFound(f"no caller is registered under the old key of {raw_caller!r} ({keys})")
    old, profile = found[0]
    if store.get_profile(caller.key) is not None:
        raise CliError(
            f"{caller.masked} is registered under the current rule too ({caller.key}); "
            f"keep one: `warmline samples remove --caller {caller.number}` removes the current one"
        )
    if store.get_pin(old.key) is not None and new_pin is None:
        raise UsageError(
            f"{caller.masked} has a PIN, which is bound to the old key: run this again with --pin and "
            "type the caller's PIN, so their cloned voice stays behind it"
        )
    s3 = target.client("s3")
    new_keys = []
    for key in profile.sample_keys:
        new_key = sample_key(caller.key, key)
        progress(f"copying {key} to {new_key}")
        s3.copy_object(Bucket=target.bucket, Key=new_key, CopySource={"Bucket": target.bucket, "Key": key})
        new_keys.append(new_key)
    if new_pin is not None:
        save_pin(target, caller, new_pin)
    moved = replace(profile, caller_key=caller.key, sample_keys=tuple(new_keys))
    entry = ConsentEntry(
        caller.key,
        ConsentEvent.REGISTERED,
        int(time.time() * 1000),
        target.operator(),
        ConsentSource.CLI,
        f"{profile.consent} (re-keyed from {old.key})",
    )
    store.register(moved, entry)
    say(f"registered {caller.masked} under {caller.key} with the same samples and consent")
    withdraw_caller(target, old)
    return 0


# ---- a caller's PIN (warmline.verification) ---------------------------------------------------------

PIN_SET = "PIN set: the agent asks for it before the caller's cloned voice speaks"
PIN_KEPT = "PIN kept: the agent still asks for it (`warmline samples pin --clear` removes it)"


def read_pin() -> str:
    """A new PIN: typed twice at a terminal (not echoed), or one line on standard input."""
    if sys.stdin.isatty():
        pin = getpass.getpass("the caller's PIN (4 to 8 digits): ")
        if getpass.getpass("the same PIN again: ") != pin:
            raise UsageError("the two PINs differ; nothing was changed")
    else:
        pin = sys.stdin.readline()
    try:
        return check_new_pin(pin)
    except InvalidPin as problem:
        raise UsageError(f"PIN: {problem}") from None


def new_pin(target: Target, caller: Caller, pin: str) -> PinRecord:
    pin_hash = hash_pin(caller.key, pin, target.secret("PinPepperSecret"))
    return PinRecord(pin_hash=pin_hash, set_at_ms=int(time.time() * 1000))


def save_pin(target: Target, caller: Caller, pin: str) -> None:
    """Set the caller's PIN (`pin` already checked); their wrong attempts and any lock are forgotten."""
    clone_store(target).save_pin(caller.key, new_pin(target, caller, pin))


def set_pin(target: Target, raw_caller: str) -> int:
    caller, _profile = _registered(target, raw_caller)
    save_pin(target, caller, read_pin())
    say(f"{caller.masked}: {PIN_SET}")
    return 0


def clear_pin(target: Target, raw_caller: str) -> int:
    caller = resolve_caller(target, raw_caller)
    if not clone_store(target).delete_pin(caller.key):
        say(f"{caller.masked} has no PIN: nothing to clear")
        return 0
    say(f"{caller.masked}: PIN cleared; their number alone gets the cloned voice again")
    return 0


def unlock_pin(target: Target, raw_caller: str) -> int:
    caller = resolve_caller(target, raw_caller)
    store = clone_store(target)
    record = store.get_pin(caller.key)
    if record is None:
        raise NotFound(f"caller {caller.masked} has no PIN: nothing to unlock")
    store.save_pin(caller.key, PinRecord(pin_hash=record.pin_hash, set_at_ms=record.set_at_ms))
    say(f"{caller.masked}: wrong attempts and lock cleared; the PIN is unchanged")
    return 0
