"""3CX incoming-call webhook, ElevenLabs conversation-init webhook and post-call webhook."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths

from warmline.callers import InvalidCallerNumber
from warmline.calls import CALLER_VARIABLE, SLOT_VARIABLE, QueueUnavailable
from warmline.dependencies import dependencies
from warmline.http import (
    HttpError,
    Middleware,
    answers,
    header,
    http_app,
    json_body,
    json_response,
    raw_body,
    require_origin,
    secret_required,
)
from warmline.observability import count_http_answer, logger, metrics, webhook_latency
from warmline.post_call import SIGNATURE_HEADER, BadSignature, CallEnded, verify_signature
from warmline.routes import CONVERSATION_INIT, INCOMING_CALL, POST_CALL
from warmline.webhook_use_cases import AgentConversation, AnsweredCall, StartedConversation
from warmline.wire import (
    AgentOverride,
    ConfigOverride,
    ConversationInitRequest,
    ConversationInitResponse,
    IncomingCallRequest,
    IncomingCallResponse,
    PostCallEvent,
    PostCallResponse,
    PromptOverride,
    TtsOverride,
)

app = http_app()


def _secret(setting: str) -> Middleware:
    """The shared secret named by this Settings field (its header is checked before the route runs),
    and behind the edge (EdgeProtection=cloudfront-waf) the origin header CloudFront adds."""
    return secret_required(
        lambda: dependencies().shared_secret(getattr(dependencies().settings, setting)),
        origin=lambda: dependencies().origin_secret(),
    )


threecx_secret = _secret("threecx_secret_name")
agent_secret = _secret("agent_secret_name")


def _unreadable(error: HttpError) -> ConversationInitRequest:
    """Never a 4xx: a body that cannot be read counts as an empty one, so the agent still gets its data."""
    logger.warning("conversation-init body not readable, answering with the defaults: %s", error.message)
    return ConversationInitRequest()


@app.post(
    INCOMING_CALL.rule,
    summary="3CX: a call came in",
    description="3CX's CFD script posts each incoming call (secret: the 3CX one); the answer routes it.",
    responses=answers("How 3CX routes the call, and the caller's clone status.", 400, 401, 413, 415, 503),
    middlewares=[threecx_secret],
)
def incoming_call(
    request: Annotated[IncomingCallRequest, json_body(IncomingCallRequest)],
) -> Response[IncomingCallResponse]:
    try:
        answered = dependencies().incoming_calls.answer(request.caller, request.did, request.call_id)
    except InvalidCallerNumber as error:
        raise HttpError(
            400, "invalid_caller", str(error), [{"field": "caller", "problem": str(error)}]
        ) from error
    except QueueUnavailable as error:
        logger.exception("clone job not queued")
        raise HttpError(503, "queue_unavailable", str(error)) from error
    return json_response(200, _incoming_call_answer(answered).model_dump())


def _incoming_call_answer(answered: AnsweredCall) -> IncomingCallResponse:
    decision = answered.decision
    return IncomingCallResponse(
        route="agent_callback" if decision.greeting_call_placed else "agent",
        voice=decision.voice.value,
        clone_status=decision.progress.value,
        job_queued=decision.job_queued,
        greeting_call_placed=decision.greeting_call_placed,
        caller=answered.masked_caller,
    )


@app.post(
    CONVERSATION_INIT.rule,
    summary="ElevenLabs: conversation-initiation webhook",
    description="The agent's initiation data (secret: the agent one). A body that cannot be read "
    "counts as an empty one: the agent always gets its data.",
    responses=answers("The voice and first message for this conversation.", 401, 503),
    middlewares=[agent_secret],
)
def conversation_init(
    request: Annotated[
        ConversationInitRequest, json_body(ConversationInitRequest, optional=True, unreadable=_unreadable)
    ],
) -> Response[ConversationInitResponse]:
    started = dependencies().conversation_starts.start(AgentConversation(**request.model_dump()))
    return json_response(200, _conversation_init_answer(started).to_json())


def _conversation_init_answer(started: StartedConversation) -> ConversationInitResponse:
    start = started.start
    override = ConfigOverride(
        tts=TtsOverride(voice_id=start.voice_id) if start.voice_id else None,
        agent=AgentOverride(first_message=start.first_message) if start.first_message else None,
    )
    # HandoffMode=agent_transfer: the tools of this call's voice-slot agent, the transfer among them.
    if started.tool_ids is not None and override.agent is not None:
        override.agent.prompt = PromptOverride(tool_ids=started.tool_ids)
    return ConversationInitResponse(
        dynamic_variables=started.dynamic_variables, conversation_config_override=override
    )


def post_call_signature(app: Any, next_middleware: Any) -> Response:
    """ElevenLabs signs each post-call delivery (warmline.post_call): 401 when it is not signed with
    the secret it made with the webhook (a rotated one is accepted through the overlap window).
    Behind the edge, the delivery must have come through CloudFront, as every other request."""
    event = app.current_event.raw_event
    deps = dependencies()
    require_origin(event, deps.origin_secret())
    accepted = deps.shared_secret(deps.settings.post_call_secret_name).accepted_values()
    try:
        verify_signature(header(event, SIGNATURE_HEADER), raw_body(event), accepted, deps.clock.now())
    except BadSignature as error:
        raise HttpError(401, "unauthorized", str(error)) from error
    return next_middleware(app)


@app.post(
    POST_CALL.rule,
    summary="ElevenLabs: post-call webhook",
    description="A conversation ended (signed with ElevenLabs-Signature): the voice slot its call "
    "leased is freed (HandoffMode=agent_transfer). Repeated deliveries change nothing.",
    responses=answers("Whether the conversation's voice slot was freed now.", 400, 401, 413, 415, 503),
    middlewares=[post_call_signature],
)
def post_call(request: Annotated[PostCallEvent, json_body(PostCallEvent)]) -> Response[PostCallResponse]:
    data = request.data
    logger.append_keys(conversation_id=data.conversation_id)
    ended = CallEnded(
        request.type, data.conversation_id, data.variable(CALLER_VARIABLE), data.variable(SLOT_VARIABLE)
    )
    released = dependencies().post_calls.ended(ended)
    return json_response(
        200, PostCallResponse(conversation_id=data.conversation_id, slot_released=released).model_dump()
    )


dependencies().warm_up(
    lambda deps: (deps.incoming_calls, deps.conversation_starts),
    secrets=lambda settings: (
        settings.threecx_secret_name,
        settings.agent_secret_name,
        settings.caller_key_secret_name,
        settings.edge_origin_secret_name,  # "" without the edge: not read
    ),
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = dependencies()
    with deps.bounded_by(context), webhook_latency(event.get("routeKey", ""), deps.aws_timer):
        response = app.resolve(event, context)
    count_http_answer(response["statusCode"])
    return response
