"""Every AWS and ElevenLabs call is bounded: explicit timeouts, standard retries only while they fit
before the invocation's deadline, and no attempt after it. An AWS endpoint that accepts connections
and never answers stands in for a slow AWS; the ElevenLabs emulator hangs on request."""

import json
import socket
import threading
import time

import botocore.exceptions
import pytest

from emulators.elevenlabs import Fault
from tests.aws_harness import LambdaContext, boto3_default_session_env, event, load_handler_module
from tests.integration.conftest import EMULATOR_API_KEY
from tests.waiting import eventually
from warmline.adapters.aws import AwsUnavailable, Deadline, DeadlineExceeded, Timeouts, bounded_client
from warmline.adapters.elevenlabs import ElevenLabsClient
from warmline.settings import Settings
from warmline.voice_provider import ProviderTimeout

CALL_PATH = Timeouts(
    Settings().aws_connect_timeout_seconds, Settings().aws_read_timeout_seconds, Settings().aws_max_attempts
)


class SilentServer:
    """Accepts TCP connections and never answers; counts them (one per attempt)."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self._took(connection)

    def _took(self, connection):
        self.connections.append(connection)  # kept open: no answer ever comes

    def close(self):
        self.socket.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


def dynamodb(monkeypatch, url, deadline):
    for name, value in boto3_default_session_env(url).items():
        monkeypatch.setenv(name, value)
    return bounded_client("dynamodb", CALL_PATH, deadline)


def get_item(client):
    client.get_item(TableName="t", Key={"pk": {"S": "x"}, "sk": {"S": "y"}})


def test_a_silent_aws_costs_the_configured_attempts_each_cut_by_its_read_timeout(monkeypatch, silent):
    client = dynamodb(monkeypatch, silent.url, Deadline())
    started = time.monotonic()

    with pytest.raises(AwsUnavailable) as raised:
        get_item(client)

    assert isinstance(raised.value.__cause__, botocore.exceptions.ReadTimeoutError)
    assert len(silent.connections) == CALL_PATH.max_attempts == 2
    # Two attempts of at most 1 s and one backoff pause of at most 1 s, where botocore's defaults
    # would wait 60 s per attempt.
    assert time.monotonic() - started < 10


def test_no_retry_is_made_that_cannot_finish_before_the_deadline(monkeypatch, silent):
    deadline = Deadline()
    client = dynamodb(monkeypatch, silent.url, deadline)
    # Room for one attempt and a half: the half is slack for a busy machine before the first attempt
    # goes out; once its read timeout has passed, less than a whole attempt is left for a retry.
    deadline.start(CALL_PATH.attempt_seconds * 1.5)

    with pytest.raises(AwsUnavailable):
        get_item(client)

    assert eventually(lambda: len(silent.connections), within=1, what="the attempt accepted") == 1


def test_no_attempt_starts_after_the_deadline(monkeypatch, silent):
    deadline = Deadline()
    client = dynamodb(monkeypatch, silent.url, deadline)
    deadline.start(-0.01)

    with pytest.raises(DeadlineExceeded):
        get_item(client)

    time.sleep(0.1)
    assert silent.connections == []


def test_the_webhook_answers_503_before_its_timeout_when_sqs_hangs(stack, silent):
    webhook = load_handler_module("webhook")
    stack.register_caller("+442079460000")
    timeout_s = stack.model.functions["WebhookFunction"].timeout
    started = time.monotonic()

    with stack.function_env("WebhookFunction", AWS_ENDPOINT_URL_SQS=silent.url):
        response = webhook.lambda_handler(event("incoming_call.json"), LambdaContext("webhook", timeout_s))

    assert time.monotonic() - started < timeout_s
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"] in ("queue_unavailable", "timeout")
    # Removed again, or (the deadline spent on the hung queue) left unconfirmed to lapse with the greeting.
    greeting_ends = int(time.time()) + stack.model.parameters["GreetingTimeoutSeconds"]
    for left in (item for item in stack.table_items() if item["sk"]["S"] == "CLONE"):
        assert left["status"]["S"] == "PENDING"
        assert int(left["expires_at"]["N"]) <= greeting_ends


def test_elevenlabs_requests_end_at_the_deadline(emulator):
    emulator.inject(Fault(method="GET", path_prefix="/v2/voices", kind="hang", seconds=5, count=1))
    deadline = Deadline()
    client = ElevenLabsClient(EMULATOR_API_KEY, emulator.base_url, timeout_seconds=10, deadline=deadline)
    deadline.start(0.5)
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        client.list_voices()
    assert time.monotonic() - started < 3  # not the client's 10 s, nor the emulator's 5 s hang

    time.sleep(0.6)
    with pytest.raises(ProviderTimeout, match="no time left"):
        client.get_subscription()


class DynamoLeavingItemsOut:
    """DynamoDB under write pressure: every BatchWriteItem leaves its items unprocessed."""

    def __init__(self):
        self.requests = 0

    def batch_write_item(self, RequestItems):
        self.requests += 1
        return {"UnprocessedItems": RequestItems}


def test_the_pauses_between_unprocessed_batch_writes_end_at_the_deadline():
    from warmline.adapters.dynamodb import DynamoEventStore
    from warmline.events import Event, EventType

    dynamodb, deadline = DynamoLeavingItemsOut(), Deadline()
    deadline.start(0.2)
    store = DynamoEventStore(dynamodb, "table", 60, deadline=deadline)
    started = time.monotonic()

    with pytest.raises(DeadlineExceeded):
        store.record(Event(EventType.IVR_CHECK, 1, "ck_" + "a" * 32))
    # The pauses double from 50 ms; none is slept that would end past the deadline.
    assert time.monotonic() - started < 0.25 and dynamodb.requests < 5
