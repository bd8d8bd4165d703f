import logging
import os

import pytest
from moto.server import ThreadedMotoServer

from emulators.elevenlabs import CloneLatency, Emulator
from local import moto_dynamodb, moto_routing
from tests.aws_harness import AwsResources, boto3_default_session_env, load_handler_module

EMULATOR_API_KEY = "sk_test_emulator_key_0123456789"


@pytest.fixture(scope="session")
def moto_endpoint():
    moto_dynamodb.install()  # transactions as DynamoDB runs them (the local stack's moto has it too)
    moto_routing.install()
    # Port 0: the system picks a free port, so parallel test workers never race for one.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a log line per request
    server.start()
    host, port = server.get_host_and_port()
    saved = dict(os.environ)
    os.environ.update(boto3_default_session_env(f"http://{host}:{port}"))
    # Each test starts with empty queues (AwsResources.empty): let it purge more than once a minute.
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"
    yield f"http://{host}:{port}"
    os.environ.clear()
    os.environ.update(saved)
    server.stop()


@pytest.fixture(scope="session")
def emulator():
    with Emulator(EMULATOR_API_KEY, clone_latency=CloneLatency.instant()) as running:
        yield running


@pytest.fixture(scope="session")
def aws_resources(moto_endpoint, emulator):
    """The template's resources, created once per session (per test worker)."""
    return AwsResources.create(moto_endpoint, emulator.base_url, EMULATOR_API_KEY)


@pytest.fixture
def stack(aws_resources, emulator):
    """The template's stack with nothing in it: resources emptied, emulator reset."""
    emulator.reset()
    return aws_resources.fresh_stack()


@pytest.fixture
def stack_with(aws_resources, emulator):
    """A stack with these template parameters (GreetingMode="outbound", say), emptied as `stack` is."""

    def build(**parameters):
        emulator.reset()
        return aws_resources.fresh_stack(**parameters)

    return build


@pytest.fixture(scope="module")
def webhook():
    """The webhook function's handler module, loaded once per test module."""
    return load_handler_module("webhook")


@pytest.fixture(scope="module")
def ivr():
    """The check-clone function's handler module, loaded once per test module."""
    return load_handler_module("ivr_check")
