"""Every handoff is seen to complete or is counted as lost, over HTTP on the local stack: a handoff
whose re-entry comes is completed with its transfer time; one whose REFER the simulated 3CX refuses
is counted lost by the housekeeping sweep (the template's 30 s window: the test moves the stack's
clock past it and runs the sweep itself); and 25 concurrent checks of one call count one handoff."""

import threading

import pytest

from emulators.caller import EmulatedAgent, Pbx, SimulatedCaller
from local import aws, dashboard
from tests import web
from warmline.adapters.dynamodb import DynamoEventStore
from warmline.events import EventType
from warmline_cli.api import register_caller

pytestmark = pytest.mark.e2e

PAST_THE_WINDOW_S = 0.5  # how far past a handoff's window the clock is moved before a sweep


@pytest.fixture
def stack(local_stack):
    """The e2e stack (tests/e2e/conftest.py): with the stack's clock, the template's handoff window
    and schedule need no stack of their own."""
    return local_stack


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
    now_ms = int(stack.clock.now() * 1000)
    return [
        e
        for e in store.between(now_ms - 3_600_000, now_ms + 60_000)
        if e.caller_key == caller_key and e.type is kind
    ]


def figures(stack):
    response = web.get(
        stack.endpoints["CloningMetrics"],
        headers={"X-Warmline-Secret": stack.secrets["OperatorSecret"]},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def window_seconds(stack):
    return int(stack.model.parameters["HandoffWindowSeconds"])


def sweep_after_the_window(stack, handed_off_at):
    """The stack's clock moved just past the window of a handoff made at `handed_off_at` (the
    stack's time), and the housekeeping sweep run, as its schedule would."""
    stack.clock.advance(
        max(0.0, handed_off_at + window_seconds(stack) + PAST_THE_WINDOW_S - stack.clock.now())
    )
    [sweep] = stack.scheduler.run_function("HousekeepingFunction")
    assert sweep.ok, sweep.error


def test_a_handoff_whose_re_entry_comes_is_completed_with_its_transfer_time(stack, sample):
    number = "+442079490001"
    key = register_caller(stack.describe(), number, [sample], consent="handoff test")

    outcome = caller_for(stack).call(number)
    handed_off_by = stack.clock.now()

    assert outcome.handed_off and outcome.final_voice == "cloned", outcome.timeline.lines()
    assert "(transfer leg" in outcome.timeline.entries[-1][1]
    [completed] = events_of(stack, key, EventType.HANDOFF_COMPLETED)
    # warmline's leg starts inside the check_clone request that answered and ends inside the re-entry's
    # conversation-init: within the caller's time from sending that request to the new conversation.
    assert 0 <= completed.data["transfer_ms"] <= outcome.check_ms + outcome.transfer_ms
    after = figures(stack)
    assert after["counts"]["handoffs_completed"] >= 1 and after["p50_handoff_transfer_ms"] is not None
    # Sweeps past the window do not count it lost.
    for _ in range(3):
        sweep_after_the_window(stack, handed_off_by)
    assert events_of(stack, key, EventType.HANDOFF_LOST) == []
    assert len(events_of(stack, key, EventType.HANDOFF)) == 1


def test_a_refer_the_trunk_refuses_is_a_lost_handoff_counted_by_the_sweep(stack, sample):
    number = "+442079490002"
    key = register_caller(stack.describe(), number, [sample], consent="handoff test")
    lost_before = figures(stack)["counts"]["handoffs_lost"]

    outcome = caller_for(stack, refer_answer=403).call(number)
    handed_off_by = stack.clock.now()

    assert not outcome.handed_off and outcome.final_voice == "greeting"
    assert "refused: 3CX answered the REFER 403 Forbidden" in outcome.timeline.entries[-1][1]
    assert len(events_of(stack, key, EventType.HANDOFF)) == 1
    sweep_after_the_window(stack, handed_off_by)
    [lost] = events_of(stack, key, EventType.HANDOFF_LOST)
    # Counted after the window, by the first sweep past it (and within the run's own time).
    window = window_seconds(stack)
    assert window * 1000 <= lost.data["waited_ms"] <= (window + PAST_THE_WINDOW_S + 3) * 1000
    assert figures(stack)["counts"]["handoffs_lost"] >= lost_before + 1
    log = (stack.logs_dir / "HousekeepingFunction.log").read_text()
    assert "handoff lost" in log and "refused the agent's SIP REFER" in log
    points = dashboard.parse_emf_lines(log.splitlines())
    assert sum(p.value for p in points if p.name == "HandoffsLost") >= 1
    for _ in range(3):
        sweep_after_the_window(stack, stack.clock.now())
    assert len(events_of(stack, key, EventType.HANDOFF_LOST)) == 1  # once


def test_concurrent_checks_of_one_call_count_one_handoff(stack, sample):
    number = "+442079490003"
    key = register_caller(stack.describe(), number, [sample], consent="handoff test")
    secrets = stack.secrets
    incoming = web.post(
        stack.endpoints["IncomingCall"],
        json={"caller": number, "did": "+441000000000", "call_id": "call-concurrent"},
        headers={"X-Warmline-Secret": secrets["ThreeCxSecret"]},
        timeout=10,
    )
    assert incoming.json()["job_queued"] is True
    url = stack.endpoints["CheckClone"].replace("{caller_id}", "%2B442079490003")
    answers = []
    barrier = threading.Barrier(25)
    http = web.client(timeout=30)

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
