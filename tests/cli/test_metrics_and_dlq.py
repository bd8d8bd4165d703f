"""`warmline metrics` (GET /api/metrics/cloning as a table or JSON) and `warmline dlq list|redrive`
(the clone jobs' dead-letter queue) on the local stack."""

from __future__ import annotations

import json
import time

from tests import web
from tests.cli.conftest import clone_store_of, make_wav, target_of
from tests.waiting import eventually
from warmline import __version__
from warmline.callers import caller_key
from warmline.clone_state import CloneRecord, CloneStatus, JobClaim
from warmline_cli.main import main

NUMBER = "+44 20 7946 0000"
CONSENT = "Jane Doe agreed by phone on 2026-11-24, call recorded"


def _key(stack, number="+442079460000"):
    return caller_key(number, stack.secrets["CallerKeySecret"])


def _wait_ready(stack, key):
    def ready():
        record = clone_store_of(stack).get_clone(key)
        return record if record is not None and record.status is CloneStatus.READY else None

    return eventually(ready, within=30, what="the clone READY")


def _register(local_args, tmp_path, *extra):
    """`samples add` of NUMBER with a 40-second sample (and these options); the sample's path."""
    wav = make_wav(tmp_path / "a.wav", 40)
    add = ["samples", "add", *local_args, "--caller", NUMBER, "--consent", CONSENT, "--file", str(wav)]
    assert main([*add, *extra]) == 0
    return wav


# ---- metrics ----------------------------------------------------------------------------------------


def test_metrics_json_is_the_endpoint_document_with_the_version(stack, local_args, tmp_path, capsys):
    _register(local_args, tmp_path, "--prewarm", "--wait")
    capsys.readouterr()

    assert main(["metrics", *local_args, "--json"]) == 0

    figures = json.loads(capsys.readouterr().out)
    assert figures["version"] == __version__
    assert figures["counts"]["clones_ready"] >= 1
    assert {"from", "to", "p50_clone_time_ms", "async_clone_success_rate"} <= set(figures)


def test_metrics_table_has_a_line_per_figure_and_count(stack, local_args, capsys):
    window = ["--from", "2026-11-24T00:00:00Z", "--to", "2026-11-25T00:00:00Z"]

    assert main(["metrics", *local_args, *window]) == 0

    lines = capsys.readouterr().out.splitlines()
    table = {line.split("  ", 1)[0].strip(): line.split("  ", 1)[1].strip() for line in lines}
    assert table["window"] == "2026-11-24T00:00:00.000Z to 2026-11-25T00:00:00.000Z"
    assert table["p50_clone_time_ms"] == "-"  # nothing in that window: no figure, never a guess
    assert table["clones_ready"] == "0"
    assert table["pin_checks_by_result.accepted"] == "0"
    assert table["warmline version"] == __version__


def test_metrics_with_a_bad_window_is_a_usage_error_naming_the_option(stack, local_args, capsys):
    assert main(["metrics", *local_args, "--from", "yesterday"]) == 2
    assert "error: --from: must be ISO-8601" in capsys.readouterr().err

    assert main(["metrics", *local_args, "--from", "2026-11-25", "--to", "2026-11-24"]) == 2
    assert "error: --from: must be before to" in capsys.readouterr().err


# ---- the dead-letter queue --------------------------------------------------------------------------


def _dead_letter(stack, body):
    target = target_of(stack)
    target.client("sqs").send_message(QueueUrl=target.dead_letter_queue_url, MessageBody=body)


def _dead_job(stack, key, job_id):
    _dead_letter(
        stack, json.dumps({"job_id": job_id, "caller_key": key, "requested_at_ms": 1, "threecx_call_id": ""})
    )


def _failed(stack, key, job_id):
    """The record a job's last delivery leaves: FAILED, still live (FailedRetryAfterSeconds)."""
    store, now = clone_store_of(stack), time.time()
    pending = CloneRecord(CloneStatus.PENDING, job_id, expires_at=int(now) + 600, requested_at_ms=1)
    assert store.start_clone(key, pending, now)
    assert store.fail_job(
        key,
        JobClaim(job_id, "", int(now * 1000)),
        error_code="internal_error",
        error_message="boom",
        expires_at=int(now) + 300,
    )


def _letters(stack, local_args, capsys):
    capsys.readouterr()
    assert main(["dlq", "list", *local_args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["messages"]


def test_dlq_list_of_an_empty_queue(stack, local_args, capsys):
    assert main(["dlq", "list", *local_args]) == 0
    assert "the clone jobs' dead-letter queue is empty" in capsys.readouterr().out
    assert _letters(stack, local_args, capsys) == []


def test_dlq_redrive_clones_the_callers_again_and_keeps_what_is_not_a_job(
    stack, local_args, tmp_path, capsys
):
    _register(local_args, tmp_path)
    key, gone = _key(stack), _key(stack, "+14155550100")
    _failed(stack, key, "job-dead")
    _dead_job(stack, key, "job-dead")
    _dead_job(stack, gone, "job-gone")
    _dead_letter(stack, "not a clone job")

    letters = _letters(stack, local_args, capsys)
    assert len(letters) == 3
    assert all(
        set(letter)
        == {"message_id", "sent_at", "job_id", "caller_key", "requested_at", "registered", "clone_status"}
        for letter in letters
    )
    ours = next(letter for letter in letters if letter["job_id"] == "job-dead")
    assert (ours["caller_key"], ours["registered"], ours["clone_status"]) == (key, True, "failed")
    assert main(["dlq", "list", *local_args]) == 0
    assert "(not a clone job)" in capsys.readouterr().out

    assert main(["dlq", "redrive", *local_args]) == 2  # no terminal, no --yes
    assert len(_letters(stack, local_args, capsys)) == 3  # nothing moved, all visible again

    assert main(["dlq", "redrive", *local_args, "--yes"]) == 0

    out = capsys.readouterr().out
    assert f"{key}: clone job queued" in out and f"{gone}: no longer registered" in out
    assert "not a clone job; left in the queue" in out
    record = _wait_ready(stack, key)
    assert record.job_id != "job-dead"  # a fresh job, not the dead one again
    [left] = _letters(stack, local_args, capsys)
    assert left["job_id"] is None


def _cloning_under_a_dead_lease(stack, key, job_id):
    """The record a worker killed mid-clone leaves: CLONING, still live, its lease lapsed a minute ago
    (lease times are the record's own: nothing waits for them)."""
    store, now = clone_store_of(stack), time.time()
    pending = CloneRecord(CloneStatus.PENDING, job_id, expires_at=int(now) + 600, requested_at_ms=1)
    assert store.start_clone(key, pending, now)
    now_ms = int(now * 1000)
    dead = store.take_lease(
        key, lease_token="dead-worker", now_ms=now_ms - 120_000, lease_expires_at_ms=now_ms - 60_000
    )
    assert dead is not None and dead.status is CloneStatus.CLONING


def test_dlq_redrive_takes_over_a_clone_whose_worker_died_and_keeps_one_voice(
    stack, local_args, tmp_path, capsys
):
    """Issue 21, point 6: a CLONING record under a lapsed lease is not under way. Redrive takes it over
    with the worker's conditional write and queues its job again; the voice the dead worker made
    (its answer lost) is found by the job's name, so the caller ends READY with one voice."""
    wav = _register(local_args, tmp_path)
    key = _key(stack)
    _cloning_under_a_dead_lease(stack, key, "jobdead")
    made = web.post(  # what the dead worker's voices/add made before it died
        stack.emulator.base_url + "/v1/voices/add",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        data={"name": f"warmline-{key}-jobdead"},
        files=[("files", ("a.wav", wav.read_bytes(), "audio/wav"))],
    )
    made.raise_for_status()
    _dead_job(stack, key, "jobdead")
    capsys.readouterr()

    assert main(["dlq", "redrive", *local_args, "--yes"]) == 0

    assert f"{key}: its worker's lease has lapsed; clone job queued again" in capsys.readouterr().out
    record = _wait_ready(stack, key)
    assert (record.job_id, record.cloned_voice_id) == ("jobdead", made.json()["voice_id"])
    assert [voice["voice_id"] for voice in stack.emulator.voices()] == [record.cloned_voice_id]
    assert _letters(stack, local_args, capsys) == []


def test_dlq_redrive_leaves_a_clone_truly_under_way_and_deletes_its_letter(
    stack, local_args, tmp_path, capsys
):
    _register(local_args, tmp_path)
    key, store, now = _key(stack), clone_store_of(stack), time.time()
    assert store.start_clone(key, CloneRecord(CloneStatus.PENDING, "joblive", int(now) + 600, 1), now)
    now_ms = int(now * 1000)
    assert store.take_lease(key, lease_token="alive", now_ms=now_ms, lease_expires_at_ms=now_ms + 300_000)
    _dead_job(stack, key, "jobold")
    capsys.readouterr()

    assert main(["dlq", "redrive", *local_args, "--yes"]) == 0

    assert f"{key}: a clone is ready or under way" in capsys.readouterr().out
    assert store.get_clone(key).lease_token == "alive"  # the live worker's lease is not taken
    assert _letters(stack, local_args, capsys) == []
