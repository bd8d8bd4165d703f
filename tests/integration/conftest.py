import os

import pytest
from moto.server import ThreadedMotoServer

from local import moto_dynamodb
from local.aws import free_port
from local.elevenlabs_emulator import CloneLatency, Emulator
from tests.aws_harness import boto3_default_session_env, build_stack

EMULATOR_API_KEY = "sk_test_emulator_key_0123456789"


@pytest.fixture(scope="session")
def moto_endpoint():
    moto_dynamodb.install()  # transactions as DynamoDB runs them (the local stack's moto has it too)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = dict(os.environ)
    os.environ.update(boto3_default_session_env(f"http://127.0.0.1:{port}"))
    yield f"http://127.0.0.1:{port}"
    os.environ.clear()
    os.environ.update(saved)
    server.stop()


@pytest.fixture(scope="session")
def emulator():
    with Emulator(EMULATOR_API_KEY, clone_latency=CloneLatency.instant()) as running:
        yield running


@pytest.fixture
def stack(moto_endpoint, emulator):
    emulator.reset()
    return build_stack(moto_endpoint, emulator.base_url, EMULATOR_API_KEY)


@pytest.fixture
def stack_with(moto_endpoint, emulator):
    """A stack built with these template parameters (GreetingMode="outbound", say)."""

    def build(**parameters):
        emulator.reset()
        return build_stack(moto_endpoint, emulator.base_url, EMULATOR_API_KEY, **parameters)

    return build
