"""A flood of requests with a wrong secret, on a local stack whose stage throttling is small: past the
burst the gateway answers 429 without invoking anything, the 401s are counted for their alarm, the
clone worker (its own concurrency) clones on as if nothing happened, and the access log holds no
phone number."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import pytest

from emulators.demo_audio import write_sample
from emulators.elevenlabs import CloneLatency
from local.stack import ACCESS_LOG, LocalStack, StackOptions
from tests.faults.conftest import Ledger
from warmline_cli.api import register_caller

RATE, BURST = 5, 10
FLOOD = 120
CALLER = "+442079020777"


@pytest.fixture(scope="module")
def throttled_stack(tmp_path_factory):
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("warmline-flood"),
        options=StackOptions(
            parameter_overrides={"ApiRateLimit": RATE, "ApiBurstLimit": BURST},
            emulator_options={"clone_latency": CloneLatency(1.0, 1.0)},
            visibility_timeout_override=4,
            # One warm webhook environment, started before the flood: a cold start under the flood
            # on a loaded machine can pass Lambda's 10 s init limit (a 500 that is not the subject).
            http_concurrency=1,
            provisioned=1,
        ),
    )
    stack.start()
    yield stack
    stack.stop()


def unauthorized_metrics(stack):
    """The UnauthorizedRequests counts in the webhook's EMF log lines."""
    total = 0
    for line in (stack.logs_dir / "WebhookFunction.log").read_text().splitlines():
        if line.startswith("{") and '"UnauthorizedRequests"' in line:
            value = json.loads(line)["UnauthorizedRequests"]
            total += sum(value) if isinstance(value, list) else value
    return total


def test_a_flood_of_401s_is_throttled_and_does_not_touch_the_clone_worker(throttled_stack, tmp_path):
    stack = throttled_stack
    key = register_caller(stack.describe(), CALLER, [write_sample(tmp_path / "s.wav", seconds=6)], "flood")
    url = stack.endpoints["IncomingCall"]
    call = {"caller": CALLER, "did": "+441000000000", "call_id": "flood"}
    answer = httpx.post(
        url, json=call, headers={"x-warmline-secret": stack.secrets["ThreeCxSecret"]}, timeout=30
    )
    assert answer.json()["job_queued"] is True
    flood_started = time.monotonic()

    with ThreadPoolExecutor(20) as pool, httpx.Client(timeout=30) as http:
        statuses = list(
            pool.map(
                lambda i: http.post(url, json=call, headers={"x-warmline-secret": f"guess-{i}"}).status_code,
                range(FLOOD),
            )
        )
    flood_seconds = time.monotonic() - flood_started

    assert set(statuses) <= {401, 429}
    let_through = statuses.count(401)
    assert statuses.count(429) > 0
    assert let_through <= BURST + RATE * flood_seconds + 1  # the other requests never reached a function
    webhook_invocations = [i for i in stack.runtime.invocations() if i["function"] == "WebhookFunction"]
    assert len(webhook_invocations) == let_through + 1
    assert unauthorized_metrics(stack) == let_through  # what ApiUnauthorizedAlarm watches

    # The worker's concurrency is its own: the clone queued before the flood is made as usual.
    [record] = Ledger(stack).settle([key], timeout_s=30)
    assert record.status.value == "READY"

    # The check-clone path holds the number; the access log names the route, never the number.
    check = stack.endpoints["CheckClone"].replace("{caller_id}", quote(CALLER, safe=""))
    time.sleep(1 / RATE)
    httpx.post(
        check,
        json={"pressed_key": "9"},
        headers={"x-warmline-secret": stack.secrets["AgentSecret"]},
        timeout=30,
    )
    lines = [json.loads(line) for line in (stack.logs_dir / ACCESS_LOG).read_text().splitlines()]
    assert {line["status"] for line in lines} >= {"200", "401", "429"}
    assert "POST /api/ivr/check-clone/{caller_id}" in {line["routeKey"] for line in lines}
    text = (stack.logs_dir / ACCESS_LOG).read_text()
    assert "2079020777" not in text and "guess-" not in text
