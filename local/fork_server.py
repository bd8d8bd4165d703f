"""Processes forked from one that imported their packages once: the local stack's execution
environments, and its moto.

The test suite starts some 150 execution environments and some 35 moto servers. Importing boto3,
Powertools and pydantic is most of an environment's cold start (about 0.3 s of CPU), then reading
botocore's data files for its clients (about 0.1 s); importing moto and its services is most of a
moto server's start (about 0.7 s). With `WARMLINE_LOCAL_PRELOAD=1` (the tests' conftest sets it)
each is a fork of a server of its kind instead of a new interpreter: the same code, environment
variables, working directory and log, without that CPU. Cold starts measured this way are short of
Lambda's, so `make bench` and `make demo` never set it.

Run as a script, this file is the server: the standard library only until it imports its kind's
packages; an environment's child runs local/lambda_runtime.py's side, a moto child
local/aws.py's server. One request, one SOCK_SEQPACKET message: what the child becomes, as JSON, and
the one file descriptor it serves on; the answer: the child's pid, and the read end of a pipe that
receives the child's exit code when it ends.
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
from typing import Any, ClassVar

PRELOAD_VARIABLE = "WARMLINE_LOCAL_PRELOAD"
LAMBDA, MOTO = "lambda", "moto"
PRELOADED = {
    LAMBDA: (
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
    ),
    # What local/aws.py's server imports, and the services the template's resources live in.
    MOTO: (
        "local.aws",
        "local.moto_dynamodb",
        "local.moto_routing",
        "moto.moto_server.werkzeug_app",
        "moto.dynamodb.responses",
        "moto.sqs.responses",
        "moto.s3.responses",
        "moto.secretsmanager.responses",
        "werkzeug.serving",
    ),
}
# The services whose clients the functions make: botocore's data files for them are read once too.
CLIENT_SERVICES = ("dynamodb", "sqs", "s3", "secretsmanager", "lambda")
_MESSAGE_BYTES = 1 << 20


def preload_requested() -> bool:
    return os.environ.get(PRELOAD_VARIABLE) == "1"


def start(kind: str, request: dict[str, Any], fd: int, argv: list[str]) -> Any:
    """A process of this kind serving on `fd`: a fork of its server where the tests asked for one (a
    `ForkedProcess`), else a new interpreter running `argv` (a `subprocess.Popen`). `request` names
    its environment, working directory and log, and whatever else the kind's child needs."""
    if preload_requested():
        return ForkServer.shared(kind).fork(request, fd)
    with open(request["log_path"], "ab") as log:
        return subprocess.Popen(
            argv,
            env=request["environment"],
            cwd=request["cwd"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(fd,),
        )


# --- the stack's side ---------------------------------------------------------------------------


class ForkedProcess:
    """A forked child as `subprocess.Popen` offers a process to local/lambda_runtime.py and local/aws.py."""

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
        self._signal(signal.SIGKILL)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, number: int) -> None:
        if self.returncode is None and not select.select([self._status], [], [], 0)[0]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)


class ForkServer:
    """The server of one kind of process, started on first use and shared by every stack in this
    process."""

    _lock = threading.Lock()
    _running: ClassVar[dict[str, ForkServer]] = {}

    def __init__(self, kind: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-u", __file__, kind, str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self.socket = ours
        self._forking = threading.Lock()

    @classmethod
    def shared(cls, kind: str) -> ForkServer:
        with cls._lock:
            running = cls._running.get(kind)
            if running is None or running.process.poll() is not None:
                running = cls._running[kind] = cls(kind)
                atexit.register(running.stop)
            return running

    def stop(self) -> None:
        """Close the server's socket: it exits, and is waited for (its children's CPU is counted)."""
        self.socket.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def fork(self, request: dict[str, Any], fd: int) -> ForkedProcess:
        """A child that becomes what `request` describes and serves on (its copy of) `fd`."""
        with self._forking:
            socket.send_fds(self.socket, [json.dumps(request).encode()], [fd])
            answer, fds, _, _ = socket.recv_fds(self.socket, _MESSAGE_BYTES, 1)
        if not answer:
            raise OSError("the fork server exited")
        return ForkedProcess(json.loads(answer)["pid"], fds[0])


# --- the server's side --------------------------------------------------------------------------


def _child(request: dict[str, Any], fd: int) -> None:
    """In the forked child: become the process the request describes, then serve on `fd`."""
    os.environ.clear()
    os.environ.update(request["environment"])
    time.tzset()
    os.chdir(request["cwd"])
    log = os.open(request["log_path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    if request["kind"] == MOTO:
        from local import aws

        aws.serve_moto(fd)
    else:
        import lambda_runtime

        lambda_runtime.serve_environment(request["config"] | {"fd": fd})


def _serve(kind: str, control_fd: int) -> None:
    _preload(kind)
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
            request = json.loads(message) | {"kind": kind}
            _fork_one(control, request, fds[0], status_pipes, (wake_read, wake_write))


def _preload(kind: str) -> None:
    if kind == MOTO:
        sys.path.insert(0, str(Path(__file__).parents[1]))  # moto's child runs local.aws, from the repository
    for name in PRELOADED[kind]:
        with contextlib.suppress(ImportError):  # a package no function here needs
            importlib.import_module(name)
    if kind == LAMBDA:
        # What each environment's child runs (the standard library only), as a new interpreter
        # running local/lambda_runtime.py finds it; then local/ leaves the path again.
        sys.path.insert(0, str(Path(__file__).parent))
        importlib.import_module("lambda_runtime")
        sys.path.pop(0)
        _share_botocore_data(CLIENT_SERVICES)


def _share_botocore_data(services: tuple[str, ...]) -> None:
    """Every botocore session of the default data path (the children's among them) starts from one
    loader that has read what these services' clients need. botocore reads its JSON data files once
    per session: for the four clients a function makes, 0.1 s of each cold start's CPU (20 ms after).
    The loader keeps the files' contents only, none of the reading session's configuration."""
    try:
        from botocore import loaders, session
    except ImportError:
        return
    shared = loaders.create_loader()
    reader = session.Session()
    reader.register_component("data_loader", shared)
    for service in services:
        reader.create_client(
            service, region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-"
        )

    def create_loader(search_path_string: str | None = None) -> loaders.Loader:
        return shared if search_path_string is None else loaders.create_loader(search_path_string)

    session.create_loader = create_loader


def _fork_one(
    control: socket.socket,
    request: dict[str, Any],
    fd: int,
    status_pipes: dict[int, int],
    wake: tuple[int, int],
) -> None:
    status_read, status_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for inherited in (control.fileno(), status_read, status_write, *wake, *status_pipes.values()):
            os.close(inherited)
        code = 1
        try:
            _child(request, fd)
            code = 0
        except SystemExit as exit_:  # moto's server ends so on SIGTERM
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(fd)
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
    _serve(sys.argv[1], int(sys.argv[2]))
