"""A slow or unreachable AWS service never makes a route answer 500 (docs/api.md, "Time budgets").

DynamoDB stands behind a loopback server that accepts and never answers (botocore:
ReadTimeoutError), one that accepts and hangs up (ConnectionClosedError), a port nobody listens on
(EndpointConnectionError), or a server that answers every request with a 500 or a throttle; Secrets
Manager and SQS stay on moto unless the test says otherwise. The attempts are short (0.2 s, one
attempt), so no test waits long. The 3CX webhook, check_clone and the metrics endpoint answer 503
`timeout`; conversation-init answers 200 with the default answer.
"""

import json
import secrets
import socket
import time

import pytest

from local.relay import Relay
from tests.answering_server import AnsweringServer
from tests.aws_harness import LambdaContext, event, load_handler_module
from tests.integration.test_bounded_waits import SilentServer
from tests.integration.test_edge_origin import with_headers
from warmline.adapters.dynamodb import DynamoAgentVariables
from warmline.http import ORIGIN_HEADER
from warmline_cli.agent_setup import DYNAMIC_VARIABLES

SHORT_ATTEMPTS = {
    "AWS_CONNECT_TIMEOUT_SECONDS": "0.2",
    "AWS_READ_TIMEOUT_SECONDS": "0.2",
    "AWS_MAX_ATTEMPTS": "1",
}
# AWS going away between two requests (aws_relay): the refused connection fails at once whatever
# the timeouts, so the requests before it keep the default ones (a busy machine's moto can take
# longer than SHORT_ATTEMPTS' 0.2 s to answer them).
ONE_ATTEMPT = {"AWS_MAX_ATTEMPTS": "1"}
CALLER = "+442079460000"  # the number in events/*.json


class HangingUpServer(SilentServer):
    """Accepts TCP connections, reads the request and closes without an answer."""

    def _took(self, connection):
        connection.recv(65536)
        connection.close()


class RefusingPort:
    """A loopback port nothing listens on: every connection is refused."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    def close(self):
        """Nothing listens, so nothing to stop."""


def failing_server(status: int, code: str) -> AnsweringServer:
    """Answers every request with this AWS error, as DynamoDB and Secrets Manager (JSON protocols) do
    when they fail inside or throttle."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code}).encode()
    return AnsweringServer(lambda _path: (status, "application/x-amz-json-1.0", body))


BROKEN = {
    "silent": SilentServer,  # ReadTimeoutError
    "hangs-up": HangingUpServer,  # ConnectionClosedError
    "refused": RefusingPort,  # EndpointConnectionError
    "failing": lambda: failing_server(500, "InternalServerError"),
    "throttling": lambda: failing_server(400, "ProvisionedThroughputExceededException"),
}


@pytest.fixture(params=list(BROKEN))
def broken_aws(request):
    server = BROKEN[request.param]()
    yield server
    server.close()


def call(module, stack, function, ev, **env):
    with stack.function_env(function, **SHORT_ATTEMPTS, **env):
        response = module.lambda_handler(ev, LambdaContext(function, 10))
    return response["statusCode"], json.loads(response["body"])


def assert_timeout_answer(status, body):
    assert status == 503, body
    assert body["error"] == "timeout"
    assert "Traceback" not in body["message"] and "127.0.0.1" not in body["message"]


def test_the_3cx_webhook_answers_503_when_dynamodb_is_slow_or_unreachable(webhook, stack, broken_aws):
    stack.register_caller(CALLER)
    env = {"AWS_ENDPOINT_URL_DYNAMODB": broken_aws.url}

    assert_timeout_answer(*call(webhook, stack, "WebhookFunction", event("incoming_call.json"), **env))
    assert stack.queued_messages() == []  # no job queued for a call nothing was written for


def test_check_clone_answers_503_when_dynamodb_is_slow_or_unreachable(ivr, stack, broken_aws):
    stack.register_caller(CALLER)
    env = {"AWS_ENDPOINT_URL_DYNAMODB": broken_aws.url}

    assert_timeout_answer(*call(ivr, stack, "IvrCheckFunction", event("check_clone.json"), **env))


def test_the_metrics_endpoint_answers_503_when_dynamodb_is_slow_or_unreachable(ivr, stack, broken_aws):
    env = {"AWS_ENDPOINT_URL_DYNAMODB": broken_aws.url}

    assert_timeout_answer(*call(ivr, stack, "IvrCheckFunction", event("cloning_metrics.json"), **env))


def test_conversation_init_answers_the_default_answer_when_dynamodb_is_slow(webhook, stack, broken_aws):
    stack.register_caller(CALLER)
    env = {"AWS_ENDPOINT_URL_DYNAMODB": broken_aws.url}

    status, answer = call(webhook, stack, "WebhookFunction", event("conversation_init.json"), **env)

    assert status == 200, answer
    assert answer["type"] == "conversation_initiation_client_data"
    assert set(answer["dynamic_variables"]) == set(DYNAMIC_VARIABLES)
    assert answer["dynamic_variables"]["warmline_clone_status"] == "unavailable"
    # The agent's own voice and first message: nothing is known of this caller's clone.
    assert answer["conversation_config_override"] == {}


@pytest.mark.parametrize(
    "function, module, name",
    [
        ("WebhookFunction", "webhook", "incoming_call.json"),
        ("WebhookFunction", "webhook", "conversation_init.json"),
        ("IvrCheckFunction", "ivr", "check_clone.json"),
    ],
)
def test_the_secret_check_answers_503_when_secrets_manager_is_unreachable(
    webhook, ivr, stack, broken_aws, function, module, name
):
    env = {"AWS_ENDPOINT_URL_SECRETS_MANAGER": broken_aws.url}
    handler = {"webhook": webhook, "ivr": ivr}[module]

    assert_timeout_answer(*call(handler, stack, function, event(name), **env))


@pytest.fixture
def aws_relay(stack):
    """A loopback relay to moto that a test can take down: AWS going away between two requests."""
    relay = Relay("127.0.0.1", int(stack.endpoint_url.rsplit(":", 1)[1]))
    relay.url = relay.start()
    yield relay
    relay.stop()


def test_conversation_init_keeps_the_agents_own_variables_when_dynamodb_goes_away(webhook, stack, aws_relay):
    agent_variables = {"customer_name": "", "branch": "main office"}
    DynamoAgentVariables(stack.client("dynamodb"), stack.table).record("agent_7101k", agent_variables, 0)
    ev = event("conversation_init.json")  # agent_7101k's conversation
    context = LambdaContext("WebhookFunction", 10)

    with stack.function_env("WebhookFunction", **ONE_ATTEMPT, AWS_ENDPOINT_URL_DYNAMODB=aws_relay.url):
        assert webhook.lambda_handler(ev, context)["statusCode"] == 200
        aws_relay.stop()
        response = webhook.lambda_handler(ev, context)

    answer = json.loads(response["body"])
    assert response["statusCode"] == 200, answer
    assert answer["dynamic_variables"] == {**DYNAMIC_VARIABLES, **agent_variables} | {
        "warmline_clone_status": "unavailable"
    }


def test_the_origin_secret_is_read_at_init_so_a_secrets_manager_outage_later_fails_nothing(stack, aws_relay):
    origin = "origin-" + secrets.token_hex(8)
    stack.client("secretsmanager").create_secret(Name="edge-origin-slow-aws", SecretString=origin)
    env = {
        **ONE_ATTEMPT,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws_relay.url,
        "EDGE_ORIGIN_SECRET_NAME": "edge-origin-slow-aws",
        "AWS_LAMBDA_FUNCTION_NAME": "test-WebhookFunction",  # the module's warm-up runs, as in Lambda
    }
    ev = event("incoming_call.json")
    ev["headers"] = {**ev["headers"], ORIGIN_HEADER: origin}

    with stack.function_env("WebhookFunction", **env):
        webhook = load_handler_module("webhook")  # its init: the warm-up reads the secrets
        aws_relay.stop()
        response = webhook.lambda_handler(ev, LambdaContext("WebhookFunction", 10))

    assert response["statusCode"] == 200, response["body"]


def test_a_secret_whose_cache_expired_is_used_while_secrets_manager_does_not_answer(ivr, stack, aws_relay):
    env = {"AWS_ENDPOINT_URL_SECRETS_MANAGER": aws_relay.url, "SECRET_CACHE_SECONDS": "0"}
    stack.register_caller(CALLER)
    context = LambdaContext("IvrCheckFunction", 10)

    with stack.function_env("IvrCheckFunction", **ONE_ATTEMPT, **env):
        assert ivr.lambda_handler(event("check_clone.json"), context)["statusCode"] == 200
        aws_relay.stop()
        answer = ivr.lambda_handler(event("check_clone.json"), context)
        wrong = with_headers(event("check_clone.json"), **{"x-warmline-secret": "not-the-secret"})
        refused = ivr.lambda_handler(wrong, context)

    assert answer["statusCode"] == 200, answer["body"]
    assert refused["statusCode"] == 401, refused["body"]  # checked against the value it has


def test_the_3cx_webhook_answers_at_once_when_lambda_does_not_take_the_warm_up(webhook, stack, broken_aws):
    stack.register_caller(CALLER)
    env = {"AWS_ENDPOINT_URL_LAMBDA": broken_aws.url, "CHECK_CLONE_FUNCTION_NAME": "test-IvrCheck:live"}
    started = time.monotonic()

    status, answer = call(webhook, stack, "WebhookFunction", event("incoming_call.json"), **env)

    assert (status, answer["job_queued"]) == (200, True), answer
    # Inside the webhook's 3 s timeout: the warm-up makes one short attempt (WARM_UP_TIMEOUTS).
    assert time.monotonic() - started < stack.model.functions["WebhookFunction"].timeout
    assert stack.queued_messages(wait_s=1)
