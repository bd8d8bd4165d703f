"""Faults at ElevenLabs and in the worker, end to end on the local stack. Every scenario ends with
each call in a defined outcome, one voice per caller with a sample, and every job accounted for."""

import json
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from emulators.elevenlabs import ERROR_CODES_429, Fault
from tests import web
from tests.faults.conftest import CLONE_CAP
from tests.waiting import eventually


def add_requests(emulator):
    return emulator.requests("/v1/voices/add")


@pytest.mark.parametrize("code", ERROR_CODES_429)
def test_a_429_burst_is_retried_into_one_voice(code, emulator, register, caller, ledger):
    key = register(f"+4420790{ERROR_CODES_429.index(code):02d}100")
    emulator.inject(Fault(method="POST", path_prefix="/v1/voices/add", status=429, code=code, count=2))

    outcome = caller.call(f"+4420790{ERROR_CODES_429.index(code):02d}100")

    assert outcome.final_voice == "cloned" and outcome.handed_off
    assert [r["status"] for r in add_requests(emulator)] == [429, 429, 200]
    ledger.settle([key])
    ledger.assert_accounted([key])


def test_500s_then_success_make_one_voice(emulator, register, caller, ledger):
    key = register("+442079020001")
    emulator.inject(Fault(method="POST", path_prefix="/v1/voices/add", status=500, count=2))

    outcome = caller.call("+442079020001")

    assert outcome.final_voice == "cloned"
    ledger.settle([key])
    ledger.assert_accounted([key])


def test_a_voice_made_although_its_answer_was_a_500_is_reused(emulator, register, caller, ledger):
    key = register("+442079020002")
    emulator.inject(
        Fault(method="POST", path_prefix="/v1/voices/add", kind="after_effect_status", status=502, count=1)
    )

    outcome = caller.call("+442079020002")

    assert outcome.final_voice == "cloned"
    assert [r["status"] for r in add_requests(emulator)] == [502]  # found by name, not cloned again
    ledger.settle([key])
    ledger.assert_accounted([key])


def test_a_clone_hanging_past_the_client_timeout_leaves_one_voice(emulator, register, caller, ledger):
    key = register("+442079020003")
    # The worker gives up after 1.5 s and clones again; the hung request still makes its voice at
    # ~2.5 s. The delayed re-check (3 s) deletes whichever voice the record does not hold.
    emulator.inject(Fault(method="POST", path_prefix="/v1/voices/add", kind="hang", seconds=2.5, count=1))

    outcome = caller.call("+442079020003")

    assert outcome.final_voice == "cloned"
    # settle() waits for the hung request's end and for the delayed re-check (queued, then run).
    ledger.settle([key])
    assert len(add_requests(emulator)) == 2
    ledger.assert_accounted([key])
    assert outcome.cloned_voice_id == ledger.record(key).cloned_voice_id


def test_killed_worker_lease_expires_and_the_next_attempt_reuses_its_voice(
    emulator, register, caller, ledger, busy_worker_pids
):
    key = register("+442079020004")
    emulator.inject(Fault(method="POST", path_prefix="/v1/voices/add", kind="hang", seconds=2.0, count=1))

    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(caller.call, "+442079020004")
        (pid,) = eventually(busy_worker_pids, within=10, what="a worker on the job")
        time.sleep(0.5)  # the clone request is in flight, hanging
        os.kill(pid, signal.SIGKILL)
        outcome = call.result(timeout=60)

    assert outcome.final_voice == "cloned"
    ledger.settle([key])
    record = ledger.record(key)
    assert record.attempts == 2
    assert len(add_requests(emulator)) == 1  # the killed attempt's voice was found and reused
    ledger.assert_accounted([key])


def test_duplicate_sqs_deliveries_make_one_voice(emulator, register, ledger, fault_stack):
    key = register("+442079020005")
    from warmline.adapters.dynamodb import DynamoCloneStore
    from warmline.calls import CloneRequests, PendingPolicy
    from warmline.settings import Settings

    store = DynamoCloneStore(ledger.dynamodb, fault_stack.model.tables["CloneTable"].name)
    sent = []

    class Twice:
        def send(self, job, delay_seconds=0):
            for _ in range(2):
                ledger.sqs.send_message(
                    QueueUrl=fault_stack.model.queues["CloneJobsQueue"].url,
                    MessageBody=json.dumps(job.__dict__),
                )
            sent.append(job)

    requests = CloneRequests(store, Twice(), PendingPolicy.from_settings(Settings()))
    assert requests.request(key, "dup", time.time())

    ledger.settle([key])
    assert ledger.record(key).job_id == sent[0].job_id
    assert [r["status"] for r in add_requests(emulator)] == [200]
    ledger.assert_accounted([key])


def test_duplicate_3cx_webhooks_for_one_call_queue_one_job(emulator, register, fault_stack, ledger):

    key = register("+442079020006")
    body = {"caller": "+442079020006", "did": "+441000000000", "call_id": "dup-call"}
    headers = {"x-warmline-secret": fault_stack.secrets["ThreeCxSecret"]}

    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                # Four cold starts at once queue for the machine's init slots: seconds under load.
                lambda _: web.post(
                    fault_stack.endpoints["IncomingCall"], json=body, headers=headers, timeout=30
                ),
                range(4),
            )
        )

    assert [a.status_code for a in answers] == [200] * 4
    assert sum(a.json()["job_queued"] for a in answers) == 1
    ledger.settle([key])
    ledger.assert_accounted([key])


def test_many_calls_from_one_caller_at_once_and_the_clone_cap(emulator, register, caller, ledger):
    keys = [register(f"+4420790300{i:02d}") for i in range(6)]
    numbers = [f"+4420790300{i:02d}" for i in range(6)] + ["+442079030000"] * 4

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(lambda n: caller.call(n, uuid.uuid4().hex), numbers))

    assert {o.final_voice for o in outcomes} == {"cloned"}
    same = [o.cloned_voice_id for o in outcomes if o.caller == "+442079030000"]
    assert len(set(same)) == 1
    ledger.settle(keys)
    ledger.assert_accounted(keys)
    # The worker's SQS maximum concurrency caps clone requests in flight at ElevenLabs.
    spans = [(r["received_at"], r["answered_at"]) for r in add_requests(emulator)]
    assert len(spans) == 6
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most == CLONE_CAP
