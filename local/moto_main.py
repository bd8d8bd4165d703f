"""moto in server mode, as the local stack's child process (`python -m local.moto_main FD`).

It serves on a listening socket its parent bound, so the port is known before the process starts
and nothing else can take it (stacks start side by side in parallel test runs). DynamoDB requests
run one at a time: moto's DynamoDB is not thread-safe (two writes to one item at once can fail with
a 500), while DynamoDB applies each request atomically. Other requests, such as an SQS long poll, run
alongside. Transactions are all or nothing and isolated (local/moto_dynamodb.py).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local import moto_dynamodb


class OneDynamoDbRequestAtATime:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def main(argv: list[str]) -> None:
    listening_fd = int(argv[0])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a log line per request
    moto_dynamodb.install()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto's own server: a failing request logs its traceback
    server = make_server(
        "127.0.0.1",
        0,
        OneDynamoDbRequestAtATime(app),
        threaded=True,
        request_handler=MotoRequestHandler,
        fd=listening_fd,
    )
    os.environ["MOTO_PORT"] = str(server.port)  # moto writes its port into URLs it answers
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
