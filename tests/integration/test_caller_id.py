"""The caller's number across the SIP leg: conversation-init and check_clone notice a caller who did
not come in through 3CX (the trunk presented its own number), count and report it, answer anyway,
and tie it to the only recent call to that number when there is exactly one."""

import json

import pytest

from tests.aws_harness import LambdaContext, event, load_handler_module, with_body
from tests.integration.test_handlers import run_worker
from tests.integration.test_observability import log_output  # noqa: F401 (fixture)
from warmline.callers import mask

CALLER = "+442079460000"
OTHER = "+442079461111"
DID = "+442071234567"  # the number the callers dial; also what an unconfigured 3CX trunk presents
ELEVENLABS_NUMBER = "+442070000001"
PIN = "482916"


@pytest.fixture(scope="module")
def handlers():
    return {name: load_handler_module(name) for name in ("webhook", "clone_worker", "ivr_check")}


def invoke(module, stack, function, ev, capsys=None):
    with stack.function_env(function):
        response = module.lambda_handler(ev, LambdaContext(function, 15))
    return json.loads(response["body"])


def incoming(handlers, stack, number, call_id):
    body = {"caller": number, "did": DID, "call_id": call_id}
    return invoke(handlers["webhook"], stack, "WebhookFunction", with_body(event("incoming_call.json"), body))


def conversation_init(handlers, stack, caller_id):
    body = {
        "caller_id": caller_id,
        "agent_id": "agent_1",
        "called_number": ELEVENLABS_NUMBER,
        "call_sid": None,
    }
    ev = with_body(event("conversation_init.json"), body)
    return invoke(handlers["webhook"], stack, "WebhookFunction", ev)


def check_clone(handlers, stack, caller_id, key="1", pin=None):
    body = {"pressed_key": key, **({"pin": pin} if pin else {})}
    ev = with_body(event("check_clone.json", pathParameters={"caller_id": caller_id}), body)
    return invoke(handlers["ivr_check"], stack, "IvrCheckFunction", ev)


def reports(stack):
    return [
        json.loads(item["data"]["S"]) if "S" in item["data"] else item["data"]
        for item in stack.table_items()
        if item["pk"]["S"].startswith("EVENTS#") and item["type"]["S"] == "caller_id_not_passed"
    ]


def metric_lines(out):
    return [line for line in out.splitlines() if '"CallerId' in line and '"_aws"' in line]


def test_a_caller_whose_number_crossed_the_sip_leg_is_not_reported(handlers, stack, capsys):
    stack.register_caller(CALLER)
    incoming(handlers, stack, CALLER, "3cx-1")
    capsys.readouterr()

    answer = conversation_init(handlers, stack, CALLER)

    assert answer["dynamic_variables"]["warmline_mode"] == "greeting"
    assert reports(stack) == [] and metric_lines(capsys.readouterr().out) == []


def test_the_trunk_number_with_one_recent_call_is_tied_to_that_caller(handlers, stack, capsys, log_output):  # noqa: F811
    key = stack.register_caller(CALLER, pin=PIN)
    incoming(handlers, stack, CALLER, "3cx-1")
    capsys.readouterr()

    answer = conversation_init(handlers, stack, DID)

    out = capsys.readouterr().out
    assert answer["dynamic_variables"]["warmline_caller_key"] == key
    assert answer["conversation_config_override"]["tts"]["voice_id"] == "21m00Tcm4TlvDq8ikWAM"  # greeting
    [report] = reports(stack)
    assert report["M"]["correlated"] == {"BOOL": True} and report["M"]["seen_by"] == {
        "S": "conversation_init"
    }
    names = {name for line in metric_lines(out) for name in json.loads(line) if name.startswith("CallerId")}
    assert names == {"CallerIdNotPassedThrough", "CallerIdCorrelated"}
    logs = log_output.getvalue()
    # moto runs no check_clone, so the webhook's warm-up of it (warmline.prewarm) is a warning here too.
    [warning] = [
        json.loads(line)
        for line in logs.splitlines()
        if '"level":"WARNING"' in line and "check_clone not warmed" not in line
    ]
    assert "OriginatorCallerID" in warning["message"] and "From: User Part" in warning["message"]
    assert "442071234567" not in logs and "+44******4567" in logs


def test_a_caller_without_a_pin_is_never_tied_to_the_one_call(handlers, stack, emulator):
    """Anyone calling the number in the window would be handed the clone: without a PIN to type in
    the call, the company number's conversation stays in the default voice."""
    key = stack.register_caller(CALLER)
    incoming(handlers, stack, CALLER, "3cx-1")
    run_worker(handlers["clone_worker"], stack)

    checked = check_clone(handlers, stack, DID)
    started = conversation_init(handlers, stack, DID)

    assert checked["next_action"] == "continue_with_default_voice" and checked["cloned_voice_id"] is None
    assert started["dynamic_variables"].get("warmline_caller_key") != key
    assert started["conversation_config_override"].get("tts") != {
        "voice_id": emulator.voices()[0]["voice_id"]
    }
    assert [r["M"]["correlated"]["BOOL"] for r in reports(stack)] == [False, False]


def test_never_a_guess_between_two_recent_calls(handlers, stack, capsys):
    stack.register_caller(CALLER)
    stack.register_caller(OTHER)
    incoming(handlers, stack, CALLER, "3cx-1")
    incoming(handlers, stack, OTHER, "3cx-2")
    capsys.readouterr()

    answer = conversation_init(handlers, stack, DID)

    assert answer["dynamic_variables"]["warmline_mode"] == "default"
    assert answer["conversation_config_override"] == {}
    [report] = reports(stack)
    assert report["M"]["correlated"] == {"BOOL": False}
    names = {name for line in metric_lines(capsys.readouterr().out) for name in json.loads(line)}
    assert "CallerIdNotPassedThrough" in names and "CallerIdCorrelated" not in names


def test_check_clone_and_the_re_entry_leg_find_the_clone_through_the_one_call(handlers, stack, emulator):
    stack.register_caller(CALLER, pin=PIN)
    incoming(handlers, stack, CALLER, "3cx-1")
    run_worker(handlers["clone_worker"], stack)
    voice_id = emulator.voices()[0]["voice_id"]

    checked = check_clone(handlers, stack, DID, pin=PIN)
    second = conversation_init(handlers, stack, DID)

    assert (checked["status"], checked["next_action"]) == ("ready", "transfer_to_agent")
    assert second["conversation_config_override"]["tts"] == {"voice_id": voice_id}
    assert second["conversation_config_override"]["agent"]["first_message"].startswith("Thanks for waiting")
    assert [r["M"]["seen_by"]["S"] for r in reports(stack)] == ["check_clone", "conversation_init"]


def test_check_clone_for_a_stranger_answers_the_default_voice_and_reports_it(handlers, stack):
    checked = check_clone(handlers, stack, DID)

    assert (checked["status"], checked["next_action"]) == ("unavailable", "continue_with_default_voice")
    assert len(reports(stack)) == 1


def test_keys_that_do_not_wait_for_a_clone_are_never_reported(handlers, stack):
    checked = check_clone(handlers, stack, "+10000000000", key="9")  # what warmline doctor sends

    assert checked["next_action"] == "repeat_menu"
    assert reports(stack) == []


def test_a_number_sent_in_an_identifier_is_masked_in_logs_and_stored_references(
    handlers,
    stack,
    capsys,
    log_output,  # noqa: F811
):
    """A phone number in a field that is no number field (3CX's call id, ElevenLabs' call_sid, the
    tool's conversation id) is masked wherever warmline logs or stores it."""
    stack.register_caller(CALLER)
    incoming(handlers, stack, CALLER, "call-+44 20 7946 9999")
    body = {"caller_id": DID, "called_number": ELEVENLABS_NUMBER, "call_sid": "sid+447700900123"}
    invoke(handlers["webhook"], stack, "WebhookFunction", with_body(event("conversation_init.json"), body))
    ev = with_body(
        event("check_clone.json", pathParameters={"caller_id": DID}),
        {"pressed_key": "1", "conversation_id": "conv_07700 900456"},
    )
    invoke(handlers["ivr_check"], stack, "IvrCheckFunction", ev)

    stored = json.dumps(stack.table_items())
    written = log_output.getvalue() + capsys.readouterr().out + stored
    for raw in ("7946 9999", "79469999", "7700900123", "07700 900456", "07700900456"):
        assert raw not in written
    assert f"sid{mask('+447700900123')}" in stored and f"conv_{mask('07700900456')}" in stored


def test_an_elevenlabs_conversation_id_is_stored_whole_whatever_digits_it_holds(handlers, stack):
    """The handoff names the greeting conversation as ElevenLabs gave it: the handoff sweep reads
    that conversation's history by its id (HandoffMode=agent_transfer)."""
    conversation_id = "conv_7401k5m9x2p8ec3rqv6d8675309z"  # ElevenLabs' shape, a run of 7 digits
    stack.register_caller(CALLER)
    incoming(handlers, stack, CALLER, "3cx-1234")
    run_worker(handlers["clone_worker"], stack)
    ev = with_body(
        event("check_clone.json", pathParameters={"caller_id": CALLER}),
        {"pressed_key": "1", "conversation_id": conversation_id},
    )
    checked = invoke(handlers["ivr_check"], stack, "IvrCheckFunction", ev)

    assert checked["next_action"] == "transfer_to_agent"
    assert f'"greeting_conversation_id": {{"S": "{conversation_id}"}}' in json.dumps(stack.table_items())
