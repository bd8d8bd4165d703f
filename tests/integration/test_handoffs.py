"""Handoffs through the real handlers against moto and the emulator, on a clock the test controls: a
call's handoff is counted once however many checks race, completed by the re-entry's
conversation-init with its transfer time, or counted lost by the housekeeping sweep."""

import json
import threading

import pytest

from local import dashboard
from tests.aws_harness import LambdaContext, event, load_handler_module, with_body
from tests.integration.test_handlers import run_worker
from tests.integration.test_observability import get_metrics, log_output  # noqa: F401 (a fixture)
from warmline.adapters.dynamodb import DynamoEventStore
from warmline.events import EventType

CALLER = "+442079460000"  # the number in events/*.json
START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class ManualClock:
    """A clock the test moves; a wait (the IVR's polls) moves it too."""

    def __init__(self) -> None:
        self.time = START
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.time += seconds

    advance = sleep


@pytest.fixture(scope="module")
def handlers():
    return {
        name: load_handler_module(name) for name in ("webhook", "clone_worker", "ivr_check", "housekeeping")
    }


@pytest.fixture
def clock(stack):
    stack.clock = ManualClock()
    return stack.clock


@pytest.fixture
def ready_call(handlers, stack, clock):
    """A caller's call through 3CX, the greeting's conversation, and their clone made."""
    stack.register_caller(CALLER)
    invoke(handlers["webhook"], stack, "WebhookFunction", event("incoming_call.json"))
    invoke(handlers["webhook"], stack, "WebhookFunction", event("conversation_init.json"))
    with stack.function_env("CloneWorkerFunction"):
        run_worker(handlers["clone_worker"], stack)


def invoke(module, stack, function, ev, timeout=16):
    with stack.function_env(function):
        response = module.lambda_handler(ev, LambdaContext(function, timeout))
    return json.loads(response["body"]) if "body" in response else response


def press_one(handlers, stack, conversation_id="conv_greeting"):
    body = with_body(event("check_clone.json"), {"pressed_key": "1", "conversation_id": conversation_id})
    return invoke(handlers["ivr_check"], stack, "IvrCheckFunction", body)


def stored_events(stack, kind):
    store = DynamoEventStore(stack.client("dynamodb"), stack.table, 60)
    return [
        e
        for e in store.between(int(START * 1000) - 3_600_000, int(START * 1000) + 86_400_000)
        if e.type is kind
    ]


def emitted(capsys, name):
    points = dashboard.parse_emf_lines(capsys.readouterr().out.splitlines())
    return [point.value for point in points if point.name == name]


def test_the_re_entry_completes_the_handoff_with_its_transfer_time(
    handlers, stack, clock, ready_call, capsys
):
    capsys.readouterr()
    assert press_one(handlers, stack)["next_action"] == "transfer_to_agent"
    assert emitted(capsys, "Handoffs") == [1]
    clock.advance(2.5)  # the REFER, 3CX's routing and the new INVITE

    init = invoke(handlers["webhook"], stack, "WebhookFunction", event("conversation_init.json"))

    assert init["dynamic_variables"]["warmline_mode"] == "cloned"
    assert (
        init["conversation_config_override"]["agent"]["first_message"]
        == "Thanks for waiting. How can I help you today?"
    )
    points = dashboard.parse_emf_lines(capsys.readouterr().out.splitlines())
    assert {p.name: p.value for p in points if p.name.startswith("Handoff")} == {
        "HandoffsCompleted": 1,
        "HandoffTransferTime": 2500,
    }
    [completed] = stored_events(stack, EventType.HANDOFF_COMPLETED)
    assert completed.data["transfer_ms"] == 2500 and completed.data["caller_id"] == "passed"
    # The sweep, however late, finds nothing to count as lost.
    clock.advance(3600)
    assert invoke(handlers["housekeeping"], stack, "HousekeepingFunction", event("scheduled.json"))["sweeps"][
        "handoffs"
    ] == {
        "overdue": 0,
        "lost": 0,
        "completed_meanwhile": 0,
        "left_for_next_run": 0,
        "completed_by_agent_transfer": 0,
    }
    _, figures = get_metrics(handlers, stack)
    assert (figures["counts"]["handoffs"], figures["counts"]["handoffs_completed"]) == (1, 1)
    assert figures["counts"]["handoffs_lost"] == 0
    assert figures["p50_handoff_transfer_ms"] == figures["p95_handoff_transfer_ms"] == 2500


def test_a_handoff_whose_re_entry_never_comes_is_counted_lost_once(
    handlers,
    stack,
    clock,
    ready_call,
    capsys,
    log_output,  # noqa: F811 (the fixture)
):
    press_one(handlers, stack)
    clock.advance(29)
    early = invoke(handlers["housekeeping"], stack, "HousekeepingFunction", event("scheduled.json"))
    clock.advance(2)  # past the 30 s window
    capsys.readouterr()

    run = invoke(handlers["housekeeping"], stack, "HousekeepingFunction", event("scheduled.json"))
    again = invoke(handlers["housekeeping"], stack, "HousekeepingFunction", event("scheduled.json"))

    assert early["sweeps"]["handoffs"]["lost"] == 0
    assert (run["sweeps"]["handoffs"]["lost"], again["sweeps"]["handoffs"]["lost"]) == (1, 0)
    assert emitted(capsys, "HandoffsLost") == [1, 0]
    [lost] = stored_events(stack, EventType.HANDOFF_LOST)
    assert lost.data["waited_ms"] == 31_000 and lost.data["greeting_conversation_id"] == "conv_greeting"
    assert lost.data["threecx_call_id"] == "00000000-01dc-27dd-cc8a-799100000029"
    [warning] = [json.loads(line) for line in log_output.getvalue().splitlines() if "handoff lost" in line]
    assert warning["level"] == "WARNING" and "refused the agent's SIP REFER" in warning["message"]
    assert "Refer-To" in warning["message"] and "caller ID was not passed through" in warning["message"]
    # A re-entry after the window is no completion: the caller got the clone, the handoff stays lost.
    init = invoke(handlers["webhook"], stack, "WebhookFunction", event("conversation_init.json"))
    assert init["dynamic_variables"]["warmline_mode"] == "cloned"
    assert stored_events(stack, EventType.HANDOFF_COMPLETED) == []
    clock.advance(1)  # the metrics window ends now, exclusive
    _, figures = get_metrics(handlers, stack)
    assert (figures["counts"]["handoffs"], figures["counts"]["handoffs_lost"]) == (1, 1)
    assert figures["p50_handoff_transfer_ms"] is None


def test_concurrent_checks_of_one_call_count_one_handoff(handlers, stack, clock, ready_call):
    answers = []
    barrier = threading.Barrier(25)

    def press():
        barrier.wait()
        response = handlers["ivr_check"].lambda_handler(
            with_body(event("check_clone.json"), {"pressed_key": "1", "conversation_id": "conv_greeting"}),
            LambdaContext("IvrCheckFunction", 16),
        )
        answers.append(json.loads(response["body"]))

    with stack.function_env("IvrCheckFunction"):
        threads = [threading.Thread(target=press) for _ in range(25)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert [a["next_action"] for a in answers] == ["transfer_to_agent"] * 25
    assert len(stored_events(stack, EventType.HANDOFF)) == 1
    assert len(stored_events(stack, EventType.IVR_CHECK)) == 25
    clock.advance(1)
    _, figures = get_metrics(handlers, stack)
    assert figures["counts"]["handoffs"] == 1
    # A later call of the same caller is a handoff of its own.
    clock.advance(120)
    second_call = with_body(event("incoming_call.json"), {"caller": CALLER, "call_id": "call-2"})
    assert invoke(handlers["webhook"], stack, "WebhookFunction", second_call)["voice"] == "cloned"
    assert press_one(handlers, stack, "conv_2")["next_action"] == "transfer_to_agent"
    assert len(stored_events(stack, EventType.HANDOFF)) == 2
