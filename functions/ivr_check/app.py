"""The ElevenLabs agent's check_clone tool (POST /api/ivr/check-clone/{caller_id}) and the
operator's cloning metrics (GET /api/metrics/cloning)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths

from warmline.cloning_report import InvalidWindow
from warmline.dependencies import dependencies
from warmline.http import HttpError, Middleware, answers, http_app, json_body, json_response, secret_required
from warmline.ivr_use_cases import CheckedKey, Figures, KeyPress
from warmline.observability import count_http_answer, logger, metrics
from warmline.prewarm import answers_warm_up
from warmline.routes import CHECK_CLONE, CLONING_METRICS
from warmline.wire import CheckCloneRequest, CheckCloneResponse, CloningCounts, CloningMetricsResponse

app = http_app()


def _secret(setting: str) -> Middleware:
    """The shared secret named by this Settings field (its header is checked before the route runs),
    and behind the edge (EdgeProtection=cloudfront-waf) the origin header CloudFront adds."""
    return secret_required(
        lambda: dependencies().shared_secret(getattr(dependencies().settings, setting)),
        origin=lambda: dependencies().origin_secret(),
    )


agent_secret = _secret("agent_secret_name")
operator_secret = _secret("operator_secret_name")
NO_KEY = HttpError(
    400,
    "invalid_request",
    "pressed_key is required (JSON body or query parameter)",
    [{"field": "pressed_key", "problem": "Field required"}],
)


@app.post(
    CHECK_CLONE.rule,
    summary="ElevenLabs: the agent's check_clone tool",
    description="The caller pressed a key while their voice is cloned (secret: the agent one); "
    "`pressed_key` in the body or the query.",
    responses=answers("Whether the clone is ready and what the agent does next.", 400, 401, 413, 415, 503),
    middlewares=[agent_secret],
)
def check_clone_route(
    caller_id: Annotated[str, Path(description="The caller's number, percent-encoded (+ as %2B).")],
    request: Annotated[CheckCloneRequest, json_body(CheckCloneRequest, optional=True)],
) -> Response[CheckCloneResponse]:
    pressed = request.pressed_key
    if pressed is None:
        pressed = app.current_event.query_string_parameters.get("pressed_key")
    if pressed is None:
        raise NO_KEY
    press = KeyPress(unquote(caller_id), str(pressed), request.conversation_id, request.pin)
    checked = dependencies().key_presses.check(press)
    return json_response(200, _check_clone_answer(checked).model_dump())


def _check_clone_answer(checked: CheckedKey) -> CheckCloneResponse:
    answer = checked.answer
    return CheckCloneResponse(
        caller_id=checked.masked_caller,
        status=answer.status.value,
        clone_ready=answer.clone_ready,
        cloned_voice_id=answer.cloned_voice_id or None,
        wait_time_ms=answer.wait_time_ms,
        next_action=answer.next_action.value,
        say=answer.say,
        handoff_mode=answer.handoff_mode or None,
    )


@app.get(
    CLONING_METRICS.rule,
    summary="Operators: cloning figures",
    description="Figures over the window [from, to) (query: epoch ms or ISO 8601; default the last "
    "24 hours; secret: the operator one).",
    responses=answers("The cloning figures of the window.", 400, 401, 503),
    middlewares=[operator_secret],
)
def cloning_metrics_route() -> Response[CloningMetricsResponse]:
    try:
        figures = dependencies().cloning_figures.of(app.current_event.query_string_parameters)
    except InvalidWindow as error:
        details = [{"field": error.parameter, "problem": error.problem}]
        raise HttpError(400, "invalid_request", str(error), details) from error
    return json_response(200, _figures_answer(figures).model_dump())


def _figures_answer(figures: Figures) -> CloningMetricsResponse:
    report = asdict(figures.report)
    counts = CloningCounts(**{name: report.pop(name) for name in CloningCounts.model_fields})
    return CloningMetricsResponse(
        window_from=_iso(figures.from_ms),
        window_to=_iso(figures.to_ms),
        from_ms=figures.from_ms,
        to_ms=figures.to_ms,
        counts=counts,
        **report,
    )


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


dependencies().warm_up(
    lambda deps: (deps.key_presses, deps.cloning_figures),
    secrets=lambda settings: (
        settings.agent_secret_name,
        settings.caller_key_secret_name,
        settings.pin_pepper_secret_name,
        settings.edge_origin_secret_name,  # "" without the edge: not read
    ),
)


@answers_warm_up  # the webhook's warm-up (warmline.prewarm): answered at once
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = dependencies()
    with deps.bounded_by(context):
        response = app.resolve(event, context)
    count_http_answer(response["statusCode"])
    return response
