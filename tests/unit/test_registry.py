"""The caller registry's rules (warmline.registry) over the fakes: registering all or nothing, the
PIN kept across a re-registration, a withdrawal that records and deletes the samples whatever the
voice provider does, and rekeying."""

import pytest

from tests.fakes import (
    FakeClock,
    FakeVoiceProvider,
    InMemoryCloneStore,
    InMemoryRegistryStore,
    InMemorySamples,
)
from warmline.clone_state import CallerProfile, CloneRecord, CloneStatus, PinRecord
from warmline.consent import ConsentEvent
from warmline.registry import (
    AlreadyRegistered,
    NotRegistered,
    NoVoiceProvider,
    PinNeeded,
    Registration,
    Registry,
    RegistryPorts,
    Rekey,
    earlier_numbers,
)
from warmline.voice_provider import ProviderUnavailable, ProviderVoice, VoiceSample
from warmline.voice_slots import voice_name

CALLER = "ck_" + "a" * 32
NEW_KEY = "ck_" + "b" * 32
NOW = 1_800_000_000.0
PIN = PinRecord("hmac-sha256:one", set_at_ms=1)
SAMPLES = (VoiceSample("sample-01.wav", b"RIFF one", "audio/wav"), VoiceSample("sample-02.wav", b"RIFF two"))


class RegistryThatRefuses(InMemoryRegistryStore):
    """A registry store whose transaction fails (throttled, a conflict): nothing is recorded."""

    def register(self, profile, consent):
        raise ConnectionError("the table did not answer")


class World:
    def __init__(self, registry_store=None, provider=None):
        self.store = InMemoryCloneStore()
        self.registry = (registry_store or InMemoryRegistryStore)(self.store)
        self.samples = InMemorySamples()
        self.provider = provider or FakeVoiceProvider()
        self.clock = FakeClock(NOW)
        self.voices = lambda: self.provider
        self.uploaded = []

    @property
    def use_cases(self) -> Registry:
        ports = RegistryPorts(self.registry, self.store, self.samples, self.clock, lambda: self.voices())
        return Registry(ports)

    def register(self, key=CALLER, pin=None, samples=SAMPLES):
        registration = Registration(key, "+44******0000", samples, "Jane Doe, by phone", "op", pin=pin)
        return self.use_cases.register(registration, self.uploaded.append)


@pytest.fixture
def world():
    return World()


def test_registering_records_the_samples_profile_consent_and_pin(world):
    profile = world.register(pin=PIN)

    assert profile.sample_keys == (f"samples/{CALLER}/sample-01.wav", f"samples/{CALLER}/sample-02.wav")
    assert profile.created_at_ms == NOW * 1000
    assert world.registry.get_profile(CALLER) == profile
    assert world.samples.objects[profile.sample_keys[0]] == b"RIFF one"
    assert world.registry.get_pin(CALLER) == PIN
    [entry] = world.registry.consent_log(CALLER)
    assert (entry.event, entry.consent, entry.by) == (ConsentEvent.REGISTERED, "Jane Doe, by phone", "op")
    assert [sample.filename for sample in world.uploaded] == ["sample-01.wav", "sample-02.wav"]


def test_a_registration_that_fails_leaves_no_sample_and_no_pin():
    world = World(registry_store=RegistryThatRefuses)

    with pytest.raises(ConnectionError):
        world.register(pin=PIN)

    assert world.samples.objects == {}
    assert world.registry.get_pin(CALLER) is None and world.registry.get_profile(CALLER) is None


def test_a_registered_caller_is_not_registered_again_and_keeps_their_pin(world):
    world.register(pin=PIN)

    with pytest.raises(AlreadyRegistered):
        world.register(pin=PinRecord("hmac-sha256:two", set_at_ms=2))

    assert world.registry.get_pin(CALLER) == PIN
    assert len(world.registry.consent_log(CALLER)) == 1


def test_a_re_registration_keeps_the_pin_as_it_is_unless_it_brings_one(world):
    locked = PinRecord(PIN.pin_hash, 1, attempts=3, lockouts=1, locked_until_ms=99)
    world.register(pin=locked)
    use_cases = world.use_cases

    kept = use_cases.kept_pin(CALLER, None)
    use_cases.withdraw(use_cases.holdings(CALLER), "op")
    world.clock.advance(1)
    world.register(pin=kept)

    assert world.registry.get_pin(CALLER) == locked  # its attempts and lock too (issue 21, point 1)
    assert use_cases.kept_pin(CALLER, PIN) == PIN


def test_setting_the_callers_own_pin_again_changes_nothing(world):
    locked = PinRecord(PIN.pin_hash, 1, attempts=2)
    world.register(pin=locked)

    assert not world.use_cases.update_pin(CALLER, PIN)
    assert world.registry.get_pin(CALLER) == locked
    assert world.use_cases.update_pin(CALLER, PinRecord("hmac-sha256:two", 2))
    assert world.registry.get_pin(CALLER).pin_hash == "hmac-sha256:two"


def test_unlocking_keeps_the_pin_and_forgets_the_attempts(world):
    assert not world.use_cases.unlock_pin(CALLER)
    world.register(pin=PinRecord(PIN.pin_hash, 1, attempts=3, lockouts=2, locked_until_ms=99))

    assert world.use_cases.unlock_pin(CALLER)
    assert world.registry.get_pin(CALLER) == PinRecord(PIN.pin_hash, 1)


def test_a_pin_is_set_only_for_a_registered_caller(world):
    with pytest.raises(NotRegistered):
        world.use_cases.set_pin(CALLER, PIN)
    assert world.registry.get_pin(CALLER) is None


def _with_clones(world):
    world.register()
    named = ProviderVoice("voice-named", voice_name("job-earlier", CALLER), "cloned")
    other = ProviderVoice("voice-other", voice_name("job-x", NEW_KEY), "cloned")
    world.provider.voices += [named, other]
    world.store.clones[CALLER] = CloneRecord(
        CloneStatus.READY,
        "job1",
        expires_at=int(NOW) + 3600,
        requested_at_ms=0,
        cloned_voice_id="voice-ready",
    )


def test_withdrawing_deletes_the_records_the_samples_and_every_clone_named_for_the_caller(world):
    _with_clones(world)
    use_cases = world.use_cases

    done = use_cases.withdraw(use_cases.holdings(CALLER), "op")

    assert (done.recorded, done.versions_deleted, done.problem) == (True, 2, None)
    assert done.clones_deleted == ("voice-named", "voice-ready")
    assert world.provider.deleted == ["voice-named", "voice-ready"]
    assert [voice.voice_id for voice in world.provider.voices] == ["voice-other"]
    assert world.samples.objects == {}
    state = world.store.load(CALLER)
    assert state.profile is None and state.clone.status is CloneStatus.REMOVED
    assert [entry.event for entry in world.registry.consent_log(CALLER)][-1] is ConsentEvent.WITHDRAWN


@pytest.mark.parametrize(
    "failure", [ProviderUnavailable("503 from upstream", status_code=503), NoVoiceProvider("no API key")]
)
def test_a_withdrawal_stands_and_the_samples_go_whatever_the_provider_does(world, failure):
    """Issue 21, point 4: the consent log, the REMOVED marker and the sample deletion come first."""
    _with_clones(world)

    def voices():
        raise failure

    world.voices = voices
    use_cases = world.use_cases
    done = use_cases.withdraw(use_cases.holdings(CALLER), "op")

    assert done.problem is failure and done.clones_deleted == ()
    assert done.recorded and done.versions_deleted == 2
    assert world.samples.objects == {} and world.store.load(CALLER).profile is None
    assert world.store.clones[CALLER].status is CloneStatus.REMOVED

    world.voices = lambda: world.provider  # once the provider answers, withdrawing again finishes it
    again = use_cases.withdraw(use_cases.holdings(CALLER), "op")
    assert (again.recorded, again.versions_deleted, again.clones_deleted) == (False, 0, ("voice-named",))
    assert len(world.registry.consent_log(CALLER)) == 2  # one withdrawal, not two


def test_every_holder_counts_profiles_live_records_and_stray_samples_but_not_the_removed(world):
    world.register()
    world.samples.write(NEW_KEY, "sample-01.wav", b"RIFF", "audio/wav")  # an interrupted registration
    gone = "ck_" + "c" * 32
    world.store.clones[gone] = CloneRecord(CloneStatus.REMOVED, "", expires_at=0, requested_at_ms=0)

    assert world.use_cases.every_holder() == [CALLER, NEW_KEY]


def test_clone_holders_name_a_withdrawn_caller_whose_clone_the_provider_kept_and_no_stranger(world):
    """A withdrawal whose clone delete failed is in no record but the REMOVED marker (and the consent
    log); `every_holder` leaves them out, `clone_holders` finds them by their voice's name."""
    world.register()
    world.provider.voices.append(ProviderVoice("voice-kept", voice_name("job1", CALLER), "cloned"))
    world.provider.voices.append(ProviderVoice("voice-theirs", voice_name("job2", NEW_KEY), "cloned"))
    world.provider.voices.append(ProviderVoice("voice-premade", "Rachel", "premade"))

    def voices():
        raise ProviderUnavailable("503 from upstream", status_code=503)

    world.voices = voices
    use_cases = world.use_cases
    assert use_cases.withdraw(use_cases.holdings(CALLER), "op").problem is not None
    world.voices = lambda: world.provider

    assert use_cases.every_holder() == []
    assert use_cases.clone_holders() == [CALLER]  # NEW_KEY is unknown here: another stack's caller
    del world.store.clones[CALLER]  # the REMOVED marker gone (TTL): the consent log still knows them
    assert use_cases.clone_holders() == [CALLER]


def test_the_same_samples_are_recognised_in_any_order(world):
    profile = world.register()

    assert world.use_cases.same_samples(profile, list(reversed(SAMPLES)))
    assert not world.use_cases.same_samples(profile, [SAMPLES[0]])
    assert not world.use_cases.same_samples(profile, [SAMPLES[0], VoiceSample("x.wav", b"RIFF owt")])
    del world.samples.objects[profile.sample_keys[1]]
    assert not world.use_cases.same_samples(profile, list(SAMPLES))


def test_rekeying_moves_samples_and_consent_and_withdraws_the_old_key(world):
    world.register()

    moved = world.use_cases.rekey(Rekey(("ck_" + "9" * 32, CALLER), NEW_KEY, "op"))

    assert moved.old_key == CALLER and moved.withdrawal.recorded
    profile = world.registry.get_profile(NEW_KEY)
    assert profile.sample_keys == (f"samples/{NEW_KEY}/sample-01.wav", f"samples/{NEW_KEY}/sample-02.wav")
    assert world.samples.objects[profile.sample_keys[1]] == b"RIFF two"
    assert world.registry.get_profile(CALLER) is None
    assert not [key for key in world.samples.objects if CALLER in key]
    [entry] = world.registry.consent_log(NEW_KEY)
    assert entry.consent == f"Jane Doe, by phone (re-keyed from {CALLER})"


def test_rekeying_refuses_what_it_cannot_move(world):
    with pytest.raises(NotRegistered):
        world.use_cases.rekey(Rekey((CALLER,), NEW_KEY, "op"))
    world.register(pin=PIN)
    with pytest.raises(PinNeeded):  # the PIN is bound to the old key
        world.use_cases.rekey(Rekey((CALLER,), NEW_KEY, "op"))
    world.register(key=NEW_KEY)
    with pytest.raises(AlreadyRegistered):
        world.use_cases.rekey(Rekey((CALLER,), NEW_KEY, "op", PIN))
    assert world.registry.get_profile(CALLER) is not None  # nothing moved


def test_rekeying_with_the_pin_binds_it_to_the_new_key(world):
    world.register(pin=PIN)
    new_pin = PinRecord("hmac-sha256:under-the-new-key", 5)

    world.use_cases.rekey(Rekey((CALLER,), NEW_KEY, "op", new_pin))

    assert world.registry.get_pin(NEW_KEY) == new_pin and world.registry.get_pin(CALLER) is None


def test_earlier_numbering_rules_give_the_numbers_a_caller_was_keyed_by():
    assert earlier_numbers("+44 (0)20 7946 0000", "44", "+442079460000") == ["+4402079460000"]
    assert earlier_numbers("020 7946 0000", "44", "+442079460000") == ["02079460000"]
    assert earlier_numbers("+442079460000", "44", "+442079460000") == []


def test_the_listing_is_every_profile_with_its_state_oldest_first(world):
    world.clock.time = NOW + 10
    world.register(key=NEW_KEY)
    world.clock.time = NOW
    world.register(pin=PIN)

    listing = world.use_cases.listing()

    assert [profile.caller_key for profile, _ in listing] == [CALLER, NEW_KEY]
    assert listing[0][1].pin == PIN and listing[1][1].pin is None
    assert isinstance(listing[0][0], CallerProfile)


def test_a_caller_on_file_is_shown_with_their_state_and_samples_and_a_missing_sample_as_missing(world):
    assert world.use_cases.on_file(CALLER) is None
    profile = world.register(pin=PIN)
    del world.samples.objects[profile.sample_keys[1]]

    found = world.use_cases.on_file(CALLER)

    assert found.profile == profile and found.state.pin == PIN
    assert [(stored.size, stored.content_type) for stored in found.samples] == [
        (8, "audio/wav"),
        (None, None),
    ]
