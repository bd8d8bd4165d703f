"""A killed clone worker, with the template's own timings (worker timeout 90 s, queue visibility
90 s, heartbeat 30 s every 10 s): the heartbeat keeps a long clone's job from being delivered again
while its worker lives, and once the worker is killed the job is retried within 2 minutes, by one
worker at a time (the lease), reusing the voice the killed attempt made."""

import os
import signal
import time

import httpx
import pytest

from emulators.demo_audio import write_sample
from emulators.elevenlabs import CloneLatency, Fault
from local.stack import LocalStack, StackOptions
from tests.faults.conftest import Ledger, _busy_workers
from warmline_cli.api import register_caller

CALLER = "+442079020099"
CLONE_HANGS_S = 40  # longer than one heartbeat's 30 s, shorter than the clone request's 45 s timeout


@pytest.fixture(scope="module")
def template_timed_stack(tmp_path_factory):
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-recovery"),
        options=StackOptions(
            emulator_options={"clone_latency": CloneLatency(0.2, 0.4)},
            # The template's timings, but the re-check of the in-doubt job (the killed attempt) comes
            # seconds later rather than 5 minutes, so the scenario settles (no voice left over) in time.
            env_overrides={"CLONE_RECHECK_DELAY_SECONDS": "3"},
            # The first attempt runs in a warm worker: a cold start on a loaded machine can pass
            # Lambda's 10 s init limit and end that attempt before the fault it is here for.
            provisioned=1,
        ),
    )
    stack.start()
    yield stack
    stack.stop()


def test_a_killed_workers_job_is_retried_within_two_minutes(template_timed_stack, tmp_path):
    stack = template_timed_stack
    ledger = Ledger(stack)
    assert stack.model.queues["CloneJobsQueue"].visibility_timeout == 90
    assert stack.model.functions["CloneWorkerFunction"].timeout == 90
    sample = write_sample(tmp_path / "sample.wav", seconds=6)
    key = register_caller(stack.describe(), CALLER, [sample], consent="recovery test")
    stack.emulator.inject(
        Fault(method="POST", path_prefix="/v1/voices/add", kind="hang", seconds=CLONE_HANGS_S, count=1)
    )

    answer = httpx.post(
        stack.endpoints["IncomingCall"],
        json={"caller": CALLER, "did": "+441000000000", "call_id": "recovery"},
        headers={"x-warmline-secret": stack.secrets["ThreeCxSecret"]},
        timeout=10,
    )
    assert answer.json()["job_queued"] is True
    deadline = time.monotonic() + 30
    while not _busy_workers(stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    (pid,) = _busy_workers(stack)

    # 35 s in, past one heartbeat's 30 s: the job was not delivered a second time.
    time.sleep(35)
    assert stack.poller.stats()["CloneJobs"]["records"] == 0
    assert ledger.record(key).attempts == 1

    os.kill(pid, signal.SIGKILL)
    killed_at_ms = time.time() * 1000
    deadline = time.monotonic() + 130
    while time.monotonic() < deadline and ledger.record(key).attempts < 2:
        time.sleep(0.5)
    record = ledger.record(key)

    assert record.attempts == 2, "the job was not retried"
    retried_after_s = (record.started_at_ms - killed_at_ms) / 1000
    assert retried_after_s <= 120, f"retried {retried_after_s:.0f} s after the kill"
    print(f"killed worker's job retried {retried_after_s:.1f} s after the kill")
    ledger.settle([key], timeout_s=60)
    assert ledger.record(key).status.value == "READY"
    # One clone request: the retry found the killed attempt's voice by its name and kept it.
    assert len(stack.emulator.requests("/v1/voices/add")) == 1
    ledger.assert_accounted([key])
