"""Callers' voice samples: add (checked audio + consent, optionally a PIN), list, show, remove (the
withdrawal in the consent log, the profile, the clone record, the PIN, the caller's clones at
ElevenLabs, and every S3 version of the samples), a caller's PIN: set, clear, unlock, and rekey (a
caller registered under the numbering rule before libphonenumber's)."""

from __future__ import annotations

import getpass
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from warmline.adapters.dynamodb import PROFILE, DynamoCloneStore
from warmline.adapters.elevenlabs import ElevenLabsClient
from warmline.adapters.s3 import S3SampleStore, sample_key
from warmline.adapters.sqs import SqsJobQueue
from warmline.callers import InvalidCallerNumber, caller_key, is_withheld, mask, normalise_number
from warmline.calls import CloneRequests, PendingPolicy
from warmline.clone_state import CallerProfile, CloneRecord, CloneStatus, PinRecord
from warmline.consent import ConsentEntry, ConsentEvent, ConsentSource
from warmline.settings import Settings
from warmline.verification import InvalidPin, check_new_pin, hash_pin
from warmline.voice_provider import ProviderError
from warmline.voice_slots import voice_name
from warmline_cli import audio
from warmline_cli.console import CliError, progress, say, warn
from warmline_cli.target import Target

MIN_CONSENT_CHARACTERS = 10


@dataclass(frozen=True)
class Caller:
    number: str
    key: str

    @property
    def masked(self) -> str:
        return mask(self.number)


def resolve_caller(target: Target, raw: str) -> Caller:
    if is_withheld(raw):
        raise CliError(f"{raw!r} is not a caller number")
    try:
        number = normalise_number(raw, target.default_country_code)
    except InvalidCallerNumber as error:
        raise CliError(f"--caller: {error}") from None
    return Caller(number, caller_key(number, target.secret("CallerKeySecret")))


def _store(target: Target) -> DynamoCloneStore:
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
    (together or not at all)."""
    store = _store(target)
    if store.get_profile(caller.key) is not None:
        raise CliError(
            f"caller {caller.masked} already has samples; remove them first with "
            f"`warmline samples remove --caller {caller.number}`"
        )
    samples = S3SampleStore(target.client("s3"), target.bucket)
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
    return profile


def add(
    target: Target, raw_caller: str, files: list[Path], consent: str, prewarm: bool, pin: str | None = None
) -> int:
    consent = (consent or "").strip()
    if len(consent) < MIN_CONSENT_CHARACTERS:
        raise CliError(
            "no voice sample without consent: pass --consent with who agreed, when and how "
            '(e.g. --consent "Jane Doe, by phone, 2026-11-24, recorded")'
        )
    try:
        checked = [audio.inspect(path) for path in files]
        warnings = audio.check_set(checked)
    except audio.AudioProblem as problem:
        raise CliError(str(problem)) from None
    for file in checked:
        say(f"  {file.describe()}")
    for warning in warnings:
        warn(warning)

    caller = resolve_caller(target, raw_caller)
    pin_record = new_pin(target, caller, pin) if pin is not None else None  # the pepper, before any write
    profile = register(target, caller, checked, consent, on_upload=progress)
    total = sum(file.seconds for file in checked)
    say(
        f"registered {caller.masked} ({caller.key}): {len(profile.sample_keys)} sample(s), "
        f"{total:.0f} s of audio"
    )
    if pin_record is not None:
        _store(target).save_pin(caller.key, pin_record)
        say(PIN_SET)
    if prewarm:
        store = _store(target)
        queue = SqsJobQueue(target.client("sqs"), target.queue_url)
        queued = CloneRequests(store, queue, PendingPolicy.from_settings(Settings())).request(
            caller.key, "", time.time()
        )
        say(
            "clone queued: the caller's first call will have it"
            if queued
            else "a clone for this caller is already ready or under way; none queued"
        )
    return 0


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


def _when(at_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at_ms / 1000)) if at_ms else "-"


def _clone_summary(record: CloneRecord | None) -> str:
    if record is None:
        return "none"
    if not record.is_live(time.time()):
        return f"none ({record.status.value.lower()}, expired)"
    return record.status.value.lower()


def list_callers(target: Target) -> int:
    profiles = _profiles(target)
    if not profiles:
        say("no callers with voice samples")
        return 0
    store = _store(target)
    say(f"{'caller':<16} {'key':<36} {'samples':>7}  {'registered':<20} clone")
    for profile in profiles:
        clone = _clone_summary(store.get_clone(profile.caller_key))
        say(
            f"{profile.masked_number:<16} {profile.caller_key:<36} {len(profile.sample_keys):>7}  "
            f"{_when(profile.created_at_ms):<20} {clone}"
        )
    return 0


def _registered(target: Target, raw_caller: str) -> tuple[Caller, CallerProfile]:
    caller = resolve_caller(target, raw_caller)
    profile = _store(target).get_profile(caller.key)
    if profile is None:
        raise CliError(f"caller {caller.masked} has no voice samples (add them with `warmline samples add`)")
    return caller, profile


def show(target: Target, raw_caller: str) -> int:
    caller, profile = _registered(target, raw_caller)
    store = _store(target)
    record = store.get_clone(caller.key)
    say(f"caller      {caller.masked}")
    say(f"key         {caller.key}")
    say(f"registered  {_when(profile.created_at_ms)}")
    say(f"consent     {profile.consent}")
    say(f"pin         {_pin_summary(store.get_pin(caller.key))}")
    say("samples")
    s3 = target.client("s3")
    for key in profile.sample_keys:
        try:
            head = s3.head_object(Bucket=target.bucket, Key=key)
            say(f"  {key}  {head['ContentLength'] / 1_000_000:.2f} MB  {head.get('ContentType', '')}")
        except ClientError:
            say(f"  {key}  MISSING from {target.bucket}")
    say(f"clone       {_clone_summary(record)}")
    if record is not None and record.is_live(time.time()):
        if record.cloned_voice_id:
            say(f"voice id    {record.cloned_voice_id}")
        if record.error_code:
            say(f"error       {record.error_code}: {record.error_message}")
        say(f"expires     {_when(record.expires_at * 1000)}")
    return 0


def _sample_versions(s3: Any, bucket: str, caller: str) -> list[dict[str, str]]:
    prefix = f"samples/{caller}/"
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
    return found


def _voices_of(client: ElevenLabsClient, caller: Caller) -> set[str]:
    prefix = voice_name("", caller.key)
    return {voice.voice_id for voice in client.list_voices(prefix) if voice.name.startswith(prefix)}


def remove(target: Target, raw_caller: str, elevenlabs: ElevenLabsClient | None = None) -> int:
    """Withdraw the caller: the consent log records it, the profile goes and the REMOVED marker
    replaces the clone record at once (no call is handed the clone from then on, and a worker
    still cloning deletes the voice it can no longer record); then the caller's clones at
    ElevenLabs and every version of the samples are deleted."""
    caller = resolve_caller(target, raw_caller)
    if not _remove_caller(target, caller, elevenlabs):
        raise CliError(f"caller {caller.masked} has no samples, profile or clone: nothing to remove")
    return 0


def _remove_caller(target: Target, caller: Caller, elevenlabs: ElevenLabsClient | None = None) -> bool:
    """Withdraw the caller (see `remove`). False if there was nothing to remove."""
    store = _store(target)
    state = store.load(caller.key)
    s3 = target.client("s3")
    client = elevenlabs or ElevenLabsClient(
        target.secret("ElevenLabsApiKeySecret"), target.elevenlabs_base_url
    )
    try:
        progress("looking for the caller's clones at ElevenLabs")
        voice_ids = _voices_of(client, caller)
    except ProviderError as error:
        raise CliError(
            f"ElevenLabs: {error.message}; nothing was removed (fix the ElevenLabs key with "
            "`warmline doctor`, then run this again)"
        ) from None
    versions = _sample_versions(s3, target.bucket, caller.key)
    withdrawn = state.profile is None and (state.clone is None or state.clone.status is CloneStatus.REMOVED)
    if withdrawn and not versions and not voice_ids:
        return False

    if not withdrawn:
        withdrawal = ConsentEntry(
            caller.key, ConsentEvent.WITHDRAWN, int(time.time() * 1000), target.operator(), ConsentSource.CLI
        )
        store.withdraw(caller.key, withdrawal)
        say(f"withdrew {caller.masked} ({caller.key}): profile removed, consent log notes the withdrawal")
    if state.clone is not None and state.clone.cloned_voice_id:
        voice_ids.add(state.clone.cloned_voice_id)
    try:
        voice_ids |= _voices_of(client, caller)  # a clone that finished while this ran
        for voice_id in sorted(voice_ids):
            client.delete_voice(voice_id)
            say(f"deleted the clone {voice_id} at ElevenLabs")
    except ProviderError as error:
        raise CliError(
            f"ElevenLabs: {error.message}; the caller is withdrawn but their clones are not deleted yet: "
            "run this again (the scheduled sweep also deletes them once ElevenLabs answers)"
        ) from None

    for start in range(0, len(versions), 1000):
        s3.delete_objects(
            Bucket=target.bucket, Delete={"Objects": versions[start : start + 1000], "Quiet": True}
        )
    say(f"deleted {len(versions)} sample object version(s) from {target.bucket}")
    return True


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


def rekey(target: Target, raw_caller: str, new_pin: str | None = None) -> int:
    """Move a caller registered under the old rule to the key the current rule gives their number:
    the samples and the consent move; their old clone is deleted (the next call clones afresh). A
    PIN is bound to the key it was set under, so a caller with one needs `new_pin` (the same PIN,
    asked again)."""
    caller = resolve_caller(target, raw_caller)
    old_number = legacy_number(raw_caller, target.default_country_code)
    if old_number is None or old_number == caller.number:
        say(f"{caller.masked} is keyed the same under both rules ({caller.key}): nothing to do")
        return 0
    old = Caller(old_number, caller_key(old_number, target.secret("CallerKeySecret")))
    store = _store(target)
    profile = store.get_profile(old.key)
    if profile is None:
        raise CliError(f"no caller is registered under the old key of {raw_caller!r} ({old.key})")
    if store.get_profile(caller.key) is not None:
        raise CliError(
            f"{caller.masked} is registered under the current rule too ({caller.key}); "
            f"keep one: `warmline samples remove --caller {caller.number}` removes the current one"
        )
    if store.get_pin(old.key) is not None and new_pin is None:
        raise CliError(
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
    _remove_caller(target, old)
    return 0


# ---- a caller's PIN (warmline.verification) ---------------------------------------------------------

PIN_SET = "PIN set: the agent asks for it before the caller's cloned voice speaks"


def read_pin() -> str:
    """A new PIN: typed twice at a terminal (not echoed), or one line on standard input."""
    if sys.stdin.isatty():
        pin = getpass.getpass("the caller's PIN (4 to 8 digits): ")
        if getpass.getpass("the same PIN again: ") != pin:
            raise CliError("the two PINs differ; nothing was changed")
    else:
        pin = sys.stdin.readline()
    try:
        return check_new_pin(pin)
    except InvalidPin as problem:
        raise CliError(f"PIN: {problem}") from None


def new_pin(target: Target, caller: Caller, pin: str) -> PinRecord:
    pin_hash = hash_pin(caller.key, pin, target.secret("PinPepperSecret"))
    return PinRecord(pin_hash=pin_hash, set_at_ms=int(time.time() * 1000))


def save_pin(target: Target, caller: Caller, pin: str) -> None:
    """Set the caller's PIN (`pin` already checked); their wrong attempts and any lock are forgotten."""
    _store(target).save_pin(caller.key, new_pin(target, caller, pin))


def set_pin(target: Target, raw_caller: str) -> int:
    caller, _profile = _registered(target, raw_caller)
    save_pin(target, caller, read_pin())
    say(f"{caller.masked}: {PIN_SET}")
    return 0


def clear_pin(target: Target, raw_caller: str) -> int:
    caller = resolve_caller(target, raw_caller)
    if not _store(target).delete_pin(caller.key):
        raise CliError(f"caller {caller.masked} has no PIN: nothing to clear")
    say(f"{caller.masked}: PIN cleared; their number alone gets the cloned voice again")
    return 0


def unlock_pin(target: Target, raw_caller: str) -> int:
    caller = resolve_caller(target, raw_caller)
    store = _store(target)
    record = store.get_pin(caller.key)
    if record is None:
        raise CliError(f"caller {caller.masked} has no PIN: nothing to unlock")
    store.save_pin(caller.key, PinRecord(pin_hash=record.pin_hash, set_at_ms=record.set_at_ms))
    say(f"{caller.masked}: wrong attempts and lock cleared; the PIN is unchanged")
    return 0


def _pin_summary(record: PinRecord | None) -> str:
    if record is None:
        return "none"
    summary = f"set {_when(record.set_at_ms)}"
    if record.is_locked(int(time.time() * 1000)):
        summary += (
            f", locked until {_when(record.locked_until_ms)} (`warmline samples pin --unlock` lifts it)"
        )
    return summary
