"""Events, logs and GET /api/metrics/cloning through the real handlers, against moto and the emulator."""

import io
import json
import time

import pytest

from emulators.elevenlabs import Fault
from tests.aws_harness import (
    OPERATOR_SECRET,
    LambdaContext,
    event,
    load_handler_module,
    sqs_event_from,
    with_body,
)
from warmline.adapters.dynamodb import DynamoEventStore
from warmline.events import Event, EventType

CALLER = "+442079460000"  # the number in events/*.json
OTHER_CALLER = "+442079461111"
DIALLED = "+442071234567"  # the did in events/incoming_call.json: what 3CX presents when not configured
PIN_CALLER = "+442079462222"
QUICK_IVR = {"IVR_MAX_WAIT_SECONDS": "0.2"}  # so a check while cloning answers check_again at once


@pytest.fixture(scope="module")
def handlers():
    return {
        name: load_handler_module(name) for name in ("webhook", "clone_worker", "ivr_check", "housekeeping")
    }


def invoke(module, stack, function, ev, **env):
    with stack.function_env(function, **env):
        response = module.lambda_handler(ev, LambdaContext(function, 15))
    return response["statusCode"], json.loads(response["body"]) if "body" in response else response


def incoming(handlers, stack, number):
    return invoke(
        handlers["webhook"],
        stack,
        "WebhookFunction",
        with_body(
            event("incoming_call.json"), {"caller": number, "did": DIALLED, "call_id": f"call-{number[-4:]}"}
        ),
    )[1]


def conversation_init(handlers, stack, number):
    body = {"caller_id": number, "agent_id": "agent_1", "called_number": None, "call_sid": None}
    return invoke(
        handlers["webhook"], stack, "WebhookFunction", with_body(event("conversation_init.json"), body)
    )[1]


def check_clone(handlers, stack, number, pin=None):
    base = event("check_clone.json", pathParameters={"caller_id": number})
    if pin is not None:
        base = with_body(base, {"pressed_key": "1", "pin": pin})
    return invoke(handlers["ivr_check"], stack, "IvrCheckFunction", base, **QUICK_IVR)[1]


def run_worker(handlers, stack):
    messages = stack.queued_messages(wait_s=1)
    queue = stack.model.queues["CloneJobsQueue"]
    with stack.function_env("CloneWorkerFunction"):
        return handlers["clone_worker"].lambda_handler(
            sqs_event_from(messages, queue.arn), LambdaContext("CloneWorkerFunction", 90)
        )


def run_housekeeping(handlers, stack):
    with stack.function_env("HousekeepingFunction"):
        return handlers["housekeeping"].lambda_handler(
            event("scheduled.json"), LambdaContext("HousekeepingFunction", 120)
        )


def play_calls(handlers, stack, emulator):
    """One caller's whole call and a repeat call, a second caller whose clone fails, and a third
    caller with a PIN who types a wrong one."""
    emulator.configure(max_voice_add_edits=100)
    stack.register_caller(CALLER)
    stack.register_caller(OTHER_CALLER)
    stack.register_caller(PIN_CALLER, pin="482916")
    answers = [incoming(handlers, stack, CALLER)]  # queued
    # The agent's side sees the company number (caller ID not passed through): not tied to the one
    # call, as the caller has no PIN.
    conversation_init(handlers, stack, DIALLED)
    answers.append(incoming(handlers, stack, CALLER))  # deduplicated
    checks = [check_clone(handlers, stack, CALLER)]  # still cloning: ask again
    run_worker(handlers, stack)
    checks.append(check_clone(handlers, stack, CALLER))  # ready: handoff
    invoke(handlers["webhook"], stack, "WebhookFunction", event("conversation_init.json"))
    answers.append(incoming(handlers, stack, CALLER))  # the clone is reused: a cache hit

    emulator.inject(
        Fault(
            method="POST", path_prefix="/v1/voices/add", status=400, code="voice_limit_reached", always=True
        )
    )
    answers.append(incoming(handlers, stack, OTHER_CALLER))
    run_worker(handlers, stack)
    checks.append(check_clone(handlers, stack, OTHER_CALLER))  # failed
    checks.append(check_clone(handlers, stack, PIN_CALLER, pin="000111"))  # not verified: no wait
    wrong_secret = {**event("conversation_init.json"), "headers": {"x-warmline-secret": "wrong"}}
    invoke(handlers["webhook"], stack, "WebhookFunction", wrong_secret)  # 401: counted
    return answers, checks


@pytest.fixture
def log_output():
    """What the functions log, as their JSON lines (the Powertools handler's stream is bound at import)."""
    from warmline.observability import logger

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    yield buffer
    logger.registered_handler.setStream(previous)


def metrics_request(query=None, secret=OPERATOR_SECRET):
    base = event("cloning_metrics.json")
    headers = {k: v for k, v in base["headers"].items() if k != "x-warmline-secret"}
    if secret is not None:
        headers["x-warmline-secret"] = secret
    return {**base, "headers": headers, "queryStringParameters": query}


def get_metrics(handlers, stack, query=None, secret=OPERATOR_SECRET):
    return invoke(handlers["ivr_check"], stack, "IvrCheckFunction", metrics_request(query, secret))


def test_metrics_endpoint_figures_match_the_calls_made(handlers, stack, emulator, log_output):
    answers, checks = play_calls(handlers, stack, emulator)
    assert [(a["voice"], a["job_queued"]) for a in answers] == [
        ("greeting", True),
        ("greeting", False),
        ("cloned", False),
        ("greeting", True),
    ]
    assert [c["next_action"] for c in checks] == [
        "check_again",
        "transfer_to_agent",
        "continue_with_default_voice",
        "continue_with_default_voice",
    ]
    assert checks[-1]["status"] == "not_verified"
    clone = stack.store.get_clone(stack.register_caller(CALLER))

    status, figures = get_metrics(handlers, stack)

    assert status == 200
    assert figures["counts"] == {
        "clones_ready": 1,
        "clones_failed": 1,
        "clones_failed_by_reason": {"voice_limit": 1},
        "calls_with_voice_sample": 4,
        "cache_hits": 1,
        "ivr_waits": 3,
        "calls_waited_in_ivr": 2,
        "calls_timed_out_in_ivr": 0,
        "handoffs": 1,
        "handoffs_completed": 1,  # the re-entry's conversation-init came at once
        "handoffs_lost": 0,
        # The company number's conversation (not tied to the one call: that caller has no PIN), and
        # the PIN caller's check: that caller never came in through 3CX here.
        "caller_id_not_passed_through": 2,
        "caller_id_correlated": 0,
        "pin_checks_by_result": {"accepted": 0, "rejected": 1, "missing": 0, "locked": 0},
        "pin_lockouts": 0,
    }
    assert figures["avg_clone_time_ms"] == clone.clone_duration_ms
    assert figures["p50_clone_time_ms"] == figures["p99_clone_time_ms"] == clone.clone_duration_ms
    assert figures["async_clone_success_rate"] == 0.5
    assert figures["cache_hit_rate"] == 0.25
    assert figures["clone_timeout_rate"] == 0.0
    waits = [c["wait_time_ms"] for c in checks[:3]]  # the PIN check did not wait
    assert figures["avg_wait_during_ivr_ms"] == round(sum(waits) / 3, 1)
    assert figures["to_ms"] - figures["from_ms"] == 24 * 3600 * 1000
    stored = DynamoEventStore(stack.client("dynamodb"), stack.table, 60).between(
        figures["from_ms"], figures["to_ms"]
    )
    [completed] = [e for e in stored if e.type is EventType.HANDOFF_COMPLETED]
    transfer_ms = completed.data["transfer_ms"]
    assert figures["p50_handoff_transfer_ms"] == figures["p95_handoff_transfer_ms"] == transfer_ms

    # Correlation ids are in the log lines; the caller's number never is, only its mask.
    logs = log_output.getvalue()
    assert "442079460000" not in logs and "442079461111" not in logs
    assert "000111" not in logs and "482916" not in logs  # nor a PIN
    assert "+44******0000" in logs and '"threecx_call_id":"call-0000"' in logs


def test_events_carry_the_fields_of_the_original_event_tables(handlers, stack, emulator):
    play_calls(handlers, stack, emulator)
    store = DynamoEventStore(stack.client("dynamodb"), stack.table, 60)
    now_ms = int(time.time() * 1000)
    events = {e.type: e for e in store.between(now_ms - 3_600_000, now_ms + 1)}
    items = [
        {key: next(iter(value.values())) for key, value in item.items()}
        for item in stack.table_items()
        if item["pk"]["S"].startswith("EVENTS#")
    ]

    ready, failed, handoff = (
        events[t] for t in (EventType.CLONE_READY, EventType.CLONE_FAILED, EventType.HANDOFF)
    )
    assert {"threecx_call_id", "cloned_voice_id", "clone_duration_ms"} <= set(ready.data)
    assert {"threecx_call_id", "error_message", "error_code", "failure_kind"} <= set(failed.data)
    assert {"threecx_call_id", "agent_conversation_id", "cloned_voice_id"} <= set(handoff.data)
    assert all(e.caller_key.startswith("ck_") and e.at_ms > 0 for e in events.values())
    # Each event expires by itself, event_ttl_seconds after it happened.
    assert all(int(item["expires_at"]) == int(item["at_ms"]) // 1000 + 30 * 86400 for item in items)


def test_window_includes_from_and_excludes_to(handlers, stack):
    store = DynamoEventStore(stack.client("dynamodb"), stack.table, 3600)
    start, end = 1_795_428_900_000, 1_795_428_960_000
    for at_ms, duration in [(start - 1, 1), (start, 10), (end - 1, 20), (end, 1000)]:
        store.record(Event(EventType.CLONE_READY, at_ms, "ck_x", {"clone_duration_ms": duration}))

    status, figures = get_metrics(handlers, stack, {"from": str(start), "to": str(end)})

    assert status == 200
    assert figures["counts"]["clones_ready"] == 2 and figures["avg_clone_time_ms"] == 15.0
    assert (figures["from"], figures["to"]) == ("2026-11-23T10:15:00.000Z", "2026-11-23T10:16:00.000Z")


def test_an_empty_window_answers_zeros_and_nulls(handlers, stack):
    status, figures = get_metrics(
        handlers, stack, {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    )

    assert status == 200
    counts = dict(figures["counts"])
    assert counts.pop("clones_failed_by_reason") == {}
    assert set(counts.pop("pin_checks_by_result").values()) == {0}
    assert len(counts) == 13 and set(counts.values()) == {0}
    named = {
        k: v for k, v in figures.items() if k.endswith(("_ms", "_rate")) and k not in ("from_ms", "to_ms")
    }
    assert len(named) == 10 and set(named.values()) == {None}


@pytest.mark.parametrize(
    "query, field",
    [({"from": "last tuesday"}, "from"), ({"to": "2026-02-30"}, "to"), ({"window": "1d"}, "window")],
)
def test_bad_query_parameters_are_400_naming_the_parameter(handlers, stack, query, field):
    status, body = get_metrics(handlers, stack, query)

    assert status == 400 and body["error"] == "invalid_request"
    assert body["details"][0]["field"] == field and field in body["message"]


@pytest.mark.parametrize("secret", [None, "wrong", "local-agent-secret"])
def test_metrics_need_the_operator_secret(handlers, stack, secret):
    status, body = get_metrics(handlers, stack, secret=secret)
    assert status == 401 and body["error"] == "unauthorized"


def emf_documents(printed):
    return [json.loads(line) for line in printed.splitlines() if line.startswith('{"_aws"')]


def test_the_webhooks_own_cpu_rides_beside_its_aws_time(handlers, stack, capsys):
    """warmline's own work on a webhook request as CPU time, outside the AWS calls: no other process on
    the machine's cores can inflate it (the bench's own-work target is stated on it)."""
    stack.register_caller(CALLER)
    capsys.readouterr()
    incoming(handlers, stack, CALLER)

    documents = emf_documents(capsys.readouterr().out)
    [latency] = [d for d in documents if "WebhookLatency" in d]
    [aws] = [d for d in documents if "WebhookAwsTime" in d]
    assert aws["route"] == "incoming_call"
    assert 0 < aws["own_cpu_ms"] < latency["WebhookLatency"][0]
    # Metadata, not a metric: CloudWatch bills no new metric for it.
    assert [m["Name"] for m in aws["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["WebhookAwsTime"]
