"""The incoming-call webhook warms an execution environment of check_clone before the caller presses 1
(issue 23 §2): on a stack that reclaims idle environments, as Lambda does at low traffic, the press
lands on a warm environment, not on a cold start.

The environments are reclaimed after 0.4 s idle here (Lambda: minutes); the press follows the warm-up
at once, as a caller's press follows the greeting's seconds.
"""

import json
import time

import boto3
import httpx
import pytest

from local.stack import LocalStack, StackOptions
from tests import web
from warmline.prewarm import WARM_UP_EVENT, WARMED
from warmline_cli.api import register_caller

IDLE_RECLAIM_SECONDS = 0.4
CHECK_CLONE = "IvrCheckFunction"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-warm-up"),
        options=StackOptions(
            parameter_overrides={"DefaultCountryCode": "44"},
            idle_reclaim_seconds=IDLE_RECLAIM_SECONDS,
        ),
    )
    stack.start()
    yield stack
    stack.stop()


def _incoming(state, number: str, call_id: str) -> httpx.Response:
    return web.post(
        state["endpoints"]["IncomingCall"],
        json={"caller": number, "did": "+442071234567", "call_id": call_id},
        headers={"X-Warmline-Secret": state["secrets"]["ThreeCxSecret"]},
        timeout=30,
    )


def _press(state, number: str) -> httpx.Response:
    url = state["endpoints"]["CheckClone"].replace("{caller_id}", number.replace("+", "%2B"))
    return web.post(
        url,
        json={"pressed_key": "1", "conversation_id": "conv_warm_up"},
        headers={"X-Warmline-Secret": state["secrets"]["AgentSecret"]},
        timeout=30,
    )


def _check_clone_invocations(stack) -> list[dict]:
    return [record for record in stack.runtime.invocations() if record["function"] == CHECK_CLONE]


def _until(condition, timeout_s: float = 15.0):
    """Polls (every 20 ms) until `condition()` is truthy; its last value."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def test_the_first_check_clone_after_the_webhook_lands_on_a_warm_environment(stack, sample):
    state = stack.describe()
    number = "+442079465100"
    register_caller(state, number, [sample], consent="e2e test")
    # An environment of check_clone that served an earlier caller, then idled past the reclaim.
    assert _press(state, "+442079465199").status_code == 200
    time.sleep(IDLE_RECLAIM_SECONDS + 0.2)
    before = len(_check_clone_invocations(stack))

    answered = _incoming(state, number, "call-warm-up-1")

    assert answered.status_code == 200 and answered.json()["clone_status"] == "pending"
    warm_up = _until(lambda: _check_clone_invocations(stack)[before:])
    assert len(warm_up) == 1 and warm_up[0]["error"] is None, "the webhook warmed check_clone once"
    assert warm_up[0]["asynchronous"] and warm_up[0]["duration_ms"] < 5, "a warm-up that does no work"
    assert _press(state, number).status_code == 200
    [pressed] = _check_clone_invocations(stack)[before + 1 :]
    assert pressed["cold"] is False, "the caller's press met a cold start"
    assert pressed["pid"] == warm_up[0]["pid"]


def test_a_caller_who_will_not_press_costs_no_warm_up(stack):
    state = stack.describe()
    asked = stack.lambda_api.stats()["invocations"]
    before = len(_check_clone_invocations(stack))

    answered = _incoming(state, "+442079465101", "call-warm-up-2")  # no sample: the default voice

    assert answered.status_code == 200 and answered.json()["clone_status"] == "no_sample"
    more = _until(lambda: stack.lambda_api.stats()["invocations"] != asked, timeout_s=0.3)
    assert not more and len(_check_clone_invocations(stack)) == before


def test_the_local_lambda_api_answers_as_lambda_does_through_boto3(stack):
    lambda_ = boto3.client(
        "lambda",
        endpoint_url=stack.lambda_api_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = stack.model.functions[CHECK_CLONE].name
    payload = json.dumps(WARM_UP_EVENT).encode()

    answered = lambda_.invoke(FunctionName=f"{name}:live", Payload=payload)
    assert json.loads(answered["Payload"].read()) == WARMED
    dry = lambda_.invoke(FunctionName=name, InvocationType="DryRun", Payload=payload)
    assert dry["StatusCode"] == 204
    for unknown in (f"{name}:other", f"{name}-missing"):
        with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
            lambda_.invoke(FunctionName=unknown, InvocationType="Event", Payload=payload)
