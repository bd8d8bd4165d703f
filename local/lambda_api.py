"""Lambda's Invoke API on loopback, for the functions' own boto3 calls (`AWS_ENDPOINT_URL_LAMBDA`).

`POST /2015-03-31/functions/{FunctionName}/invocations`, as botocore sends it: the function by name
or ARN, with or without a qualifier (`:live`, or `?Qualifier=`), which must be `$LATEST` or the
function's AutoPublishAlias in the template; `X-Amz-Invocation-Type` Event (202 at once, the function
runs after, as Lambda's asynchronous queue runs it), RequestResponse (the result; a function error
with `X-Amz-Function-Error`) or DryRun (204). An unknown function or qualifier answers 404
ResourceNotFoundException.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local.lambda_runtime import LambdaRuntime
from local.template import ACCOUNT_ID, REGION, Function

_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_ARN = re.compile(rf"^arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:(?P<rest>.+)$")

log = logging.getLogger("warmline.local.lambda_api")


class LambdaApi:
    """Invokes the runtime's functions by their physical names; counts what it was asked."""

    def __init__(self, functions: dict[str, Function], runtime: LambdaRuntime | None = None):
        self.functions = {function.name: function for function in functions.values()}
        # Set once the runtime exists: its functions' environment names this API's URL.
        self.runtime = runtime
        self.counts: Counter[tuple[str, str]] = Counter()  # (logical id, invocation type)
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        handler = type("LambdaApiRequestHandler", (_RequestHandler,), {"api": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, name="lambda-api", daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def stats(self) -> dict[str, Any]:
        """{"invocations": {"IvrCheckFunction Event": 3, ...}}"""
        with self.lock:
            return {"invocations": {f"{fid} {kind}": n for (fid, kind), n in sorted(self.counts.items())}}

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()

    def function(self, name: str, qualifier: str | None) -> Function | None:
        """The template's function this name (or ARN) and qualifier invoke; None if none."""
        found = _ARN.match(name)
        name = found["rest"] if found else name
        if ":" in name:
            name, qualifier = name.split(":", 1)
        function = self.functions.get(name)
        if function is None or qualifier not in (None, "$LATEST", function.alias):
            return None
        return function

    def invoke(self, function: Function, kind: str, event: Any) -> tuple[int, dict[str, str], bytes]:
        assert self.runtime is not None
        with self.lock:
            self.counts[(function.logical_id, kind)] += 1
        if kind == "DryRun":
            return 204, {}, b""
        if kind == "Event":
            threading.Thread(
                target=self.runtime.invoke, args=(function.logical_id, event, True), daemon=True
            ).start()
            return 202, {}, b""
        invocation = self.runtime.invoke(function.logical_id, event)
        if invocation.ok:
            return 200, {"X-Amz-Executed-Version": "$LATEST"}, json.dumps(invocation.result).encode()
        return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(invocation.error).encode()


def _error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return status, {"x-amzn-ErrorType": error_type}, body


class _RequestHandler(BaseHTTPRequestHandler):
    api: LambdaApi
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self._send(*self._answer(body))

    def _answer(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        target = urlsplit(self.path)
        matched = _PATH.match(target.path)
        if matched is None:
            return _error(404, "UnknownOperationException", f"no such operation: POST {target.path}")
        name = unquote(matched["name"])
        qualifier = (parse_qs(target.query).get("Qualifier") or [None])[0]
        function = self.api.function(name, qualifier)
        if function is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind not in ("Event", "RequestResponse", "DryRun"):
            return _error(400, "InvalidParameterValueException", f"invocation type {kind}")
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        return self.api.invoke(function, kind, event)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in {"content-type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)
