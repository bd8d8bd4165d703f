"""Caller-controlled input that once made Python itself fail (RecursionError, the int-digits limit,
inf/NaN, lone surrogates, out-of-range dates) answers 400 with a JSON reason on every route, and
writes nothing; conversation-init, which must always give ElevenLabs initiation data, answers 200
with the default voice instead. The handlers run in-process against moto with the template's
environment."""

import json

import pytest

from tests.aws_harness import LambdaContext, at_caller, event, load_handler_module, with_body

STRICT_ROUTES = [
    ("webhook", "WebhookFunction", "incoming_call.json"),
    ("ivr_check", "IvrCheckFunction", "check_clone.json"),
]
CONVERSATION_INIT = ("webhook", "WebhookFunction", "conversation_init.json")
POST_ROUTES = [*STRICT_ROUTES, CONVERSATION_INIT]
HOSTILE_BODIES = {
    "10,000 [": "[" * 10_000,
    "3,000 nested objects": '{"a":' * 3_000,
    "33 levels": '{"caller":' + "[" * 32 + "]" * 32 + "}",
    "5,000-digit int": '{"caller": ' + "9" * 5_000 + "}",
    "33-digit int": '{"pressed_key": ' + "1" * 33 + "}",
    "1e999": '{"pressed_key": 1e999}',
    "-1e999": '{"caller": -1e999}',
    "NaN": '{"caller": NaN}',
    "Infinity": '{"pressed_key": Infinity}',
    "-Infinity": "[-Infinity]",
}
# Valid JSON holding lone surrogates: conversation-init ignores fields it does not use and answers
# 200 to odd content (ElevenLabs' webhook must get initiation data); never a 5xx anywhere.
SURROGATE_BODIES = {
    "lone surrogate": '{"caller": "\\ud800", "caller_id": "\\ud800", "pressed_key": "\\ud800"}',
    "lone surrogate key": '{"\\udfff": 1}',
}


@pytest.fixture(scope="module")
def modules():
    return {name: load_handler_module(name) for name in ("webhook", "ivr_check")}


def invoke(modules, stack, module, function, ev):
    with stack.function_env(function):
        response = modules[module].lambda_handler(ev, LambdaContext(function, 15))
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
@pytest.mark.parametrize("module, function, event_file", STRICT_ROUTES, ids=lambda v: str(v))
def test_a_hostile_body_is_400_on_the_strict_post_routes(modules, stack, module, function, event_file, body):
    stack.register_caller("+442079460000")
    before = stack.table_items()

    status, answer = invoke(modules, stack, module, function, with_body(event(event_file), body))

    assert status == 400, answer
    assert answer["error"] in ("invalid_json", "invalid_request", "invalid_body", "invalid_caller")
    assert answer["message"]
    assert stack.table_items() == before and stack.queued_messages() == []


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_body_gets_conversation_init_the_default_voice(modules, stack, body):
    stack.register_caller("+442079460000")
    before = stack.table_items()

    status, answer = invoke(
        modules, stack, *CONVERSATION_INIT[:2], with_body(event(CONVERSATION_INIT[2]), body)
    )

    assert status == 200, answer
    assert answer["type"] == "conversation_initiation_client_data"
    assert answer["dynamic_variables"]["warmline_mode"] == "default"
    assert answer["conversation_config_override"] == {}
    assert stack.table_items() == before and stack.queued_messages() == []


@pytest.mark.parametrize("body", SURROGATE_BODIES.values(), ids=SURROGATE_BODIES.keys())
@pytest.mark.parametrize("module, function, event_file", POST_ROUTES, ids=lambda v: str(v))
def test_lone_surrogates_are_never_a_5xx(modules, stack, module, function, event_file, body):
    before = stack.table_items()

    status, answer = invoke(modules, stack, module, function, with_body(event(event_file), body))

    if event_file == "conversation_init.json":
        assert status in (200, 400), answer
    else:
        assert (status, answer["error"]) in ((400, "invalid_request"), (400, "invalid_caller")), answer
    assert stack.table_items() == before and stack.queued_messages() == []


def test_the_depth_limit_is_named_and_32_levels_still_parse(modules, stack):
    deep = with_body(event("incoming_call.json"), "[" * 10_000)
    status, answer = invoke(modules, stack, "webhook", "WebhookFunction", deep)
    assert (status, answer["error"]) == (400, "invalid_json")
    assert "nested more than 32 levels" in answer["message"]

    # 32 levels is valid JSON of the wrong shape: the field is named, not the parse.
    nested = '{"caller":' + "[" * 31 + "]" * 31 + "}"
    status, answer = invoke(
        modules, stack, "webhook", "WebhookFunction", with_body(event("incoming_call.json"), nested)
    )
    assert (status, answer["error"]) == (400, "invalid_request")
    assert answer["details"][0]["field"] == "caller"


HOSTILE_CALLER_IDS = ["9" * 5_000, "%ED%A0%80", "%F0%9F%98%80" * 500, "%2B44" + "%00" * 100, "..%2F" * 50]


@pytest.mark.parametrize("caller_id", HOSTILE_CALLER_IDS, ids=lambda v: v[:12])
def test_a_hostile_path_parameter_is_a_caller_it_cannot_read(modules, stack, caller_id):
    # A 4xx would be hidden from the agent (tool_error_handling_mode): it hears to go on instead.
    base = with_body(event("check_clone.json"), {"pressed_key": "1"})
    before = stack.table_items()
    status, answer = invoke(modules, stack, "ivr_check", "IvrCheckFunction", at_caller(base, caller_id))
    assert (status, answer["next_action"], answer["caller_id"]) == (200, "continue_with_default_voice", "")
    assert stack.table_items() == before


HOSTILE_QUERIES = {
    "5,000 digits": {"from": "1" * 5_000},
    "5,000 digits to": {"to": "9" * 5_000},
    "41 characters": {"from": "2026-11-24T10:00:00.000000+00:00" + " " * 3 + "12345678"},
    "year 1 with an offset": {"from": "0001-01-01T00:00:00+14:00"},
    "year 9999 with an offset": {"to": "9999-12-31T23:59:59-14:00"},
    "1e999": {"from": "1e999"},
    "NaN": {"from": "NaN"},
    "fullwidth digits": {"from": "１７６７２２５６００００００"},
    "lone surrogate": {"from": "\ud800"},
    "repeated parameter": {"from": "1767225600000,1767225600001"},
    "unknown parameter": {"x" * 3_000: "1"},
}


@pytest.mark.parametrize("query", HOSTILE_QUERIES.values(), ids=HOSTILE_QUERIES.keys())
def test_a_hostile_metrics_query_is_400(modules, stack, query):
    ev = {**event("cloning_metrics.json"), "queryStringParameters": query}
    status, answer = invoke(modules, stack, "ivr_check", "IvrCheckFunction", ev)
    assert status == 400, answer
    assert answer["error"] == "invalid_request"
    assert answer["details"][0]["field"] in ("from", "to", "x" * 3_000)


HOSTILE_SECRETS = ["\ud800", "é" * 40, "x" * 20_000, "local-3cx-secret\x00"]


@pytest.mark.parametrize("secret", HOSTILE_SECRETS, ids=["surrogate", "non-ascii", "20 KB", "nul"])
def test_a_hostile_secret_header_is_401(modules, stack, secret):
    base = event("incoming_call.json")
    ev = {**base, "headers": {**base["headers"], "x-warmline-secret": secret}}
    status, answer = invoke(modules, stack, "webhook", "WebhookFunction", ev)
    assert (status, answer["error"]) == (401, "unauthorized")
