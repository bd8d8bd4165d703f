"""The webhook's warm-up of check_clone through the real handlers (issue 23 §2): a warm-up Lambda
refuses costs the call nothing but a log line and a count, and check_clone answers a warm-up at once
without reading anything."""

import json
import threading

import botocore.client
import pytest

from tests.aws_harness import LambdaContext, event, load_handler_module, with_body
from warmline.prewarm import WARM_UP_EVENT, WARMED

CALLER = "+442079460000"  # the number in events/incoming_call.json


@pytest.fixture
def recorded_calls(monkeypatch):
    """Every AWS API call this test's thread makes."""
    calls, original, thread = [], botocore.client.BaseClient._make_api_call, threading.get_ident()

    def record(client, operation_name, params):
        if threading.get_ident() == thread:
            calls.append(operation_name)
        return original(client, operation_name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


def emf_documents(text):
    decoder, found = json.JSONDecoder(), []
    for piece in text.split('{"_aws"')[1:]:
        try:
            found.append(decoder.raw_decode('{"_aws"' + piece)[0])
        except ValueError:
            continue
    return found


def test_a_warm_up_that_fails_is_counted_and_the_call_is_answered(stack, capsys, caplog):
    webhook = load_handler_module("webhook")
    stack.register_caller(CALLER)
    # moto has no such function: Lambda answers 404 ResourceNotFoundException.
    with stack.function_env("WebhookFunction", CHECK_CLONE_FUNCTION_NAME="test-NoSuchFunction:live"):
        answer = webhook.lambda_handler(event("incoming_call.json"), LambdaContext("WebhookFunction", 3))

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["job_queued"] is True
    assert stack.queued_messages(wait_s=1), "the clone job is queued all the same"
    output = capsys.readouterr().out
    counted = [d for d in emf_documents(output) if "CheckCloneWarmUps" in d]
    assert [(d["result"], d["CheckCloneWarmUps"]) for d in counted] == [("failed", [1.0])]
    assert any(r.getMessage().startswith("check_clone not warmed") for r in caplog.records)


def test_a_caller_who_withheld_their_number_costs_no_warm_up(stack, capsys):
    webhook = load_handler_module("webhook")
    stack.register_caller(CALLER)
    other = with_body(event("incoming_call.json"), {"caller": "withheld", "did": "+442071234567"})
    with stack.function_env("WebhookFunction", CHECK_CLONE_FUNCTION_NAME="test-NoSuchFunction:live"):
        answer = webhook.lambda_handler(other, LambdaContext("WebhookFunction", 3))

    assert answer["statusCode"] == 200
    assert not [d for d in emf_documents(capsys.readouterr().out) if "CheckCloneWarmUps" in d]


def test_check_clone_answers_a_warm_up_at_once_and_reads_nothing(stack, recorded_calls):
    ivr = load_handler_module("ivr_check")
    recorded_calls.clear()
    with stack.function_env("IvrCheckFunction"):
        answer = ivr.lambda_handler(dict(WARM_UP_EVENT), LambdaContext("IvrCheckFunction", 16))

    assert answer == WARMED
    assert recorded_calls == []
