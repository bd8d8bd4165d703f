"""The official ElevenLabs Python SDK (`elevenlabs==2.78.0`, a development dependency) as the emulator's
judge: it drives the emulator through every endpoint warmline's functions, its CLI, the selftest and
the probes use, with the bodies warmline sends, and each answer must parse into the SDK's models.

The SDK is generated from ElevenLabs' API and used against the real platform every day; nobody here
wrote it. It builds its models without validating them (`construct_type`), so every answer is parsed
again here with its own validating parser (`parse_obj_as`) into the method's return type: a missing
or mistyped field fails the test instead of passing unnoticed. Where it and the OpenAPI copy
disagree, it wins (emulators/openapi_check.py, docs/local-stack.md). The emulator also checks each
answer against the OpenAPI response schemas; the last tests break an answer on purpose and see the
emulator's check, and the SDK itself, refuse it.
"""

from __future__ import annotations

import inspect
import json
import time
import typing
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pydantic
import pytest
from elevenlabs import ElevenLabs
from elevenlabs import types as elevenlabs_types
from elevenlabs.conversational_ai.tests.types import TestsCreateRequestBody
from elevenlabs.core.api_error import ApiError
from elevenlabs.core.pydantic_utilities import parse_obj_as
from elevenlabs.types import (
    AgentPlatformSettingsRequestModel,
    ConversationalConfig,
    ConversationHistoryMetadataCommonModelPhoneCall_SipTrunking,
    ConversationHistoryMetadataCommonModelPhoneCall_Twilio,
    ToolRequestModel,
)

from emulators import openapi_check
from emulators.elevenlabs import GREETING_VOICE_ID, CloneLatency, Emulator, Fault
from tests import web
from tests.answering_server import Answer, AnsweringServer
from warmline.adapters.elevenlabs import client_data
from warmline.voice_provider import AgentCall
from warmline_cli import agent_setup, selftest
from warmline_cli.target import Target

# The SDK's own use of a pydantic 1 attribute, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::pydantic.PydanticDeprecatedSince20")
API_KEY = "official-client-key"
CALLER = "+447700900123"
SAMPLE = ("sample.mp3", b"ID3 audio", "audio/mpeg")


@pytest.fixture(scope="module")
def emulator():
    with Emulator(API_KEY, clone_latency=CloneLatency.instant(), voice_limit=5, seed=27) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(emulator):
    emulator.reset()
    emulator.check_answers = True


class Judged:
    """An SDK client (or one of its sub-clients) whose methods' answers are parsed strictly into
    the method's return type with the SDK's own `parse_obj_as`."""

    def __init__(self, target: Any, answers: list[httpx.Response]) -> None:
        self._target, self._answers = target, answers

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        return self._judged(value) if inspect.ismethod(value) else Judged(value, self._answers)

    def _judged(self, method: Callable[..., Any]) -> Callable[..., Any]:
        returns = typing.get_type_hints(method).get("return")

        def call(*args: Any, **kwargs: Any) -> Any:
            self._answers.clear()
            result = method(*args, **kwargs)
            if returns not in (None, type(None), Any):
                parse_obj_as(returns, self._answers[-1].json())
            return result

        return call


@pytest.fixture(scope="module")
def sdk(emulator):
    answers: list[httpx.Response] = []
    with web.client(timeout=10, event_hooks={"response": [lambda answer: answers.append(answer)]}) as http:
        yield Judged(ElevenLabs(api_key=API_KEY, base_url=emulator.base_url, httpx_client=http), answers)


def target(base_url: str, warmline_url: str = "http://127.0.0.1:9") -> Target:
    """A stack as the CLI sees it (only what the agent's tool and webhook use is filled in)."""
    return Target(
        label="local",
        description="the local stack",
        region="us-east-1",
        aws_endpoint_url=None,
        table="",
        bucket="",
        queue_url="",
        secret_arns={},
        incoming_call_url=f"{warmline_url}/api/calls/incoming",
        conversation_init_url=f"{warmline_url}/api/agent/conversation-init",
        check_clone_url=f"{warmline_url}/api/ivr/check-clone/{{caller_id}}",
        elevenlabs_base_url=base_url,
    )


INITIATION_DATA = {
    "type": "conversation_initiation_client_data",
    "dynamic_variables": {"clone_status": "ready"},
    "conversation_config_override": {
        "tts": {"voice_id": "cloned_voice"},
        "agent": {"first_message": "Welcome back."},
    },
}


def _warmline_answer(path: str) -> Answer:
    """warmline's endpoints as the agent reaches them: conversation-init answers a clone that is
    ready; check_clone always answers "still cloning"."""
    if path.endswith("/conversation-init"):
        answer: dict[str, Any] = INITIATION_DATA
    else:
        answer = {"status": "cloning", "say": "Still preparing.", "next_action": "wait"}
    return 200, "application/json", json.dumps(answer).encode()


@pytest.fixture
def warmline_url() -> Iterator[str]:
    with AnsweringServer(_warmline_answer) as server:
        yield server.url


def inbound_call(emulator: Emulator, caller: str = CALLER) -> str:
    invite = {"from": f"sip:{caller}@pbx.example.com", "to": "sip:+441632960001@sip.rtc.elevenlabs.io"}
    answer = web.post(f"{emulator.base_url}/_emulator/sip/inbound", json=invite)
    assert answer.status_code == 200, answer.text
    return answer.json()["conversation_id"]


# ---- voices and the subscription (warmline's functions, samples, doctor) --------------------------


def test_a_clone_without_labels_is_taken_as_elevenlabs_takes_it(sdk, emulator):
    # The SDK sends the unset `labels` as the form text `null`: the emulator answered 422 to it.
    created = sdk.voices.ivc.create(name="no labels", files=[SAMPLE])

    assert sdk.voices.get(created.voice_id).labels == {}
    assert [voice["name"] for voice in emulator.voices()] == ["no labels"]


def test_a_voice_is_cloned_read_found_and_deleted(sdk):
    created = sdk.voices.ivc.create(
        name="warmline caller",
        files=[SAMPLE, ("second.mp3", b"ID3 more audio", "audio/mpeg")],
        remove_background_noise=False,
        description="a caller's voice",
        labels={"warmline": "caller"},
    )
    voice = sdk.voices.get(created.voice_id)
    found = sdk.voices.search(search="warmline", page_size=10)
    everything = sdk.voices.get_all()
    deleted = sdk.voices.delete(created.voice_id)

    assert created.requires_verification is False
    assert (voice.category, voice.labels, len(voice.samples or [])) == ("cloned", {"warmline": "caller"}, 2)
    assert created.voice_id in [found_voice.voice_id for found_voice in found.voices]
    assert created.voice_id in [listed.voice_id for listed in everything.voices]
    assert deleted.status == "ok"


def test_deleting_a_gone_voice_answers_voice_not_found(sdk):
    voice_id = sdk.voices.ivc.create(name="gone", files=[SAMPLE]).voice_id
    sdk.voices.delete(voice_id)

    with pytest.raises(ApiError) as refused:
        sdk.voices.delete(voice_id)

    assert refused.value.status_code == 400
    assert refused.value.body["detail"]["status"] == "voice_not_found"


def test_the_subscription_counts_the_voice_slots(sdk):
    sdk.voices.ivc.create(name="one", files=[SAMPLE])

    subscription = sdk.user.subscription.get()

    assert (subscription.voice_slots_used, subscription.voice_limit) == (1, 5)
    assert subscription.can_use_instant_voice_cloning is True


# ---- agents and tools (configure, selftest, probes) -----------------------------------------------


def test_an_agent_is_created_read_listed_updated_and_deleted(sdk, emulator):
    secret_id = "secret_for_the_agent"
    created = sdk.conversational_ai.agents.create(
        name="warmline probe agent",
        conversation_config=ConversationalConfig.model_validate(
            {"agent": {"first_message": "Hello.", "language": "en"}}
        ),
        tags=["warmline-probe"],
    )
    webhook = agent_setup.webhook_config(target(emulator.base_url), secret_id)
    settings = {
        "workspace_overrides": {"conversation_initiation_client_data_webhook": webhook},
        "overrides": {"enable_conversation_initiation_client_data_from_webhook": True},
    }
    prompt = _transfer_back_to("sip:100@pbx")

    updated = sdk.conversational_ai.agents.update(
        created.agent_id,
        name="warmline probe agent (wired)",
        platform_settings=AgentPlatformSettingsRequestModel.model_validate(settings),
        conversation_config={"agent": {"prompt": prompt}},
    )
    read = sdk.conversational_ai.agents.get(created.agent_id)
    listed = sdk.conversational_ai.agents.list(page_size=10)
    found = sdk.conversational_ai.agents.list(search="probe")
    sdk.conversational_ai.agents.delete(created.agent_id)

    assert updated.name == read.name == "warmline probe agent (wired)"
    assert read.conversation_config.agent.first_message == "Hello."
    assert (
        read.platform_settings.workspace_overrides.conversation_initiation_client_data_webhook.url
        == webhook["url"]
    )
    assert {agent.agent_id for agent in listed.agents} == {created.agent_id, emulator.default_agent_id}
    assert [agent.agent_id for agent in found.agents] == [created.agent_id]
    with pytest.raises(ApiError) as gone:
        sdk.conversational_ai.agents.get(created.agent_id)
    assert gone.value.status_code == 404


def test_the_check_clone_tool_is_created_found_updated_and_deleted(sdk, emulator):
    wanted = agent_setup.tool_config(target(emulator.base_url), "secret_for_the_tool")

    created = sdk.conversational_ai.tools.create(
        request=ToolRequestModel.model_validate({"tool_config": wanted})
    )
    listed = sdk.conversational_ai.tools.list(search=agent_setup.TOOL_NAME, page_size=100)
    wanted["response_timeout_secs"] += 1
    updated = sdk.conversational_ai.tools.update(
        created.id, request=ToolRequestModel.model_validate({"tool_config": wanted})
    )
    read = sdk.conversational_ai.tools.get(created.id)
    sdk.conversational_ai.tools.delete(created.id)

    assert [tool.id for tool in listed.tools] == [created.id]
    assert updated.tool_config.response_timeout_secs == read.tool_config.response_timeout_secs
    assert read.tool_config.api_schema.url == wanted["api_schema"]["url"]
    assert emulator.tools() == []


def test_a_tool_an_agent_uses_is_deleted_only_by_force_and_leaves_the_agent(sdk, emulator):
    wanted = agent_setup.tool_config(target(emulator.base_url), "secret_for_the_tool")
    tool = sdk.conversational_ai.tools.create(
        request=ToolRequestModel.model_validate({"tool_config": wanted})
    )
    sdk.conversational_ai.agents.update(
        emulator.default_agent_id, conversation_config={"agent": {"prompt": {"tool_ids": [tool.id]}}}
    )

    with pytest.raises(ApiError) as in_use:
        sdk.conversational_ai.tools.delete(tool.id)
    sdk.conversational_ai.tools.delete(tool.id, force=True)

    assert in_use.value.status_code == 400
    assert (
        sdk.conversational_ai.agents.get(emulator.default_agent_id).conversation_config.agent.prompt.tool_ids
        == []
    )


# ---- conversation history (the probes) -------------------------------------------------------------


def test_an_inbound_sip_call_is_in_the_history_with_its_phone_call_and_transcript(sdk, emulator):
    conversation_id = inbound_call(emulator)

    listed = sdk.conversational_ai.conversations.list(agent_id=emulator.default_agent_id, page_size=10)
    history = sdk.conversational_ai.conversations.get(conversation_id)

    assert [summary.conversation_id for summary in listed.conversations] == [conversation_id]
    assert listed.conversations[0].direction == "inbound"
    assert history.status == "in-progress"
    phone_call = history.metadata.phone_call
    assert isinstance(phone_call, ConversationHistoryMetadataCommonModelPhoneCall_SipTrunking)
    assert (phone_call.direction, phone_call.external_number) == ("inbound", CALLER)
    assert history.transcript[0].role == "agent" and history.transcript[0].message
    assert history.conversation_initiation_client_data.dynamic_variables["system__caller_id"] == CALLER


def test_a_tool_call_is_in_the_transcript_with_its_result(sdk, emulator, warmline_url):
    wanted = agent_setup.tool_config(target(emulator.base_url, warmline_url), "secret_for_the_tool")
    tool = sdk.conversational_ai.tools.create(
        request=ToolRequestModel.model_validate({"tool_config": wanted})
    )
    sdk.conversational_ai.agents.update(
        emulator.default_agent_id, conversation_config={"agent": {"prompt": {"tool_ids": [tool.id]}}}
    )
    conversation_id = inbound_call(emulator)

    called = web.post(
        f"{emulator.base_url}/_emulator/conversations/{conversation_id}/tool-calls",
        json={"tool": agent_setup.TOOL_NAME, "parameters": {"pressed_key": "1"}},
    )
    history = sdk.conversational_ai.conversations.get(conversation_id)
    summary = sdk.conversational_ai.conversations.list().conversations[0]

    assert called.status_code == 200, called.text
    calls = [call for turn in history.transcript for call in turn.tool_calls or []]
    results = [result for turn in history.transcript for result in turn.tool_results or []]
    assert [(call.tool_name, json.loads(call.params_as_json)) for call in calls] == [
        (agent_setup.TOOL_NAME, {"pressed_key": "1"})
    ]
    assert json.loads(results[0].result_value)["next_action"] == "wait" and results[0].is_error is False
    assert summary.tool_names == [agent_setup.TOOL_NAME]


def test_the_initiation_webhooks_voice_message_and_variables_are_in_the_history(sdk, emulator, warmline_url):
    webhook = agent_setup.webhook_config(target(emulator.base_url, warmline_url), "secret_for_the_webhook")
    allowed = {"tts": {"voice_id": True}, "agent": {"first_message": True}}
    settings = {
        "workspace_overrides": {"conversation_initiation_client_data_webhook": webhook},
        "overrides": {
            "enable_conversation_initiation_client_data_from_webhook": True,
            "conversation_config_override": allowed,
        },
    }
    sdk.conversational_ai.agents.update(
        emulator.default_agent_id,
        platform_settings=AgentPlatformSettingsRequestModel.model_validate(settings),
    )

    history = sdk.conversational_ai.conversations.get(inbound_call(emulator))

    client_data = history.conversation_initiation_client_data
    assert client_data.conversation_config_override.tts.voice_id == "cloned_voice"
    assert client_data.conversation_config_override.agent.first_message == "Welcome back."
    assert client_data.dynamic_variables["clone_status"] == "ready"
    assert history.transcript[0].message == "Welcome back."


def _transfer_back_to(destination):
    """The prompt part with the transfer `configure` writes (a SIP REFER to `destination`)."""
    transfer_tool = {
        "type": "system",
        "name": "transfer_to_number",
        "description": "",
        "params": {
            "system_tool_type": "transfer_to_number",
            "transfers": [agent_setup.transfer(destination)],
        },
    }
    return {"built_in_tools": {"transfer_to_number": transfer_tool}}


def test_a_transferred_call_is_done_in_the_history(sdk, emulator):
    prompt = _transfer_back_to("sip:100@pbx")
    sdk.conversational_ai.agents.update(
        emulator.default_agent_id, conversation_config={"agent": {"prompt": prompt}}
    )
    conversation_id = inbound_call(emulator)

    refer = web.post(f"{emulator.base_url}/_emulator/conversations/{conversation_id}/transfer", json={})
    history = sdk.conversational_ai.conversations.get(conversation_id)
    summary = sdk.conversational_ai.conversations.list().conversations[0]

    assert refer.json()["transferred"] is True
    assert (history.status, summary.status) == ("done", "done")
    assert "transferred" in history.metadata.termination_reason


def test_the_history_pages_newest_first_and_a_gone_conversation_answers_404(sdk, emulator):
    first, second = inbound_call(emulator), inbound_call(emulator, "+447700900124")

    page = sdk.conversational_ai.conversations.list(page_size=1)
    rest = sdk.conversational_ai.conversations.list(page_size=1, cursor=page.next_cursor)
    with pytest.raises(ApiError) as gone:
        sdk.conversational_ai.conversations.get("conv_never_was")

    assert {page.conversations[0].conversation_id, rest.conversations[0].conversation_id} == {first, second}
    assert page.has_more and not rest.has_more
    assert gone.value.status_code == 404


# ---- agent testing (the selftest) ------------------------------------------------------------------


def test_a_simulation_test_is_created_listed_run_read_and_deleted(sdk, emulator):
    body = {
        "type": "simulation",
        "name": "warmline selftest: check_clone",
        "simulation_scenario": selftest.SCENARIO,
        "success_conditions": [selftest.CONDITIONS["check_clone"]],
        "simulation_max_turns": 5,
        "dynamic_variables": {"system__caller_id": selftest.TEST_CALLER},
        "conversation_initiation_source": "sip_trunk",
        "tool_mock_config": {"mocking_strategy": "none"},
    }
    created = sdk.conversational_ai.tests.create(
        request=pydantic.TypeAdapter(TestsCreateRequestBody).validate_python(body)
    )
    listed = sdk.conversational_ai.tests.list(search="warmline selftest")
    read = sdk.conversational_ai.tests.get(created.id)
    invocation = sdk.conversational_ai.agents.run_tests(
        emulator.default_agent_id, tests=[{"test_id": created.id}]
    )
    runs = finished_runs(sdk, invocation.id)
    sdk.conversational_ai.tests.delete(created.id)

    assert [test.id for test in listed.tests] == [created.id]
    assert (read.type, read.simulation_max_turns) == ("simulation", 5)
    assert [run.test_id for run in runs] == [created.id]
    assert runs[0].status == "passed" and runs[0].agent_responses
    with pytest.raises(ApiError) as gone:
        sdk.conversational_ai.tests.get(created.id)
    assert gone.value.status_code == 404


def finished_runs(sdk: Judged, invocation_id: str) -> list:
    deadline = time.monotonic() + 1.0  # a scripted simulation without tools ends at once
    while True:
        runs = sdk.conversational_ai.tests.invocations.get(invocation_id).test_runs
        if all(run.status != "pending" for run in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.02)


# ---- outbound calls (greeting and handoff mode outbound) ------------------------------------------


@pytest.mark.parametrize("line", ["sip_trunk", "twilio"])
def test_an_outbound_call_is_placed_and_is_in_the_history(sdk, emulator, line):
    call = AgentCall(
        to_number=CALLER, voice_id="v1", first_message="Thanks for waiting.", dynamic_variables={}
    )
    place = getattr(sdk.conversational_ai, line).outbound_call

    placed = place(
        agent_id=emulator.default_agent_id,
        agent_phone_number_id="phnum_warmline",
        to_number=CALLER,
        conversation_initiation_client_data=client_data(call),
    )
    history = sdk.conversational_ai.conversations.get(placed.conversation_id)

    assert placed.success is True
    expected = (
        ConversationHistoryMetadataCommonModelPhoneCall_SipTrunking
        if line == "sip_trunk"
        else ConversationHistoryMetadataCommonModelPhoneCall_Twilio
    )
    assert isinstance(history.metadata.phone_call, expected)
    assert (history.metadata.phone_call.direction, history.metadata.phone_call.external_number) == (
        "outbound",
        CALLER,
    )
    override = history.conversation_initiation_client_data.conversation_config_override
    assert override.agent.first_message == "Thanks for waiting."


# ---- a broken answer shape fails -------------------------------------------------------------------

BROKEN_ANSWERS = [
    ("POST", "/v1/voices/add", {"voice_id": None}),  # no voice_id
    ("GET", "/v1/convai/conversations/", {"metadata": {"start_time_unix_secs": None}}),  # no start time
    ("GET", "/v1/convai/agents", {"agents": [{"agent_id": 7}]}),  # an agent summary without its fields
]


def broken_call(sdk: Judged, emulator: Emulator, path: str) -> None:
    once: Any = {"max_retries": 0}  # the SDK retries a 500
    if path == "/v1/voices/add":
        sdk.voices.ivc.create(name="broken", files=[SAMPLE], request_options=once)
    elif path.startswith("/v1/convai/conversations/"):
        sdk.conversational_ai.conversations.get(inbound_call(emulator), request_options=once)
    else:
        sdk.conversational_ai.agents.list(request_options=once)


@pytest.mark.parametrize(("method", "path", "patch"), BROKEN_ANSWERS)
def test_the_emulator_refuses_to_give_an_answer_the_openapi_does_not_document(
    sdk, emulator, method, path, patch
):
    emulator.inject(Fault(path_prefix=path, method=method, kind="corrupt", body=patch))

    with pytest.raises(ApiError) as refused:
        broken_call(sdk, emulator, path)

    assert refused.value.status_code == 500
    assert refused.value.body["detail"]["status"] == "emulator_answer_not_documented"


@pytest.mark.parametrize(("method", "path", "patch"), BROKEN_ANSWERS)
def test_the_official_client_refuses_the_same_broken_answer(sdk, emulator, method, path, patch):
    emulator.check_answers = False
    emulator.inject(Fault(path_prefix=path, method=method, kind="corrupt", body=patch))

    with pytest.raises(pydantic.ValidationError):
        broken_call(sdk, emulator, path)


def test_every_query_parameter_the_sdk_adds_is_missing_from_the_openapi_copy():
    for (method, path), parameters in openapi_check.SDK_QUERY_PARAMETERS.items():
        operation = openapi_check.copy_document()["paths"][path][method]
        documented = {parameter["name"] for parameter in operation.get("parameters", [])}
        assert not documented & set(parameters), f"{method} {path}: the copy has it now, drop the addition"


def test_every_answer_field_the_sdk_requires_is_missing_from_the_openapi_copy_and_required_by_the_sdk():
    for name, fields in openapi_check.SDK_REQUIRED.items():
        schema = openapi_check.copy_document()["components"]["schemas"][name]
        model = getattr(elevenlabs_types, name)
        assert not set(schema.get("required", [])) & set(fields), f"{name}: the copy requires it now"
        assert all(model.model_fields[field].is_required() for field in fields), (
            f"{name}: the SDK no longer does"
        )


# ---- agent-to-agent transfer in one conversation (probe voice-switch, HandoffMode=agent_transfer) ----

SECOND_VOICE = "EXAVITQu4vr4xnSDxMaL"  # a premade voice other than the factory agent's


def _agent_with_a_transfer_to(sdk, target_id):
    """A workspace transfer_to_agent tool to `target_id`, created through the SDK, on a new agent."""
    tool = sdk.conversational_ai.tools.create(
        request=ToolRequestModel.model_validate(
            {
                "tool_config": {
                    "type": "system",
                    "name": "hand_over",
                    "description": "Hand the caller over.",
                    "params": {
                        "system_tool_type": "transfer_to_agent",
                        "transfers": [
                            {
                                "agent_id": target_id,
                                "condition": "the caller pressed 1",
                                "enable_transferred_agent_first_message": True,
                                "preserve_client_tts_overrides": False,
                            }
                        ],
                    },
                }
            }
        )
    )
    config = {"agent": {"first_message": "This is A.", "prompt": {"prompt": "A", "tool_ids": [tool.id]}}}
    return sdk.conversational_ai.agents.create(conversation_config=config).agent_id


@pytest.mark.parametrize(("reads", "heard"), [("transfer", SECOND_VOICE), ("start", GREETING_VOICE_ID)])
def test_an_agent_transfer_is_in_the_history_and_speaks_in_the_targets_voice_of_the_world(
    sdk, emulator, reads, heard
):
    web.post(f"{emulator.base_url}/_emulator/config", json={"worlds": {"agent_transfer_reads": reads}})
    target_id = sdk.conversational_ai.agents.create(
        conversation_config={"agent": {"first_message": "This is B."}, "tts": {"voice_id": GREETING_VOICE_ID}}
    ).agent_id
    source_id = _agent_with_a_transfer_to(sdk, target_id)
    invite = {"from": f"sip:{CALLER}@pbx.example.com", "to": "sip:+441632960001@x", "agent_id": source_id}
    conversation_id = web.post(f"{emulator.base_url}/_emulator/sip/inbound", json=invite).json()[
        "conversation_id"
    ]
    sdk.conversational_ai.agents.update(target_id, conversation_config={"tts": {"voice_id": SECOND_VOICE}})

    moved = web.post(f"{emulator.base_url}/_emulator/conversations/{conversation_id}/agent-transfer", json={})
    history = sdk.conversational_ai.conversations.get(conversation_id)
    live = web.get(f"{emulator.base_url}/_emulator/conversations/{conversation_id}").json()

    assert moved.status_code == 200 and moved.json()["transferred"], moved.text
    [result] = [result for turn in history.transcript for result in turn.tool_results or []]
    assert (result.tool_name, result.is_error) == ("hand_over", False)
    assert json.loads(result.result_value)["to_agent"] == target_id
    assert history.transcript[-1].message == "This is B."
    assert history.transcript[-1].agent_metadata.agent_id == target_id
    assert history.status == "in-progress"  # the same conversation, no new leg
    assert [(turn["agent_id"], turn["voice_id"]) for turn in live["spoken"]] == [
        (source_id, GREETING_VOICE_ID),
        (target_id, heard),
    ]
