"""Every handoff is seen to complete or is counted as lost, over HTTP on the local stack: a handoff
whose re-entry comes is completed with its transfer time; one whose REFER the simulated 3CX refuses
is counted lost by the housekeeping sweep (here every second, with a 5 s window instead of 30 s);
and 25 concurrent checks of one call count one handoff."""

import threading
import time

import httpx
import pytest

from emulators.caller import EmulatedAgent, Pbx, SimulatedCaller
from emulators.elevenlabs import CloneLatency
from local import aws, dashboard
from local.stack import LocalStack, StackOptions
from warmline.adapters.dynamodb import DynamoEventStore
from warmline.events import EventType
from warmline_cli.api import register_caller

pytestmark = pytest.mark.e2e

WINDOW_S = 5
SWEEP_EVERY_S = 1


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-handoffs"),
        options=StackOptions(
            emulator_options={"clone_latency": CloneLatency(0.3, 0.6)},
            parameter_overrides={"DefaultCountryCode": "44", "HandoffWindowSeconds": WINDOW_S},
            schedule_every=SWEEP_EVERY_S,
            visibility_timeout_override=2,
        ),
    ) as running:
        yield running


def caller_for(stack, **pbx):
    return SimulatedCaller.for_stack(
        stack.describe(),
        greeting_seconds=0.1,
        pause_between_presses_seconds=0.1,
        pbx=Pbx(**pbx),
        agent=EmulatedAgent(stack.emulator.base_url),
    )


def events_of(stack, caller_key, kind):
    store = DynamoEventStore(
        aws.client("dynamodb", stack.aws_endpoint_url), stack.model.tables["CloneTable"].name, 60
    )
    now_ms = int(time.time() * 1000)
    return [
        e
        for e in store.between(now_ms - 3_600_000, now_ms + 60_000)
        if e.caller_key == caller_key and e.type is kind
    ]


def figures(stack):
    response = httpx.get(
        stack.endpoints["CloningMetrics"],
        headers={"X-Warmline-Secret": stack.secrets["OperatorSecret"]},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.2)


def test_a_handoff_whose_re_entry_comes_is_completed_with_its_transfer_time(stack, sample):
    number = "+442079490001"
    key = register_caller(stack.describe(), number, [sample], consent="handoff test")

    outcome = caller_for(stack).call(number)

    assert outcome.handed_off and outcome.final_voice == "cloned", outcome.timeline.lines()
    assert "(transfer leg" in outcome.timeline.entries[-1][1]
    [completed] = events_of(stack, key, EventType.HANDOFF_COMPLETED)
    # warmline's leg starts inside the check_clone request that answered and ends inside the re-entry's
    # conversation-init: within the caller's time from sending that request to the new conversation.
    assert 0 <= completed.data["transfer_ms"] <= outcome.check_ms + outcome.transfer_ms
    after = figures(stack)
    assert after["counts"]["handoffs_completed"] >= 1 and after["p50_handoff_transfer_ms"] is not None
    # Sweeps past the window do not count it lost.
    time.sleep(WINDOW_S + 3 * SWEEP_EVERY_S)
    assert events_of(stack, key, EventType.HANDOFF_LOST) == []
    assert len(events_of(stack, key, EventType.HANDOFF)) == 1


def test_a_refer_the_trunk_refuses_is_a_lost_handoff_counted_by_the_sweep(stack, sample):
    number = "+442079490002"
    key = register_caller(stack.describe(), number, [sample], consent="handoff test")
    lost_before = figures(stack)["counts"]["handoffs_lost"]

    outcome = caller_for(stack, refer_answer=403).call(number)

    assert not outcome.handed_off and outcome.final_voice == "greeting"
    assert "refused: 3CX answered the REFER 403 Forbidden" in outcome.timeline.entries[-1][1]
    assert len(events_of(stack, key, EventType.HANDOFF)) == 1
    wait_for(lambda: events_of(stack, key, EventType.HANDOFF_LOST), WINDOW_S + 20, "the lost handoff counted")
    [lost] = events_of(stack, key, EventType.HANDOFF_LOST)
    # Counted within the window plus a sweep's period (and the run's own time).
    assert WINDOW_S * 1000 <= lost.data["waited_ms"] <= (WINDOW_S + SWEEP_EVERY_S + 3) * 1000
    assert figures(stack)["counts"]["handoffs_lost"] >= lost_before + 1
    log = (stack.logs_dir / "HousekeepingFunction.log").read_text()
    assert "handoff lost" in log and "refused the agent's SIP REFER" in log
    points = dashboard.parse_emf_lines(log.splitlines())
    assert sum(p.value for p in points if p.name == "HandoffsLost") >= 1
    time.sleep(3 * SWEEP_EVERY_S)
    assert len(events_of(stack, key, EventType.HANDOFF_LOST)) == 1  # once


def test_concurrent_checks_of_one_call_count_one_handoff(stack, sample):
    number = "+442079490003"
    key = register_caller(stack.describe(), number, [sample], consent="handoff test")
    secrets = stack.secrets
    incoming = httpx.post(
        stack.endpoints["IncomingCall"],
        json={"caller": number, "did": "+441000000000", "call_id": "call-concurrent"},
        headers={"X-Warmline-Secret": secrets["ThreeCxSecret"]},
        timeout=10,
    )
    assert incoming.json()["job_queued"] is True
    url = stack.endpoints["CheckClone"].replace("{caller_id}", "%2B442079490003")
    answers = []
    barrier = threading.Barrier(25)
    http = httpx.Client(timeout=30)

    def press():
        barrier.wait()
        response = http.post(
            url,
            json={"pressed_key": "1", "conversation_id": "conv_concurrent"},
            headers={"X-Warmline-Secret": secrets["AgentSecret"]},
        )
        answers.append(response.json()["next_action"])

    with http:
        threads = [threading.Thread(target=press) for _ in range(25)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert answers == ["transfer_to_agent"] * 25  # each waited for the clone, then handed off
    assert len(events_of(stack, key, EventType.HANDOFF)) == 1
    assert len(events_of(stack, key, EventType.IVR_CHECK)) == 25
