"""The ElevenLabs agent's check_clone tool (POST /api/ivr/check-clone/{caller_id}) and the
operator's cloning metrics (GET /api/metrics/cloning)."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths

from warmline.callers import InvalidCallerNumber, is_withheld, mask, normalise_number
from warmline.cloning_report import InvalidWindow, cloning_report, parse_window
from warmline.dependencies import dependencies
from warmline.http import (
    HttpError,
    Middleware,
    answers,
    http_app,
    json_body,
    json_response,
    secret_required,
)
from warmline.ivr import WAITING_KEYS, CheckRequest
from warmline.observability import (
    count_caller_identity,
    count_http_answer,
    count_ivr_answer,
    logger,
    metrics,
)
from warmline.routes import CHECK_CLONE, CLONING_METRICS
from warmline.verification import PinEntry
from warmline.wire import CheckCloneRequest, CheckCloneResponse, CloningCounts, CloningMetricsResponse

app = http_app()


def _secret(setting: str) -> Middleware:
    """The shared secret named by this Settings field (its header is checked before the route runs)."""
    return secret_required(lambda: dependencies().shared_secret(getattr(dependencies().settings, setting)))


@app.post(
    CHECK_CLONE.rule,
    summary="ElevenLabs: the agent's check_clone tool",
    description="The caller pressed a key while their voice is cloned (secret: the agent one); "
    "`pressed_key` in the body or the query.",
    responses=answers("Whether the clone is ready and what the agent does next.", 400, 401, 413, 415, 503),
    middlewares=[_secret("agent_secret_name")],
)
def check_clone_route(
    caller_id: Annotated[str, Path(description="The caller's number, percent-encoded (+ as %2B).")],
    request: Annotated[CheckCloneRequest, json_body(CheckCloneRequest, optional=True)],
) -> Response[CheckCloneResponse]:
    deps = dependencies()
    # The caller_id of the route API Gateway matched (its pathParameters), percent-decoded.
    raw_caller = unquote((app.current_event.path_parameters or {}).get("caller_id", ""))
    number = _readable_number(raw_caller, deps.settings.default_country_code)
    pressed = request.pressed_key
    if pressed is None:
        pressed = app.current_event.query_string_parameters.get("pressed_key")
    if pressed is None:
        raise HttpError(
            400,
            "invalid_request",
            "pressed_key is required (JSON body or query parameter)",
            [{"field": "pressed_key", "problem": "Field required"}],
        )

    pressed = str(pressed).strip()
    logger.append_keys(
        caller=mask(number) if number else "unreadable", conversation_id=request.conversation_id
    )
    check = CheckRequest(
        deps.caller_key(number) if number else None,
        number,
        pressed,
        conversation_id=request.conversation_id,
        pin=PinEntry(request.pin, pepper=lambda: deps.secrets.get(deps.settings.pin_pepper_secret_name)),
    )
    if pressed in WAITING_KEYS and check.caller_key is not None:
        check = _identified(check)
    logger.append_keys(caller_key=check.caller_key)
    answer = deps.ivr_desk.check(check)
    logger.info(
        "check_clone answered",
        extra={
            "status": answer.status,
            "next_action": answer.next_action,
            "wait_time_ms": answer.wait_time_ms,
            "pin": answer.pin.result if answer.pin is not None else None,
            "handoff_counted": answer.handoff_counted,
        },
    )
    count_ivr_answer(answer)
    response = CheckCloneResponse(
        caller_id=mask(number) if number else "",
        status=answer.status.value,
        clone_ready=answer.clone_ready,
        cloned_voice_id=answer.cloned_voice_id or None,
        wait_time_ms=answer.wait_time_ms,
        next_action=answer.next_action.value,
        say=answer.say,
        handoff_mode=answer.handoff_mode or None,
    )
    return json_response(200, response.model_dump())


def _readable_number(raw: str, default_country_code: str) -> str:
    """The caller's number, or "" for one warmline cannot read (withheld, `anonymous`, empty, not a
    number): the agent then goes on in its own voice, as conversation-init does. A 4xx here would be
    hidden from the agent (ElevenLabs' tool_error_handling_mode), which then tells the caller nothing."""
    if is_withheld(raw):
        return ""
    try:
        return normalise_number(raw, default_country_code)
    except InvalidCallerNumber:
        return ""


def _identified(check: CheckRequest) -> CheckRequest:
    """The check of the caller ElevenLabs reports, unless they did not come in through 3CX: then of
    the caller it is tied to, if any, with no number to call back (warmline.caller_id)."""
    assert check.caller_key is not None
    identified = dependencies().caller_ids.identify(
        check.caller_key, (), seen_by="check_clone", reference=check.conversation_id
    )
    count_caller_identity(identified)
    if identified.passed_through:
        return replace(check, call=identified.call)
    return replace(check, caller_key=identified.caller_key, caller_number="", call=identified.call)


@app.get(
    CLONING_METRICS.rule,
    summary="Operators: cloning figures",
    description="Figures over the window [from, to) (query: epoch ms or ISO 8601; default the last "
    "24 hours; secret: the operator one).",
    responses=answers("The cloning figures of the window.", 400, 401, 503),
    middlewares=[_secret("operator_secret_name")],
)
def cloning_metrics_route() -> Response[CloningMetricsResponse]:
    deps = dependencies()
    try:
        query = app.current_event.query_string_parameters
        from_ms, to_ms = parse_window(query, int(deps.clock.now() * 1000))
    except InvalidWindow as error:
        raise HttpError(
            400, "invalid_request", str(error), [{"field": error.parameter, "problem": error.problem}]
        ) from error
    report = asdict(cloning_report(deps.events.between(from_ms, to_ms)))
    counts = CloningCounts(**{name: report.pop(name) for name in CloningCounts.model_fields})
    response = CloningMetricsResponse(
        window_from=_iso(from_ms),
        window_to=_iso(to_ms),
        from_ms=from_ms,
        to_ms=to_ms,
        counts=counts,
        **report,
    )
    return json_response(200, response.model_dump())


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


dependencies().warm_up(
    lambda deps: (deps.ivr_desk, deps.caller_ids),
    secrets=lambda settings: (
        settings.agent_secret_name,
        settings.caller_key_secret_name,
        settings.pin_pepper_secret_name,
    ),
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = dependencies()
    with deps.bounded_by(context):
        response = app.resolve(event, context)
    count_http_answer(response["statusCode"])
    return response
