"""HandoffMode=agent_transfer on the local stack, over HTTP (issue 26): where the emulator's platform
reads the target agent when the transfer happens, a first caller ends in their cloned voice in the
same conversation (no second leg); where it reads it at the conversation's start, `probe
voice-switch` fails and `configure` refuses the mode; concurrent first callers beyond the pool fall
back to the REFER and still end in their clone; and the sweep frees every slot after the calls,
with the placeholder voice back on each slot agent."""

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from emulators.caller import EmulatedAgent, SimulatedCaller
from emulators.elevenlabs import GREETING_VOICE_ID, CloneLatency
from local import aws
from local.stack import AGENT_TRANSFER_TO, LocalStack, StackOptions
from tests import web
from warmline.adapters.clock import SystemClock
from warmline.adapters.dynamodb import DynamoCloneStore, DynamoEventStore, DynamoHandoffStore
from warmline.adapters.dynamodb_slots import DynamoSlotStore
from warmline.adapters.elevenlabs import ElevenLabsClient, ElevenLabsSlotAgents
from warmline.agent_slots import AgentSlots, SlotPolicy
from warmline.events import EventType
from warmline.handoffs import settle_overdue_handoffs
from warmline.housekeeping import SweepContext
from warmline.settings import Settings
from warmline_cli.api import register_caller
from warmline_cli.console import FAIL, OK
from warmline_cli.main import main

pytestmark = pytest.mark.e2e

SLOTS = 2


class _Later:
    """A clock past every lease: what the housekeeping sweep sees once the calls are long over."""

    def now(self) -> float:
        return time.time() + 3600

    def sleep(self, seconds: float) -> None:
        raise AssertionError("the sweep never sleeps")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-agent-transfer"),
        options=StackOptions(
            emulator_options={"clone_latency": CloneLatency(0.3, 0.6)},
            parameter_overrides={"DefaultCountryCode": "44", "HandoffMode": "agent_transfer"},
            visibility_timeout_override=2,
        ),
    ) as running:
        yield running


def _cli(stack, *args):
    return main([*args, "--local", "--local-state", str(stack.state_file)])


def _worlds(stack, **switches):
    answer = web.post(f"{stack.emulator.base_url}/_emulator/config", json={"worlds": switches})
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def pool(stack):
    """The probe passed on this platform, then configure made the voice-slot agents."""
    assert _cli(stack, "elevenlabs", "probe", "voice-switch") == 0
    assert (
        _cli(stack, "elevenlabs", "configure", "--transfer-to", AGENT_TRANSFER_TO, "--voice-slots", "2") == 0
    )
    return _slots(stack, SystemClock())  # the slots as the functions see them now


def _slots(stack, clock=None):
    table = stack.model.tables["CloneTable"].name
    store = DynamoSlotStore(aws.client("dynamodb", stack.aws_endpoint_url), table)
    client = ElevenLabsClient(stack.emulator.api_key, stack.emulator.base_url)
    return AgentSlots(
        store, lambda: ElevenLabsSlotAgents(client), clock or _Later(), SlotPolicy(660, GREETING_VOICE_ID)
    )


@pytest.fixture
def fresh_pool(stack, pool):
    """Every slot free before the test: the sweep after the last test's calls."""
    _slots(stack).sweep()
    yield pool
    _slots(stack).sweep()


def _caller(stack):
    return SimulatedCaller.for_stack(
        stack.describe(),
        greeting_seconds=0.1,
        pause_between_presses_seconds=0.1,
        agent=EmulatedAgent(stack.emulator.base_url),
    )


def _events(stack, kind):
    store = DynamoEventStore(
        aws.client("dynamodb", stack.aws_endpoint_url), stack.model.tables["CloneTable"].name, 60
    )
    now_ms = int(time.time() * 1000)
    return [
        e for e in store.between(now_ms - 3_600_000, now_ms + 7_200_000) if e.type is kind
    ]  # sweeps: +1 h


def _sweep_context(stack):
    """The housekeeping sweep's view of the stack, an hour later (past every handoff's window)."""
    dynamodb = aws.client("dynamodb", stack.aws_endpoint_url)
    table = stack.model.tables["CloneTable"].name
    client = ElevenLabsClient(stack.emulator.api_key, stack.emulator.base_url)
    return SweepContext(
        DynamoCloneStore(dynamodb, table),
        DynamoHandoffStore(dynamodb, table, 60),
        lambda: client,
        _Later(),
        Settings(handoff_mode="agent_transfer"),
        lambda: 100.0,
        agent_transfers=lambda: client,
    )


def _latency(stack, low, high):
    latency = {"min_seconds": low, "max_seconds": high}
    answer = web.post(f"{stack.emulator.base_url}/_emulator/config", json={"clone_latency": latency})
    assert answer.status_code == 200, answer.text


def _voice_of(stack, agent_id):
    return stack.emulator.agent(agent_id)["conversation_config"]["tts"]["voice_id"]


def test_a_first_caller_ends_in_their_clone_in_the_same_conversation(stack, sample, fresh_pool):
    number = "+442079500001"
    key = register_caller(stack.describe(), number, [sample], consent="agent transfer test")

    outcome = _caller(stack).call(number)

    assert outcome.handed_off and outcome.final_voice == "cloned", outcome.timeline.lines()
    assert len(outcome.conversations) == 1  # no second leg
    assert "same conversation" in outcome.timeline.entries[-1][1] and outcome.transfer_ms is not None
    [handoff] = [e for e in _events(stack, EventType.HANDOFF) if e.caller_key == key]
    assert handoff.data["handoff_mode"] == "agent_transfer" and handoff.data["handoff_fallback"] == ""
    # The slot agent spoke in the clone; the sweep after the call puts its placeholder voice back.
    held = fresh_pool.held_by(key)
    assert held is not None and _voice_of(stack, held.agent_id) == outcome.cloned_voice_id
    assert _slots(stack).sweep().released == 1
    assert _voice_of(stack, held.agent_id) == GREETING_VOICE_ID
    assert fresh_pool.held_by(key) is None
    # No re-entry comes: the handoff sweep reads the transfer in the conversation's history.
    assert settle_overdue_handoffs(_sweep_context(stack)).completed_by_agent_transfer == 1
    [completed] = [e for e in _events(stack, EventType.HANDOFF_COMPLETED) if e.caller_key == key]
    assert completed.data["handoff_mode"] == "agent_transfer" and completed.data["transfer_ms"] >= 0


def test_concurrent_first_callers_past_the_pool_fall_back_to_the_refer_and_lose_nothing(
    stack, sample, fresh_pool
):
    numbers = [f"+44207950010{n}" for n in range(5)]
    keys = {register_caller(stack.describe(), n, [sample], consent="agent transfer test") for n in numbers}
    # Clones slower than the five calls' start: every caller is in the greeting when it leases.
    _latency(stack, 1.5, 2.0)
    try:
        with ThreadPoolExecutor(max_workers=len(numbers)) as threads:
            outcomes = list(threads.map(_caller(stack).call, numbers))
    finally:
        _latency(stack, 0.3, 0.6)

    assert [o.final_voice for o in outcomes] == ["cloned"] * len(numbers), [
        o.timeline.lines() for o in outcomes
    ]
    handoffs = [e for e in _events(stack, EventType.HANDOFF) if e.caller_key in keys]
    legs = sorted(len(o.conversations) for o in outcomes)
    assert legs == [1] * SLOTS + [2] * (len(numbers) - SLOTS), (  # the slots' callers, then the REFER's
        [e.data for e in handoffs],
        [o.timeline.lines() for o in outcomes],
    )
    modes = sorted(e.data["handoff_mode"] for e in handoffs)
    assert modes == ["agent_transfer"] * SLOTS + ["transfer"] * (len(numbers) - SLOTS)
    assert {e.data["handoff_fallback"] for e in handoffs if e.data["handoff_mode"] == "transfer"} == {
        "clone_not_on_slot"
    }


def test_the_sweep_frees_every_slot_after_the_calls_and_no_clone_stays_on_a_slot_agent(
    stack, sample, fresh_pool
):
    numbers = ["+442079500201", "+442079500202"]
    for number in numbers:
        register_caller(stack.describe(), number, [sample], consent="agent transfer test")
    with ThreadPoolExecutor(max_workers=2) as threads:
        outcomes = list(threads.map(_caller(stack).call, numbers))
    assert all(o.final_voice == "cloned" for o in outcomes)
    assert all(slot.holder for slot in fresh_pool.store.slots())  # both slots still held by their calls

    assert _slots(stack).sweep().released == SLOTS

    assert all(slot.can_lease(int(time.time() * 1000)) for slot in fresh_pool.store.slots())
    assert {_voice_of(stack, slot.agent_id) for slot in fresh_pool.store.slots()} == {GREETING_VOICE_ID}


def test_where_the_platform_reads_the_target_at_the_start_the_probe_fails_and_configure_refuses(
    stack, pool, capsys
):
    _worlds(stack, agent_transfer_reads="start")
    try:
        assert _cli(stack, "elevenlabs", "probe", "voice-switch") == 1
        capsys.readouterr()

        refused = _cli(stack, "elevenlabs", "configure", "--transfer-to", AGENT_TRANSFER_TO)

        assert refused != 0
        assert "needs `warmline elevenlabs probe voice-switch` to pass first" in capsys.readouterr().err
        assert _cli(stack, "elevenlabs", "configure", "--transfer-to", AGENT_TRANSFER_TO, "--force") == 0
        assert "--force: HandoffMode=agent_transfer without a passing" in capsys.readouterr().err
    finally:
        _worlds(stack, agent_transfer_reads="transfer")
        assert _cli(stack, "elevenlabs", "probe", "voice-switch") == 0


def _hang_up(stack, outcome):
    conversation_id = outcome.conversation_ids[-1]
    answer = web.post(f"{stack.emulator.base_url}/_emulator/conversations/{conversation_id}/end")
    assert answer.status_code == 200, answer.text
    return conversation_id


def _post_call_events(stack, events):
    answer = web.patch(
        f"{stack.emulator.base_url}/v1/convai/settings",
        headers={"xi-api-key": stack.emulator.api_key},
        json={"webhooks": {"events": events}},
    )
    assert answer.status_code == 200 and answer.json()["webhooks"]["events"] == events, answer.text


def test_a_slot_is_freed_when_its_call_ends_by_the_post_call_webhook(stack, sample, fresh_pool):
    numbers = ["+442079500301", "+442079500302"]
    for number in numbers:
        register_caller(stack.describe(), number, [sample], consent="agent transfer test")
    with ThreadPoolExecutor(max_workers=2) as threads:
        outcomes = list(threads.map(_caller(stack).call, numbers))
    assert all(o.final_voice == "cloned" and len(o.conversations) == 1 for o in outcomes)
    held = [slot for slot in fresh_pool.store.slots() if slot.holder]
    assert len(held) == SLOTS

    ended = [_hang_up(stack, outcome) for outcome in outcomes]

    # The platform told warmline at each hang-up: both slots are free now, long before their lease
    # ends, and their agents speak in the placeholder voice again.
    now_ms = int(time.time() * 1000)
    assert all(slot.can_lease(now_ms) for slot in fresh_pool.store.slots())
    assert {_voice_of(stack, slot.agent_id) for slot in held} == {GREETING_VOICE_ID}
    deliveries = stack.emulator.post_call.deliveries()
    assert sorted((d["conversation_id"], d["status"]) for d in deliveries[-2:]) == sorted(
        (conversation_id, 200) for conversation_id in ended
    )


def test_a_slot_whose_post_call_webhook_never_comes_is_freed_by_its_lease(stack, sample, fresh_pool):
    number = "+442079500311"
    key = register_caller(stack.describe(), number, [sample], consent="agent transfer test")
    _post_call_events(stack, [])  # the workspace sends no post-call event (a lost delivery)
    try:
        outcome = _caller(stack).call(number)
        assert outcome.final_voice == "cloned", outcome.timeline.lines()
        _hang_up(stack, outcome)
        held = fresh_pool.held_by(key)
        assert held is not None  # no one said the call ended: the lease still runs

        assert _slots(stack).sweep().released == 1  # the sweep, once the lease has run out

        assert fresh_pool.held_by(key) is None and _voice_of(stack, held.agent_id) == GREETING_VOICE_ID
    finally:
        _post_call_events(stack, ["transcript"])


def test_configure_leaves_a_post_call_webhook_that_is_not_the_stacks_alone(stack, pool, capsys):
    key = {"xi-api-key": stack.emulator.api_key}
    settings_url = f"{stack.emulator.base_url}/v1/convai/settings"
    ours = web.get(settings_url, headers=key).json()["webhooks"]
    theirs = web.post(
        f"{stack.emulator.base_url}/v1/workspace/webhooks",
        headers=key,
        json={"settings": {"auth_type": "hmac", "name": "crm", "webhook_url": "https://crm.example/hook"}},
    ).json()["webhook_id"]
    web.patch(settings_url, headers=key, json={"webhooks": {"post_call_webhook_id": theirs}})
    capsys.readouterr()
    try:
        assert _cli(stack, "elevenlabs", "configure", "--transfer-to", AGENT_TRANSFER_TO) == 1

        assert f"the workspace's post-call webhook ({theirs}) is not this stack's" in capsys.readouterr().err
        assert web.get(settings_url, headers=key).json()["webhooks"]["post_call_webhook_id"] == theirs
    finally:
        web.patch(settings_url, headers=key, json={"webhooks": ours})


def _doctor_lines(stack, capsys):
    capsys.readouterr()
    _cli(stack, "doctor")
    lines = capsys.readouterr().out.splitlines()
    return [
        line for line in lines if re.search(r"voice slot [0-9]+:|post-call webhook|probe voice-switch", line)
    ]


def test_doctor_checks_the_slot_pool_against_elevenlabs_and_the_main_agent(stack, pool, capsys):
    agent_id = stack.emulator.default_agent_id
    [first, *_] = pool.store.slots()
    lines = _doctor_lines(stack, capsys)
    assert len(lines) == SLOTS + 2 and all(line.startswith(OK) for line in lines), lines
    assert any("probe voice-switch` passed" in line for line in lines)

    main = stack.emulator.agent(agent_id)["conversation_config"]["agent"]["prompt"]
    key = {"xi-api-key": stack.emulator.api_key}
    changed = {"conversation_config": {"agent": {"prompt": {"prompt": main["prompt"] + " Be brief."}}}}
    assert web.patch(
        f"{stack.emulator.base_url}/v1/convai/agents/{agent_id}", headers=key, json=changed
    ).is_success
    try:
        lines = _doctor_lines(stack, capsys)
        assert (
            f"{FAIL} voice slot {first.number}: {first.agent_id}'s prompt differs from the main agent's"
            in "\n".join(lines)
        ), lines
    finally:
        assert _cli(stack, "elevenlabs", "configure", "--transfer-to", AGENT_TRANSFER_TO) == 0
    assert all(line.startswith(OK) for line in _doctor_lines(stack, capsys))


def test_the_selftest_checks_the_refer_the_agent_falls_back_to_and_leaves_every_slot_free(
    stack, fresh_pool, capsys
):
    """In HandoffMode=agent_transfer a caller past the pool is handed off by the REFER, so the
    selftest checks that transfer as in HandoffMode=transfer. Its test caller has no sample, so
    conversation-init leases it no slot: the pool is left as the selftest found it."""
    assert _cli(stack, "elevenlabs", "selftest", "--json") == 0
    steps = {step["step"]: step for step in json.loads(capsys.readouterr().out)["steps"]}

    assert steps["transfer"]["passed"] is not False and AGENT_TRANSFER_TO in steps["transfer"]["detail"]
    now_ms = int(time.time() * 1000)
    assert [slot.number for slot in fresh_pool.store.slots() if not slot.lease_over(now_ms)] == []
