"""How many DynamoDB requests a webhook call makes before it answers (issue 23 §3), counted at the
process boundary: every request a botocore client of the handler sends."""

import json
from collections import Counter

import pytest

from tests.aws_harness import LambdaContext, event, load_handler_module

CALLER = "+442079460000"  # the number in events/*.json


@pytest.fixture
def dynamodb_requests(monkeypatch):
    """The DynamoDB operations the handlers send, in order (botocore's request hook, on every client)."""
    import botocore.client

    sent: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client, operation_name, params):
        if client.meta.service_model.service_name == "dynamodb":
            sent.append(operation_name)
        return original(client, operation_name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return sent


def invoke(module, ev):
    response = module.lambda_handler(ev, LambdaContext("WebhookFunction", 10))
    return json.loads(response["body"])


def test_a_first_time_call_makes_at_most_two_dynamodb_round_trips(webhook, stack, dynamodb_requests):
    stack.register_caller(CALLER)
    dynamodb_requests.clear()

    with stack.function_env("WebhookFunction"):
        answer = invoke(webhook, event("incoming_call.json"))

    assert (answer["voice"], answer["job_queued"]) == ("greeting", True)
    assert len(dynamodb_requests) <= 2, dynamodb_requests
    # Everything the four requests wrote before is still written: the PENDING record confirmed past
    # the greeting, the call's notes, and the call_answered event.
    items = stack.table_items()
    [clone] = [item for item in items if item["sk"]["S"] == "CLONE"]
    assert clone["status"]["S"] == "PENDING"
    assert int(clone["expires_at"]["N"]) - int(clone["requested_at_ms"]["N"]) // 1000 == 900
    kinds = Counter(item["pk"]["S"].split("#")[0] for item in items if item["sk"]["S"] != "PROFILE")
    assert kinds == {"CALLER": 2, "DIALLED": 1, "EVENTS": 1}
    assert len(stack.queued_messages(wait_s=1)) == 1


def test_a_repeat_call_while_the_clone_is_pending_makes_no_more_round_trips_than_before(
    webhook, stack, dynamodb_requests
):
    stack.register_caller(CALLER)
    with stack.function_env("WebhookFunction"):
        invoke(webhook, event("incoming_call.json"))
        dynamodb_requests.clear()
        answer = invoke(webhook, event("incoming_call.json"))

    assert (answer["voice"], answer["job_queued"]) == ("greeting", False)
    assert len(dynamodb_requests) <= 3, dynamodb_requests
    assert len(stack.queued_messages(wait_s=1)) == 1


def test_the_re_entry_leg_stores_its_start_with_the_handoffs_completion(webhook, stack, dynamodb_requests):
    from tests.integration.test_handlers import call, run_worker

    worker, ivr = load_handler_module("clone_worker"), load_handler_module("ivr_check")
    stack.register_caller(CALLER)
    call(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    run_worker(worker, stack)
    call(webhook, stack, "WebhookFunction", event("conversation_init.json"))  # the greeting leg
    status, checked = call(ivr, stack, "IvrCheckFunction", event("check_clone.json"))
    assert (status, checked["next_action"]) == (200, "transfer_to_agent")
    dynamodb_requests.clear()

    status, answer = call(webhook, stack, "WebhookFunction", event("conversation_init.json"))

    assert status == 200 and answer["dynamic_variables"]["warmline_mode"] == "cloned"
    # The caller's items, the clone's last use, the handoff's completion with the leg's start, the
    # agent's variables: no separate request for the conversation_started event.
    assert dynamodb_requests.count("TransactWriteItems") == 1 and "BatchWriteItem" not in dynamodb_requests
    assert len(dynamodb_requests) <= 4, dynamodb_requests
    types = [item["type"]["S"] for item in stack.table_items() if item["pk"]["S"].startswith("EVENTS#")]
    assert types.count("conversation_started") == 2 and types.count("handoff_completed") == 1
