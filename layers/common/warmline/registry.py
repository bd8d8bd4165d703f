"""The caller registry: who has voice samples on file, on what consent, behind which PIN, and how a
caller leaves it (the operator's `warmline samples` commands parse, confirm and print around this).

- Registering is all or nothing: the PIN is written first (harmless without a profile), then the
  samples; if the profile and its consent entry are not recorded, both are deleted again.
- A re-registration keeps the caller's PIN as it is (attempts and lock too) unless it brings a new one.
- Withdrawing records the withdrawal, deletes the profile and PIN, leaves the REMOVED marker and
  deletes every version of the samples first, whatever the voice provider does; then the caller's
  clones there. What the provider cannot delete now, the scheduled voice sweep deletes later (a
  withdrawn caller's voices are orphans to it), and withdrawing the caller again (or withdrawing
  everyone: `every_holder` and `clone_holders`) retries.
- Rekeying moves a caller registered under an earlier numbering rule to today's key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from warmline.clone_state import CallerProfile, CallerState, CloneRecord, CloneStatus, PinRecord
from warmline.consent import ConsentEntry, ConsentEvent, ConsentSource
from warmline.ports import Clock, CloneStore, RegistryStore, SampleArchive, SampleVersion, StoredSample
from warmline.voice_provider import ProviderError, VoiceCloner, VoiceSample
from warmline.voice_slots import VOICE_NAME_PREFIX, parse_voice_name, voice_name


class RegistryError(Exception):
    """A rule of the registry refused the request; nothing was changed."""


class AlreadyRegistered(RegistryError):
    """The caller has a profile already."""


class NotRegistered(RegistryError):
    """The caller has no profile."""


class PinNeeded(RegistryError):
    """The caller's PIN is bound to their old key: moving them needs the PIN typed again."""


class NoVoiceProvider(Exception):
    """The voice provider cannot be asked at all (its key unreadable); the message says why."""


@dataclass(frozen=True)
class RegistryPorts:
    registry: RegistryStore
    store: CloneStore  # the caller's state as a call reads it
    samples: SampleArchive
    clock: Clock
    cloner: Callable[[], VoiceCloner]  # called only when clones are to be deleted


@dataclass(frozen=True)
class Registration:
    """A caller to register: their checked samples (named `sample-NN.<ext>`), consent, maybe a PIN."""

    caller_key: str
    masked_number: str
    samples: tuple[VoiceSample, ...]
    consent: str
    by: str  # who registers: the operator's identity
    source: ConsentSource = ConsentSource.CLI
    pin: PinRecord | None = None


@dataclass(frozen=True)
class Holdings:
    """What warmline holds of a caller: their state and every object version of their samples."""

    caller_key: str
    state: CallerState
    versions: list[SampleVersion]

    @property
    def withdrawn(self) -> bool:
        clone = self.state.clone
        return self.state.profile is None and (clone is None or clone.status is CloneStatus.REMOVED)

    @property
    def empty(self) -> bool:
        return self.withdrawn and not self.versions


@dataclass(frozen=True)
class OnFile:
    """A registered caller as the registry holds them: profile, state and their stored samples."""

    profile: CallerProfile
    state: CallerState
    samples: list[StoredSample]


@dataclass(frozen=True)
class Withdrawal:
    """What a withdrawal did. `problem`: why the caller's clones at the provider are not deleted
    yet (a ProviderError or NoVoiceProvider), None when they are."""

    recorded: bool  # the consent log notes the withdrawal now (False: the caller was withdrawn before)
    versions_deleted: int
    clones_deleted: tuple[str, ...] = ()
    problem: Exception | None = None


@dataclass(frozen=True)
class Rekey:
    """Move the first of `old_keys` that is registered to `caller_key` (with `pin`, hashed under
    the new key, if the caller has a PIN)."""

    old_keys: tuple[str, ...]
    caller_key: str
    by: str
    pin: PinRecord | None = None


@dataclass(frozen=True)
class Rekeyed:
    old_key: str
    profile: CallerProfile
    withdrawal: Withdrawal  # of the old key


class Registry:
    """The registry's use cases over its ports."""

    def __init__(self, ports: RegistryPorts) -> None:
        self.ports = ports

    def _now_ms(self) -> int:
        return int(self.ports.clock.now() * 1000)

    def profile(self, caller_key: str) -> CallerProfile | None:
        return self.ports.registry.get_profile(caller_key)

    def register(self, registration: Registration, on_upload: Callable[[VoiceSample], None]) -> CallerProfile:
        """Record the caller's PIN, samples, profile and consent entry, all or nothing."""
        key = registration.caller_key
        if self.profile(key) is not None:
            raise AlreadyRegistered(key)
        if registration.pin is not None:
            self.ports.registry.save_pin(key, registration.pin)
        try:
            return self._record(registration, on_upload)
        except BaseException:
            self.ports.samples.delete_versions(self.ports.samples.versions(key))  # nobody's now
            if registration.pin is not None:
                self.ports.registry.delete_pin(key)
            raise

    def _record(self, registration: Registration, on_upload: Callable[[VoiceSample], None]) -> CallerProfile:
        keys = []
        for sample in registration.samples:
            on_upload(sample)
            keys.append(
                self.ports.samples.write(
                    registration.caller_key, sample.filename, sample.content, sample.content_type
                )
            )
        profile = CallerProfile(
            caller_key=registration.caller_key,
            sample_keys=tuple(keys),
            consent=registration.consent,
            masked_number=registration.masked_number,
            created_at_ms=self._now_ms(),
        )
        entry = ConsentEntry(
            profile.caller_key,
            ConsentEvent.REGISTERED,
            profile.created_at_ms,
            registration.by,
            registration.source,
            registration.consent,
        )
        self.ports.registry.register(profile, entry)
        return profile

    def same_samples(self, profile: CallerProfile, samples: list[VoiceSample]) -> bool:
        """Whether the caller's stored samples are these (in any order): sizes first, then bytes."""
        if len(profile.sample_keys) != len(samples):
            return False
        sizes = [stored.size for stored in self.ports.samples.describe(profile.sample_keys)]
        if None in sizes or sorted(sizes) != sorted(len(sample.content) for sample in samples):  # type: ignore[type-var]
            return False
        try:
            contents = [sample.content for sample in self.ports.samples.read(profile.sample_keys)]
        except KeyError:
            return False  # a sample went missing: not the same
        return _digests(contents) == _digests([sample.content for sample in samples])

    # ---- PINs ----------------------------------------------------------------------------------

    def kept_pin(self, caller_key: str, pin: PinRecord | None) -> PinRecord | None:
        """The PIN a re-registration of the caller gets: `pin` if it brings one, else the caller's
        own as it is (withdrawing them deletes it, `register` writes it again)."""
        return pin if pin is not None else self.ports.registry.get_pin(caller_key)

    def update_pin(self, caller_key: str, record: PinRecord) -> bool:
        """Set the PIN unless it is the caller's PIN already (then its attempts and any lock stay).
        True if it was set."""
        current = self.ports.registry.get_pin(caller_key)
        if current is not None and current.pin_hash == record.pin_hash:
            return False
        self.ports.registry.save_pin(caller_key, record)
        return True

    def set_pin(self, caller_key: str, record: PinRecord) -> None:
        """A new PIN for a registered caller; their wrong attempts and any lock are forgotten."""
        if self.profile(caller_key) is None:
            raise NotRegistered(caller_key)
        self.ports.registry.save_pin(caller_key, record)

    def clear_pin(self, caller_key: str) -> bool:
        """True if the caller had a PIN."""
        return self.ports.registry.delete_pin(caller_key)

    def unlock_pin(self, caller_key: str) -> bool:
        """Forget the wrong attempts and any lock, keeping the PIN. False: the caller has no PIN."""
        record = self.ports.registry.get_pin(caller_key)
        if record is None:
            return False
        self.ports.registry.save_pin(
            caller_key, PinRecord(pin_hash=record.pin_hash, set_at_ms=record.set_at_ms)
        )
        return True

    # ---- reading ---------------------------------------------------------------------------------

    def listing(self) -> list[tuple[CallerProfile, CallerState]]:
        """Every registered caller with their state, the oldest registration first."""
        return [
            (profile, self.ports.store.load(profile.caller_key)) for profile in self.ports.registry.profiles()
        ]

    def every_holder(self) -> list[str]:
        """Each caller warmline holds something of: a profile, a clone record that is not the
        REMOVED marker, or sample objects (a registration interrupted before its profile)."""
        return sorted(set(self.ports.registry.holder_keys()) | set(self.ports.samples.holder_keys()))

    def clone_holders(self) -> list[str]:
        """Each caller this stack knows (as the voice sweep has it: a profile, a clone record or a
        consent entry) with a warmline-named voice at the provider: among them, a caller withdrawn
        already whose clone the provider did not delete then (left to the sweep), whom
        `every_holder` does not name. ProviderError or NoVoiceProvider if the provider cannot be asked."""
        named = {parse_voice_name(voice.name) for voice in self.ports.cloner().list_voices(VOICE_NAME_PREFIX)}
        keys = {found[0] for found in named if found is not None}
        return sorted(key for key in keys if self.ports.store.load(key, with_consent_log=True).known)

    def on_file(self, caller_key: str) -> OnFile | None:
        """The registered caller's profile, state and samples; None if they are not registered."""
        profile = self.profile(caller_key)
        if profile is None:
            return None
        state = self.ports.store.load(caller_key)
        return OnFile(profile, state, self.ports.samples.describe(profile.sample_keys))

    def holdings(self, caller_key: str) -> Holdings:
        return Holdings(
            caller_key, self.ports.store.load(caller_key), self.ports.samples.versions(caller_key)
        )

    # ---- leaving ---------------------------------------------------------------------------------

    def withdraw(self, holdings: Holdings, by: str) -> Withdrawal:
        """The withdrawal, the profile, PIN and clone record, and every sample version first; then
        the caller's clones at the provider (their record's, and every voice named for them)."""
        key = holdings.caller_key
        if not holdings.withdrawn:
            entry = ConsentEntry(key, ConsentEvent.WITHDRAWN, self._now_ms(), by, ConsentSource.CLI)
            self.ports.registry.withdraw(key, entry)
        if holdings.versions:
            self.ports.samples.delete_versions(holdings.versions)
        done = Withdrawal(not holdings.withdrawn, len(holdings.versions))
        try:
            return replace(done, clones_deleted=self._delete_clones(key, holdings.state.clone))
        except (ProviderError, NoVoiceProvider) as problem:
            return replace(done, problem=problem)

    def _delete_clones(self, caller_key: str, clone: CloneRecord | None) -> tuple[str, ...]:
        cloner = self.ports.cloner()
        prefix = voice_name("", caller_key)
        voice_ids = {voice.voice_id for voice in cloner.list_voices(prefix) if voice.name.startswith(prefix)}
        if clone is not None and clone.cloned_voice_id:
            voice_ids.add(clone.cloned_voice_id)
        for voice_id in sorted(voice_ids):
            cloner.delete_voice(voice_id)
        return tuple(sorted(voice_ids))

    def rekey(self, request: Rekey, on_copy: Callable[[str], None] = lambda key: None) -> Rekeyed:
        """Move the caller's samples and consent to their new key and withdraw the old one (its
        clone is deleted: the next call clones afresh). A PIN is bound to the key it was set under."""
        found = [(old, profile) for old in request.old_keys if (profile := self.profile(old)) is not None]
        if not found:
            raise NotRegistered(", ".join(request.old_keys))
        old, profile = found[0]
        if self.profile(request.caller_key) is not None:
            raise AlreadyRegistered(request.caller_key)
        if request.pin is None and self.ports.registry.get_pin(old) is not None:
            raise PinNeeded(old)
        new_keys = []
        for key in profile.sample_keys:
            on_copy(key)
            new_keys.append(self.ports.samples.copy(key, request.caller_key))
        if request.pin is not None:
            self.ports.registry.save_pin(request.caller_key, request.pin)
        moved = replace(profile, caller_key=request.caller_key, sample_keys=tuple(new_keys))
        consent = f"{profile.consent} (re-keyed from {old})"
        entry = ConsentEntry(
            moved.caller_key, ConsentEvent.REGISTERED, self._now_ms(), request.by, ConsentSource.CLI, consent
        )
        self.ports.registry.register(moved, entry)
        return Rekeyed(old, moved, self.withdraw(self.holdings(old), request.by))


def live_clone(record: CloneRecord | None, now: float) -> CloneRecord | None:
    return record if record is not None and record.is_live(now) else None


def clone_status(record: CloneRecord | None, now: float) -> str:
    """none, pending, cloning, ready or failed: what a call would find now."""
    live = live_clone(record, now)
    return live.status.value.lower() if live is not None else "none"


def _digests(contents: list[bytes]) -> list[str]:
    return sorted(hashlib.sha256(content).hexdigest() for content in contents)


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


def earlier_numbers(raw: str, default_country_code: str, today: str) -> list[str]:
    """The caller's number under each earlier rule that keys them apart from today's number:
    the rule before libphonenumber's, and the number as written (how a national number was keyed
    while no DefaultCountryCode was set, before such numbers were refused)."""
    numbers = dict.fromkeys((legacy_number(raw, default_country_code), legacy_number(raw, "")))
    return [number for number in numbers if number is not None and number != today]
