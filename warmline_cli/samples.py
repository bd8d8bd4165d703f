"""Callers' voice samples: add (checked audio + consent, optionally a PIN; a re-registration keeps
the caller's PIN), remove (the withdrawal in the consent log, the profile, the clone record, the PIN
and every S3 version of the samples, always; then the caller's clones at ElevenLabs, or the sweep
deletes them), a caller's PIN: set, clear, unlock, and rekey (a caller registered under the
numbering rule before libphonenumber's). The rules are warmline.registry's: this module parses,
confirms and prints. `samples list` and `show`: warmline_cli.samples_view."""

from __future__ import annotations

import getpass
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from warmline.adapters.clock import SystemClock
from warmline.adapters.dynamodb import DynamoCloneStore, DynamoRegistryStore
from warmline.adapters.elevenlabs import ElevenLabsClient
from warmline.adapters.s3 import S3SampleStore
from warmline.callers import InvalidCallerNumber, caller_key, is_withheld, mask, normalise_number
from warmline.clone_state import CallerProfile, PinRecord
from warmline.consent import MAX_CONSENT_CHARACTERS, ConsentSource
from warmline.registry import (
    AlreadyRegistered,
    NoVoiceProvider,
    Registration,
    Registry,
    RegistryPorts,
    Withdrawal,
)
from warmline.verification import InvalidPin, check_new_pin, hash_pin
from warmline.voice_provider import ProviderError, VoiceCloner, VoiceSample
from warmline_cli import audio
from warmline_cli.console import CliError, NotFound, UsageError, confirm, progress, say, warn
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


def registry_store(target: Target) -> DynamoRegistryStore:
    return DynamoRegistryStore(target.client("dynamodb"), target.table)


def iso(at_ms: int) -> str | None:
    """An instant for JSON: ISO-8601 in UTC to the second (`2026-11-24T10:00:00Z`), or None."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at_ms / 1000)) if at_ms else None


def registry(target: Target) -> Registry:
    def cloner() -> VoiceCloner:
        progress("looking for the caller's clones at ElevenLabs")
        try:
            return ElevenLabsClient(target.secret("ElevenLabsApiKeySecret"), target.elevenlabs_base_url)
        except CliError as error:
            raise NoVoiceProvider(str(error)) from None

    samples = S3SampleStore(target.client("s3"), target.bucket)
    return Registry(
        RegistryPorts(registry_store(target), clone_store(target), samples, SystemClock(), cloner)
    )


@dataclass(frozen=True)
class Enrolment:
    """A caller to register: checked samples, consent, and a PIN if they have one."""

    caller: Caller
    files: list[audio.AudioFile]
    consent: str
    pin: PinRecord | None = None
    source: ConsentSource = ConsentSource.CLI


def _samples(files: list[audio.AudioFile]) -> tuple[VoiceSample, ...]:
    return tuple(
        VoiceSample(f"sample-{number:02d}.{file.extension}", file.path.read_bytes(), file.content_type)
        for number, file in enumerate(files, start=1)
    )


def enrol(target: Target, enrolment: Enrolment, quiet: bool = False) -> CallerProfile:
    """Register the caller with their samples, consent and PIN, all or nothing (warmline.registry);
    each upload is shown on stderr unless `quiet`."""
    caller, consent = enrolment.caller, bounded_consent(enrolment.consent)
    uploads = _samples(enrolment.files)
    files = {sample.filename: file for sample, file in zip(uploads, enrolment.files, strict=True)}
    registration = Registration(
        caller.key, caller.masked, uploads, consent, target.operator(), enrolment.source, enrolment.pin
    )

    def on_upload(sample: VoiceSample) -> None:
        file = files[sample.filename]
        if not quiet:
            progress(f"uploading {file.path.name} ({file.size / 1_000_000:.2f} MB)")

    try:
        return registry(target).register(registration, on_upload)
    except AlreadyRegistered:
        raise CliError(
            f"caller {caller.masked} already has samples; `--replace` registers them again "
            f"(or remove them first: `warmline samples remove --caller {caller.number}`)"
        ) from None


def register(
    target: Target,
    caller: Caller,
    checked: list[audio.AudioFile],
    consent: str,
    source: ConsentSource = ConsentSource.CLI,
) -> CallerProfile:
    """Register the caller without a PIN and without showing the uploads (programs: warmline_cli.api)."""
    return enrol(target, Enrolment(caller, checked, consent, source=source), quiet=True)


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


def same_samples(target: Target, profile: CallerProfile, checked: list[audio.AudioFile]) -> bool:
    """Whether the caller's stored samples are these files (in any order)."""
    return registry(target).same_samples(profile, list(_samples(checked)))


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
    existing = registry(target).profile(caller.key)
    if existing is not None and not request.replace:
        _unchanged(target, caller, existing, checked, pin_record)
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


def _unchanged(
    target: Target,
    caller: Caller,
    existing: CallerProfile,
    checked: list[audio.AudioFile],
    pin: PinRecord | None,
) -> None:
    if not same_samples(target, existing, checked):
        raise CliError(
            f"caller {caller.masked} ({caller.key}) is registered with other samples: "
            "pass --replace to register these instead (their old samples and clones are deleted)"
        )
    say(f"{caller.masked} ({caller.key}) is already registered with these samples: nothing changed")
    if pin is not None and update_pin(target, caller, pin):
        say(PIN_SET)


def with_kept_pin(target: Target, enrolment: Enrolment) -> Enrolment:
    """A re-registration keeps the caller's PIN as it is, unless it brings a new one."""
    return replace(enrolment, pin=registry(target).kept_pin(enrolment.caller.key, enrolment.pin))


def update_pin(target: Target, caller: Caller, record: PinRecord) -> bool:
    """Set the PIN unless it is the caller's PIN already. True if it was set."""
    return registry(target).update_pin(caller.key, record)


# ---- withdrawing a caller (the commands: warmline_cli.samples_remove) ------------------------------


def withdraw_caller(target: Target, caller: Caller) -> bool:
    """Withdraw the caller without asking; clones ElevenLabs could not delete now are a warning
    (the sweep deletes them). False if such clones are left."""
    callers = registry(target)
    holdings = callers.holdings(caller.key)
    left = said_withdrawal(target, caller, callers.withdraw(holdings, target.operator()), holdings.empty)
    if left is not None:
        warn(left)
    return left is None


def said_withdrawal(target: Target, caller: Caller, withdrawal: Withdrawal, held_nothing: bool) -> str | None:
    """Say what the withdrawal did (warmline.registry: the records and samples first, whatever
    ElevenLabs does); what is left at ElevenLabs, for the scheduled voice sweep, is returned."""
    if withdrawal.recorded:
        say(f"withdrew {caller.masked} ({caller.key}): profile removed, consent log notes the withdrawal")
    if withdrawal.versions_deleted:
        say(f"deleted {withdrawal.versions_deleted} sample object version(s) from {target.bucket}")
    for voice_id in withdrawal.clones_deleted:
        say(f"deleted the clone {voice_id} at ElevenLabs")
    error = withdrawal.problem
    if error is not None:
        reason = f"ElevenLabs: {error.message}" if isinstance(error, ProviderError) else str(error)
        done = "holds nothing here" if held_nothing else "is withdrawn and their samples are deleted"
        return (
            f"{reason}; {caller.masked} {done}, but any clone of them at ElevenLabs is not deleted "
            "yet: no call is handed one (the REMOVED marker), and the scheduled voice sweep deletes "
            "them once ElevenLabs answers (or run `warmline samples remove` again)"
        )
    if held_nothing and not withdrawal.clones_deleted:
        say(f"caller {caller.masked} ({caller.key}) has no samples, profile or clone: nothing to remove")
    return None


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
    registry_store(target).save_pin(caller.key, new_pin(target, caller, pin))


def set_pin(target: Target, raw_caller: str) -> int:
    caller = resolve_caller(target, raw_caller)
    if registry(target).profile(caller.key) is None:
        raise NotFound(f"caller {caller.masked} has no voice samples (add them with `warmline samples add`)")
    registry(target).set_pin(caller.key, new_pin(target, caller, read_pin()))
    say(f"{caller.masked}: {PIN_SET}")
    return 0


def clear_pin(target: Target, raw_caller: str) -> int:
    caller = resolve_caller(target, raw_caller)
    if not registry(target).clear_pin(caller.key):
        say(f"{caller.masked} has no PIN: nothing to clear")
        return 0
    say(f"{caller.masked}: PIN cleared; their number alone gets the cloned voice again")
    return 0


def unlock_pin(target: Target, raw_caller: str) -> int:
    caller = resolve_caller(target, raw_caller)
    if not registry(target).unlock_pin(caller.key):
        raise NotFound(f"caller {caller.masked} has no PIN: nothing to unlock")
    say(f"{caller.masked}: wrong attempts and lock cleared; the PIN is unchanged")
    return 0
