"""HandoffMode=agent_transfer through the functions, in-process against moto and the ElevenLabs
emulator: conversation-init leases the caller's voice slot and answers its tools, a caller past the
pool gets the agent's own (the REFER handoff), the worker puts the clone on the slot agent, and the
housekeeping sweep, once the lease ran out, puts the placeholder voice back and frees the slot."""

import pytest

from tests import web
from tests.aws_harness import LambdaContext, ShiftedClock, event, load_handler_module, with_body
from tests.integration.conftest import EMULATOR_API_KEY
from tests.integration.test_handlers import CALLER, call, run_worker, worker  # noqa: F401
from warmline.adapters.dynamodb_slots import DynamoSlotStore
from warmline.agent_slots import Slot
from warmline.settings import Settings

PLACEHOLDER = Settings().greeting_voice_id
OTHER_CALLER = "+442079460099"


@pytest.fixture(scope="module")
def housekeeping():
    return load_handler_module("housekeeping")


@pytest.fixture
def mode(stack_with, emulator):
    """The stack in HandoffMode=agent_transfer with a pool of one voice-slot agent."""
    stack = stack_with(HandoffMode="agent_transfer")
    created = web.post(
        f"{emulator.base_url}/v1/convai/agents/create",
        headers={"xi-api-key": EMULATOR_API_KEY},
        json={"name": "slot 1", "conversation_config": {"tts": {"voice_id": PLACEHOLDER}}},
    )
    agent_id = created.json()["agent_id"]
    store = DynamoSlotStore(stack.client("dynamodb"), stack.table)
    store.save([Slot(1, agent_id, ("tool_check_clone", "tool_to_slot_1"))])
    return stack, store, agent_id


def _greeted(webhook, stack, number):
    """3CX's incoming call, then the agent's conversation-init: the answer."""
    incoming = event("incoming_call.json")
    call(webhook, stack, "WebhookFunction", with_body(incoming, {"caller": number, "did": "+442071234567"}))
    body = {"caller_id": number, "agent_id": "agent_1", "called_number": "+442071234567", "call_sid": None}
    status, answer = call(webhook, stack, "WebhookFunction", with_body(event("conversation_init.json"), body))
    assert status == 200, answer
    return answer


def test_conversation_init_leases_the_slot_and_answers_its_tools(webhook, mode):
    stack, store, _agent_id = mode
    stack.register_caller(CALLER)

    answer = _greeted(webhook, stack, CALLER)

    agent = answer["conversation_config_override"]["agent"]
    assert agent["prompt"] == {"tool_ids": ["tool_check_clone", "tool_to_slot_1"]}
    assert answer["dynamic_variables"]["warmline_mode"] == "greeting"
    [slot] = store.slots()
    assert slot.holder == answer["dynamic_variables"]["warmline_caller_key"]


def test_a_caller_past_the_pool_keeps_the_agents_own_tools(webhook, mode):
    stack, _store, _agent_id = mode
    stack.register_caller(CALLER)
    stack.register_caller(OTHER_CALLER)
    _greeted(webhook, stack, CALLER)

    answer = _greeted(webhook, stack, OTHER_CALLER)

    assert answer["dynamic_variables"]["warmline_mode"] == "greeting"
    assert "prompt" not in answer["conversation_config_override"]["agent"]


def test_the_worker_puts_the_clone_on_the_slot_and_the_sweep_takes_it_off_after_the_lease(
    webhook,
    worker,  # noqa: F811
    housekeeping,
    mode,
    emulator,
):
    stack, store, agent_id = mode
    stack.register_caller(CALLER)
    _greeted(webhook, stack, CALLER)

    run_worker(worker, stack)

    clone = store.slots()[0].voice_id
    assert clone and store.slots()[0].voice_ready
    assert emulator.agent(agent_id)["conversation_config"]["tts"]["voice_id"] == clone
    stack.clock = ShiftedClock(Settings().agent_slot_lease_seconds + 1)
    with stack.function_env("HousekeepingFunction"):
        answer = housekeeping.lambda_handler(
            event("scheduled.json"), LambdaContext("HousekeepingFunction", 120)
        )
    assert answer["sweeps"]["slots"] == {"released": 1, "reset_failed": 0}
    assert emulator.agent(agent_id)["conversation_config"]["tts"]["voice_id"] == PLACEHOLDER
    [slot] = store.slots()
    assert (slot.holder, slot.voice_id) == ("", "")
