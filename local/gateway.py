"""An HTTP API (API Gateway v2) on loopback: routes from the template, payload format 2.0 events."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.lambda_runtime import LambdaRuntime
from local.template import ACCOUNT_ID, HttpRoute, StackModel

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
TEXT_CONTENT_TYPES = re.compile(
    r"^(text/.*|application/(json|xml|javascript|x-javascript|graphql)|application/[\w.+-]+\+(json|xml))$"
)

log = logging.getLogger("warmline.local.gateway")


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets connections under a burst of calls.
    request_queue_size = 512
    daemon_threads = True


@dataclass(frozen=True)
class _CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str]
    parameter_count: int


def _compile(route: HttpRoute) -> _CompiledRoute:
    if route.path == "$default":
        return _CompiledRoute(route, re.compile(r"^/.*$"), 1000)
    pattern, count = "", 0
    for segment in re.split(r"(\{[^}]+\})", route.path):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1]
            greedy = name.endswith("+")
            name = name.rstrip("+")
            pattern += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
            count += 1
        else:
            pattern += re.escape(segment)
    return _CompiledRoute(route, re.compile(f"^{pattern}$"), count)


class Router:
    """API Gateway's choice: the most specific matching route wins (fewest path variables)."""

    def __init__(self, routes: list[HttpRoute]):
        self.routes = sorted((_compile(route) for route in routes), key=lambda c: c.parameter_count)

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.match(path)
            if found:
                return compiled.route, found.groupdict()
        return None


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return True
    return bool(TEXT_CONTENT_TYPES.match(content_type.split(";")[0].strip().lower()))


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # the path and query, as on the request line
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    received_at: float = field(default_factory=time.time)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str, default: str = "-") -> str:
        return next((value for key, value in self.headers if key.lower() == name), default)


def build_event(route: HttpRoute, path_parameters: dict[str, str], request: HttpRequest, api_id: str) -> dict:
    """The payload format 2.0 event of one request."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    target = urlsplit(request.target)
    raw_path, raw_query, body, now = target.path, target.query, request.body, request.received_at
    for name, value in request.headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    domain_name = headers.get("host", "127.0.0.1").split(":")[0]
    route_key = "$default" if route.path == "$default" else route.route_key
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": base64.b64encode(secrets.token_bytes(12)).decode(),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        if is_text(headers.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, value: Any) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(value).encode())


INTERNAL_ERROR = (500, {"message": "Internal Server Error"})
TOO_MANY_REQUESTS = (429, {"message": "Too Many Requests"})


class RouteThrottle:
    """API Gateway's stage throttling: a token bucket per route, `burst` deep, refilled at `rate`/s.
    A request that finds it empty is answered 429 without invoking the function."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.buckets: dict[str, tuple[float, float]] = {}  # route key -> (tokens, last refill)
        self.lock = threading.Lock()

    def allow(self, route_key: str) -> bool:
        with self.lock:
            now = time.monotonic()
            tokens, last = self.buckets.get(route_key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self.buckets[route_key] = (tokens - 1 if allowed else tokens, now)
            return allowed


class AccessLog:
    """The stage's access log: one line per request, the template's Format with $context variables."""

    def __init__(self, format_: str, path: Path):
        self.format = format_
        self.path = path
        self.lock = threading.Lock()

    def write(self, context: dict[str, Any]) -> None:
        line = re.sub(
            r"\$context\.([A-Za-z.]+)",
            lambda m: str(context.get(m.group(1), "-")).replace('"', "'"),
            self.format,
        )
        with self.lock, open(self.path, "a") as log_file:
            log_file.write(line + "\n")


def map_result(result: Any) -> HttpResponse:
    """What API Gateway (payload 2.0) makes of a function's return value."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return json_response(200, result)
    try:
        status = int(result["statusCode"])
        headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
        headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
        body = result.get("body")
        if body is None:
            payload = b""
        elif result.get("isBase64Encoded"):
            payload = base64.b64decode(body)
        else:
            payload = (body if isinstance(body, str) else json.dumps(body)).encode()
    except (TypeError, ValueError):
        return json_response(*INTERNAL_ERROR)
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    return HttpResponse(status, headers, payload)


class Gateway:
    """The template's HTTP API, with its stage's throttling, and its access log written to
    `access_log_path` when the template sets a format."""

    def __init__(self, model: StackModel, runtime: LambdaRuntime, access_log_path: Path | None = None):
        settings = model.http_api
        self.router = Router(model.routes)
        self.runtime = runtime
        self.api_id = model.http_api_id
        self.throttle = None
        if settings.throttling_rate_limit is not None and settings.throttling_burst_limit is not None:
            self.throttle = RouteThrottle(settings.throttling_rate_limit, settings.throttling_burst_limit)
        self.access_log = None
        if settings.access_log_format is not None and access_log_path is not None:
            access_log_path.unlink(missing_ok=True)  # each run's access log is its own
            self.access_log = AccessLog(settings.access_log_format, access_log_path)
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self.server is None:
            raise RuntimeError("the gateway is not running")
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> str:
        handler = type("GatewayRequestHandler", (_RequestHandler,), {"gateway": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
        self.thread.start()
        return self.base_url

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        if self.thread:
            self.thread.join(timeout=5)
        self.server = None
        self.thread = None

    def handle(self, request: HttpRequest) -> HttpResponse:
        matched = self.router.match(request.method, request.path)
        if matched is None:
            return json_response(404, {"message": "Not Found"})
        route, path_parameters = matched
        if self.throttle is not None and not self.throttle.allow(route.route_key):
            return self._logged(request, route, json_response(*TOO_MANY_REQUESTS), "-", "Too Many Requests")
        invocation = self.runtime.invoke(
            route.function, build_event(route, path_parameters, request, self.api_id)
        )
        if not invocation.ok:
            log.warning("%s %s: %s", request.method, request.path, invocation.error)
            return self._logged(
                request, route, json_response(*INTERNAL_ERROR), "500", "Internal Server Error"
            )
        return self._logged(request, route, map_result(invocation.result), "200", "-")

    def _logged(
        self,
        request: HttpRequest,
        route: HttpRoute,
        response: HttpResponse,
        integration_status: str,
        error: str,
    ) -> HttpResponse:
        """`response`, written to the access log first (when the stage has one)."""
        if self.access_log is None:
            return response
        started = request.received_at
        latency_ms = int((time.time() - started) * 1000)
        self.access_log.write(
            {
                "requestId": base64.b64encode(secrets.token_bytes(12)).decode(),
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(started)),
                "identity.sourceIp": request.source_ip,
                "identity.userAgent": request.header("user-agent"),
                "routeKey": route.route_key,
                "status": response.status,
                "protocol": "HTTP/1.1",
                "responseLength": len(response.body),
                "responseLatency": latency_ms,
                "integrationLatency": latency_ms if integration_status != "-" else "-",
                "integrationStatus": integration_status,
                "error.message": error,
            }
        )
        return response


class _RequestHandler(BaseHTTPRequestHandler):
    gateway: Gateway
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms to each.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            # Read what was sent before answering: closing on unread data resets the connection, and
            # the client would see the reset instead of the 413.
            self._discard(length)
            self.close_connection = True
            self._send(json_response(413, {"message": "Request Entity Too Large"}))
            return
        body = self.rfile.read(length) if length else b""
        request = HttpRequest(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        response = self.gateway.handle(request)
        self._send(response)

    def _discard(self, length: int) -> None:
        remaining = min(length, 10 * MAX_BODY_BYTES)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1024 * 1024))
            if not chunk:
                return
            remaining -= len(chunk)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)
