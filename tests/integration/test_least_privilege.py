"""Each function's IAM statements allow exactly the AWS actions its code calls, on its own resources.

The handlers run in-process against moto through their usual paths while every boto3 API call is
recorded; the calls are then checked against the function's policy in template.yaml.
"""

import json
import threading
from collections import defaultdict

import botocore.client
import pytest

from emulators.elevenlabs import Fault
from tests.aws_harness import (
    LambdaContext,
    ShiftedClock,
    event,
    load_handler_module,
    sqs_event_from,
    with_body,
)
from warmline.clone_state import CloneRecord, CloneStatus

# Actions the Lambda service itself uses for the SQS event source mapping, not the function's code.
EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# Permissions no call names: S3 needs s3:ListBucket to answer a missing key's GetObject with 404
# NoSuchKey instead of 403 AccessDenied.
IMPLIED_ACTIONS = {"s3:ListBucket"}
# Logs and traces are written by the Lambda runtime, not through boto3; tests/template_iam.py checks
# their statements (own log group; X-Ray's two actions alone).
RUNTIME_SERVICES = ("logs:", "xray:")
CALLER = "+442079460000"
OTHER = "+442079460001"


@pytest.fixture
def recorded(monkeypatch):
    calls = []
    original = botocore.client.BaseClient._make_api_call
    test_thread = threading.get_ident()  # other tests' local stacks may still poll in the background

    def record(client, operation_name, params):
        if threading.get_ident() == test_thread:
            calls.append((client.meta.service_model.endpoint_prefix, operation_name, params))
        return original(client, operation_name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


def policy_of(stack, function_id):
    """action -> logical ids of the resources the function's role allows it on (as the stack's
    parameters resolve the role: an outbound mode adds the ElevenLabs key)."""
    arns = {
        **{t.arn: t.logical_id for t in stack.model.tables.values()},
        **{q.arn: q.logical_id for q in stack.model.queues.values()},
        **{s.arn: s.logical_id for s in stack.model.secrets.values()},
        **{f"{b.arn}/samples/*": b.logical_id for b in stack.model.buckets.values()},
        **{b.arn: b.logical_id for b in stack.model.buckets.values()},
        **{f"{_function_arn(f)}:{f.alias}": f.logical_id for f in stack.model.functions.values() if f.alias},
    }
    allowed = defaultdict(set)
    for statement in stack.model.functions[function_id].permissions:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for action in actions:
            assert "*" not in action, f"wildcard action {action} in {function_id}"
            if action.startswith(RUNTIME_SERVICES):
                continue
            for resource in resources:
                assert resource in arns, f"{function_id}: {action} on {resource}, not one of its resources"
                allowed[action].add(arns[resource])
    return allowed


def _function_arn(function):
    return f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}"


def resource_of(stack, service, params):
    model = stack.model
    names = {
        **{f"{f.name}:{f.alias}": f.logical_id for f in model.functions.values() if f.alias},
        **{t.name: t.logical_id for t in model.tables.values()},
        **{q.url: q.logical_id for q in model.queues.values()},
        **{b.name: b.logical_id for b in model.buckets.values()},
        **{s.arn: s.logical_id for s in model.secrets.values()},
        **{s.name: s.logical_id for s in model.secrets.values()},
    }
    key = (
        params.get("TableName")
        or next(iter(params.get("RequestItems", {})), None)  # BatchWriteItem
        or params.get("QueueUrl")
        or params.get("Bucket")
        or params.get("SecretId")
        or params.get("FunctionName")
    )
    return names.get(key, key)


# IAM has no action for a transaction: each of its items needs the action of its own kind.
TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


# API operations whose IAM action has another name.
IAM_ACTIONS = {"lambda:Invoke": "lambda:InvokeFunction"}


def used_by(function_id, stack, calls):
    used = defaultdict(set)
    for service, operation, params in calls:
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                [(kind, op)] = item.items()
                used[f"dynamodb:{TRANSACTION_ACTIONS[kind]}"].add(resource_of(stack, service, op))
            continue
        action = IAM_ACTIONS.get(f"{service}:{operation}", f"{service}:{operation}")
        used[action].add(resource_of(stack, service, params))
    return used


def invoke(module, stack, function_id, ev, **env):
    with stack.function_env(function_id, **env):
        return module.lambda_handler(ev, LambdaContext(function_id, 90))


def assert_least_privilege(function_id, stack, calls):
    allowed = policy_of(stack, function_id)
    used = used_by(function_id, stack, calls)
    for action, resources in used.items():
        assert action in allowed, f"{function_id} calls {action} but its policy does not allow it"
        assert resources <= allowed[action], f"{function_id} uses {action} on {resources - allowed[action]}"
    unused = set(allowed) - set(used) - EVENT_SOURCE_ACTIONS - IMPLIED_ACTIONS
    assert not unused, f"{function_id} is allowed {unused} but never calls them"


def test_webhook_function(stack, recorded):
    webhook = load_handler_module("webhook")
    stack.register_caller(CALLER)
    other = "+442079460001"
    stack.register_caller(other)
    recorded.clear()

    invoke(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    invoke(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    invoke(webhook, stack, "WebhookFunction", event("conversation_init.json"))
    # A caller ElevenLabs reports who never came through 3CX: the recent calls to the number (Query).
    unseen = with_body(event("conversation_init.json"), {"caller_id": "+442079469999", "called_number": None})
    invoke(webhook, stack, "WebhookFunction", unseen)
    missing_queue = stack.model.queues["CloneJobsQueue"].url + "-missing"
    answer = invoke(
        webhook,
        stack,
        "WebhookFunction",
        with_body(event("incoming_call.json"), {"caller": other}),
        CLONE_JOBS_QUEUE_URL=missing_queue,
    )

    assert answer["statusCode"] == 503  # the queue failure path undoes its write (DeleteItem)
    own_calls = [call for call in recorded if call[2].get("QueueUrl") != missing_queue]
    assert_least_privilege("WebhookFunction", stack, own_calls)


@pytest.mark.parametrize("days_ahead", [0, 366], ids=["today", "a-year-ahead"])
def test_clone_worker_and_ivr_check_functions(stack, recorded, emulator, days_ahead):
    # The metrics event asks for the default window (the last 24 h of the handler's clock), so
    # the handoff recorded just now is counted whatever the date.
    stack.clock = ShiftedClock(days_ahead * 86400)
    webhook = load_handler_module("webhook")
    worker = load_handler_module("clone_worker")
    ivr = load_handler_module("ivr_check")
    stack.register_caller(CALLER, pin="482916")  # the check reads the PIN pepper
    invoke(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    messages = stack.queued_messages(wait_s=1)
    queue_arn = stack.model.queues["CloneJobsQueue"].arn

    recorded.clear()
    # A 500 leaves the clone in doubt: the worker retries and sends the job again for a re-check.
    emulator.inject(Fault(method="POST", path_prefix="/v1/voices/add", status=500))
    invoke(worker, stack, "CloneWorkerFunction", sqs_event_from(messages, queue_arn))
    invoke(worker, stack, "CloneWorkerFunction", sqs_event_from(messages, queue_arn))  # a duplicate delivery
    assert_least_privilege("CloneWorkerFunction", stack, recorded)

    recorded.clear()
    with_pin = with_body(event("check_clone.json"), {"pressed_key": "1", "pin": "482916"})
    response = invoke(ivr, stack, "IvrCheckFunction", with_pin)
    assert json.loads(response["body"])["next_action"] == "transfer_to_agent"
    metrics = invoke(ivr, stack, "IvrCheckFunction", event("cloning_metrics.json"))
    assert json.loads(metrics["body"])["counts"]["handoffs"] == 1
    assert_least_privilege("IvrCheckFunction", stack, recorded)


def test_housekeeping_function(stack, recorded, emulator):
    from tests.integration.test_housekeeping import add_voice

    housekeeping = load_handler_module("housekeeping")
    webhook, ivr = load_handler_module("webhook"), load_handler_module("ivr_check")
    key = stack.register_caller(CALLER)
    add_voice(emulator, f"warmline-{key}-orphaned")  # the caller has no clone record: it goes
    # Another caller is handed off to their clone and never re-enters: once the window has passed,
    # the sweep counts the handoff as lost.
    other = stack.register_caller(OTHER)
    ready = CloneRecord(CloneStatus.READY, "job", expires_at=2**40, requested_at_ms=0, cloned_voice_id="v1")
    assert stack.store.start_clone(other, ready, 0)
    invoke(webhook, stack, "WebhookFunction", with_body(event("incoming_call.json"), {"caller": OTHER}))
    checked = invoke(
        ivr, stack, "IvrCheckFunction", event("check_clone.json", pathParameters={"caller_id": OTHER})
    )
    assert json.loads(checked["body"])["next_action"] == "transfer_to_agent"
    stack.clock = ShiftedClock(600)
    recorded.clear()

    answer = invoke(housekeeping, stack, "HousekeepingFunction", event("scheduled.json"))

    assert answer["sweeps"]["voices"]["deleted"] == {"orphan": 1}
    assert answer["sweeps"]["handoffs"]["lost"] == 1
    assert_least_privilege("HousekeepingFunction", stack, recorded)


def test_only_the_outbound_modes_let_the_http_functions_read_the_elevenlabs_key(stack, stack_with, recorded):
    key = "ElevenLabsApiKeySecret"
    assert key not in policy_of(stack, "WebhookFunction")["secretsmanager:GetSecretValue"]
    assert key not in policy_of(stack, "IvrCheckFunction")["secretsmanager:GetSecretValue"]
    assert stack.model.functions["WebhookFunction"].environment["ELEVENLABS_API_KEY_SECRET"] == ""

    outbound = stack_with(
        GreetingMode="outbound",
        HandoffMode="outbound",
        ElevenLabsAgentId="agent_1",
        ElevenLabsAgentPhoneNumberId="phnum_1",
    )
    outbound.register_caller(CALLER)
    recorded.clear()
    answer = invoke(load_handler_module("webhook"), outbound, "WebhookFunction", event("incoming_call.json"))

    assert json.loads(answer["body"])["greeting_call_placed"] is True
    used = used_by("WebhookFunction", outbound, recorded)["secretsmanager:GetSecretValue"]
    assert key in used <= policy_of(outbound, "WebhookFunction")["secretsmanager:GetSecretValue"]
    assert key in policy_of(outbound, "IvrCheckFunction")["secretsmanager:GetSecretValue"]


def test_the_clone_worker_may_list_its_samples_so_a_missing_sample_is_not_access_denied(stack):
    """S3 answers a GetObject for a missing key with 403 AccessDenied, not 404 NoSuchKey, to a role
    without s3:ListBucket on the bucket: the worker would take a missing sample for an outage and
    retry it through every delivery to the dead-letter queue instead of failing at once as
    `sample_missing`. The listing is limited to the samples/ prefix."""
    bucket = stack.model.buckets["SamplesBucket"].arn
    listing = [
        statement
        for statement in stack.model.functions["CloneWorkerFunction"].permissions
        if "s3:ListBucket"
        in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    ]

    assert [statement["Resource"] for statement in listing] == [bucket]
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["samples/*"]}}
