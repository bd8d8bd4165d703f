"""A clone is deleted at ElevenLabs once its record expires: the local stack keeps clones for 10
minutes instead of CloneTtlHours, with no grace after the last use (as `make up ARGS="--clone-ttl-seconds
600"` does); the test moves the stack's clock past the expiry and runs the housekeeping sweep."""

import pytest

from emulators.caller import SimulatedCaller
from emulators.elevenlabs import CloneLatency
from local import aws, dashboard
from local.stack import LocalStack, StackOptions, retention_overrides
from tests.faults.test_slots_and_expiry import add_own_voice
from warmline.adapters.dynamodb import DynamoCloneStore
from warmline.callers import caller_key
from warmline_cli.api import register_caller

CLONE_TTL_S = 600  # far longer than a call on a loaded machine: kept until the clock moves


@pytest.fixture(scope="module")
def short_retention_stack(tmp_path_factory):
    with LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-retention"),
        options=StackOptions(
            emulator_options={"clone_latency": CloneLatency(0.3, 0.6)},
            env_overrides=retention_overrides(CLONE_TTL_S),
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
    [sweep] = stack.scheduler.run_function("HousekeepingFunction")  # before the expiry: kept
    assert sweep.ok and first.cloned_voice_id in {v["voice_id"] for v in stack.emulator.voices()}
    stack.clock.advance(max(0.0, expires_at + 0.5 - stack.clock.now()))
    [sweep] = stack.scheduler.run_function("HousekeepingFunction")
    assert sweep.ok, sweep.error
    assert first.cloned_voice_id not in {v["voice_id"] for v in stack.emulator.voices()}
    [delete] = [r for r in stack.emulator.requests("/v1/voices/") if r["method"] == "DELETE"]
    assert delete["path"] == f"/v1/voices/{first.cloned_voice_id}"
    # Not a moment before the record expired (the emulator dates requests by the real clock).
    assert delete["received_at"] + stack.clock.offset_seconds >= expires_at
    assert {v["voice_id"] for v in stack.emulator.voices()} == {own, foreign}

    points = dashboard.parse_emf_lines((stack.logs_dir / "HousekeepingFunction.log").read_text().splitlines())
    counted = [p for p in points if p.name == "VoicesDeletedBySweep" and p.dimensions["reason"] == "expired"]
    assert sum(p.value for p in counted) == 1

    again = caller.call(number)  # the caller's next call clones afresh

    assert again.final_voice == "cloned", again.timeline.lines()
    assert again.cloned_voice_id != first.cloned_voice_id
