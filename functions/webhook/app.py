"""3CX incoming-call webhook and ElevenLabs conversation-init webhook."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths

from warmline.agent_slots import lease_tools
from warmline.caller_id import IdentifiedCaller
from warmline.callers import InvalidCallerNumber, is_withheld, mask, normalise_number
from warmline.calls import (
    CloneProgress,
    ConversationStart,
    IncomingCall,
    QueueUnavailable,
    call_answered_event,
    conversation_started_event,
    with_agents_own,
)
from warmline.clone_state import IncomingNote
from warmline.dependencies import dependencies
from warmline.http import (
    HttpError,
    Middleware,
    answers,
    caller_number,
    http_app,
    json_body,
    json_response,
    secret_required,
)
from warmline.observability import (
    count_caller_identity,
    count_handoff_arrival,
    count_http_answer,
    count_incoming_call,
    count_warm_up,
    logger,
    metrics,
    webhook_latency,
)
from warmline.prewarm import warm_ahead
from warmline.routes import CONVERSATION_INIT, INCOMING_CALL
from warmline.wire import (
    AgentOverride,
    ConfigOverride,
    ConversationInitRequest,
    ConversationInitResponse,
    IncomingCallRequest,
    IncomingCallResponse,
    PromptOverride,
    TtsOverride,
)

app = http_app()


def _secret(setting: str) -> Middleware:
    """The shared secret named by this Settings field (its header is checked before the route runs)."""
    return secret_required(
        lambda: dependencies().shared_secret(getattr(dependencies().settings, setting)),
        origin=lambda: dependencies().origin_secret(),
    )


def _unreadable(error: HttpError) -> ConversationInitRequest:
    """Never a 4xx: a body that cannot be read counts as an empty one, so the agent still gets its data."""
    logger.warning("conversation-init body not readable, answering with the defaults: %s", error.message)
    return ConversationInitRequest()


@app.post(
    INCOMING_CALL.rule,
    summary="3CX: a call came in",
    description="3CX's CFD script posts each incoming call (secret: the 3CX one); the answer routes it.",
    responses=answers("How 3CX routes the call, and the caller's clone status.", 400, 401, 413, 415, 503),
    middlewares=[_secret("threecx_secret_name")],
)
def incoming_call(
    request: Annotated[IncomingCallRequest, json_body(IncomingCallRequest)],
) -> Response[IncomingCallResponse]:
    deps = dependencies()
    arrived_ms = int(deps.clock.now() * 1000)  # the call's timeline starts here, before its job is queued
    number = _caller(request.caller, field="caller")
    key = deps.caller_key(number) if number else None
    logger.append_keys(threecx_call_id=request.call_id, caller=mask(number or ""), caller_key=key)

    call = IncomingCall(
        caller_key=key, caller_number=number, threecx_call_id=request.call_id, dialled_number=request.did
    )
    try:
        decision = deps.call_desk.answer(call)
    except QueueUnavailable as error:
        logger.exception("clone job not queued")
        raise HttpError(503, "queue_unavailable", str(error)) from error
    logger.info("incoming call answered", extra={"voice": decision.voice, "clone_status": decision.progress})
    count_incoming_call(decision)
    count_warm_up(warm_ahead(deps.check_clone_warmer, decision, deps.clock))  # before the caller's press
    _note(call)
    answered = call_answered_event(call, decision, arrived_ms)
    if answered is not None:
        try:
            deps.events.record(answered)
        except Exception:
            # The call must still be routed; only the metrics endpoint misses this call.
            logger.exception("call_answered event not stored")
    answer = IncomingCallResponse(
        route="agent_callback" if decision.greeting_call_placed else "agent",
        voice=decision.voice.value,
        clone_status=decision.progress.value,
        job_queued=decision.job_queued,
        greeting_call_placed=decision.greeting_call_placed,
        caller=mask(number or ""),
    )
    return json_response(200, answer.model_dump())


@app.post(
    CONVERSATION_INIT.rule,
    summary="ElevenLabs: conversation-initiation webhook",
    description="The agent's initiation data (secret: the agent one). A body that cannot be read "
    "counts as an empty one: the agent always gets its data.",
    responses=answers("The voice and first message for this conversation.", 401, 503),
    middlewares=[_secret("agent_secret_name")],
)
def conversation_init(
    request: Annotated[
        ConversationInitRequest, json_body(ConversationInitRequest, optional=True, unreadable=_unreadable)
    ],
) -> Response[ConversationInitResponse]:
    deps = dependencies()
    number = _readable_number(request.caller_id)
    if number is None and request.caller_id and not is_withheld(request.caller_id):
        logger.warning("caller_id is not a number warmline can read: the agent's own voice")
    logger.append_keys(call_sid=request.call_sid, caller=mask(number or ""))
    identified = _identify(number, request) if number else None
    key = identified.caller_key if identified else None
    logger.append_keys(caller_key=key)

    start = deps.call_desk.start_conversation(key, identified.state if identified else None)
    logger.info("conversation started", extra={"voice": start.voice, "clone_status": start.progress})
    if identified is not None:
        _note_reentry(identified, start, request.call_sid or "")
        _record_start(identified, start, request.call_sid or "")
    override = ConfigOverride(
        tts=TtsOverride(voice_id=start.voice_id) if start.voice_id else None,
        agent=AgentOverride(first_message=start.first_message) if start.first_message else None,
    )
    # HandoffMode=agent_transfer: a voice-slot agent for this call, and the tool that transfers to it.
    cloning = start.progress in (CloneProgress.PENDING, CloneProgress.CLONING) and override.agent is not None
    tools = lease_tools(deps.agent_slots, key, cloning)
    if tools is not None and override.agent is not None:
        override.agent.prompt = PromptOverride(tool_ids=tools)
    variables = with_agents_own(start.dynamic_variables, _agent_defaults(request.agent_id))
    answer = ConversationInitResponse(dynamic_variables=variables, conversation_config_override=override)
    return json_response(200, answer.to_json())


def _agent_defaults(agent_id: str | None) -> dict[str, str] | None:
    """The agent's own dynamic variables as `configure` recorded them; None if it could not be read
    (the agent still gets warmline's variables)."""
    if not agent_id:
        return None
    try:
        return dependencies().agent_variables.defaults(agent_id)
    except Exception:
        logger.exception("could not read the agent's recorded dynamic variables")
        return None


def _identify(number: str, request: ConversationInitRequest) -> IdentifiedCaller:
    """Did this caller come in through 3CX? Counted and reported when not (warmline.caller_id)."""
    deps = dependencies()
    called = _readable_number(request.called_number)
    identified = deps.caller_ids.identify(
        deps.caller_key(number),
        (deps.caller_key(called),) if called else (),
        seen_by="conversation_init",
        reference=request.call_sid or "",
    )
    count_caller_identity(identified)
    return identified


def _note_reentry(identified: IdentifiedCaller, start: ConversationStart, reference: str) -> None:
    """The re-entry of a handoff completes it (warmline.handoffs); the agent gets its answer whatever."""
    try:
        arrival = dependencies().handoffs.reentered(identified, start, reference)
    except Exception:
        logger.exception("could not note the handoff's re-entry: the sweep will count it as lost")
        return
    if arrival is not None:
        count_handoff_arrival(arrival)


def _record_start(identified: IdentifiedCaller, start: ConversationStart, reference: str) -> None:
    """The call's timeline (`warmline calls show`); the agent gets its answer whatever."""
    deps = dependencies()
    call_id = identified.call.threecx_call_id if identified.call is not None else ""
    at_ms = int(deps.clock.now() * 1000)
    started = conversation_started_event(identified.caller_key, start, call_id, reference, at_ms)
    if started is None:
        return
    try:
        deps.events.record(started)
    except Exception:
        logger.exception("conversation_started event not stored")


def _note(call: IncomingCall) -> None:
    """The note that tells conversation-init and check_clone this caller came in through 3CX."""
    deps = dependencies()
    dialled = _readable_number(call.dialled_number)
    note = IncomingNote(
        caller_key=call.caller_key or "",
        dialled_key=deps.caller_key(dialled) if dialled else "",
        threecx_call_id=call.threecx_call_id,
        at_ms=int(deps.clock.now() * 1000),
    )
    try:
        deps.caller_ids.note(note)
    except Exception:
        # The call must still be routed; the agent's side may then report its caller as not passed.
        logger.exception("incoming call not noted")


def _readable_number(raw: str | None) -> str | None:
    """A number as ElevenLabs or 3CX gives it (digits, or a sip:/tel: URI), normalised; None when it
    is absent, withheld or cannot be read."""
    if raw is None or is_withheld(raw):
        return None
    try:
        return normalise_number(raw, dependencies().settings.default_country_code)
    except InvalidCallerNumber:
        return None


def _caller(raw: str, *, field: str) -> str | None:
    """The normalised number, or None when the caller withheld it (they get the default voice)."""
    if is_withheld(raw):
        return None
    return caller_number(raw, field=field, default_country_code=dependencies().settings.default_country_code)


dependencies().warm_up(
    "store",
    "calls",
    "events",
    "handoffs",
    "queue",
    "check_clone_warmer",
    secrets=("threecx_secret_name", "agent_secret_name", "caller_key_secret_name"),
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = dependencies()
    with deps.bounded_by(context), webhook_latency(event.get("routeKey", ""), deps.aws_timer):
        response = app.resolve(event, context)
    count_http_answer(response["statusCode"])
    return response
