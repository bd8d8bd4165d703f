"""local/fork_server.py: an execution environment forked from a process that imported the functions'
packages once is the environment the template describes, a forked moto is the stack's own moto,
and each ends as a process does."""

import os
import signal

import pytest

from local import aws, template
from local.fork_server import LAMBDA, MOTO, PRELOAD_VARIABLE, ForkServer
from local.lambda_runtime import LambdaRuntime

from .conftest import FIXTURE_TEMPLATE


def echo_runtime(log_dir):
    return LambdaRuntime({"EchoFunction": template.load(FIXTURE_TEMPLATE).functions["EchoFunction"]}, log_dir)


def _parent_of(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv(PRELOAD_VARIABLE, "1")
    running = echo_runtime(tmp_path / "logs")
    yield running
    running.stop()


def test_an_environment_is_a_child_of_the_fork_server(runtime):
    invocation = runtime.invoke("EchoFunction", {"rawPath": "/echo"})

    assert invocation.ok and invocation.cold
    assert _parent_of(invocation.pid) == ForkServer.shared(LAMBDA).process.pid
    with open(f"/proc/{ForkServer.shared(LAMBDA).process.pid}/cmdline", "rb") as cmdline:
        assert b"fork_server.py" in cmdline.read()


def test_an_environment_makes_its_clients_from_the_botocore_data_the_fork_server_read(
    runtime, monkeypatch, tmp_path
):
    forked = runtime.invoke("EchoFunction", {"rawPath": "/echo", "queryStringParameters": {"client": "1"}})
    monkeypatch.delenv(PRELOAD_VARIABLE)
    started = echo_runtime(tmp_path / "new-logs")
    try:
        new = started.invoke("EchoFunction", {"rawPath": "/echo", "queryStringParameters": {"client": "1"}})
    finally:
        started.stop()

    assert new.result["files_read"] > 0  # a new interpreter reads the model files itself
    assert forked.result == {"files_read": 0, "region": new.result["region"]}


def test_a_killed_environment_reports_its_signal_as_a_process_would(runtime):
    first = runtime.invoke("EchoFunction", {"rawPath": "/echo"})
    [environment] = runtime.pools["EchoFunction"].idle

    os.kill(first.pid, signal.SIGKILL)

    assert environment.process.wait(timeout=5) == -signal.SIGKILL
    failed = runtime.invoke("EchoFunction", {"rawPath": "/echo"})
    assert failed.error["errorType"] == "Runtime.ExitError"
    again = runtime.invoke("EchoFunction", {"rawPath": "/echo"})
    assert again.ok and again.cold and again.pid != first.pid


def test_a_forked_moto_serves_its_own_resources_and_ends_on_stop(tmp_path, monkeypatch):
    monkeypatch.setenv(PRELOAD_VARIABLE, "1")
    servers = [aws.MotoServer(tmp_path / f"moto-{n}.log") for n in range(2)]
    urls = [server.start() for server in servers]
    try:
        for number, url in enumerate(urls):
            assert _parent_of(servers[number].pid) == ForkServer.shared(MOTO).process.pid
            aws.client("sqs", url).create_queue(QueueName=f"only-in-{number}")
        for number, url in enumerate(urls):
            listed = aws.client("sqs", url).list_queues()["QueueUrls"]
            assert [queue.rsplit("/", 1)[1] for queue in listed] == [f"only-in-{number}"]
    finally:
        processes = [server.process for server in servers]
        for server in servers:
            server.stop()
    assert [process.wait(timeout=5) for process in processes] == [0, 0]  # SIGTERM: moto's clean exit
