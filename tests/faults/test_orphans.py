"""No voice left behind at ElevenLabs: clone requests that hang past the client's timeout (their
voices appear after warmline gave up on them), a job that fails after such attempts, and samples
removed while a clone is in flight. Each scenario is checked once nothing is queued or running and
no request still hangs at ElevenLabs: a caller then has one voice (READY) or none (FAILED, removed).

The hangs are 3 s against the fault stack's 1.5 s client timeout; the issue measured the same
cases with the default timings (two hangs: READY with 2 voices; hangs on every attempt: READY with
3; hangs with failing look-ups: FAILED, the DLQ, and 2+ voices; add --prewarm then remove: 1).
"""

import time

import pytest

from emulators.elevenlabs import Fault
from tests.cli.conftest import make_wav
from warmline_cli.main import main

HANG_S = 3.0


def hang_every_clone(emulator, count=1, always=False):
    emulator.inject(
        Fault(
            method="POST",
            path_prefix="/v1/voices/add",
            kind="hang",
            seconds=HANG_S,
            count=count,
            always=always,
        )
    )


def test_two_hung_attempts_end_ready_with_one_voice(emulator, register, caller, ledger):
    key = register("+442079060001")
    hang_every_clone(emulator, count=2)

    outcome = caller.call("+442079060001")

    assert outcome.final_voice == "cloned"
    (record,) = ledger.settle([key])
    # The first attempt hung and made its voice after warmline gave up on it. Then either a second
    # attempt hung too (its voice appears later still), or, on a slow machine, the look-up before it
    # already found the first voice by name and the job reused it. Either way one voice is left.
    assert emulator.requests("/v1/voices/add")
    ledger.assert_accounted([key])
    assert record.cloned_voice_id == outcome.cloned_voice_id


def test_hangs_on_every_attempt_end_ready_with_one_voice(emulator, register, caller, ledger):
    key = register("+442079060002")
    hang_every_clone(emulator, always=True)

    outcome = caller.call("+442079060002")

    assert outcome.final_voice == "cloned"
    ledger.settle([key])
    assert len(emulator.requests("/v1/voices/add")) >= 2
    ledger.assert_accounted([key])


def test_a_job_failing_after_hung_attempts_leaves_no_voice(emulator, register, caller, ledger):
    key = register("+442079060003")
    # Every clone hangs past the client timeout and every look-up by name fails: no attempt can
    # find what an earlier one made, so the job fails on its last delivery while the hung requests
    # go on to make their voices.
    hang_every_clone(emulator, always=True)
    emulator.inject(Fault(method="GET", path_prefix="/v2/voices", status=500, always=True))

    outcome = caller.call("+442079060003")

    assert outcome.final_voice == "default"
    deadline = time.monotonic() + 60
    while (record := ledger.record(key)).status.value != "FAILED":
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
    emulator.clear_faults()  # the outage ends; the delayed re-check can look again
    ledger.settle([key])
    assert ledger.queue_depth("CloneJobsDeadLetterQueue") == 1
    assert len(emulator.requests("/v1/voices/add")) >= 3
    ledger.assert_accounted([key])


@pytest.fixture
def long_sample(tmp_path):
    return make_wav(tmp_path / "caller.wav", 40)


def test_samples_removed_while_the_clone_is_in_flight_leave_no_voice(
    fault_stack, emulator, ledger, long_sample, busy_worker_pids
):
    number = "+442079060004"
    target = ["--local", "--local-state", str(fault_stack.state_file)]
    # The clone answers after 1 s (inside the client's timeout): it succeeds, after the removal.
    emulator.inject(Fault(method="POST", path_prefix="/v1/voices/add", kind="hang", seconds=1.0))
    consent = ["--consent", "fault test caller, agreed in writing"]
    added = main(
        ["samples", "add", *target, "--caller", number, "--file", str(long_sample), *consent, "--prewarm"]
    )
    assert added == 0
    deadline = time.monotonic() + 10
    while not emulator.in_flight("/v1/voices/add"):
        assert time.monotonic() < deadline, "the clone never started"
        time.sleep(0.02)

    remove_started = time.time()
    assert main(["samples", "remove", *target, "--caller", number, "--yes"]) == 0

    key = ledger.key_of(number)
    deadline = time.monotonic() + 20
    while not ledger.idle():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    [add] = [r for r in emulator.requests("/v1/voices/add") if r["status"] == 200]
    assert emulator.voices() == []
    deletes = [r["path"] for r in emulator.requests("/v1/voices/") if r["method"] == "DELETE"]
    assert len(deletes) >= 1 and add["answered_at"] > remove_started  # made after the removal began
    ledger.assert_accounted([key])
