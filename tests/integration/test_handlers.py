"""Every handler with real API Gateway v2 and SQS event shapes (events/) against moto and the emulator."""

import json
import time

import pytest

from tests.aws_harness import (
    LambdaContext,
    ShiftedClock,
    at_caller,
    event,
    load_handler_module,
    sqs_event_from,
    with_body,
)

CALLER = "+442079460000"  # the number in events/*.json


@pytest.fixture(scope="module")
def worker():
    return load_handler_module("clone_worker")


def call(module, stack, function, ev, timeout=10):
    with stack.function_env(function):
        response = module.lambda_handler(ev, LambdaContext(function, timeout))
    return response["statusCode"], json.loads(response["body"]) if "body" in response else response


def run_worker(worker, stack):
    messages = stack.queued_messages(wait_s=1)
    assert messages, "no clone job on the queue"
    queue = stack.model.queues["CloneJobsQueue"]
    with stack.function_env("CloneWorkerFunction"):
        result = worker.lambda_handler(sqs_event_from(messages, queue.arn), LambdaContext("worker", 90))
    # As Lambda's event source mapping does: delete what succeeded, so it is not delivered again
    # once the (test stack's 1 s) visibility timeout passes.
    failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
    sqs = stack.client("sqs")
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return messages, result


def test_whole_path_first_call_clone_ready_handoff_second_conversation(webhook, worker, ivr, stack, emulator):
    stack.register_caller(CALLER)

    status, answer = call(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    assert status == 200
    assert answer == {
        "route": "agent",
        "voice": "greeting",
        "clone_status": "pending",
        "job_queued": True,
        "greeting_call_placed": False,
        "caller": "+44******0000",
    }

    status, init = call(webhook, stack, "WebhookFunction", event("conversation_init.json"))
    assert status == 200
    assert init["type"] == "conversation_initiation_client_data"
    assert init["conversation_config_override"]["tts"]["voice_id"] == "21m00Tcm4TlvDq8ikWAM"
    assert init["dynamic_variables"]["warmline_mode"] == "greeting"
    assert init["dynamic_variables"]["warmline_threecx_call_id"] == "00000000-01dc-27dd-cc8a-799100000029"

    _, result = run_worker(worker, stack)
    assert result == {"batchItemFailures": []}
    voices = emulator.voices()
    assert len(voices) == 1
    clone_requests = emulator.requests("/v1/voices/add")
    assert len(clone_requests) == 1 and clone_requests[0]["status"] == 200

    status, checked = call(ivr, stack, "IvrCheckFunction", event("check_clone.json"), timeout=15)
    assert status == 200
    assert checked["status"] == "ready" and checked["next_action"] == "transfer_to_agent"
    assert checked["cloned_voice_id"] == voices[0]["voice_id"]
    assert checked["caller_id"] == "+44******0000"

    status, second = call(webhook, stack, "WebhookFunction", event("conversation_init.json"))
    assert second["conversation_config_override"] == {
        "tts": {"voice_id": voices[0]["voice_id"]},
        "agent": {"first_message": "Thanks for waiting. How can I help you today?"},
    }


def test_repeat_caller_reuses_the_clone_without_a_job(webhook, worker, stack, emulator):
    stack.register_caller(CALLER)
    call(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    run_worker(worker, stack)

    status, answer = call(webhook, stack, "WebhookFunction", event("incoming_call.json"))

    assert (status, answer["voice"], answer["job_queued"]) == (200, "cloned", False)
    assert stack.queued_messages() == []
    assert len(emulator.requests("/v1/voices/add")) == 1


def test_a_call_in_the_second_the_clone_expired_starts_a_new_clone(webhook, worker, stack):
    key = stack.register_caller(CALLER)
    call(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    run_worker(worker, stack)
    expires_at = stack.store.get_clone(key).expires_at
    # Half a second after expiry, in the same whole second as expires_at (whole seconds: the TTL).
    stack.clock = ShiftedClock(expires_at + 0.5 - time.time())

    status, answer = call(webhook, stack, "WebhookFunction", event("incoming_call.json"))

    assert (status, answer["voice"], answer["job_queued"]) == (200, "greeting", True)


def test_caller_without_sample_gets_default_voice_and_only_a_call_note_that_expires(webhook, stack):
    status, answer = call(webhook, stack, "WebhookFunction", event("incoming_call.json"))

    assert (status, answer["voice"], answer["clone_status"], answer["job_queued"]) == (
        200,
        "default",
        "no_sample",
        False,
    )
    assert stack.queued_messages() == []
    # The note that tells the agent's side this caller came in through 3CX (warmline.caller_id).
    items = stack.table_items()
    kinds = sorted((item["pk"]["S"].split("#")[0], item["sk"]["S"] == "LAST_CALL") for item in items)
    assert kinds == [("CALLER", True), ("DIALLED", False)]
    assert all(int(i["expires_at"]["N"]) == int(i["at_ms"]["N"]) // 1000 + 300 for i in items)


def test_repeated_webhooks_queue_one_job(webhook, stack):
    stack.register_caller(CALLER)
    answers = [call(webhook, stack, "WebhookFunction", event("incoming_call.json"))[1] for _ in range(3)]

    assert [a["job_queued"] for a in answers] == [True, False, False]
    assert len(stack.queued_messages(wait_s=1)) == 1


def test_worker_reports_a_partial_batch_failure_and_marks_failed_on_the_last_delivery(
    webhook, worker, stack, emulator
):
    from emulators.elevenlabs import Fault

    stack.register_caller(CALLER)
    call(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    messages = stack.queued_messages(wait_s=1)
    emulator.inject(
        Fault(method="POST", path_prefix="/v1/voices/add", status=429, code="system_busy", always=True)
    )
    messages[0]["Attributes"]["ApproximateReceiveCount"] = "3"  # the template's CloneJobMaxReceives
    queue = stack.model.queues["CloneJobsQueue"]
    with stack.function_env("CloneWorkerFunction"):
        result = worker.lambda_handler(
            sqs_event_from(messages, queue.arn), LambdaContext("worker", 90, remaining_s=8)
        )

    assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    record = stack.store.get_clone(stack.register_caller(CALLER))
    assert record.status == "FAILED" and record.error_code == "system_busy"
    assert emulator.voices() == []


def test_voice_add_request_marks_the_voice_as_warmlines(webhook, worker, stack, emulator):
    key = stack.register_caller(CALLER)
    call(webhook, stack, "WebhookFunction", event("incoming_call.json"))
    run_worker(worker, stack)

    form = emulator.requests("/v1/voices/add")[0]["form"]
    assert form["name"][0].startswith(f"warmline-{key}-")
    assert "warmline" in form["description"][0]


UNAUTHORIZED = [
    ("webhook", "WebhookFunction", "incoming_call.json"),
    ("webhook", "WebhookFunction", "conversation_init.json"),
    ("ivr", "IvrCheckFunction", "check_clone.json"),
]


@pytest.mark.parametrize("module_name, function, event_file", UNAUTHORIZED)
@pytest.mark.parametrize("secret", [None, "wrong", "local-agent-secret-but-longer", ""])
def test_wrong_or_missing_secret_is_401_and_writes_nothing(
    request, stack, module_name, function, event_file, secret
):
    stack.register_caller(CALLER)
    before = stack.table_items()
    module = request.getfixturevalue(module_name)
    base = event(event_file)
    headers = {k: v for k, v in base["headers"].items() if k != "x-warmline-secret"}
    if secret is not None:
        headers["x-warmline-secret"] = secret

    status, body = call(module, stack, function, {**base, "headers": headers})

    assert status == 401 and body["error"] == "unauthorized"
    assert "x-warmline-secret" in body["message"]
    assert stack.table_items() == before and stack.queued_messages() == []


def test_3cx_secret_does_not_open_the_agent_endpoints(webhook, stack):
    base = event("conversation_init.json")
    status, _ = call(
        webhook,
        stack,
        "WebhookFunction",
        {**base, "headers": {**base["headers"], "x-warmline-secret": "local-3cx-secret"}},
    )
    assert status == 401


BAD_INCOMING = [
    ("{not json", 400, "invalid_json"),
    ("[1, 2]", 400, "invalid_body"),
    ("", 400, "invalid_body"),
    (json.dumps({"did": "100"}), 400, "invalid_request"),
    (json.dumps({"caller": 4420794600}), 400, "invalid_request"),
    (json.dumps({"caller": "+44 20 7946 0000", "colour": "blue"}), 400, "invalid_request"),
    (json.dumps({"caller": "DROP TABLE"}), 400, "invalid_caller"),
    (json.dumps({"caller": "+1" + "9" * 30}), 400, "invalid_caller"),
    (json.dumps({"caller": "+1" + "9" * 70}), 400, "invalid_request"),
    (json.dumps({"caller": "+441234", "call_id": "abc\u0000def"}), 400, "invalid_request"),
    (json.dumps({"caller": "+441234", "pad": "x" * 20000}), 413, "body_too_large"),
]


@pytest.mark.parametrize("body, status, error", BAD_INCOMING)
def test_bad_incoming_call_bodies_are_4xx_that_name_the_problem_and_write_nothing(
    webhook, stack, body, status, error
):
    stack.register_caller(CALLER)
    before = stack.table_items()

    got_status, answer = call(webhook, stack, "WebhookFunction", with_body(event("incoming_call.json"), body))

    assert (got_status, answer["error"]) == (status, error)
    assert answer["message"]
    assert stack.table_items() == before and stack.queued_messages() == []


@pytest.mark.parametrize("national", ["020 7946 0002", "12345"])
def test_a_number_without_its_country_is_refused_when_no_default_country_is_set(
    webhook, ivr, stack, national
):
    """DefaultCountryCode is empty: the number cannot be placed, so it is not keyed as written."""
    status, answer = call(
        webhook, stack, "WebhookFunction", with_body(event("incoming_call.json"), {"caller": national})
    )
    assert (status, answer["error"]) == (400, "invalid_caller")
    assert "DefaultCountryCode" in answer["message"]

    # check_clone answers the agent 200 for a caller it cannot read (a 4xx is hidden from the agent)
    ev = at_caller(event("check_clone.json"), national.replace(" ", ""))
    status, answer = call(ivr, stack, "IvrCheckFunction", ev)
    assert (status, answer["next_action"]) == (200, "continue_with_default_voice")
    assert stack.table_items() == [] and stack.queued_messages() == []


def test_wrong_content_type_is_415(webhook, stack):
    base = event("incoming_call.json")
    status, answer = call(
        webhook,
        stack,
        "WebhookFunction",
        {**base, "headers": {**base["headers"], "content-type": "text/plain"}},
    )
    assert (status, answer["error"]) == (415, "unsupported_media_type")


def test_invalid_field_is_named_in_the_answer(webhook, stack):
    status, answer = call(
        webhook, stack, "WebhookFunction", with_body(event("incoming_call.json"), {"caller": 5})
    )
    assert status == 400 and answer["details"][0]["field"] == "caller"


def test_conversation_init_tolerates_extra_fields(webhook, stack):
    body = {**json.loads(event("conversation_init.json")["body"]), "source": "sip_trunk", "extra": {"a": 1}}
    status, answer = call(webhook, stack, "WebhookFunction", with_body(event("conversation_init.json"), body))
    assert status == 200 and answer["dynamic_variables"]["warmline_mode"] == "default"


@pytest.mark.parametrize(
    "caller_path, body, status, error",
    [
        ("%2B442079460000", {}, 400, "invalid_request"),
        ("%2B442079460000", {"pressed_key": ["1"]}, 400, "invalid_request"),
        ("%2B442079460000", {"pressed_key": "1", "unexpected": True}, 400, "invalid_request"),
        # A PIN is what a keypad types, as text: a number would lose its leading zeros.
        ("%2B442079460000", {"pressed_key": "1", "pin": 4829}, 400, "invalid_request"),
        ("%2B442079460000", {"pressed_key": "1", "pin": "four eight"}, 400, "invalid_request"),
        ("%2B442079460000", {"pressed_key": "1", "pin": "1" * 17}, 400, "invalid_request"),
    ],
)
def test_bad_check_clone_requests(ivr, stack, caller_path, body, status, error):
    base = with_body(event("check_clone.json"), body)
    ev = at_caller(base, caller_path)

    got_status, answer = call(ivr, stack, "IvrCheckFunction", ev)

    assert (got_status, answer["error"]) == (status, error)
    assert stack.table_items() == []


# (An empty caller_id is no route: API Gateway answers 404 before any function runs.)
@pytest.mark.parametrize("caller_path", ["not-a-number", "%2B44%00123", "anonymous", "%20"])
def test_check_clone_for_a_caller_it_cannot_read_says_go_on_in_the_default_voice(ivr, stack, caller_path):
    ev = at_caller(with_body(event("check_clone.json"), {"pressed_key": "1"}), caller_path)

    status, answer = call(ivr, stack, "IvrCheckFunction", ev)

    assert (status, answer["status"], answer["next_action"]) == (
        200,
        "unavailable",
        "continue_with_default_voice",
    )
    assert stack.table_items() == []


def test_check_clone_takes_the_key_from_the_query_and_repeats_the_menu_for_others(ivr, stack):
    base = with_body(event("check_clone.json"), {})
    ev = {**base, "queryStringParameters": {"pressed_key": "9"}, "rawQueryString": "pressed_key=9"}
    status, answer = call(ivr, stack, "IvrCheckFunction", ev)
    assert (status, answer["status"], answer["next_action"]) == (200, "invalid_key", "repeat_menu")


def test_check_clone_for_a_caller_with_no_clone_says_go_on_in_default_voice(ivr, stack):
    status, answer = call(ivr, stack, "IvrCheckFunction", event("check_clone.json"))
    assert (status, answer["status"], answer["next_action"]) == (
        200,
        "unavailable",
        "continue_with_default_voice",
    )
    assert answer["say"]


def test_withheld_caller_routes_to_default_voice(webhook, stack):
    status, answer = call(
        webhook, stack, "WebhookFunction", with_body(event("incoming_call.json"), {"caller": "anonymous"})
    )
    assert (status, answer["clone_status"], answer["voice"]) == (200, "withheld", "default")
    assert stack.table_items() == []


def test_outbound_greeting_mode_places_a_valid_outbound_call(webhook, stack_with, emulator):
    stack = stack_with(
        GreetingMode="outbound", ElevenLabsAgentId="agent_1", ElevenLabsAgentPhoneNumberId="phnum_1"
    )
    stack.register_caller(CALLER)
    with stack.function_env("WebhookFunction"):
        from tests.aws_harness import LambdaContext as Ctx

        response = webhook.lambda_handler(event("incoming_call.json"), Ctx("webhook", 10))
    answer = json.loads(response["body"])

    assert answer["route"] == "agent_callback" and answer["greeting_call_placed"]
    placed = emulator.requests("/v1/convai/sip-trunk/outbound-call")
    assert len(placed) == 1 and placed[0]["status"] == 200
    assert placed[0]["json"]["to_number"] == CALLER
    assert placed[0]["json"]["conversation_initiation_client_data"]["conversation_config_override"][
        "tts"
    ] == {"voice_id": "21m00Tcm4TlvDq8ikWAM"}
