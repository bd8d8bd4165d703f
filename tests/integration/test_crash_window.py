"""The webhook dies between the PENDING write and the SQS send (the AWS call never returns): the
caller is held no longer than the greeting timeout, and the next call queues the lost job."""

import json

import botocore.client
import pytest

from tests.aws_harness import LambdaContext, ShiftedClock, event, load_handler_module

CALLER = "+442079460000"  # the number in events/*.json


class ProcessKilled(BaseException):
    """A crash: nothing after it runs in the process (no except Exception catches it)."""


@pytest.fixture
def send_kills_the_process(monkeypatch):
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client, operation_name, params):
        if operation_name == "SendMessage":
            raise ProcessKilled
        return original(client, operation_name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return lambda: monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", original)


def invoke(module, stack, ev):
    with stack.function_env("WebhookFunction"):
        response = module.lambda_handler(ev, LambdaContext("WebhookFunction", 3))
    return json.loads(response["body"])


def test_a_crash_after_the_pending_write_does_not_hold_the_caller_past_the_greeting(
    stack, send_kills_the_process
):
    webhook = load_handler_module("webhook")
    greeting_seconds = float(stack.model.parameters["GreetingTimeoutSeconds"])
    stack.register_caller(CALLER)
    stack.clock = ShiftedClock(0)

    with pytest.raises(ProcessKilled):
        invoke(webhook, stack, event("incoming_call.json"))
    send_kills_the_process()  # the next process can send again
    assert stack.queued_messages() == []
    [record] = [item for item in stack.table_items() if item["sk"]["S"] == "CLONE"]
    assert record["status"]["S"] == "PENDING"

    # Just inside the greeting, the agent still greets and no second job is queued...
    stack.clock = ShiftedClock(greeting_seconds - 2)
    assert invoke(webhook, stack, event("conversation_init.json"))["dynamic_variables"]["warmline_mode"] == (
        "greeting"
    )
    # ...and once it is over, the caller is not pending any more: the next call queues the job.
    stack.clock = ShiftedClock(greeting_seconds + 1)
    answer = invoke(webhook, stack, event("incoming_call.json"))

    assert answer["job_queued"] is True and answer["clone_status"] == "pending"
    assert len(stack.queued_messages(wait_s=1)) == 1
