"""A local stack of its own for the fault scenarios: short worker timeout (so a killed worker's lease
expires in seconds), a visibility timeout above that lease, a 1.5 s clone request timeout, a short
re-check delay, no "in use" window, at most two clone requests at once, and fewer IVR reads
(tests/stack_settings.py)."""

import time

import pytest

from emulators.caller import SimulatedCaller
from emulators.demo_audio import write_sample
from emulators.elevenlabs import CloneLatency
from local import aws
from local.stack import LocalStack, StackOptions
from tests.stack_settings import FEWER_IVR_READS
from warmline_cli.api import register_caller

WORKER_TIMEOUT_S = 8
CLONE_CAP = 2


@pytest.fixture(scope="package")
def fault_stack(tmp_path_factory):
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-faults"),
        options=StackOptions(
            emulator_options={"clone_latency": CloneLatency(0.2, 0.4)},
            # Callers here press keys every 0.2 s, many at once: above the stage's default throttling.
            parameter_overrides={
                "CloneMaxConcurrency": CLONE_CAP,
                "ApiRateLimit": 1000,
                "ApiBurstLimit": 1000,
                "IncomingCallRateLimit": 1000,
                "IncomingCallBurstLimit": 1000,
                "AgentRateLimit": 1000,
                "AgentBurstLimit": 1000,
            },
            env_overrides=FEWER_IVR_READS
            | {
                # AWS attempts scaled with the 8 s worker timeout (the template's worker waits up to 6 s
                # per attempt, for a 90 s timeout): outside calls may start until 1.5 s before the end.
                "AWS_CONNECT_TIMEOUT_SECONDS": "0.3",
                "AWS_READ_TIMEOUT_SECONDS": "1",
                "CLONE_REQUEST_TIMEOUT_SECONDS": "1.5",
                "CLONE_RECHECK_DELAY_SECONDS": "3",
                # A clone may give up its slot as soon as it was used (the "in use" window has unit tests).
                "VOICE_IN_USE_SECONDS": "0",
                "VOICE_SLOT_CACHE_SECONDS": "0",
            },
            function_timeout_overrides={"CloneWorkerFunction": WORKER_TIMEOUT_S},
            visibility_timeout_override=WORKER_TIMEOUT_S + 4,
        ),
    )
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def fault_sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("fault-audio") / "sample.wav", seconds=6)


@pytest.fixture
def emulator(fault_stack):
    fault_stack.emulator.reset()
    fault_stack.emulator.configure(voice_limit=30)
    return fault_stack.emulator


@pytest.fixture
def register(fault_stack, fault_sample):
    def register_number(number: str) -> str:
        return register_caller(fault_stack.describe(), number, [fault_sample], consent="fault test")

    return register_number


@pytest.fixture
def caller(fault_stack):
    return SimulatedCaller.for_stack(
        fault_stack.describe(), greeting_seconds=0.1, pause_between_presses_seconds=0.2, max_key_presses=40
    )


class Ledger:
    """What a scenario ends with: clone records, voices at the emulator, and the queues."""

    def __init__(self, stack):
        self.stack = stack
        self.sqs = aws.client("sqs", stack.aws_endpoint_url)
        self.dynamodb = aws.client("dynamodb", stack.aws_endpoint_url)

    def record(self, caller_key):
        from warmline.adapters.dynamodb import DynamoCloneStore

        table = self.stack.model.tables["CloneTable"].name
        return DynamoCloneStore(self.dynamodb, table).get_clone(caller_key)

    def key_of(self, number):
        from warmline.callers import caller_key, normalise_number

        return caller_key(normalise_number(number), self.stack.secrets["CallerKeySecret"])

    def voices_of(self, caller_key):
        return [v for v in self.stack.emulator.voices() if v["name"].startswith(f"warmline-{caller_key}-")]

    def queue_depth(self, logical_id):
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.model.queues[logical_id].url,
            AttributeNames=["All"],
        )["Attributes"]
        return sum(
            int(attributes.get(name, 0))
            for name in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )

    def settle(self, caller_keys, timeout_s=40.0, finished=("READY", "FAILED")):
        """Wait until every record is finished, no clone job is queued (delayed re-checks
        included) or running, and no request is still hanging at ElevenLabs (a hung clone makes
        its voice when it ends)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            records = [self.record(key) for key in caller_keys]
            done = all(r is not None and r.status.value in finished for r in records)
            if done and self.idle():
                return records
            time.sleep(0.2)
        raise AssertionError(f"not settled after {timeout_s} s: {[self.record(k) for k in caller_keys]}")

    def idle(self):
        return (
            self.queue_depth("CloneJobsQueue") == 0
            and not _busy_workers(self.stack)
            and self.stack.emulator.in_flight() == 0
        )

    def assert_accounted(self, caller_keys):
        """Each caller: READY with exactly one voice (the one handed out), or FAILED with a reason
        and no voice, or removed with no voice. And nothing left on the clone-jobs queue."""
        for key in caller_keys:
            record = self.record(key)
            voices = self.voices_of(key)
            if record is not None and record.status.value == "READY":
                assert [v["voice_id"] for v in voices] == [record.cloned_voice_id], (key, voices)
            elif record is not None and record.status.value == "FAILED":
                assert record.error_code, record
                assert voices == [], voices
            else:
                assert record is None or record.status.value == "REMOVED", record
                assert voices == [], voices
        assert self.queue_depth("CloneJobsQueue") == 0


def _busy_workers(stack):
    pool = stack.runtime.pools["CloneWorkerFunction"]
    with pool.condition:
        return [e.pid for e in pool.live if e not in pool.idle]


@pytest.fixture
def ledger(fault_stack):
    return Ledger(fault_stack)


@pytest.fixture
def busy_worker_pids(fault_stack):
    return lambda: _busy_workers(fault_stack)
