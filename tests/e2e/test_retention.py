"""A clone is deleted at ElevenLabs once its record expires: the local stack runs the template's
housekeeping schedule (here every 2 s instead of 5 minutes) and keeps clones for 8 s instead of
CloneTtlHours, the documented way to watch retention work (`make up ARGS="--clone-ttl-seconds 8
--schedule-every 2"`)."""

import time

import pytest

from emulators.caller import SimulatedCaller
from emulators.elevenlabs import CloneLatency
from local import aws, dashboard
from local.stack import LocalStack, StackOptions, retention_overrides
from tests.faults.test_slots_and_expiry import add_own_voice
from warmline.adapters.dynamodb import DynamoCloneStore
from warmline.callers import caller_key
from warmline_cli.api import register_caller

CLONE_TTL_S = 8
SWEEP_EVERY_S = 2


@pytest.fixture(scope="module")
def short_retention_stack(tmp_path_factory):
    with LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-retention"),
        options=StackOptions(
            emulator_options={"clone_latency": CloneLatency(0.3, 0.6)},
            env_overrides=retention_overrides(CLONE_TTL_S),
            schedule_every=SWEEP_EVERY_S,
            visibility_timeout_override=2,
        ),
    ) as stack:
        yield stack


def test_an_expired_clone_is_deleted_by_the_scheduled_sweep_and_nothing_else_is(
    short_retention_stack, sample
):
    stack = short_retention_stack
    number = "+442079480001"
    key = register_caller(stack.describe(), number, [sample], consent="retention test")
    own = add_own_voice(stack, "the account owner's own voice")
    foreign = add_own_voice(stack, f"warmline-{caller_key('+15550100', 'another stack')}-job")
    caller = SimulatedCaller(
        stack.endpoints,
        threecx_secret=stack.secrets["ThreeCxSecret"],
        agent_secret=stack.secrets["AgentSecret"],
        greeting_seconds=0.1,
        pause_between_presses_seconds=0.1,
    )

    first = caller.call(number)

    assert first.final_voice == "cloned"
    dynamodb = aws.client("dynamodb", stack.aws_endpoint_url)
    store = DynamoCloneStore(dynamodb, stack.model.tables["CloneTable"].name)
    expires_at = store.get_clone(key).expires_at
    deadline = time.monotonic() + 60
    while first.cloned_voice_id in {v["voice_id"] for v in stack.emulator.voices()}:
        assert time.monotonic() < deadline, "the expired clone was not deleted within a minute"
        time.sleep(0.2)
    [delete] = [r for r in stack.emulator.requests("/v1/voices/") if r["method"] == "DELETE"]
    assert delete["path"] == f"/v1/voices/{first.cloned_voice_id}"
    assert delete["received_at"] >= expires_at  # not a moment before the record expired
    assert {v["voice_id"] for v in stack.emulator.voices()} == {own, foreign}

    points = dashboard.parse_emf_lines((stack.logs_dir / "HousekeepingFunction.log").read_text().splitlines())
    counted = [p for p in points if p.name == "VoicesDeletedBySweep" and p.dimensions["reason"] == "expired"]
    assert sum(p.value for p in counted) == 1

    again = caller.call(number)  # the caller's next call clones afresh

    assert again.final_voice == "cloned", again.timeline.lines()
    assert again.cloned_voice_id != first.cloned_voice_id
