"""Lambda-like execution environments: one OS process per environment, a pool per function.

A new process imports the handler (the cold start), then serves invocations one at a time over a
socket pair, newline-delimited JSON both ways. An idle environment is reused; when all are busy a new
one starts, up to the function's concurrency cap. An invocation past the function's Timeout kills its
environment, as Lambda does. Run as a script, this file is the environment's side: the standard
library only, so nothing of the local stack is imported into the function's process.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import socket
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.template import Function

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DEFAULT_HTTP_CONCURRENCY = 10
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase
# Lambda gives every execution environment its own CPU; this machine has a few cores for all of
# them. At most this many environments initialise at once, so a burst of cold starts queues instead
# of every one of them missing the 10 s init limit.
INIT_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
_INHERITED_VARIABLES = ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")
CLOCK_FILE_VARIABLE = "WARMLINE_LOCAL_CLOCK_FILE"  # the stack's clock offset file (local/clock.py)


# --- the parent side ---------------------------------------------------------------------------


@dataclass
class Invocation:
    function: str
    request_id: str
    started_at: float
    cold: bool = True
    init_ms: float | None = None
    duration_ms: float = 0.0
    peak_rss_mb: float | None = None
    pid: int | None = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    # Asked for with InvocationType=Event (the local Lambda API): nobody waits for its answer.
    asynchronous: bool = False
    ready_at: float | None = None  # wall clock: its environment was ready (after the cold start, if any)
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def record(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if name != "result"}


class EnvironmentFailed(Exception):
    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error = {"errorType": error_type, "errorMessage": message}


def lambda_environment(function: Function, overrides: dict[str, str]) -> dict[str, str]:
    """The variables a function's process sees: template values, Lambda's own, then the stack's overrides."""
    environment = {name: os.environ[name] for name in _INHERITED_VARIABLES if name in os.environ}
    environment.update(function.environment)
    environment.update(
        {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            # Keep a developer's real AWS profile out of the local functions.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime or 'python3.13'}",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "_HANDLER": function.handler,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PYTHONUNBUFFERED": "1",
            **overrides,
        }
    )
    return environment


class ExecutionEnvironment:
    """One function process. Not thread-safe: its pool hands it to one invocation at a time."""

    def __init__(self, function: Function, environment: dict[str, str], log_path: Path):
        self.function = function
        log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.init_ms: float | None = None
        parent_socket, child_socket = socket.socketpair()
        config = {
            "fd": child_socket.fileno(),
            "handler": function.handler,
            "code_dir": str(function.code_dir),
            "layer_dirs": [str(path) for path in function.layer_dirs],
        }
        environment = {**environment, "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name}
        self.process = _start_process(config, environment, function.code_dir, log_path)
        child_socket.close()
        self.socket = parent_socket
        self.reader = parent_socket.makefile("rb")

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout_s: float = INIT_TIMEOUT_S) -> float:
        message = self._receive(
            timeout_s, "Runtime.InitTimeout", f"Init timed out after {timeout_s:.2f} seconds"
        )
        if message.get("type") != "ready":
            raise EnvironmentFailed(message["error"]["errorType"], message["error"]["errorMessage"])
        self.init_ms = message["init_ms"]
        return self.init_ms

    def invoke(self, request_id: str, event: Any) -> dict[str, Any]:
        timeout_s = self.function.timeout
        request = {"request_id": request_id, "event": event, "timeout_ms": timeout_s * 1000}
        try:
            self.socket.sendall(json.dumps(request).encode() + b"\n")
        except OSError as error:
            raise EnvironmentFailed("Runtime.ExitError", "the execution environment exited") from error
        return self._receive(timeout_s, "Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds")

    def _receive(self, timeout_s: float, timeout_type: str, timeout_message: str) -> dict[str, Any]:
        self.socket.settimeout(timeout_s)
        try:
            line = self.reader.readline()
        except TimeoutError as error:
            raise EnvironmentFailed(timeout_type, timeout_message) from error
        if not line:
            self.process.wait(timeout=5)
            raise EnvironmentFailed(
                "Runtime.ExitError", f"the execution environment exited with code {self.process.returncode}"
            )
        return json.loads(line)

    def kill(self) -> None:
        self.process.kill()  # a no-op once it has exited
        self.process.wait()
        self.reader.close()
        self.socket.close()


def _start_process(
    config: dict[str, Any], environment: dict[str, str], code_dir: Path, log_path: Path
) -> Any:
    """The environment's process: a new interpreter (Lambda's cold start, imports and all), or a
    fork of local/fork_server.py where the tests asked for one."""
    from local import fork_server  # the parent's side only: as a script, this file is stdlib alone

    request = {"config": config, "environment": environment, "cwd": str(code_dir), "log_path": str(log_path)}
    argv = [sys.executable, "-I", "-u", __file__, json.dumps(config)]
    return fork_server.start(fork_server.LAMBDA, request, config["fd"], argv)


class FunctionPool:
    """A function's environments: an idle one is reused, a new one starts while under the cap."""

    def __init__(
        self,
        function: Function,
        environment: dict[str, str],
        log_path: Path,
        cap: int,
        idle_seconds: float | None = None,
    ):
        self.function = function
        self.environment = environment
        self.log_path = log_path
        self.cap = cap
        # Lambda reclaims an environment left idle (for minutes, undocumented); None: never.
        self.idle_seconds = idle_seconds
        self.idle: list[ExecutionEnvironment] = []
        self.idle_since: dict[ExecutionEnvironment, float] = {}
        self.live: set[ExecutionEnvironment] = set()
        self.starting = 0
        self.stopped = False
        self.condition = threading.Condition()

    def acquire(self) -> tuple[ExecutionEnvironment, bool]:
        """An environment for one invocation, and whether it was a cold start."""
        with self.condition:
            while True:
                if self.stopped:
                    raise EnvironmentFailed("Runtime.Stopped", "the local stack is stopping")
                warm = self._warm_one()
                if warm is not None:
                    return warm, False
                if len(self.live) + self.starting < self.cap and INIT_SLOTS.acquire(blocking=False):
                    self.starting += 1
                    break
                # Woken when an environment of this pool is released; the short timeout looks
                # again for an init slot, which another pool may free.
                self.condition.wait(timeout=0.05)
        environment = None
        try:
            environment = ExecutionEnvironment(self.function, self.environment, self.log_path)
            with self.condition:
                self.live.add(environment)
            environment.wait_ready()
            return environment, True
        except BaseException:
            if environment is not None:
                self.discard(environment)
            raise
        finally:
            INIT_SLOTS.release()
            with self.condition:
                self.starting -= 1
                self.condition.notify()

    def _warm_one(self) -> ExecutionEnvironment | None:
        """An idle environment not yet reclaimed (the lock held); the reclaimed ones are stopped."""
        while self.idle:
            environment = self.idle.pop()
            idle_for = time.monotonic() - self.idle_since.pop(environment, time.monotonic())
            if self.idle_seconds is None or idle_for <= self.idle_seconds:
                return environment
            self.live.discard(environment)
            environment.kill()
        return None

    def provision(self, count: int) -> None:
        """Start `count` environments ahead of any invocation, like Lambda's provisioned concurrency
        (one that fails to start is left out)."""
        count = min(count, self.cap)
        with ThreadPoolExecutor(max(1, count)) as starter:
            started = [starter.submit(self.acquire) for _ in range(count)]
        for future in started:
            if future.exception() is None:
                self.release(future.result()[0])

    def release(self, environment: ExecutionEnvironment) -> None:
        with self.condition:
            if self.stopped:
                environment.kill()
                return
            self.idle.append(environment)
            self.idle_since[environment] = time.monotonic()
            self.condition.notify()

    def discard(self, environment: ExecutionEnvironment) -> None:
        environment.kill()
        with self.condition:
            self.live.discard(environment)  # never idle: it failed starting or invoked
            self.condition.notify()

    def pids(self) -> list[int]:
        with self.condition:
            return [environment.pid for environment in self.live]

    def stop(self) -> None:
        with self.condition:
            self.stopped = True
            environments = list(self.live)
            self.live.clear()
            self.idle.clear()
            self.idle_since.clear()
            self.condition.notify_all()
        for environment in environments:
            environment.kill()


class LambdaRuntime:
    """Every function of the template, each with its pool; a record of every invocation."""

    def __init__(
        self,
        functions: dict[str, Function],
        log_dir: Path,
        environment_overrides: dict[str, str] | None = None,
        http_concurrency: int = DEFAULT_HTTP_CONCURRENCY,
        idle_seconds: float | None = None,
    ):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.pools: dict[str, FunctionPool] = {}
        for logical_id, function in functions.items():
            queue_caps = [s.maximum_concurrency for s in function.sqs_sources if s.maximum_concurrency]
            self.pools[logical_id] = FunctionPool(
                function,
                lambda_environment(function, environment_overrides or {}),
                log_dir / f"{logical_id}.log",
                cap=max(queue_caps) if queue_caps else http_concurrency,
                idle_seconds=idle_seconds,
            )
        self._records: list[dict[str, Any]] = []
        self._records_lock = threading.Lock()

    def provision(self, count: int = 1) -> None:
        """`count` warm environments per function, started in parallel; their init is not an invocation."""
        with ThreadPoolExecutor(len(self.pools) or 1) as starter:
            list(starter.map(lambda pool: pool.provision(count), self.pools.values()))

    def invoke(self, function_id: str, event: Any, asynchronous: bool = False) -> Invocation:
        pool = self.pools[function_id]
        invocation = Invocation(function_id, str(uuid.uuid4()), time.time(), asynchronous=asynchronous)
        try:
            environment, invocation.cold = pool.acquire()
            invocation.ready_at = time.time()
            invocation.pid = environment.pid
            invocation.init_ms = environment.init_ms if invocation.cold else None
            response = environment.invoke(invocation.request_id, event)
        except EnvironmentFailed as failure:
            invocation.error = failure.error
            invocation.timed_out = failure.error["errorType"] == "Sandbox.Timedout"
            invocation.duration_ms = (time.time() - invocation.started_at) * 1000
            if invocation.pid is not None:  # it failed in the environment, not before one was ready
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                with open(pool.log_path, "a") as log:
                    log.write(f"{stamp} {invocation.request_id} {failure.error['errorMessage']}\n")
                pool.discard(environment)
        else:
            invocation.duration_ms = response["duration_ms"]
            invocation.peak_rss_mb = response["max_rss_kb"] / 1024
            invocation.result, invocation.error = response.get("result"), response.get("error")
            pool.release(environment)
        with self._records_lock:
            self._records.append(invocation.record())
        return invocation

    def invocations(self) -> list[dict[str, Any]]:
        """One record per invocation: function, cold, init_ms, duration_ms, peak_rss_mb, error, timed_out."""
        with self._records_lock:
            return list(self._records)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per function: invocations, cold starts, errors, timeouts, init/duration summaries, peak RSS."""
        summary, records = {}, self.invocations()
        for function_id, pool in self.pools.items():
            mine = [record for record in records if record["function"] == function_id]
            rss = [record["peak_rss_mb"] for record in mine if record["peak_rss_mb"] is not None]
            summary[function_id] = {
                "invocations": len(mine),
                "cold_starts": sum(record["cold"] for record in mine),
                "errors": sum(record["error"] is not None for record in mine),
                "timeouts": sum(record["timed_out"] for record in mine),
                "init_ms": _summary([record["init_ms"] for record in mine if record["init_ms"] is not None]),
                "duration_ms": _summary([record["duration_ms"] for record in mine]),
                "peak_rss_mb": max(rss, default=None),
                "environments": len(pool.pids()),
            }
        return summary

    def pids(self) -> list[int]:
        return [pid for pool in self.pools.values() for pid in pool.pids()]

    def stop(self) -> None:
        for pool in self.pools.values():
            pool.stop()


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    from warmline.cloning_report import nearest_rank  # not at the top: the environment's side is stdlib only

    ordered = sorted(values)
    return {"p50": nearest_rank(ordered, 50), "p95": nearest_rank(ordered, 95), "max": ordered[-1]}


# --- the environment's side (this file run as a script) ---------------------------------------


class LambdaContext:
    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(self, request: dict[str, Any]):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self._deadline = time.monotonic() + request["timeout_ms"] / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    traceback.print_exception(error)
    return {
        "errorType": error_type or type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error),
    }


class ClockOffsetFile:
    """The local stack's clock offset (local/clock.py writes it), read again whenever the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._seconds = 0.0

    def seconds(self) -> float:
        try:
            status = os.stat(self.path)
            if (status.st_ino, status.st_mtime_ns) != self._seen:
                with open(self.path) as offset:
                    self._seconds = float(offset.read() or 0)
                self._seen = (status.st_ino, status.st_mtime_ns)
        except (OSError, ValueError):
            pass  # the stack is stopping: keep the last offset
        return self._seconds


def _follow_the_stack_clock() -> None:
    """Where the stack names a clock file, warmline's clock in this process is the system clock plus
    that file's offset (a function without warmline is left alone)."""
    path = os.environ.get(CLOCK_FILE_VARIABLE)
    if not path:
        return
    try:
        from warmline.adapters import clock  # type: ignore[import-not-found]
    except ImportError:
        return
    offset = ClockOffsetFile(path)
    clock.SystemClock.now = lambda self: time.time() + offset.seconds()


def _load_handler(config: dict[str, Any]) -> Any:
    """The handler function, or the error Lambda reports for the init phase."""
    layer_dirs = [
        Path(layer) / "python" if (Path(layer) / "python").is_dir() else layer
        for layer in config["layer_dirs"]
    ]
    sys.path[0:0] = [config["code_dir"], *map(str, layer_dirs)]
    _follow_the_stack_clock()
    module_name, function_name = config["handler"].rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        return _error(error, "Runtime.ImportModuleError")
    handler = getattr(module, function_name, None)
    if not callable(handler):
        return {"errorType": "Runtime.HandlerNotFound", "errorMessage": f"Handler '{function_name}' missing"}
    return handler


def _handle(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    """One invocation's response (without its figures): the result, or the error."""
    try:
        result = handler(request["event"], LambdaContext(request))
    except Exception as error:
        return {"error": _error(error)}
    try:
        json.dumps(result)
    except (TypeError, ValueError) as error:
        return {"error": _error(error, "Runtime.MarshalError")}
    return {"result": result}


def serve_environment(config: dict[str, Any]) -> None:
    started = time.perf_counter()
    connection = socket.socket(fileno=config["fd"])

    def send(message: dict[str, Any]) -> None:
        connection.sendall(json.dumps(message).encode() + b"\n")

    handler = _load_handler(config)
    if isinstance(handler, dict):
        print(f"[ERROR] {handler['errorType']}: {handler['errorMessage']}")
        send({"type": "init_error", "error": handler})
        return
    init_ms = (time.perf_counter() - started) * 1000
    send({"type": "ready", "init_ms": init_ms})
    init_note = f"\tInit Duration: {init_ms:.2f} ms"
    for line in connection.makefile("rb"):
        request = json.loads(line)
        print(f"START RequestId: {request['request_id']} Version: $LATEST")
        began = time.perf_counter()
        response = _handle(handler, request)
        response.update(duration_ms=(time.perf_counter() - began) * 1000, max_rss_kb=_peak_rss_kb())
        print(f"END RequestId: {request['request_id']}")
        print(
            f"REPORT RequestId: {request['request_id']}\tDuration: {response['duration_ms']:.2f} ms\t"
            f"Memory Size: {os.environ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']} MB\t"
            f"Max Memory Used: {response['max_rss_kb'] // 1024} MB{init_note}"
        )
        init_note = ""
        send(response)


def _peak_rss_kb() -> int:
    """This process's own peak resident memory. getrusage's ru_maxrss survives exec on Linux, so it
    would report the parent's peak (the whole local stack) instead of the function's."""
    status = Path("/proc/self/status")
    if not status.exists():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:")).split()[1])


if __name__ == "__main__":
    serve_environment(json.loads(sys.argv[1]))
