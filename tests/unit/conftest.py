import pytest

from tests.fakes import (
    FakeClock,
    FakeVoiceProvider,
    InMemoryCloneStore,
    InMemoryEvents,
    InMemoryQueue,
    InMemorySamples,
)
from warmline import voice_slots
from warmline.clone_state import CallerProfile
from warmline.settings import Settings

CALLER = "ck_" + "a" * 32


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store():
    return InMemoryCloneStore()


@pytest.fixture
def queue():
    return InMemoryQueue()


@pytest.fixture
def events():
    return InMemoryEvents()


@pytest.fixture
def samples():
    return InMemorySamples()


@pytest.fixture
def provider(clock):
    return FakeVoiceProvider(clock=clock)


@pytest.fixture
def settings():
    return Settings()


@pytest.fixture
def registered(store, samples):
    """A caller with one registered voice sample."""
    samples.objects[f"samples/{CALLER}/one.mp3"] = b"ID3 audio"
    store.save_profile(
        CallerProfile(
            CALLER, (f"samples/{CALLER}/one.mp3",), "agreed by phone 2026-11-01", "+44******0000", 0
        )
    )
    return CALLER


@pytest.fixture(autouse=True)
def fresh_subscription_cache():
    """The worker's subscription cache lives per execution environment; each test is a new one."""
    voice_slots.SUBSCRIPTION_CACHE.clear()
    yield
    voice_slots.SUBSCRIPTION_CACHE.clear()
