import pytest

from tests.fakes import (
    FakeClock,
    FakeVoiceProvider,
    InMemoryCallLog,
    InMemoryCallRecords,
    InMemoryCloneStore,
    InMemoryEvents,
    InMemoryQueue,
    InMemorySamples,
)
from warmline.calls import CallDesk, CallPolicy
from warmline.clone_state import CallerProfile
from warmline.cloning import ClonePolicy, CloneWorker, CloneWorkerPorts
from warmline.ivr import IvrDesk, IvrPolicy, IvrPorts
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
    store.profiles[CALLER] = CallerProfile(
        CALLER, (f"samples/{CALLER}/one.mp3",), "agreed by phone 2026-11-01", "+44******0000", 0
    )
    return CALLER


def call_desk(store, clock, settings, queue=None, provider=None, events=None) -> CallDesk:
    """The webhook's use case over the fakes; `provider` places the agent's calls (greeting mode outbound)."""
    agent_calls = (lambda: provider) if provider is not None else None
    records = InMemoryCallRecords(store, InMemoryCallLog(store), events or InMemoryEvents())
    policy = CallPolicy.from_settings(settings)
    return CallDesk(store, queue or InMemoryQueue(), clock, policy, records, agent_calls)


def ivr_desk(store, events, handoffs, clock, settings, provider=None) -> IvrDesk:
    """check_clone's use case over the fakes; `provider` places the agent's calls (handoff mode outbound)."""
    agent_calls = (lambda: provider) if provider is not None else None
    ports = IvrPorts(store, events, handoffs, clock, agent_calls)
    return IvrDesk(ports, IvrPolicy.from_settings(settings))


def clone_worker(store, samples, provider, events, clock, settings, queue=None) -> CloneWorker:
    """The clone worker over the fakes, as one new execution environment (its own subscription cache)."""
    ports = CloneWorkerPorts(store, samples, lambda: provider, events, clock, queue)
    return CloneWorker(ports, ClonePolicy.from_settings(settings))
