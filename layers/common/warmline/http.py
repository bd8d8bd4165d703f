"""API Gateway HTTP API (payload v2.0) in and out, on Powertools' APIGatewayHttpResolver: the
shared-secret check (a route middleware), strict body parsing (a route dependency) and JSON errors
(the resolver's exception handlers).

Every problem with a request becomes a 4xx JSON body that names it; nothing else is written.
"""

# No `from __future__ import annotations`: json_body's dependency is annotated with the model it is
# given, which Powertools could not resolve from a string.
import base64
import binascii
import json
import logging
import math
from collections.abc import Callable
from typing import Annotated, Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.request import Request
from pydantic import BaseModel, Field, ValidationError

from warmline.callers import InvalidCallerNumber, normalise_number

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
# Limits on what a body may hold, so that no parse can fail inside Python (RecursionError at about
# 1,000 levels, ValueError past 4,300 digits) or yield a number no field can use (1e999 is inf).
MAX_JSON_DEPTH = 32
MAX_JSON_NUMBER_CHARS = 32
SECRET_HEADER = "x-warmline-secret"
# Added by the stack's CloudFront distribution (EdgeProtection=cloudfront-waf), never by a caller.
ORIGIN_HEADER = "x-warmline-origin"


class HttpError(Exception):
    def __init__(self, status: int, error: str, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    """The body of every error answer (`details` only when there are some)."""

    error: str = Field(examples=["invalid_request"])
    message: str
    details: list[ErrorDetail] = []


ERRORS = {
    400: "The body, a parameter or the caller's number is not valid (`error` and `details` say which).",
    401: f"The {SECRET_HEADER} header is missing or wrong.",
    413: f"The body is over {MAX_BODY_BYTES} bytes.",
    415: "The content-type is not JSON.",
    500: "warmline could not handle the request.",
    503: "warmline could not answer in time, or could not queue the clone job.",
}


def answers(description: str, *errors: int) -> dict[int, OpenAPIResponse]:
    """A route's responses in the OpenAPI document: 200 (the handler's return annotation) and these."""
    responses: dict[int, OpenAPIResponse] = {200: {"description": description}}
    for status in (*errors, 500):
        responses[status] = {
            "description": ERRORS[status],
            "content": {"application/json": {"model": ErrorBody}},
        }
    return responses


def json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(
        status, headers={"content-type": "application/json"}, body=json.dumps(body, separators=(",", ":"))
    )


def header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class SecretCheck(Protocol):
    def accepts(self, given: str) -> bool: ...


def require_secret(event: dict[str, Any], secret: SecretCheck) -> None:
    """The shared-secret header must be one the secret accepts (compared in constant time)."""
    given = header(event, SECRET_HEADER)
    if given is None:
        raise HttpError(401, "unauthorized", f"missing {SECRET_HEADER} header")
    if not secret.accepts(given):
        raise HttpError(401, "unauthorized", f"wrong {SECRET_HEADER} header")


def require_origin(event: dict[str, Any], origin: SecretCheck | None) -> None:
    """Behind the edge, a request must carry CloudFront's origin secret: one sent to the API's own
    URL bypassed the WAF. `origin` None: no edge, nothing to check."""
    if origin is None:
        return
    given = header(event, ORIGIN_HEADER)
    if given is None or not origin.accepts(given):
        raise HttpError(401, "unauthorized", f"no valid {ORIGIN_HEADER}: call the stack's CloudFront URL")


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise HttpError(400, "invalid_body", "body is not valid base64") from error
    else:
        data = body.encode("utf-8", errors="surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise HttpError(413, "body_too_large", f"body is {len(data)} bytes; the limit is {MAX_BODY_BYTES}")
    return data


def json_object(event: dict[str, Any], *, optional: bool = False) -> dict[str, Any]:
    content_type = (header(event, "content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise HttpError(
            415, "unsupported_media_type", f"content-type must be application/json, not {content_type}"
        )
    data = raw_body(event)
    if not data.strip():
        if optional:
            return {}
        raise HttpError(400, "invalid_body", "body is empty; a JSON object is required")
    value = parse_json(data)
    if not isinstance(value, dict):
        raise HttpError(400, "invalid_body", "body must be a JSON object")
    return value


def parse_json(data: bytes) -> Any:
    """Strict JSON: no NaN or Infinity, numbers of at most 32 characters and finite, at most 32
    levels of nesting. Anything else is a 400 that says which rule the body broke."""
    try:
        value = json.loads(data, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except RecursionError:
        raise HttpError(
            400, "invalid_json", f"body is nested more than {MAX_JSON_DEPTH} levels deep"
        ) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise HttpError(400, "invalid_json", f"body is not valid JSON: {error}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise HttpError(400, "invalid_json", f"body is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def _json_int(text: str) -> int:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise ValueError(f"a number is longer than {MAX_JSON_NUMBER_CHARS} characters")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise ValueError(f"a number is longer than {MAX_JSON_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion (a scalar is 0, [] is 1)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def validate[M: BaseModel](model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        details = [
            {"field": ".".join(str(part) for part in problem["loc"]) or "body", "problem": problem["msg"]}
            for problem in error.errors(include_url=False, include_context=False, include_input=False)
        ]
        fields = ", ".join(d["field"] for d in details)
        raise HttpError(400, "invalid_request", f"invalid fields: {fields}", details) from error


def caller_number(raw: str, *, field: str, default_country_code: str) -> str:
    """The caller's number, normalised, or a 400 that names the field."""
    try:
        return normalise_number(raw, default_country_code)
    except InvalidCallerNumber as error:
        raise HttpError(
            400, "invalid_caller", str(error), [{"field": field, "problem": str(error)}]
        ) from error


def http_app() -> APIGatewayHttpResolver:
    """A resolver whose every answer is JSON: a 404 for a route it does not serve, an HttpError's
    status and body, 503 when the invocation's deadline for outside calls passed, 500 otherwise."""
    # debug=False whatever POWERTOOLS_DEV says: debug mode prints each event (its secret header, the
    # caller's number) and answers a traceback.
    app = APIGatewayHttpResolver(debug=False)

    def route_key() -> str:
        return app.current_event.raw_event.get("routeKey", "")

    @app.not_found
    def no_such_route(_: NotFoundError) -> Response:
        return json_response(404, {"error": "not_found", "message": "no such route"})

    @app.exception_handler(HttpError)
    def http_error(error: HttpError) -> Response:
        return json_response(error.status, error.body())

    @app.exception_handler(TimeoutError)
    def timeout(_: TimeoutError) -> Response:
        # The invocation's deadline for outside calls passed (AWS or ElevenLabs too slow).
        logger.exception("no answer in time for %s", route_key())
        return json_response(503, {"error": "timeout", "message": "warmline could not answer in time"})

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response:
        logger.exception("unexpected error handling %s", route_key())
        return json_response(
            500, {"error": "internal_error", "message": "warmline could not handle the request"}
        )

    return app


Middleware = Callable[[APIGatewayHttpResolver, NextMiddleware], Response]


def secret_required(
    secret: Callable[[], SecretCheck], origin: Callable[[], SecretCheck | None] = lambda: None
) -> Middleware:
    """A route middleware: the request's shared-secret header must be one `secret()` accepts, and
    behind the edge its origin header one `origin()` accepts."""

    def check(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        require_origin(app.current_event.raw_event, origin())
        require_secret(app.current_event.raw_event, secret())
        return next_middleware(app)

    return check


def json_body[M: BaseModel](
    model: type[M], *, optional: bool = False, unreadable: Callable[[HttpError], M] | None = None
) -> Depends:
    """A route parameter's dependency: the body, parsed by the rules above (json_object) and
    validated into `model`; a problem is its 4xx HttpError, or, given `unreadable`, what that makes
    of the error. (The `document` parameter is never given: it shows Powertools' OpenAPI generator
    the body's schema.)"""

    # The annotation is built at run time for the OpenAPI generator: no static type can name it.
    def read(request: Request, document: Annotated[model, Body(title=model.__name__)] = None) -> M:  # type: ignore[valid-type]
        try:
            return validate(model, json_object(request.resolved_event.raw_event, optional=optional))
        except HttpError as error:
            if unreadable is None:
                raise
            return unreadable(error)

    return Depends(read)
