"""Execution environments forked from one process that imported the functions' packages once.

The test suite starts some 150 execution environments; importing boto3, Powertools and pydantic is
most of each one's cold start (about 0.3 s of CPU). With `WARMLINE_LOCAL_PRELOAD=1` (the tests' conftest
sets it) an environment is a fork of this server instead of a new interpreter: the same code,
handler and environment variables, without that CPU. Cold starts measured this way are short of
Lambda's, so `make bench` and `make demo` never set it.

Run as a script, this file is the server: the standard library only, like the environment's side of
local/lambda_runtime.py, which each forked child runs. One request, one SOCK_SEQPACKET message: the
environment as JSON and the environment's end of its socket pair; the answer: the child's pid, and
the read end of a pipe that receives the child's exit code when it ends.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

PRELOAD_VARIABLE = "WARMLINE_LOCAL_PRELOAD"
PRELOADED = (
    "boto3",
    "botocore.config",
    "botocore.retries.standard",
    "pydantic",
    "httpx",
    "phonenumbers",
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes.sqs_event",
)
_MESSAGE_BYTES = 1 << 20


def preload_requested() -> bool:
    return os.environ.get(PRELOAD_VARIABLE) == "1"


# --- the stack's side ---------------------------------------------------------------------------


class ForkedEnvironment:
    """An environment's process as `subprocess.Popen` offers it to local/lambda_runtime.py."""

    def __init__(self, pid: int, status_fd: int):
        self.pid = pid
        self.returncode: int | None = None
        self._status = os.fdopen(status_fd, "rb")

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            ready, _, _ = select.select([self._status], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(f"execution environment {self.pid}", timeout or 0)
            self.returncode = int(self._status.read() or -signal.SIGKILL)
            self._status.close()
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None and not select.select([self._status], [], [], 0)[0]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class ForkServer:
    """The server process, started on first use and shared by every stack in this process."""

    _lock = threading.Lock()
    _running: ForkServer | None = None

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-u", __file__, str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self.socket = ours

    @classmethod
    def shared(cls) -> ForkServer:
        with cls._lock:
            if cls._running is None or cls._running.process.poll() is not None:
                cls._running = cls()
                atexit.register(cls._running.stop)
            return cls._running

    def stop(self) -> None:
        """Close the server's socket: it exits, and is waited for (its children's CPU is counted)."""
        self.socket.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def fork(self, request: dict[str, Any]) -> ForkedEnvironment:
        """A child serving `request["config"]`, whose `fd` is the environment's end of its socket pair."""
        with self._lock:
            socket.send_fds(self.socket, [json.dumps(request).encode()], [request["config"]["fd"]])
            answer, fds, _, _ = socket.recv_fds(self.socket, _MESSAGE_BYTES, 1)
        if not answer:
            raise OSError("the fork server exited")
        return ForkedEnvironment(json.loads(answer)["pid"], fds[0])


# --- the server's side --------------------------------------------------------------------------


def _child(request: dict[str, Any], environment_fd: int) -> None:
    """In the forked child: become the environment the request describes, then serve it."""
    os.environ.clear()
    os.environ.update(request["environment"])
    time.tzset()
    os.chdir(request["cwd"])
    log = os.open(request["log_path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    import lambda_runtime

    lambda_runtime.serve_environment(request["config"] | {"fd": environment_fd})


def _serve(control_fd: int) -> None:
    for name in PRELOADED:
        with contextlib.suppress(ImportError):  # a package no function here needs
            importlib.import_module(name)
    sys.path.insert(0, str(Path(__file__).parent))
    importlib.import_module("lambda_runtime")  # what each child runs (the standard library only)
    sys.path.pop(0)
    control = socket.socket(fileno=control_fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    status_pipes: dict[int, int] = {}
    while True:
        ready, _, _ = select.select([control, wake_read], [], [])
        if wake_read in ready:
            os.read(wake_read, 4096)
            _report_exits(status_pipes)
        if control in ready:
            message, fds, _, _ = socket.recv_fds(control, _MESSAGE_BYTES, 1)
            if not message:
                return  # the stack's process closed its end, or exited
            _fork_one(control, json.loads(message), fds[0], status_pipes, (wake_read, wake_write))


def _fork_one(
    control: socket.socket,
    request: dict[str, Any],
    environment_fd: int,
    status_pipes: dict[int, int],
    wake: tuple[int, int],
) -> None:
    status_read, status_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (control.fileno(), status_read, status_write, *wake, *status_pipes.values()):
            os.close(fd)
        code = 1
        try:
            _child(request, environment_fd)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(environment_fd)
    socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [status_read])
    os.close(status_read)
    status_pipes[pid] = status_write


def _report_exits(status_pipes: dict[int, int]) -> None:
    while status_pipes:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        status_write = status_pipes.pop(pid, None)
        if status_write is not None:
            with contextlib.suppress(BrokenPipeError):  # nobody holds that environment any more
                os.write(status_write, str(os.waitstatus_to_exitcode(status)).encode())
            os.close(status_write)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
