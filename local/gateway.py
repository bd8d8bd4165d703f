"""An HTTP API (API Gateway v2) on loopback: routes from the template, payload format 2.0 events, the
stage's route throttling and access log."""

from __future__ import annotations

import base64
import contextlib
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

from local.edge import Edge
from local.lambda_runtime import LambdaRuntime
from local.template import ACCOUNT_ID, HttpRoute, StackModel

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
TEXT_CONTENT_TYPES = re.compile(
    r"^(text/.*|application/(json|xml|javascript|x-javascript|graphql)|application/[\w.+-]+\+(json|xml))$"
)
INTERNAL_ERROR = (500, {"message": "Internal Server Error"})

log = logging.getLogger("warmline.local.gateway")


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # socketserver's default backlog of 5 resets connections under a burst of calls


class Router:
    """API Gateway's choice: the most specific matching route wins (fewest path variables)."""

    def __init__(self, routes: list[HttpRoute]):
        self.routes: list[tuple[HttpRoute, re.Pattern[str]]] = []
        for route in sorted(routes, key=lambda route: route.path.count("{")):
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
            self.routes.append((route, re.compile(f"^{pattern}$")))

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for route, pattern in self.routes:
            found = pattern.match(path) if route.method in (method, "ANY") else None
            if found:
                return route, found.groupdict()
        return None


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # the path and query, as on the request line
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    received_at: float = field(default_factory=time.time)


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, value: Any) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(value).encode())


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Repeated names joined with commas, as API Gateway does for headers and query parameters."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _request_id() -> str:
    return base64.b64encode(secrets.token_bytes(12)).decode()


def _clf_time(at: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at))


def build_event(route: HttpRoute, path_parameters: dict[str, str], request: HttpRequest, api_id: str) -> dict:
    """The payload format 2.0 event of one request."""
    target = urlsplit(request.target)
    lowered = [(name.lower(), value) for name, value in request.headers]
    headers = _joined([(name, value) for name, value in lowered if name != "cookie"])
    cookies = [c.strip() for n, v in lowered if n == "cookie" for c in v.split(";") if c.strip()]
    query = _joined(parse_qsl(target.query, keep_blank_values=True))
    domain_name = headers.get("host", "127.0.0.1").split(":")[0]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": target.path,
        "rawQueryString": target.query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": request.method,
                "path": target.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": _request_id(),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": _clf_time(request.received_at),
            "timeEpoch": int(request.received_at * 1000),
        },
        "isBase64Encoded": False,
    }
    optional = {"cookies": cookies, "queryStringParameters": query, "pathParameters": path_parameters}
    event.update({name: value for name, value in optional.items() if value})
    if request.body:
        event["body"], event["isBase64Encoded"] = _event_body(request.body, headers.get("content-type"))
    return event


def _event_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """Text as it is, anything else (or text that is not UTF-8) in base64."""
    if not content_type or TEXT_CONTENT_TYPES.match(content_type.split(";")[0].strip().lower()):
        with contextlib.suppress(UnicodeDecodeError):
            return body.decode("utf-8"), False
    return base64.b64encode(body).decode(), True


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


class RouteThrottle:
    """API Gateway's stage throttling: a token bucket per route, `burst` deep, refilled at `rate`/s
    (the stage's default, or the route's own RouteSettings; a route with neither is not throttled).
    A request that finds it empty is answered 429 without invoking the function."""

    def __init__(
        self, default: tuple[float, int] | None, per_route: dict[str, tuple[float, int]] | None = None
    ):
        self.default = default
        self.per_route = per_route or {}
        self.buckets: dict[str, tuple[float, float]] = {}  # route key -> (tokens, last refill)
        self.lock = threading.Lock()

    def allow(self, route_key: str) -> bool:
        limits = self.per_route.get(route_key, self.default)
        if limits is None:
            return True
        rate, burst = limits
        with self.lock:
            now = time.monotonic()
            tokens, last = self.buckets.get(route_key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            allowed = tokens >= 1
            self.buckets[route_key] = (tokens - 1 if allowed else tokens, now)
            return allowed


class AccessLog:
    """The stage's access log: one line per request, the template's Format with $context variables."""

    def __init__(self, format_: str, path: Path):
        self.format = format_
        self.path = path
        self.lock = threading.Lock()

    def write(self, request: HttpRequest, route: HttpRoute, response: HttpResponse, integration: str) -> None:
        """`integration` is the function's status ("200", "500"), or "-" when none was invoked."""
        latency_ms = int((time.time() - request.received_at) * 1000)
        context = {
            "requestId": _request_id(),
            "requestTime": _clf_time(request.received_at),
            "identity.sourceIp": request.source_ip,
            "identity.userAgent": next((v for k, v in request.headers if k.lower() == "user-agent"), "-"),
            "routeKey": route.route_key,
            "status": response.status,
            "protocol": "HTTP/1.1",
            "responseLength": len(response.body),
            "responseLatency": latency_ms,
            "integrationLatency": latency_ms if integration != "-" else "-",
            "integrationStatus": integration,
            "error.message": {"-": "Too Many Requests", "500": "Internal Server Error"}.get(integration, "-"),
        }
        line = re.sub(
            r"\$context\.([A-Za-z.]+)",
            lambda m: str(context.get(m.group(1), "-")).replace('"', "'"),
            self.format,
        )
        with self.lock, open(self.path, "a") as log_file:
            log_file.write(line + "\n")


class Gateway:
    """The template's HTTP API, with its stage's throttling, and its access log written to
    `access_log_path` when the template sets a format; behind `edge` (CloudFront + WAF), if given."""

    def __init__(
        self,
        model: StackModel,
        runtime: LambdaRuntime,
        access_log_path: Path | None = None,
        edge: Edge | None = None,
    ):
        settings = model.http_api
        self.router = Router(model.routes)
        self.runtime = runtime
        self.api_id = model.http_api_id
        self.throttle = RouteThrottle(settings.throttling, settings.route_throttling)
        self.access_log = None
        if settings.access_log_format is not None and access_log_path is not None:
            access_log_path.unlink(missing_ok=True)  # each run's access log is its own
            self.access_log = AccessLog(settings.access_log_format, access_log_path)
        self.edge = edge
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        handler = type("GatewayRequestHandler", (_RequestHandler,), {"gateway": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def handle(self, request: HttpRequest) -> HttpResponse:
        if self.edge is not None:  # the WAF decides before API Gateway sees anything
            blocked = self.edge.blocked(request.source_ip, request.headers)
            if blocked is not None:
                return HttpResponse(blocked[0], [("content-type", "application/json")], blocked[1])
            request = self.edge.forwarded(request)
        matched = self.router.match(request.method, urlsplit(request.target).path)
        if matched is None:
            return json_response(404, {"message": "Not Found"})
        route, path_parameters = matched
        if not self.throttle.allow(route.route_key):
            response, integration = json_response(429, {"message": "Too Many Requests"}), "-"
        else:
            event = build_event(route, path_parameters, request, self.api_id)
            invocation = self.runtime.invoke(route.function, event)
            if invocation.ok:
                response, integration = map_result(invocation.result), "200"
            else:
                log.warning("%s %s: %s", request.method, route.path, invocation.error)
                response, integration = json_response(*INTERNAL_ERROR), "500"
        if self.access_log is not None:
            self.access_log.write(request, route, response, integration)
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
            remaining = min(length, 10 * MAX_BODY_BYTES)
            while remaining > 0 and (chunk := self.rfile.read(min(remaining, 1024 * 1024))):
                remaining -= len(chunk)
            self.close_connection = True
            self._send(json_response(413, {"message": "Request Entity Too Large"}))
            return
        body = self.rfile.read(length) if length else b""
        headers = list(self.headers.items())
        self._send(
            self.gateway.handle(HttpRequest(self.command, self.path, headers, body, self.client_address[0]))
        )

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
