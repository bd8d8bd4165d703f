import pytest

from emulators.caller import EmulatedAgent, SimulatedCaller
from emulators.demo_audio import write_sample
from emulators.elevenlabs import CloneLatency
from local.stack import LocalStack, StackOptions
from tests.stack_settings import FEWER_IVR_READS
from warmline_cli.api import register_caller


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("warmline-e2e")
    stack = LocalStack(
        state_dir=state_dir,
        options=StackOptions(
            # Room for every voice the session's calls make (the slot-eviction tests are in tests/faults).
            emulator_options={"clone_latency": CloneLatency(0.3, 0.8), "voice_limit": 200},
            # Load tests place calls faster than the stage's default throttling lets through.
            parameter_overrides={
                "DefaultCountryCode": "44",
                "ApiRateLimit": 1000,
                "ApiBurstLimit": 1000,
                "IncomingCallRateLimit": 1000,
                "IncomingCallBurstLimit": 1000,
                "AgentRateLimit": 1000,
                "AgentBurstLimit": 1000,
            },
            visibility_timeout_override=2,
            env_overrides=FEWER_IVR_READS,
        ),
    )
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("audio") / "sample.wav", seconds=6)


@pytest.fixture
def register(local_stack, sample):
    def register_number(number: str, pin: str | None = None) -> str:
        return register_caller(local_stack.describe(), number, [sample], consent="e2e test", pin=pin)

    return register_number


@pytest.fixture
def make_caller(local_stack):
    """A caller through the simulated 3CX (`pbx`) to the emulator's agent, wired by configure."""

    def simulated(**options) -> SimulatedCaller:
        return SimulatedCaller.for_stack(
            local_stack.describe(),
            greeting_seconds=0.1,
            pause_between_presses_seconds=0.1,
            agent=options.pop("agent", None) or EmulatedAgent(local_stack.emulator.base_url),
            **options,
        )

    return simulated


@pytest.fixture
def caller(make_caller):
    return make_caller()


@pytest.fixture
def emulator(local_stack):
    local_stack.emulator.clear_faults()
    return local_stack.emulator
