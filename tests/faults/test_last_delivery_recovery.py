"""Issue 21 §6 on the local stack: with CloneJobMaxReceives = 2, a worker killed after ElevenLabs
made the voice (its answer still on the way) leaves a live lease behind; the job's second and last
delivery meets that lease. The caller still reaches READY, with the one voice the killed attempt made,
well within two minutes, and nothing goes to the dead-letter queue.

Timings are the fault stack's kind (worker timeout 8 s, the message hidden 4 s at a time by the
heartbeat), so the scenario takes about 12 s of polling in steps of at most 0.2 s."""

import os
import signal
import time

import pytest

from emulators.demo_audio import write_sample
from emulators.elevenlabs import CloneLatency, Fault
from local.stack import LocalStack, StackOptions
from tests import web
from tests.faults.conftest import Ledger, _busy_workers
from tests.stack_settings import warm
from warmline_cli.api import register_caller

CALLER = "+442079020166"
WORKER_TIMEOUT_S = 8
HIDDEN_S = 4  # a killed worker's message is seen again this long after its last heartbeat
ANSWER_LATE_S = 2.0  # the voice exists this long before voices/add answers: the moment of the kill


@pytest.fixture(scope="module")
def two_deliveries_stack(tmp_path_factory):
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-last-delivery"),
        options=StackOptions(
            parameter_overrides={"CloneJobMaxReceives": 2},
            emulator_options={"clone_latency": CloneLatency(0.2, 0.4)},
            env_overrides={"CLONE_RECHECK_DELAY_SECONDS": "3"},
            function_timeout_overrides={"CloneWorkerFunction": WORKER_TIMEOUT_S},
            # Shorter than the lease (the worker's time left + 3 s): the second delivery meets the
            # dead worker's lease while it is live, as in AWS (heartbeat 30 s, lease up to 93 s).
            visibility_timeout_override=HIDDEN_S,
        ),
    )
    stack.start()
    warm(stack)  # the first attempt runs warm: a cold start is not this test's subject
    yield stack
    stack.stop()


def _poll(condition, timeout_s, step_s=0.05):
    deadline = time.monotonic() + timeout_s
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(step_s)
    return found


def test_a_worker_killed_after_voices_add_on_a_two_delivery_queue_still_ends_ready(
    two_deliveries_stack, tmp_path
):
    stack = two_deliveries_stack
    ledger = Ledger(stack)
    assert stack.model.queues["CloneJobsQueue"].max_receive_count == 2
    key = register_caller(
        stack.describe(), CALLER, [write_sample(tmp_path / "s.wav", seconds=6)], consent="last delivery"
    )
    stack.emulator.inject(
        Fault(method="POST", path_prefix="/v1/voices/add", kind="late_answer", seconds=ANSWER_LATE_S)
    )
    answer = web.post(
        stack.endpoints["IncomingCall"],
        json={"caller": CALLER, "did": "+441000000000", "call_id": "last-delivery"},
        headers={"x-warmline-secret": stack.secrets["ThreeCxSecret"]},
        timeout=10,
    )
    assert answer.json()["job_queued"] is True

    # ElevenLabs has made the voice; its answer has not reached the worker: kill the worker now.
    assert _poll(lambda: ledger.voices_of(key), timeout_s=20), "the clone request never made its voice"
    (pid,) = _busy_workers(stack)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert ledger.record(key).status.value == "CLONING"

    finished = _poll(
        lambda: (r := ledger.record(key)) is not None and r.status.value in ("READY", "FAILED"),
        timeout_s=60,
        step_s=0.2,
    )
    took_s = time.monotonic() - killed_at
    record = ledger.record(key)
    assert finished, f"still {record.status.value} {took_s:.0f} s after the kill: the job is stuck"
    assert took_s <= 120
    print(f"{record.status.value} {took_s:.1f} s after the kill")

    ledger.settle([key], timeout_s=30)
    record = ledger.record(key)
    assert record.status.value == "READY"
    # The killed attempt's voice was found by its name and kept: one voice, the one handed out.
    assert [voice["voice_id"] for voice in ledger.voices_of(key)] == [record.cloned_voice_id]
    assert len(stack.emulator.requests("/v1/voices/add")) == 1
    assert ledger.queue_depth("CloneJobsDeadLetterQueue") == 0
    ledger.assert_accounted([key])
