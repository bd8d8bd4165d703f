"""In-memory fakes of warmline's ports, with the same conditional-write rules as the adapters.

tests/integration/test_clone_store_contract.py runs one suite against these and against DynamoDB
(moto), so the fakes cannot drift from the real store.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from warmline.clone_state import (
    CallerProfile,
    CallerState,
    CallWrites,
    CloneJob,
    CloneRecord,
    CloneStatus,
    FirstClone,
    Handoff,
    HandoffKey,
    IncomingNote,
    PinRecord,
    ReadyClone,
)
from warmline.consent import ConsentEntry
from warmline.events import Event
from warmline.ports import SampleVersion, StoredSample
from warmline.voice_provider import (
    AddedVoice,
    AgentCall,
    InvalidRequest,
    PlacedCall,
    ProviderError,
    ProviderVoice,
    Subscription,
    VoiceLimitReached,
    VoiceSample,
)


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds

    def advance(self, seconds: float) -> None:
        self.time += seconds


class InMemoryCloneStore:
    def __init__(self) -> None:
        self.profiles: dict[str, CallerProfile] = {}
        self.clones: dict[str, CloneRecord] = {}
        self.last_calls: dict[str, IncomingNote] = {}
        self.pins: dict[str, PinRecord] = {}
        self.consent: list[ConsentEntry] = []
        self._lock = threading.Lock()
        # Called on each get_clone, so a test can change the record while the IVR waits.
        self.on_get_clone = None

    def load(self, caller_key: str, *, with_consent_log: bool = False) -> CallerState:
        logged = with_consent_log and any(entry.caller_key == caller_key for entry in self.consent)
        return CallerState(
            self.profiles.get(caller_key),
            self.clones.get(caller_key),
            pin=self.pins.get(caller_key),
            last_call=self.last_calls.get(caller_key),
            has_consent_log=logged,
        )

    def get_clone(self, caller_key: str) -> CloneRecord | None:
        if self.on_get_clone is not None:
            self.on_get_clone()
        return self.clones.get(caller_key)

    def start_clone(self, caller_key: str, record: CloneRecord, now: float) -> bool:
        with self._lock:
            current = self.clones.get(caller_key)
            if current is not None and not current.expires_at <= int(now):  # expired: is_live() is False
                return False
            self.clones[caller_key] = record
            return True

    def remove_pending(self, caller_key: str, job_id: str) -> None:
        current = self.clones.get(caller_key)
        if current is not None and current.job_id == job_id and current.status is CloneStatus.PENDING:
            del self.clones[caller_key]

    def forget_failure(self, caller_key: str) -> None:
        with self._lock:
            current = self.clones.get(caller_key)
            if current is not None and current.status is CloneStatus.FAILED:
                del self.clones[caller_key]

    def confirm_pending(self, caller_key: str, job_id: str, *, expires_at: int) -> None:
        with self._lock:
            current = self.clones.get(caller_key)
            if (
                current is not None
                and current.job_id == job_id
                and current.status in (CloneStatus.PENDING, CloneStatus.CLONING)
                and current.expires_at < expires_at
            ):
                self.clones[caller_key] = replace(current, expires_at=expires_at)

    def note_call(self, caller_key: str, *, call_started_at_ms: int, threecx_call_id: str) -> None:
        current = self.clones.get(caller_key)
        if current is not None and current.status in (CloneStatus.PENDING, CloneStatus.CLONING):
            self.clones[caller_key] = replace(
                current, call_started_at_ms=call_started_at_ms, threecx_call_id=threecx_call_id
            )

    def take_lease(
        self, caller_key: str, *, lease_token: str, now_ms: int, lease_expires_at_ms: int
    ) -> CloneRecord | None:
        with self._lock:
            current = self.clones.get(caller_key)
            if current is None or not current.expires_at > now_ms // 1000:
                return None
            leasable = current.status is CloneStatus.PENDING or (
                current.status is CloneStatus.CLONING and current.lease_expires_at_ms < now_ms
            )
            if not leasable:
                return None
            updated = replace(
                current,
                status=CloneStatus.CLONING,
                lease_token=lease_token,
                lease_expires_at_ms=lease_expires_at_ms,
                started_at_ms=now_ms,
                attempts=current.attempts + 1,
            )
            self.clones[caller_key] = updated
            return updated

    def _holds(self, caller_key: str, lease_token: str) -> CloneRecord | None:
        current = self.clones.get(caller_key)
        if (
            current is not None
            and current.status is CloneStatus.CLONING
            and current.lease_token == lease_token
        ):
            return current
        return None

    def release_lease(self, caller_key: str, lease_token: str) -> None:
        with self._lock:
            current = self._holds(caller_key, lease_token)
            if current is not None:
                self.clones[caller_key] = replace(
                    current, status=CloneStatus.PENDING, lease_token="", lease_expires_at_ms=0
                )

    def mark_ready(self, caller_key, *, lease_token, clone: ReadyClone) -> bool:
        with self._lock:
            current = self._holds(caller_key, lease_token)
            if current is None:
                return False
            self.clones[caller_key] = replace(
                current,
                status=CloneStatus.READY,
                cloned_voice_id=clone.voice_id,
                ready_at_ms=clone.ready_at_ms,
                clone_duration_ms=clone.clone_duration_ms,
                expires_at=clone.expires_at,
                lease_token="",
                lease_expires_at_ms=0,
            )
            return True

    def mark_failed(self, caller_key, *, lease_token, error_code, error_message, expires_at) -> bool:
        with self._lock:
            ok = self._holds(caller_key, lease_token) is not None
            return ok and self._fail(caller_key, error_code, error_message, expires_at)

    def fail_job(self, caller_key, claim, *, error_code, error_message, expires_at) -> bool:
        with self._lock:
            current = self.clones.get(caller_key)
            if current is None or current.job_id != claim.job_id:
                return False
            lapsed_or_ours = (
                current.lease_token == claim.lease_token or current.lease_expires_at_ms < claim.now_ms
            )
            ok = current.status is CloneStatus.PENDING or (
                current.status is CloneStatus.CLONING and lapsed_or_ours
            )
            return ok and self._fail(caller_key, error_code, error_message, expires_at)

    def _fail(self, caller_key, error_code, error_message, expires_at) -> bool:
        self.clones[caller_key] = replace(
            self.clones[caller_key],
            status=CloneStatus.FAILED,
            error_code=error_code,
            error_message=error_message,
            expires_at=expires_at,
            lease_token="",
            lease_expires_at_ms=0,
        )
        return True

    def claim_verified_handoff(self, caller_key: str, voice_id: str, *, since_ms: int, at_ms: int) -> bool:
        with self._lock:
            current = self.clones.get(caller_key)
            if not _holds_voice(current, voice_id):
                return False
            marked = current.verified_handoff_at_ms  # 0: no mark (DynamoDB: the attribute is absent)
            if not marked or marked < since_ms:
                return False
            self.clones[caller_key] = replace(current, verified_handoff_at_ms=0, last_used_at_ms=at_ms)
            return True

    def touch_clone(self, caller_key: str, voice_id: str, at_ms: int) -> None:
        with self._lock:
            current = self.clones.get(caller_key)
            if _holds_voice(current, voice_id):
                self.clones[caller_key] = replace(current, last_used_at_ms=at_ms)

    def expire_clone(self, caller_key: str, voice_id: str, now: float) -> bool:
        with self._lock:
            current = self.clones.get(caller_key)
            if not _holds_voice(current, voice_id):
                return False
            self.clones[caller_key] = replace(current, expires_at=int(now) - 1)
            return True

    def get_pin(self, caller_key: str) -> PinRecord | None:
        return self.pins.get(caller_key)

    def replace_pin(self, caller_key: str, expected: PinRecord, new: PinRecord) -> bool:
        with self._lock:
            current = self.pins.get(caller_key)
            if current is None or _pin_state(current) != _pin_state(expected):
                return False
            self.pins[caller_key] = replace(
                expected, attempts=new.attempts, lockouts=new.lockouts, locked_until_ms=new.locked_until_ms
            )
            return True


class InMemoryRegistryStore:
    """The registry's items, kept in the clone store's fake (where its `load` reads them)."""

    def __init__(self, store: InMemoryCloneStore) -> None:
        self.store = store

    def get_profile(self, caller_key: str) -> CallerProfile | None:
        return self.store.profiles.get(caller_key)

    def save_profile(self, profile: CallerProfile) -> None:
        self.store.profiles[profile.caller_key] = profile

    def profiles(self) -> list[CallerProfile]:
        return sorted(self.store.profiles.values(), key=lambda profile: profile.created_at_ms)

    def holder_keys(self) -> list[str]:
        removed = {key for key, clone in self.store.clones.items() if clone.status is CloneStatus.REMOVED}
        return sorted(set(self.store.profiles) | (set(self.store.clones) - removed))

    def register(self, profile: CallerProfile, consent: ConsentEntry) -> None:
        with self.store._lock:
            self._append(consent)
            self.store.profiles[profile.caller_key] = profile

    def _append(self, entry: ConsentEntry) -> None:
        """As the table's conditional put: an entry never overwrites one of the same moment and event."""
        if any(
            (e.caller_key, e.at_ms, e.event) == (entry.caller_key, entry.at_ms, entry.event)
            for e in self.store.consent
        ):
            raise ValueError(f"the consent log has a {entry.event.value} entry at {entry.at_ms} already")
        self.store.consent.append(entry)

    def withdraw(self, caller_key: str, withdrawal: ConsentEntry) -> None:
        store = self.store
        with store._lock:
            self._append(withdrawal)
            store.profiles.pop(caller_key, None)
            store.pins.pop(caller_key, None)
            store.last_calls.pop(caller_key, None)
            store.clones[caller_key] = CloneRecord(
                status=CloneStatus.REMOVED,
                job_id="",
                expires_at=withdrawal.at_ms // 1000,
                requested_at_ms=0,
                removed_at_ms=withdrawal.at_ms,
            )

    def consent_log(self, caller_key: str) -> list[ConsentEntry]:
        entries = [entry for entry in self.store.consent if entry.caller_key == caller_key]
        return sorted(entries, key=lambda entry: entry.at_ms)

    def get_pin(self, caller_key: str) -> PinRecord | None:
        return self.store.pins.get(caller_key)

    def save_pin(self, caller_key: str, record: PinRecord) -> None:
        self.store.pins[caller_key] = record

    def delete_pin(self, caller_key: str) -> bool:
        return self.store.pins.pop(caller_key, None) is not None


def _pin_state(record: PinRecord) -> tuple:
    """What replace_pin's condition compares."""
    return (record.pin_hash, record.attempts, record.lockouts, record.locked_until_ms)


def _holds_voice(record: CloneRecord | None, voice_id: str) -> bool:
    return record is not None and record.status is CloneStatus.READY and record.cloned_voice_id == voice_id


class InMemoryHandoffs:
    """Handoffs claimed once per call and the ones still expected, with the clone-record mark and
    the events written all or nothing, as the DynamoDB transactions do."""

    def __init__(self, store: InMemoryCloneStore, events: InMemoryEvents) -> None:
        self.store = store
        self.events = events
        self.claims: dict[tuple[str, str], Handoff] = {}
        self.expected: dict[HandoffKey, Handoff] = {}
        self._lock = threading.Lock()

    def expect(self, handoff: Handoff, event: Event) -> bool:
        with self._lock:
            clone = self.store.clones.get(handoff.caller_key)
            if (handoff.caller_key, handoff.call_id) in self.claims or clone is None:
                return False
            self.claims[(handoff.caller_key, handoff.call_id)] = handoff
            self.expected[handoff.key] = handoff
            verified_at = handoff.at_ms if handoff.verified else clone.verified_handoff_at_ms
            self.store.clones[handoff.caller_key] = replace(
                clone,
                handoff_at_ms=handoff.at_ms,
                handoff_call_id=handoff.call_id,
                verified_handoff_at_ms=verified_at,
            )
            self.events.record(event)
            return True

    def settle(self, key: HandoffKey, event: Event, *also: Event) -> bool:
        with self._lock:
            if self.expected.pop(key, None) is None:
                return False
            self.events.record(event, *also)
            return True

    def overdue(self, before_ms: int, limit: int) -> list[Handoff]:
        # As the store's day partitions: the UTC day of `before_ms` and the day before.
        first_day = time.gmtime(before_ms / 1000 - 86_400)[:3]
        days = {first_day, time.gmtime(before_ms / 1000)[:3]}
        found = [
            handoff
            for handoff in self.expected.values()
            if handoff.at_ms < before_ms and time.gmtime(handoff.at_ms / 1000)[:3] in days
        ]
        return sorted(found, key=lambda handoff: handoff.at_ms)[:limit]


class InMemoryQueue:
    def __init__(self, fail: bool = False) -> None:
        self.jobs: list[CloneJob] = []
        self.delays: list[int] = []
        self.fail = fail

    def send(self, job: CloneJob, delay_seconds: int = 0) -> None:
        if self.fail:
            raise ConnectionError("queue unreachable")
        self.jobs.append(job)
        self.delays.append(delay_seconds)


class InMemorySamples:
    """A sample archive without versioning: each object is its one version."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}

    def read(self, keys: tuple[str, ...]) -> list[VoiceSample]:
        return [
            VoiceSample(key.rsplit("/", 1)[-1], self.objects[key], self.content_types.get(key, "audio/mpeg"))
            for key in keys
        ]

    def write(self, caller_key: str, filename: str, content: bytes, content_type: str) -> str:
        key = f"samples/{caller_key}/{filename}"
        self.objects[key], self.content_types[key] = content, content_type
        return key

    def copy(self, key: str, caller_key: str) -> str:
        [sample] = self.read((key,))
        return self.write(caller_key, sample.filename, sample.content, sample.content_type)

    def describe(self, keys: tuple[str, ...]) -> list[StoredSample]:
        return [
            StoredSample(key, len(self.objects[key]), self.content_types.get(key))
            if key in self.objects
            else StoredSample(key, None)
            for key in keys
        ]

    def versions(self, caller_key: str) -> list[SampleVersion]:
        prefix = f"samples/{caller_key}/"
        return [SampleVersion(key, "only") for key in sorted(self.objects) if key.startswith(prefix)]

    def delete_versions(self, versions: list[SampleVersion]) -> None:
        for version in versions:
            self.objects.pop(version.key, None)

    def holder_keys(self) -> list[str]:
        return sorted({key.split("/")[1] for key in self.objects})


class FailingEvents:
    """An event store that cannot be written (throttled, past the request's deadline)."""

    def record(self, *events: Event) -> None:
        raise ConnectionError("the event store did not answer")


class InMemoryEvents:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, *events: Event) -> None:
        self.events.extend(events)

    def of_type(self, event_type) -> list[Event]:
        return [e for e in self.events if e.type == event_type]


@dataclass
class FakeVoiceProvider:
    """Answers from a script of errors, then succeeds; `voices` holds what it 'created'."""

    errors: list[ProviderError] = field(default_factory=list)
    voice_limit: int = 30
    create_before_error: bool = False  # the voice is made although the answer is an error
    voices: list[ProviderVoice] = field(default_factory=list)
    add_calls: list[dict] = field(default_factory=list)
    calls_placed: list[AgentCall] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    clock: FakeClock | None = None
    clone_seconds: float = 0.0
    max_voice_add_edits: int | None = None
    add_edit_counter: int = 0  # every voice made counts, as at ElevenLabs; deletes give none back
    requires_verification: bool = False  # every clone is answered requires_verification
    delete_errors: list[ProviderError] = field(default_factory=list)

    def add_voice(self, *, name, samples, description, labels, timeout_seconds) -> AddedVoice:
        self.add_calls.append({"name": name, "samples": samples, "timeout_seconds": timeout_seconds})
        if self.clock is not None:
            self.clock.advance(self.clone_seconds)
        if len(self.voices) >= self.voice_limit:
            raise VoiceLimitReached("full", status_code=400, code="voice_limit_reached")
        if self.max_voice_add_edits is not None and self.add_edit_counter >= self.max_voice_add_edits:
            raise InvalidRequest("add/edits used up", status_code=400, code="voice_add_edit_limit_reached")
        voice = ProviderVoice(f"voice{len(self.add_calls):04d}", name, "cloned")
        if self.errors:
            error = self.errors.pop(0)
            if self.create_before_error:
                self.voices.append(voice)
                self.add_edit_counter += 1
            raise error
        self.voices.append(voice)
        self.add_edit_counter += 1
        return AddedVoice(voice.voice_id, requires_verification=self.requires_verification)

    def delete_voice(self, voice_id: str) -> None:
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        self.deleted.append(voice_id)
        self.voices = [v for v in self.voices if v.voice_id != voice_id]

    def list_voices(self, search: str = "") -> list[ProviderVoice]:
        return [voice for voice in self.voices if search.lower() in voice.name.lower()]

    def get_subscription(self) -> Subscription:
        return Subscription(
            self.voice_limit,
            len(self.voices),
            max_voice_add_edits=self.max_voice_add_edits,
            voice_add_edit_counter=self.add_edit_counter,
        )

    def place_call(self, call: AgentCall) -> PlacedCall:
        self.calls_placed.append(call)
        return PlacedCall(conversation_id=f"conv_{len(self.calls_placed)}", call_id="call")


class InMemoryCallLog:
    """Incoming-call notes: the caller's in the store (its `last_call`, read by `load`), and by number."""

    def __init__(self, store: InMemoryCloneStore) -> None:
        self.store = store
        self.notes: list[tuple[IncomingNote, int]] = []

    def note(self, call: IncomingNote, expires_at: int) -> None:
        self.notes.append((call, expires_at))
        if call.caller_key:
            self.store.last_calls[call.caller_key] = call

    def calls_to(self, dialled_key: str, since_ms: int) -> list[IncomingNote]:
        return [call for call, _ in self.notes if call.dialled_key == dialled_key and call.at_ms >= since_ms]


class InMemoryCallRecords:
    """An incoming call's writes (`CallRecords`) over the fake store, call log and events, with the
    DynamoDB adapter's conditions (tests/integration/test_clone_store_contract.py holds them together)."""

    def __init__(self, store: InMemoryCloneStore, calls: InMemoryCallLog, events: InMemoryEvents) -> None:
        self.store = store
        self.calls = calls
        self.events = events

    def start_first_clone(
        self, caller_key: str, record: CloneRecord, note: IncomingNote, *, note_expires_at: int, now: float
    ) -> FirstClone:
        store = self.store
        with store._lock:
            current = store.clones.get(caller_key)
            clone_free = current is None or current.expires_at <= int(now)
            if caller_key not in store.profiles:
                free = clone_free and caller_key not in store.pins
                return FirstClone.NO_SAMPLE if free else FirstClone.OTHER
            if caller_key in store.pins or not clone_free:
                return FirstClone.OTHER
            store.clones[caller_key] = record
        self.calls.note(note, note_expires_at)
        return FirstClone.STARTED

    def record(self, writes: CallWrites) -> None:
        if writes.confirm is not None:
            self.store.confirm_pending(
                writes.caller_key, writes.confirm.job_id, expires_at=writes.confirm.expires_at
            )
        elif writes.followed is not None:
            followed = writes.followed
            self.store.note_call(
                writes.caller_key,
                call_started_at_ms=followed.call_started_at_ms,
                threecx_call_id=followed.threecx_call_id,
            )
        if writes.note is not None:
            self.calls.note(writes.note, writes.note_expires_at)
        if writes.event is not None:
            self.events.record(writes.event)
