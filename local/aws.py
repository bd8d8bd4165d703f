"""AWS on loopback: moto in server mode, and the template's resources created in it.

Run as a script (`python -m local.aws FD`), this module is moto's process: it serves on a listening
socket its parent bound, so the port is known before the process starts and nothing else can take it
(stacks start side by side in parallel test runs).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from local import fork_server
from local.lambda_runtime import CLOCK_FILE_VARIABLE, ClockOffsetFile
from local.template import REGION, Queue, StackModel

START_TIMEOUT_S = 30.0


class MotoServer:
    """moto in server mode, a child process on a loopback port it is handed: any free one, or `port`."""

    def __init__(self, log_path: Path, port: int = 0, clock_file: Path | None = None):
        self.log_path = log_path
        self.port = port
        self.clock_file = clock_file  # Secrets Manager's dates follow the stack's clock (local/clock.py)
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        environment = dict(os.environ)
        if self.clock_file is not None:
            environment[CLOCK_FILE_VARIABLE] = str(self.clock_file)
        with socket.create_server(("127.0.0.1", self.port)) as listener:
            self.process = self._start_process(listener.fileno(), environment)
            url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        try:  # the first request waits on the socket until moto serves it, or fails when moto exits
            urllib.request.urlopen(f"{url}/moto-api/", timeout=START_TIMEOUT_S).close()
        except OSError:
            self.stop()
            raise RuntimeError(f"moto server did not start; see {self.log_path}") from None
        return url

    def _start_process(self, listening_fd: int, environment: dict[str, str]) -> Any:
        request = {"environment": environment, "cwd": os.getcwd(), "log_path": str(self.log_path)}
        argv = [sys.executable, "-m", "local.aws", str(listening_fd)]
        return fork_server.start(fork_server.MOTO, request, listening_fd, argv)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


# One boto3 session for every client made here: a new session reads each service's model from disk
# again (about 0.1 s a client). A session is not thread-safe, its clients are: make them one at a time.
_SESSION_LOCK = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache  # a client is thread-safe, and building one costs milliseconds of CPU
def client(service: str, endpoint_url: str, region: str = REGION) -> Any:
    with _SESSION_LOCK:
        return _session().client(
            service,
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def create_secrets(endpoint_url: str, model: StackModel, values: dict[str, str]) -> dict[str, str]:
    """Create every secret with its given value; answer logical id -> the ARN Secrets Manager chose."""
    secretsmanager = client("secretsmanager", endpoint_url)
    arns = {}
    for secret in model.secrets.values():
        created = secretsmanager.create_secret(
            Name=secret.name, Description=secret.description, SecretString=values[secret.logical_id]
        )
        arns[secret.logical_id] = created["ARN"]
    return arns


def create_resources(endpoint_url: str, model: StackModel, visibility_timeout_override: int | None) -> None:
    """Create the tables, queues and buckets of the model (secrets are created first, on their own)."""
    dynamodb = client("dynamodb", endpoint_url)
    for table in model.tables.values():
        dynamodb.create_table(
            TableName=table.name,
            KeySchema=table.key_schema,
            AttributeDefinitions=table.attribute_definitions,
            BillingMode="PAY_PER_REQUEST",
        )
        if table.ttl_attribute:
            ttl = {"AttributeName": table.ttl_attribute, "Enabled": True}
            dynamodb.update_time_to_live(TableName=table.name, TimeToLiveSpecification=ttl)
    sqs = client("sqs", endpoint_url)
    for queue in sorted(model.queues.values(), key=lambda queue: queue.dead_letter_queue is not None):
        attributes = _queue_attributes(model, queue, visibility_timeout_override)
        created_url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
        if created_url != queue.url:
            raise RuntimeError(f"queue {queue.logical_id}: moto answered {created_url}, expected {queue.url}")
    s3 = client("s3", endpoint_url)
    for bucket in model.buckets.values():
        s3.create_bucket(Bucket=bucket.name)
        if bucket.versioned:
            s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})


def _queue_attributes(
    model: StackModel, queue: Queue, visibility_timeout_override: int | None
) -> dict[str, str]:
    visibility = (
        queue.visibility_timeout if visibility_timeout_override is None else visibility_timeout_override
    )
    attributes = {"VisibilityTimeout": str(visibility)}
    if queue.message_retention_period is not None:
        attributes["MessageRetentionPeriod"] = str(queue.message_retention_period)
    if queue.dead_letter_queue:
        target = model.queues[queue.dead_letter_queue].arn
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": target, "maxReceiveCount": queue.max_receive_count}
        )
    return attributes


def serve_moto(listening_fd: int) -> None:
    """moto's process. DynamoDB requests run one at a time: moto's DynamoDB is not thread-safe (two
    writes to one item at once can fail with a 500), while DynamoDB applies each request atomically.
    Other requests, such as an SQS long poll, run alongside. Transactions are all or nothing and
    isolated (local/moto_dynamodb.py)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from local import moto_dynamodb, moto_routing

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a log line per request
    moto_dynamodb.install()
    moto_routing.install()
    _secret_dates_follow_the_stack_clock()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    moto = DomainDispatcherApplication(create_backend_app)
    moto.debug = True  # as moto's own server: a failing request logs its traceback
    dynamodb_lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return moto(environ, start_response)
        with dynamodb_lock:
            return list(moto(environ, start_response))

    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler, fd=listening_fd
    )
    os.environ["MOTO_PORT"] = str(server.port)  # moto writes its port into URLs it answers
    server.serve_forever()


class _ShiftedTime:
    """The `time` module as moto's Secrets Manager sees it: `time()` moved by the stack's clock."""

    def __init__(self, offset: ClockOffsetFile) -> None:
        self._offset = offset

    def time(self) -> float:
        return time.time() + self._offset.seconds()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _secret_dates_follow_the_stack_clock() -> None:
    """A version's CreatedDate is what the functions' overlap window starts from (shared secrets):
    it is dated by the stack's clock, as the functions' now is."""
    path = os.environ.get(CLOCK_FILE_VARIABLE)
    if path:
        from moto.secretsmanager import models

        models.time = _ShiftedTime(ClockOffsetFile(path))  # type: ignore[assignment]


if __name__ == "__main__":
    serve_moto(int(sys.argv[1]))
