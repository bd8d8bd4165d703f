"""ElevenLabs' post-call webhook through the webhook function, in-process against moto and the
emulator (HandoffMode=agent_transfer): a delivery signed with the stack's secret frees the voice
slot the conversation leased, clone off first; a repeated delivery changes nothing; a delivery
naming an old lease never frees the lease a later call holds; an unsigned, wrongly signed or stale
delivery (or, behind the edge, one that did not come through CloudFront) is a 401 and a bad body a
400, both JSON, and nothing is freed."""

import json
import secrets
import time

import pytest

from emulators.post_call import signature
from tests.aws_harness import POST_CALL_SECRET, LambdaContext, event, with_body
from tests.integration.test_agent_slot_handlers import PLACEHOLDER, _greeted, mode  # noqa: F401
from tests.integration.test_handlers import CALLER, call, run_worker, worker  # noqa: F401
from warmline.http import ORIGIN_HEADER
from warmline.post_call import TOLERANCE_SECONDS


def _delivery(data, *, secret=POST_CALL_SECRET, at=None, sign=True):
    """The webhook event ElevenLabs' delivery of `data` makes (API Gateway's shape)."""
    body = json.dumps({"type": "post_call_transcription", "event_timestamp": int(time.time()), "data": data})
    sent = with_body(event("conversation_init.json"), body)
    path = "/api/agent/post-call"
    headers = {k: v for k, v in sent["headers"].items() if k != "x-warmline-secret"}
    if sign:
        headers["elevenlabs-signature"] = signature(secret, int(at or time.time()), body.encode())
    context = {**sent["requestContext"], "http": {**sent["requestContext"]["http"], "path": path}}
    return {
        **sent,
        "routeKey": f"POST {path}",
        "rawPath": path,
        "requestContext": context,
        "headers": headers,
    }


def _ended(variables, conversation_id="conv_1"):
    return {
        "conversation_id": conversation_id,
        "agent_id": "agent_1",
        "status": "done",
        "conversation_initiation_client_data": {"dynamic_variables": variables},
    }


def test_a_signed_delivery_frees_the_conversations_slot_clone_off_first_and_once(
    webhook,
    worker,  # noqa: F811
    mode,  # noqa: F811
    emulator,
):
    stack, store, agent_id = mode
    stack.register_caller(CALLER)
    variables = _greeted(webhook, stack, CALLER)["dynamic_variables"]
    run_worker(worker, stack)
    assert store.slots()[0].voice_ready  # the clone is on the slot agent

    status, answer = call(webhook, stack, "WebhookFunction", _delivery(_ended(variables)))

    assert (status, answer) == (200, {"conversation_id": "conv_1", "slot_released": True})
    [slot] = store.slots()
    assert (slot.holder, slot.voice_id) == ("", "")
    assert emulator.agent(agent_id)["conversation_config"]["tts"]["voice_id"] == PLACEHOLDER
    # ElevenLabs may deliver again (a retry): nothing more happens.
    status, answer = call(webhook, stack, "WebhookFunction", _delivery(_ended(variables)))
    assert (status, answer["slot_released"]) == (200, False)


def test_a_late_delivery_never_frees_the_lease_of_the_callers_next_call(webhook, mode):  # noqa: F811
    stack, store, _agent_id = mode
    stack.register_caller(CALLER)
    first = _greeted(webhook, stack, CALLER)["dynamic_variables"]
    store.free(store.slots()[0])  # the first call's slot freed (by the sweep, say)
    second = _greeted(webhook, stack, CALLER)["dynamic_variables"]
    assert second["warmline_voice_slot"] not in ("", first["warmline_voice_slot"])

    status, answer = call(webhook, stack, "WebhookFunction", _delivery(_ended(first)))

    assert (status, answer["slot_released"]) == (200, False)
    assert store.slots()[0].holder == second["warmline_caller_key"]


@pytest.mark.parametrize(
    ("delivery", "problem"),
    [
        (lambda data: _delivery(data, sign=False), "missing ElevenLabs-Signature"),
        (lambda data: _delivery(data, secret="not-the-secret"), "does not match"),
        (lambda data: _delivery(data, at=time.time() - TOLERANCE_SECONDS - 60), "tolerance"),
    ],
)
def test_a_delivery_not_signed_by_elevenlabs_now_is_refused_and_frees_nothing(
    webhook,
    mode,  # noqa: F811
    delivery,
    problem,
):
    stack, store, _agent_id = mode
    stack.register_caller(CALLER)
    variables = _greeted(webhook, stack, CALLER)["dynamic_variables"]

    status, answer = call(webhook, stack, "WebhookFunction", delivery(_ended(variables)))

    assert status == 401 and answer["error"] == "unauthorized" and problem in answer["message"]
    assert store.slots()[0].holder == variables["warmline_caller_key"]


def test_a_signed_delivery_without_a_conversation_is_a_400_naming_the_field(webhook, mode):  # noqa: F811
    stack, _store, _agent_id = mode

    status, answer = call(webhook, stack, "WebhookFunction", _delivery({"agent_id": "agent_1"}))

    assert status == 400 and answer["error"] == "invalid_request"
    assert [detail["field"] for detail in answer["details"]] == ["data.conversation_id"]


def test_behind_the_edge_a_signed_delivery_past_cloudfront_is_refused(webhook, mode):  # noqa: F811
    stack, store, _agent_id = mode
    stack.register_caller(CALLER)
    variables = _greeted(webhook, stack, CALLER)["dynamic_variables"]
    name = f"edge-origin-{secrets.token_hex(4)}"
    stack.client("secretsmanager").create_secret(Name=name, SecretString=secrets.token_urlsafe(32))

    with stack.function_env("WebhookFunction", EDGE_ORIGIN_SECRET_NAME=name):
        response = webhook.lambda_handler(_delivery(_ended(variables)), LambdaContext("WebhookFunction", 10))

    assert response["statusCode"] == 401 and ORIGIN_HEADER in json.loads(response["body"])["message"]
    assert store.slots()[0].holder == variables["warmline_caller_key"]
