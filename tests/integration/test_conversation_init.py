"""conversation-init answers 200 to whatever ElevenLabs sends; only a wrong secret gets 401.

ElevenLabs documents no exact body for SIP calls: `call_sid` is Twilio-only (null or absent on SIP),
`caller_id` may arrive as a `sip:`/`tel:` URI, and any field may be null. A 4xx would leave the agent
without its initiation data, so every body gets the dynamic variables the agent declares.
"""

import json

import pytest

from tests.aws_harness import LambdaContext, event, with_body
from tests.integration.test_handlers import CALLER, call, run_worker, worker  # noqa: F401
from warmline_cli.agent_setup import DYNAMIC_VARIABLES

BASE = event("conversation_init.json")
SIP_BODIES = [
    {"caller_id": None, "agent_id": "agent_1", "called_number": "+442071234567", "call_sid": None},
    {"caller_id": "+447700900123", "agent_id": "agent_1", "called_number": None, "call_id": "3cx-1"},
    {"caller_id": "sip:+447700900123@pbx.example.com", "agent_id": None},
    {"caller_id": "tel:+44-7700-900123"},
    {"caller_id": 447700900123, "called_number": ["x"], "call_sid": {"a": 1}},
    {"caller_id": "sip:anonymous@anonymous.invalid", "call_sid": None},
    {"caller_id": "not a number", "agent_id": "agent_1"},
    {"caller_id": "+44" + "9" * 400},
    {"caller_id": "\u202e+447700900123\x00"},
    {},
]


def _answer_is_complete(answer):
    assert answer["type"] == "conversation_initiation_client_data"
    assert set(answer["dynamic_variables"]) == set(DYNAMIC_VARIABLES)
    assert all(isinstance(value, str) for value in answer["dynamic_variables"].values())
    assert isinstance(answer["conversation_config_override"], dict)


@pytest.mark.parametrize("body", SIP_BODIES, ids=range(len(SIP_BODIES)))
def test_any_body_gets_200_and_every_dynamic_variable(webhook, stack, body):
    status, answer = call(webhook, stack, "WebhookFunction", with_body(BASE, body))

    assert status == 200, answer
    _answer_is_complete(answer)


@pytest.mark.parametrize(
    "raw, content_type",
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("", "application/json"),
        (json.dumps({"caller_id": "+447700900123"}), "text/plain"),
        (json.dumps({"caller_id": "+447700900123", "pad": "x" * 20_000}), "application/json"),
    ],
)
def test_an_unreadable_body_still_gets_the_default_answer(webhook, stack, raw, content_type):
    base = with_body(BASE, raw)
    ev = {**base, "headers": {**base["headers"], "content-type": content_type}}

    status, answer = call(webhook, stack, "WebhookFunction", ev)

    assert status == 200, answer
    _answer_is_complete(answer)
    assert answer["dynamic_variables"]["warmline_mode"] == "default"
    assert answer["conversation_config_override"] == {}


def test_a_sip_uri_caller_is_the_caller_whose_number_it_carries(webhook, worker, stack, emulator):  # noqa: F811
    stack.register_caller(CALLER)
    call(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    run_worker(worker, stack)
    voice_id = emulator.voices()[0]["voice_id"]
    body = {"caller_id": "sip:+44 20 7946 0000@pbx.example.com;user=phone", "call_sid": None}

    status, answer = call(webhook, stack, "WebhookFunction", with_body(BASE, body))

    assert status == 200
    assert answer["conversation_config_override"]["tts"] == {"voice_id": voice_id}
    assert answer["dynamic_variables"]["warmline_mode"] == "cloned"


def test_only_a_wrong_secret_is_refused(webhook, stack):
    headers = {**BASE["headers"], "x-warmline-secret": "wrong"}
    ev = {**with_body(BASE, "{not json"), "headers": headers}

    with stack.function_env("WebhookFunction"):
        response = webhook.lambda_handler(ev, LambdaContext("webhook", 10))

    assert response["statusCode"] == 401
