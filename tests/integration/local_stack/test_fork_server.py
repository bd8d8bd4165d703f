"""local/fork_server.py: an execution environment forked from a process that imported the functions'
packages once is the environment the template describes, and ends as a process does."""

import os
import signal

import pytest

from local import template
from local.fork_server import PRELOAD_VARIABLE, ForkServer
from local.lambda_runtime import LambdaRuntime

from .conftest import FIXTURE_TEMPLATE


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv(PRELOAD_VARIABLE, "1")
    functions = template.load(FIXTURE_TEMPLATE).functions
    running = LambdaRuntime({"EchoFunction": functions["EchoFunction"]}, tmp_path / "logs")
    yield running
    running.stop()


def test_an_environment_is_a_child_of_the_fork_server(runtime):
    invocation = runtime.invoke("EchoFunction", {"rawPath": "/echo"})

    assert invocation.ok and invocation.cold
    with open(f"/proc/{invocation.pid}/stat") as stat:
        parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    assert parent == ForkServer.shared().process.pid
    with open(f"/proc/{ForkServer.shared().process.pid}/cmdline", "rb") as cmdline:
        assert b"fork_server.py" in cmdline.read()


def test_a_killed_environment_reports_its_signal_as_a_process_would(runtime):
    first = runtime.invoke("EchoFunction", {"rawPath": "/echo"})
    [environment] = runtime.pools["EchoFunction"].idle

    os.kill(first.pid, signal.SIGKILL)

    assert environment.process.wait(timeout=5) == -signal.SIGKILL
    failed = runtime.invoke("EchoFunction", {"rawPath": "/echo"})
    assert failed.error["errorType"] == "Runtime.ExitError"
    again = runtime.invoke("EchoFunction", {"rawPath": "/echo"})
    assert again.ok and again.cold and again.pid != first.pid
