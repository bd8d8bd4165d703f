"""An emulator of the ElevenLabs endpoints warmline calls, for the local stack and for tests.

It serves the response shapes of the OpenAPI subset in `emulators/openapi/` and rejects (422) requests
that do not match it (see `emulators/openapi_check.py`). It keeps cloned voices in memory, sleeps a
configurable time per clone, enforces a voice-slot limit, and answers injected faults.

Behaviour worth knowing:
- Every `/v1/...` and `/v2/...` request needs the header `xi-api-key`; a missing or wrong key
  answers 401. A query parameter the operation does not document, or of the wrong type, answers 422.
- Premade voices (`PREMADE_VOICES`) are listed and readable, use no slot, and cannot be deleted
  (DELETE answers 400 `voice_not_deletable`). An unknown voice answers 400 `voice_not_found`, as
  ElevenLabs has (it has also answered 404 and 400 `voice_does_not_exist`).
- `GET /v2/voices` filters by `category` and `voice_type` (`personal`, `non-default` and
  `non-community` take in the account's cloned voices; `default` and `non-community` the premade
  ones), searches (`search`, in name, description, labels and category) and pages
  (`page_size` at most 100, `next_page_token`); its first page also carries the premade voices.
  `GET /v1/voices` lists everything at once (ElevenLabs' stops working past 500 voices).
- `voice_add_edit_counter` counts clones; with `max_voice_add_edits` set, a clone past it answers
  400 `voice_add_edit_limit_reached` (a stand-in: ElevenLabs documents the fields, not the refusal).
- Switch `clones_need_verification` (default off; `configure(clones_need_verification=True)` or
  `POST /_emulator/config {"clones_need_verification": true}`, one of the worlds below): every clone
  is made and answered with `requires_verification: true` (SDK `AddVoiceIvcResponseModel`: "The new
  voice requires verification before use"). When ElevenLabs asks this of a caller's sample is
  undocumented; the
  emulator plays both worlds.
- Switch `voice_search` (`substring` by default, or `words`): how `search` matches, undocumented at
  ElevenLabs. `words` matches a search only as a whole word of the text (so `warmline-ck_1-` finds
  nothing), as a full-text index would; warmline's look-ups must not depend on either.
- Switch `lenient_dynamic_variables` (default off, as ElevenLabs documents): a phone conversation
  whose conversation-initiation answer lacks a dynamic variable the agent declares fails at its
  start ("Missing required dynamic variables"); on, it goes on with the placeholders.
- Switch `simulated_refer_succeeds` (default off): in agent testing, a simulation's
  transfer_to_number is called but its SIP REFER fails (a text simulation has no SIP dialog); on,
  it reports `transfer_to_number_sip_success`.
- Clone latency defaults to `CloneLatency.demo()` (5–30 s scaled by 0.25); tests pass `instant()`.
- A clone reserves its slot when it arrives, so concurrent clones never exceed `voice_limit`.
- Faults (`Fault`) match a method and a path prefix and apply to the next `count` matching requests,
  or to all of them with `always`. Kinds: `status` answers an error without doing anything (after
  `seconds`, if given: ElevenLabs takes its time to turn down a voice sample, too); `hang`
  sleeps `seconds` and then serves the request normally (so a hung clone still creates its voice,
  as a real one whose answer was too slow would); `after_effect_status` does the real work and then
  answers the error (the clone happened but its answer was lost); `body` answers `status` with any
  JSON value, documented or not (an answer the caller did not expect); `late_answer` does the real
  work and then waits `seconds` before answering (the voice exists while its answer is on its way:
  a test can stop the caller in that moment).
- Agents, tools and workspace secrets (the operator CLI's endpoints) live in memory. One agent,
  `DEFAULT_AGENT_ID`, exists from the start (and after a reset) in its factory state: no webhook, no
  overrides, no tools. PATCH of an agent deep-merges objects and replaces lists and scalars; its
  open-ended `conversation_config` and `platform_settings` are checked against the request models
  agents/create uses. Secret values are never answered, as at ElevenLabs; `secret_value()` reads
  them for tests.
- `in_flight()` counts the requests received and not answered yet (a hung clone counts until it
  has made its voice), so a test can wait until nothing more can appear.
- Phone calls to an agent (`emulators/agent_platform.py`): `POST /_emulator/sip/inbound` with an INVITE's
  `from`/`to` starts a conversation (the agent's conversation-initiation webhook is called with a
  SIP-shaped body), `POST /_emulator/conversations/<id>/tool-calls` runs one of the agent's webhook
  tools as configured, `POST /_emulator/conversations/<id>/transfer` answers the SIP REFER its
  transfer_to_number tool sends (`{"refer_answer": 403}`: the PBX refused it, and the caller stays),
  `POST /_emulator/conversations/<id>/agent-transfer {"agent_number": 0, "tool"?}` plays its
  `transfer_to_agent` tool in the same conversation (`emulators/agent_transfer.py`; world
  `agent_transfer_reads`), `POST .../end` hangs up, and `GET /_emulator/conversations/<id>` shows the
  live conversation with `spoken`: which agent spoke each turn in which voice (ElevenLabs' history
  names the agent, not the voice). An outbound call of a known agent is answered at once and
  played the same way.
- Agent testing (`emulators/agent_testing.py`): simulation tests run the emulated agent with a scripted
  user; tests are listed (`GET /v1/convai/agent-testing`) and read (`GET .../agent-testing/{id}`).
- Agents are also created (`POST /v1/convai/agents/create`, over the factory settings, so a new agent
  has a voice), listed (`GET /v1/convai/agents`, newest first, `search`, `page_size`, `cursor`) and
  deleted (204). A tool an agent uses is deleted only with `force=true`, which takes it out of the agent.
- Conversation history (`emulators/conversation_history.py`): every call the emulator plays or places
  (inbound SIP, outbound sip-trunk and twilio) is listed and readable with its `phone_call`, transcript
  and initiation data (the voice and first message the initiation webhook set, its variables).
- Every answer of a status the OpenAPI documents for its operation is checked against that response
  schema (`check_answers`, on by default); an answer that does not match becomes a 500
  `emulator_answer_not_documented` naming the problems, so a shape cannot drift unnoticed. Injected
  `status` and `body` faults are not checked (they are meant to be undocumented); a `corrupt` fault
  (the real work, then `body` merged into the answer as an RFC 7386 merge patch) is.
- The official `elevenlabs` SDK (2.78.0) judges the emulator (tests/integration/test_official_client.py).
  Where it and the OpenAPI copy disagree, it wins: the multipart `labels=null` it sends for unset
  labels is taken (ElevenLabs takes it); the query parameters it sends that the copy lacks
  (`openapi_check.SDK_QUERY_PARAMETERS`: `force` on DELETE agent,
  `include_procedure_generated_workflow_elements` on GET/PATCH agent, `tags` on the agent list,
  `used_by_agent_id` on the tool list, `created_by_user_id` on the test list, eight filters on the
  conversation list) are accepted; an agent summary carries the
  `voice_id` and `updated_at_unix_secs` its model requires (`openapi_check.SDK_REQUIRED`).
- Worlds (`emulators/worlds.py`): one switch per platform behaviour no document settles (caller ID,
  the called number, the REFER's answer, a failing conversation-init, unpermitted overrides, agent
  testing's init, PATCH merging, search lag, DTMF, clones needing verification), set with
  `POST /_emulator/config {"worlds": {...}}`. By default a conversation-init answer with an override
  the agent does not permit ends the conversation, as documented (`unpermitted_override`).
  `POST /_emulator/conversations/<id>/dtmf` presses keys on a call (a user turn with
  `source_medium: dtmf` in the conversation's history). `warmline elevenlabs probe` uses these.
- Post-call webhooks (`emulators/post_call.py`): `POST /v1/workspace/webhooks` makes one and answers
  its secret; once `PATCH /v1/convai/settings` names it with the `transcript` event, every
  conversation that ends (a hang-up, an accepted REFER, a failed start) is POSTed to it as
  `post_call_transcription`, HMAC-signed in `ElevenLabs-Signature`, before the hang-up is answered.
- Control endpoints under `/_emulator/` need no key and are not recorded. The server binds to
  127.0.0.1 only.

Run it as its own process with `python -m emulators.elevenlabs --port 8765 --api-key KEY`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import secrets
import signal
import string
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import httpx
from flask import Flask, Response, g, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulators import (
    agent_platform,
    agent_testing,
    agent_transfer,
    conversation_history,
    openapi_check,
    post_call,
)
from emulators.paging import cursor_page
from emulators.worlds import TRUNK_NUMBER, Worlds, ended_by
from warmline.adapters.elevenlabs import tls_context

ID_ALPHABET = string.ascii_letters + string.digits
GREETING_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"
DEFAULT_AGENT_ID = "agent_warmline_local"
# The probes' operations the OpenAPI subset does not hold yet (emulators/openapi/): not checked.
AGENT_PARTS_SCHEMAS = {
    "conversation_config": "ConversationalConfigAPIModel-Input",
    "platform_settings": "AgentPlatformSettingsRequestModel",
}
PREMADE_VOICES: dict[str, dict[str, Any]] = {
    GREETING_VOICE_ID: {
        "name": "Rachel",
        "labels": {"accent": "american", "gender": "female", "use_case": "narration"},
    },
    "EXAVITQu4vr4xnSDxMaL": {
        "name": "Sarah",
        "labels": {"accent": "american", "gender": "female", "use_case": "news"},
    },
}
FORM_MIMETYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
API_PREFIXES = ("/v1/", "/v2/")
ERROR_CODES_429 = (
    "too_many_concurrent_requests",
    "system_busy",
    "rate_limit_exceeded",
    "concurrent_limit_exceeded",
)
DEFAULT_ERROR_CODES: dict[int, str] = {
    400: "invalid_parameters",
    401: "invalid_api_key",
    403: "missing_permissions",
    404: "not_found",
    429: "too_many_concurrent_requests",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


@dataclass(frozen=True)
class CloneLatency:
    """How long a clone takes: a triangular draw over [min, max] with its mode at min (most clones
    are quick, a few are slow; the mean is (2*min + max) / 3), multiplied by `scale`."""

    min_seconds: float
    max_seconds: float
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_seconds <= self.max_seconds or self.scale < 0:
            raise ValueError(f"invalid clone latency {self}")

    @classmethod
    def realistic(cls) -> CloneLatency:
        return cls(5.0, 30.0)

    @classmethod
    def demo(cls) -> CloneLatency:
        return cls(5.0, 30.0, scale=0.25)

    @classmethod
    def instant(cls) -> CloneLatency:
        return cls(0.0, 0.0)

    def draw(self, rng: random.Random) -> float:
        if self.max_seconds == self.min_seconds:
            return self.min_seconds * self.scale
        return rng.triangular(self.min_seconds, self.max_seconds, self.min_seconds) * self.scale


TRICKLE_BYTES = 100
FAULT_KINDS = ("status", "hang", "after_effect_status", "body", "corrupt", "trickle", "late_answer")
FaultKind = Literal["status", "hang", "after_effect_status", "body", "corrupt", "trickle", "late_answer"]
BodyStyle = Literal["status", "code", "list", "text"]
VoiceSearch = Literal["substring", "words"]
# GET /v2/voices voice_type values that take in the account's own cloned voices / the premade ones.
OWN_VOICE_TYPES = (None, "personal", "non-default", "non-community")
PREMADE_VOICE_TYPES = (None, "default", "non-community")


@dataclass
class Fault:
    """An injected failure. `body_style` picks the error body's shape: `status` is the legacy
    `{"detail": {"status", "message"}}`, `code` the newer `{"detail": {"type", "code", "message",
    "status", "request_id"}}`, `list` a FastAPI-style detail list, `text` a plain-text body."""

    path_prefix: str = "/"
    method: str = "*"
    kind: FaultKind = "status"
    status: int = 500
    code: str = ""
    message: str = ""
    body_style: BodyStyle = "status"
    seconds: float = 0.0
    count: int = 1
    always: bool = False
    # kind `body`: answer `status` with this JSON value, whatever was asked; kind `corrupt`: do the
    # real work and merge this JSON object into the answer (RFC 7386: null removes a key)
    body: Any = None
    # kind `trickle`: answer `status` with `body`, after TRICKLE_BYTES of blank padding sent one byte
    # every `seconds` (each read gets data in time; the whole answer takes far longer)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.body_style not in ("status", "code", "list", "text"):
            raise ValueError(f"unknown body style {self.body_style!r}")
        self.method = self.method.upper()

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and path.startswith(self.path_prefix)


def error_response(
    status: int, code: str = "", message: str = "", body_style: BodyStyle = "status"
) -> Response:
    code = code or DEFAULT_ERROR_CODES.get(status, f"http_{status}")
    message = message or f"Emulated error {code}."
    if body_style == "text":
        return Response(f"{status} {message}", status=status, mimetype="text/plain")
    if body_style == "list":
        body: Any = {"detail": [{"loc": ["body"], "msg": message, "type": code}]}
    elif body_style == "code":
        detail = {"type": "error", "code": code, "message": message, "status": code}
        body = {"detail": detail | {"request_id": secrets.token_hex(8)}}
    else:
        body = {"detail": {"status": code, "message": message}}
    response = jsonify(body)
    response.status_code = status
    return response


def validation_response(problems: list[str]) -> Response:
    response = jsonify({"detail": [_validation_item(problem) for problem in problems]})
    response.status_code = 422
    return response


def _validation_item(problem: str) -> dict[str, Any]:
    parts = problem.split(": ", 2)
    if len(parts) < 3:
        return {"loc": ["body"], "msg": problem, "type": "value_error"}
    where, location, message = parts
    path = [part for part in location.split("/") if part and part != "(root)"]
    return {"loc": [where, *path], "msg": message, "type": "value_error"}


class _QuietRequestHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class Emulator:
    default_agent_id = DEFAULT_AGENT_ID

    def __init__(
        self,
        api_key: str,
        *,
        clone_latency: CloneLatency | None = None,
        voice_limit: int = 30,
        max_voice_add_edits: int | None = None,
        seed: int | None = None,
        check_answers: bool = True,
        clones_need_verification: bool = False,
        voice_search: VoiceSearch = "substring",
        lenient_dynamic_variables: bool = False,
    ) -> None:
        self.api_key = api_key
        self.clone_latency = clone_latency or CloneLatency.demo()
        self.voice_limit = voice_limit
        self.max_voice_add_edits = max_voice_add_edits
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._voices: dict[str, dict[str, Any]] = {}
        self._reserved_slots = 0
        self._voice_add_count = 0
        self._open_requests: list[dict[str, Any]] = []  # received, not answered yet (hung ones too)
        # Bumped by reset(), so requests still in flight across a reset leave no voice or record.
        self._generation = 0
        self._faults: list[Fault] = []
        self._records: list[dict[str, Any]] = []
        self._agents: dict[str, dict[str, Any]] = {DEFAULT_AGENT_ID: _factory_agent(DEFAULT_AGENT_ID)}
        self._tools: dict[str, dict[str, Any]] = {}
        self._secrets: dict[str, dict[str, str]] = {}
        self._conversations: dict[str, agent_platform.Conversation] = {}
        # emulators/worlds.py: the platform behaviours no document settles
        self.worlds = Worlds(
            clones_need_verification=clones_need_verification,
            voice_search=voice_search,
            lenient_dynamic_variables=lenient_dynamic_variables,
        )
        self.history = conversation_history.ConversationHistory()
        # The agent's own requests on calls: the conversation-init webhook and its tools.
        self._agent_http = httpx.Client(limits=httpx.Limits(max_connections=None), verify=tls_context())
        self.post_call = post_call.PostCallWebhooks(self._agent_http)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.agent_testing = agent_testing.AgentTesting(
            self.agent, self.tools, self._secret_values, self._agent_http
        )
        # Every answer of a documented status is checked against the OpenAPI response schemas; one
        # that does not match is answered 500 `emulator_answer_not_documented` instead.
        self.check_answers = check_answers
        self.agent_testing.worlds = lambda: self.worlds
        self.app = self._create_app()

    # ---- running -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if host != "127.0.0.1":
            raise ValueError("the emulator binds to 127.0.0.1 only")
        self._stopping.clear()
        self._server = make_server(host, port, self.app, threaded=True, request_handler=_QuietRequestHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="elevenlabs-emulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping in a hang or a clone
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._agent_http.close()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- control -------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def requests(self, path_prefix: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            records = [dict(record) for record in self._records]
        return [record for record in records if path_prefix is None or record["path"].startswith(path_prefix)]

    def voices(self) -> list[dict[str, Any]]:
        """The cloned voices (premade ones excluded), oldest first."""
        with self._lock:
            return [dict(voice) for voice in self._voices.values()]

    def in_flight(self, path_prefix: str = "/") -> int:
        """Requests received and not answered yet: a hung clone counts until it has made its voice."""
        with self._lock:
            return sum(1 for record in self._open_requests if record["path"].startswith(path_prefix))

    def reset(self) -> None:
        with self._lock:
            self._voices.clear()
            self._faults.clear()
            self._records.clear()
            self._voice_add_count = 0
            self.max_voice_add_edits = None
            self._agents = {DEFAULT_AGENT_ID: _factory_agent(DEFAULT_AGENT_ID)}
            self._tools.clear()
            self._secrets.clear()
            self._conversations.clear()
            self.worlds = Worlds()
            self._generation += 1
        self.agent_testing.reset()
        self.history.reset()
        self.post_call.reset()

    def configure(
        self,
        *,
        clone_latency: CloneLatency | None = None,
        voice_limit: int | None = None,
        max_voice_add_edits: int | Literal["keep"] | None = "keep",
        clones_need_verification: bool | None = None,
        voice_search: VoiceSearch | None = None,
        lenient_dynamic_variables: bool | None = None,
        simulated_refer_succeeds: bool | None = None,
    ) -> None:
        if voice_search not in (None, "substring", "words"):
            raise ValueError(f"voice_search is 'substring' or 'words', not {voice_search!r}")
        switches = {
            "clones_need_verification": clones_need_verification,
            "voice_search": voice_search,
            "lenient_dynamic_variables": lenient_dynamic_variables,
            "simulated_refer_succeeds": simulated_refer_succeeds,
        }
        with self._lock:
            self.worlds = self.worlds.changed({k: v for k, v in switches.items() if v is not None})
            if clone_latency is not None:
                self.clone_latency = clone_latency
            if voice_limit is not None:
                self.voice_limit = voice_limit
            if max_voice_add_edits != "keep":
                self.max_voice_add_edits = max_voice_add_edits

    # ---- the app -------------------------------------------------------------------------------

    def _create_app(self) -> Flask:
        app = Flask("elevenlabs_emulator")
        app.before_request(self._before_request)
        app.after_request(self._after_request)
        app.teardown_request(self._teardown_request)
        app.register_error_handler(404, lambda _error: _detail_response(404, "Not Found"))
        app.register_error_handler(405, lambda _error: _detail_response(405, "Method Not Allowed"))

        routes = [
            ("POST", "/v1/voices/add", self._add_voice),
            ("GET", "/v1/voices", self._list_voices),
            ("GET", "/v2/voices", self._search_voices),
            ("GET", "/v1/voices/<voice_id>", self._get_voice),
            ("DELETE", "/v1/voices/<voice_id>", self._delete_voice),
            ("GET", "/v1/user/subscription", self._get_subscription),
            ("POST", "/v1/convai/sip-trunk/outbound-call", self._sip_trunk_outbound_call),
            ("POST", "/v1/convai/twilio/outbound-call", self._twilio_outbound_call),
            ("GET", "/v1/convai/agents/<agent_id>", self._get_agent),
            ("PATCH", "/v1/convai/agents/<agent_id>", self._patch_agent),
            ("GET", "/v1/convai/tools", self._list_tools),
            ("POST", "/v1/convai/tools", self._add_tool),
            ("GET", "/v1/convai/tools/<tool_id>", self._get_tool),
            ("PATCH", "/v1/convai/tools/<tool_id>", self._update_tool),
            ("GET", "/v1/convai/secrets", self._list_secrets),
            ("POST", "/v1/convai/secrets", self._add_secret),
            ("PATCH", "/v1/convai/secrets/<secret_id>", self._update_secret),
            *self.agent_testing.routes(),
            *self.history.routes(),
            *self.post_call.routes(),
            *self._agent_admin_routes(),
            ("GET", "/_emulator/requests", lambda: jsonify(self.requests(request.args.get("path_prefix")))),
            ("GET", "/_emulator/voices", lambda: jsonify(self.voices())),
            ("GET", "/_emulator/faults", lambda: jsonify(self.faults())),
            ("POST", "/_emulator/faults", self._control_inject),
            ("DELETE", "/_emulator/faults", lambda: _ok(self.clear_faults())),
            ("POST", "/_emulator/reset", lambda: _ok(self.reset())),
            ("POST", "/_emulator/config", self._control_config),
            ("POST", "/_emulator/sip/inbound", self._control_inbound_call),
            ("POST", "/_emulator/conversations/<conversation_id>/tool-calls", self._control_tool_call),
            ("POST", "/_emulator/conversations/<conversation_id>/transfer", self._control_transfer),
            ("POST", "/_emulator/conversations/<conversation_id>/dtmf", self._control_dtmf),
            (
                "POST",
                "/_emulator/conversations/<conversation_id>/agent-transfer",
                self._control_agent_transfer,
            ),
            ("GET", "/_emulator/conversations/<conversation_id>", self._control_conversation),
            ("POST", "/_emulator/conversations/<conversation_id>/end", self._control_end),
        ]
        for method, rule, view in routes:
            app.add_url_rule(rule, f"{method} {rule}", view, methods=[method])
        return app

    def _before_request(self) -> Response | None:
        if not request.path.startswith(API_PREFIXES):
            return None
        g.record = self._start_record()
        g.generation = self._generation
        with self._lock:
            self._open_requests.append(g.record)
        g.after_effect = None
        g.answer_is_ours = True  # not an injected fault's: checked against the OpenAPI answers
        if request.headers.get("xi-api-key") != self.api_key:
            return error_response(401, "invalid_api_key", "Invalid API key.")
        if request.routing_exception is not None:
            return None  # answered by the 404/405 handlers
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            g.answer_is_ours = fault.kind in ("hang", "corrupt", "late_answer")
            if fault.kind == "status":
                self._stopping.wait(fault.seconds)
                return error_response(fault.status, fault.code, fault.message, fault.body_style)
            if fault.kind == "body":
                return Response(json.dumps(fault.body), status=fault.status, mimetype="application/json")
            if fault.kind == "trickle":
                return Response(self._trickle(fault), status=fault.status, mimetype="application/json")
            if fault.kind == "hang":
                self._stopping.wait(fault.seconds)
            else:
                g.after_effect = fault
        problems = self._request_problems()
        if problems:
            return validation_response(problems)
        return None

    def _trickle(self, fault: Fault) -> Iterator[bytes]:
        for _ in range(TRICKLE_BYTES):
            if self._stopping.wait(fault.seconds):
                return
            yield b" "
        yield json.dumps(fault.body if fault.body is not None else {}).encode()

    def _after_request(self, response: Response) -> Response:
        record = g.get("record")
        if record is None:
            return response
        fault = g.get("after_effect")
        if fault is not None and fault.kind == "corrupt":
            response = _corrupted(response, fault.body)
        elif fault is not None and fault.kind == "late_answer":
            self._stopping.wait(fault.seconds)
        elif fault is not None and response.status_code < 400:
            response = error_response(fault.status, fault.code, fault.message, fault.body_style)
        if g.get("answer_is_ours") and self.check_answers:
            response = self._checked_answer(response)
        record["status"] = response.status_code
        record["answered_at"] = time.time()
        with self._lock:
            if g.generation == self._generation:
                self._records.append(record)
        return response

    def _checked_answer(self, response: Response) -> Response:
        """`response`, or a 500 naming its problems when its JSON does not match the answer the
        OpenAPI documents for its status (statuses it does not document, ElevenLabs' errors, pass)."""
        if not response.is_json or response.status_code == 204:
            return response
        operation = openapi_check.find_operation(request.method, request.path)
        if operation is None or str(response.status_code) not in operation.get("responses", {}):
            return response
        problems = openapi_check.validate_response(
            request.method, request.path, response.status_code, response.get_json()
        )
        if not problems:
            return response
        message = f"The emulator's answer to {request.method} {request.path} is not documented: " + "; ".join(
            problems[:5]
        )
        return error_response(500, "emulator_answer_not_documented", message)

    def _teardown_request(self, _error: BaseException | None) -> None:
        record = g.get("record")
        with self._lock:
            self._open_requests = [item for item in self._open_requests if item is not record]

    def _start_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": request.args.to_dict(flat=False),
            "received_at": time.time(),
        }
        if request.mimetype in FORM_MIMETYPES:
            record["form"] = request.form.to_dict(flat=False)
            record["files"] = [
                {
                    "field": name,
                    "filename": part.filename,
                    "size": _part_size(part),
                    "content_type": part.mimetype,
                }
                for name, part in request.files.items(multi=True)
            ]
        elif request.is_json:
            record["json"] = request.get_json(silent=True)
        return record

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if not fault.always:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _request_problems(self) -> list[str]:
        problems = openapi_check.validate_query(
            request.method, request.path, request.args.to_dict(flat=False)
        )
        return problems or self._body_problems()

    def _body_problems(self) -> list[str]:
        if request.mimetype in FORM_MIMETYPES:
            files: dict[str, list[tuple[str, int]]] = {}
            for name, part in request.files.items(multi=True):
                files.setdefault(name, []).append((part.filename or "", _part_size(part)))
            return openapi_check.validate_request(
                request.method, request.path, form_fields=request.form.to_dict(flat=False), files=files
            )
        json_body = request.get_json(silent=True) if request.content_length else None
        if request.content_length and json_body is None and request.method in ("POST", "PUT", "PATCH"):
            return ["body: (root): the body is not valid JSON"]
        return openapi_check.validate_request(request.method, request.path, json_body=json_body)

    # ---- ElevenLabs endpoints --------------------------------------------------------------------

    def _add_voice(self) -> Response:
        with self._lock:
            used = len(self._voices) + self._reserved_slots
            limit = self.voice_limit
            if used >= limit:
                return error_response(
                    400,
                    "voice_limit_reached",
                    f"You have reached your maximum amount of custom voices ({used} / {limit}). "
                    "You can upgrade your subscription to increase your custom voice limit.",
                )
            most = self.max_voice_add_edits
            if most is not None and self._voice_add_count + self._reserved_slots >= most:
                # ElevenLabs documents the counter and its maximum, not this refusal's code: the
                # emulator's stand-in. warmline checks the counter first, so it never relies on it.
                return error_response(
                    400,
                    "voice_add_edit_limit_reached",
                    f"You have used all {most} voice additions and edits of this period.",
                )
            self._reserved_slots += 1
            clone_latency = self.clone_latency
            needs_verification = self.worlds.clones_need_verification
        with self._rng_lock:
            latency = clone_latency.draw(self._rng)
        try:
            self._stopping.wait(latency)
            voice = self._new_cloned_voice()
            with self._lock:
                if g.generation == self._generation:
                    self._voices[voice["voice_id"]] = voice
                    self._voice_add_count += 1
        finally:
            with self._lock:
                self._reserved_slots -= 1
        return jsonify({"voice_id": voice["voice_id"], "requires_verification": needs_verification})

    def _new_cloned_voice(self) -> dict[str, Any]:
        labels_text = request.form.get("labels")
        samples = [
            {
                "sample_id": self._random_id(),
                "file_name": part.filename or "",
                "mime_type": part.mimetype or "application/octet-stream",
                "size_bytes": _part_size(part),
                "hash": hashlib.md5(part.stream.read(), usedforsecurity=False).hexdigest(),
            }
            for part in request.files.getlist("files")
        ]
        return {
            "voice_id": self._random_id(),
            "name": request.form["name"],
            "category": "cloned",
            "labels": _json_object(labels_text) if labels_text else {},
            "description": request.form.get("description"),
            "samples": samples,
            "created_at_unix": int(time.time()),
            "created_at": time.time(),  # for the search lag (emulators.worlds), never answered
        }

    def _list_voices(self) -> Response:
        with self._lock:
            cloned = list(self._voices.values())
        return jsonify({"voices": _premade_voices() + [_cloned_voice_response(voice) for voice in cloned]})

    def _search_voices(self) -> Response:
        """GET /v2/voices: `search` (in name, description, labels and category, ignoring case),
        `category`, pages of `page_size` (at most 100) chained by `next_page_token`. As documented,
        the first page also carries the default (premade) voices, beyond its size."""
        page_size = int(request.args.get("page_size", 10))
        if not 1 <= page_size <= 100:
            return validation_response(["query: page_size: must be between 1 and 100"])
        search = (request.args.get("search") or "").lower()
        category, voice_type = request.args.get("category"), request.args.get("voice_type")
        token = request.args.get("next_page_token") or "0"
        if not token.isdigit():
            return validation_response([f"query: next_page_token: {token!r} is not a token this API gave"])
        with self._lock:
            seen = _searchable(list(self._voices.values()), search, self.worlds.search_lag_seconds)
            cloned = [_cloned_voice_response(voice) for voice in seen]
            words = self.worlds.voice_search == "words"
        premade = _premade_voices()
        matching = [
            voice
            for voice in cloned
            if _voice_matches(voice, search, words)
            and category in (None, voice["category"])
            and voice_type in OWN_VOICE_TYPES
        ]
        start = int(token)
        page = matching[start : start + page_size]
        if start == 0 and category in (None, "premade") and voice_type in PREMADE_VOICE_TYPES:
            page = [voice for voice in premade if _voice_matches(voice, search, words)] + page
        has_more = start + page_size < len(matching)
        return jsonify(
            {
                "voices": page,
                "has_more": has_more,
                "total_count": len(matching),
                "next_page_token": str(start + page_size) if has_more else None,
            }
        )

    def _get_voice(self, voice_id: str) -> Response:
        if voice_id in PREMADE_VOICES:
            return jsonify(
                _voice_response({"voice_id": voice_id, **PREMADE_VOICES[voice_id]}, "premade", False)
            )
        with self._lock:
            voice = self._voices.get(voice_id)
        if voice is None:
            return _voice_not_found(voice_id)
        return jsonify(_cloned_voice_response(voice))

    def _delete_voice(self, voice_id: str) -> Response:
        if voice_id in PREMADE_VOICES:
            return error_response(400, "voice_not_deletable", "Premade voices cannot be deleted.")
        with self._lock:
            voice = self._voices.pop(voice_id, None)
        if voice is None:
            return _voice_not_found(voice_id)
        return jsonify({"status": "ok"})

    def _get_subscription(self) -> Response:
        with self._lock:
            used = len(self._voices)
            limit = self.voice_limit
            add_count = self._voice_add_count
            most_add_edits = self.max_voice_add_edits
        return jsonify(
            {
                "tier": "creator",
                "character_count": 0,
                "character_limit": 100000,
                "max_character_limit_extension": None,
                "max_credit_limit_extension": 0,
                "can_extend_character_limit": False,
                "allowed_to_extend_character_limit": False,
                "next_character_count_reset_unix": None,
                "voice_slots_used": used,
                "professional_voice_slots_used": 0,
                "professional_voice_slots_used_in_workspace": 0,
                "voice_limit": limit,
                "max_voice_add_edits": most_add_edits,
                "voice_add_edit_counter": add_count,
                "professional_voice_limit": 1,
                "can_extend_voice_limit": False,
                "can_use_instant_voice_cloning": True,
                "can_use_professional_voice_cloning": True,
                "current_overage": {"amount": "0.00", "currency": "usd"},
                "status": "active",
                "open_invoices": [],
                "has_open_invoices": False,
            }
        )

    def _sip_trunk_outbound_call(self) -> Response:
        return self._outbound_call("sip_call_id", "sip_" + secrets.token_hex(12))

    def _twilio_outbound_call(self) -> Response:
        return self._outbound_call("callSid", "CA" + secrets.token_hex(16))

    def _outbound_call(self, call_id_field: str, call_id: str) -> Response:
        with self._rng_lock:
            conversation_id = agent_platform.new_conversation_id(self._rng.choice)
        self._record_outbound(conversation_id, "twilio" if call_id_field == "callSid" else "sip_trunking")
        return jsonify(
            {
                "success": True,
                "message": "Call initiated successfully",
                "conversation_id": conversation_id,
                call_id_field: call_id,
            }
        )

    def _record_outbound(self, conversation_id: str, kind: str) -> None:
        """An outbound call of a known agent is answered at once and goes on as a conversation (the
        control endpoints play it, as an inbound one); of an unknown agent it is only recorded."""
        body = request.get_json(silent=True) or {}
        with self._lock:
            agent = _copy(self._agents.get(body["agent_id"])) or {"agent_id": body["agent_id"]}
        self.history.outbound(conversation_id, agent, body, kind)
        if "conversation_config" not in agent:
            return
        conversation = agent_platform.start_outbound(agent, body, conversation_id)
        self._go_on(conversation, agent)
        if conversation.first_message:
            self.history.add_turn(conversation_id, "agent", conversation.first_message)

    def _go_on(self, conversation: agent_platform.Conversation, agent: dict[str, Any]) -> None:
        """A conversation that started: its transfer targets as they are now (world
        `agent_transfer_reads`), and it is live for the control endpoints."""
        with self._lock:
            agents = _copy(self._agents)
        agent_transfer.capture_targets(conversation, agent, agents, self.tools())
        with self._lock:
            self._conversations[conversation.conversation_id] = conversation

    # ---- agents, tools, workspace secrets ---------------------------------------------------------

    def agent(self, agent_id: str = DEFAULT_AGENT_ID) -> dict[str, Any]:
        with self._lock:
            return _copy(self._agents[agent_id])

    def tools(self) -> list[dict[str, Any]]:
        with self._lock:
            return _copy(list(self._tools.values()))

    def secret_value(self, secret_id: str) -> str:
        with self._lock:
            return self._secrets[secret_id]["value"]

    def _change(self, kind: str, items: dict[str, Any], item_id: str, change: Any = None) -> Response:
        """Answer a copy of one agent or tool after `change(item)`; 404 `<kind>_not_found` if none."""
        with self._lock:
            item = items.get(item_id)
            if item is not None and change is not None:
                change(item)
            answer = _copy(item)
        if answer is None:
            return error_response(404, f"{kind}_not_found", f"{kind.capitalize()} {item_id} was not found.")
        return jsonify(answer)

    def _get_agent(self, agent_id: str) -> Response:
        return self._change("agent", self._agents, agent_id)

    def _patch_agent(self, agent_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        problems = []
        for part, schema in AGENT_PARTS_SCHEMAS.items():
            if body.get(part) is not None:
                problems += openapi_check.validate_schema(schema, body[part], f"body: {part}")
        if problems:
            return validation_response(problems)

        def patch(agent: dict[str, Any]) -> None:
            merge = _deep_merge if self.worlds.patch_merge == "deep" else _shallow_merge
            for part in AGENT_PARTS_SCHEMAS:
                if body.get(part) is not None:
                    agent[part] = merge(agent.get(part) or {}, body[part])
            if body.get("name") is not None:
                agent["name"] = body["name"]
            agent["metadata"]["updated_at_unix_secs"] = int(time.time())

        return self._change("agent", self._agents, agent_id, patch)

    def _list_tools(self) -> Response:
        search = request.args.get("search") or ""
        tools = [tool for tool in self.tools() if tool["tool_config"]["name"].startswith(search)]
        return jsonify({"tools": tools, "has_more": False, "next_cursor": None})

    def _add_tool(self) -> Response:
        body = request.get_json(silent=True) or {}
        creator = {
            "is_creator": True,
            "creator_name": "emulator",
            "creator_email": "emulator@example.invalid",
        }
        tool = {
            "id": "tool_" + self._random_id(),
            "tool_config": body["tool_config"],
            "access_info": creator | {"role": "admin"},
            "usage_stats": {"avg_latency_secs": 0.0},
        }
        with self._lock:
            self._tools[tool["id"]] = tool
        return jsonify(tool)

    def _get_tool(self, tool_id: str) -> Response:
        return self._change("tool", self._tools, tool_id)

    def _update_tool(self, tool_id: str) -> Response:
        config = (request.get_json(silent=True) or {})["tool_config"]
        return self._change("tool", self._tools, tool_id, lambda tool: tool.update(tool_config=config))

    def _list_secrets(self) -> Response:
        used_by = {"tools": [], "agents": [], "others": []}
        with self._lock:
            listed = [_stored_secret(secret) | {"used_by": used_by} for secret in self._secrets.values()]
        return jsonify({"secrets": listed, "next_cursor": None})

    def _add_secret(self) -> Response:
        body = request.get_json(silent=True) or {}
        secret = {"secret_id": self._random_id(), "name": body["name"], "value": body["value"]}
        with self._lock:
            if any(existing["name"] == secret["name"] for existing in self._secrets.values()):
                return error_response(400, "secret_name_taken", f"A secret named {body['name']} exists.")
            self._secrets[secret["secret_id"]] = secret
        return jsonify(_stored_secret(secret))

    def _update_secret(self, secret_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        with self._lock:
            secret = self._secrets.get(secret_id)
            if secret is None:
                return error_response(404, "secret_not_found", f"Secret {secret_id} was not found.")
            secret.update(name=body["name"], value=body["value"])
            return jsonify(_stored_secret(secret))

    # ---- agents created, listed and deleted; tools deleted (the probes, an operator's scripts) -------

    def _agent_admin_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "/v1/convai/agents/create", self._create_agent),
            ("GET", "/v1/convai/agents", self._list_agents),
            ("DELETE", "/v1/convai/agents/<agent_id>", self._delete_agent),
            ("DELETE", "/v1/convai/tools/<tool_id>", self._delete_tool),
        ]

    def _create_agent(self) -> Response:
        body = request.get_json(silent=True) or {}
        agent = _factory_agent("agent_" + self._random_id())
        agent.update(  # over the factory settings, as ElevenLabs fills in defaults (a voice)
            name=body.get("name") or "",
            conversation_config=_deep_merge(agent["conversation_config"], body["conversation_config"]),
            platform_settings=body.get("platform_settings") or {},
            tags=body.get("tags") or [],
        )
        with self._lock:
            self._agents[agent["agent_id"]] = agent
        return jsonify({"agent_id": agent["agent_id"]})

    def _list_agents(self) -> Response:
        """Newest first; `search` in the name, `page_size` (at most 100), `cursor`."""
        page_size = int(request.args.get("page_size", 30))
        if not 1 <= page_size <= 100:
            return validation_response(["query: page_size: must be between 1 and 100"])
        search = (request.args.get("search") or "").lower()
        with self._lock:
            agents = sorted(
                self._agents.values(),
                key=lambda agent: agent["metadata"]["created_at_unix_secs"],
                reverse=True,
            )
            matching = [_agent_summary(agent) for agent in agents if search in agent["name"].lower()]
        return cursor_page("agents", matching, page_size)

    def _delete_agent(self, agent_id: str) -> Response:
        with self._lock:
            agent = self._agents.pop(agent_id, None)
        if agent is None:
            return error_response(404, "agent_not_found", f"Agent {agent_id} was not found.")
        return Response(status=204)

    def _delete_tool(self, tool_id: str) -> Response:
        """A tool an agent still uses is refused (400 `tool_in_use`) unless `force=true`, which also
        takes it out of those agents."""
        with self._lock:
            prompts = [
                _at_path(agent, "conversation_config", "agent", "prompt") or {}
                for agent in self._agents.values()
            ]
            users = [prompt for prompt in prompts if tool_id in (prompt.get("tool_ids") or [])]
            if tool_id in self._tools and users and request.args.get("force") != "true":
                return error_response(400, "tool_in_use", f"Tool {tool_id} is used by {len(users)} agent(s).")
            for prompt in users:
                prompt["tool_ids"] = [kept for kept in prompt["tool_ids"] if kept != tool_id]
            tool = self._tools.pop(tool_id, None)
        if tool is None:
            return error_response(404, "tool_not_found", f"Tool {tool_id} was not found.")
        return jsonify({})

    def _random_id(self) -> str:
        with self._rng_lock:
            return "".join(self._rng.choice(ID_ALPHABET) for _ in range(20))

    # ---- control endpoints -----------------------------------------------------------------------

    def _control_inject(self) -> Response:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return _detail_response(400, "expected a JSON object describing a fault")
        known = {item.name for item in fields(Fault)}
        unknown = sorted(set(payload) - known)
        if unknown:
            return _detail_response(400, f"unknown fault fields {unknown}")
        try:
            fault = Fault(**payload)
        except (TypeError, ValueError) as error:
            return _detail_response(400, str(error))
        self.inject(fault)
        return jsonify(asdict(fault))

    # ---- phone calls to the agent (emulators.agent_platform) --------------------------------------------

    def _secret_values(self) -> dict[str, str]:
        with self._lock:
            return {secret_id: secret["value"] for secret_id, secret in self._secrets.items()}

    def _control_inbound_call(self) -> Response:
        """An INVITE reaches an agent: `{"from", "to", "agent_id"?, "headers"?, "caller_id_as"?}`."""
        invite = request.get_json(silent=True) or {}
        if not isinstance(invite.get("from"), str) or not isinstance(invite.get("to"), str):
            return _detail_response(400, "an inbound call needs the INVITE's from and to URIs")
        agent_id = invite.get("agent_id") or DEFAULT_AGENT_ID
        if agent_id not in self._agents:
            return _detail_response(404, f"no agent {agent_id}")
        agent = self.agent(agent_id)
        conversation = agent_platform.start(
            agent,
            self._invite_as_seen(invite),
            self._secret_values(),
            self._agent_http,
            lenient_variables=self.worlds.lenient_dynamic_variables,
        )
        self.history.inbound(conversation, agent)
        ended = ended_by(self.worlds, conversation, agent)
        if ended:
            self.history.failed_at_start(conversation.conversation_id, ended)
            self._told_ended(conversation.conversation_id)
        else:
            self._go_on(conversation, agent)
        return jsonify(conversation.describe() | {"ended": ended})

    def _conversation_and_agent(self, conversation_id: str) -> tuple[Any, dict[str, Any]] | None:
        with self._lock:
            conversation = self._conversations.get(conversation_id)
        return (conversation, self.agent(conversation.agent_id)) if conversation else None

    def _control_tool_call(self, conversation_id: str) -> Response:
        """The agent's LLM calls a tool: `{"tool": name, "parameters": {...}}`, and calls it again
        while its prompt's re-call rule matches the answer (agent_platform.call_tool_until_answered)."""
        found = self._conversation_and_agent(conversation_id)
        if found is None:
            return _detail_response(404, f"no conversation {conversation_id}")
        conversation, agent = found
        payload = request.get_json(silent=True) or {}
        tool = agent_platform.webhook_tool(agent, self.tools(), payload.get("tool"), conversation.tool_ids)
        if tool is None:
            return _detail_response(404, f"the agent has no webhook tool {payload.get('tool')!r}")
        try:
            result = agent_platform.call_tool_until_answered(
                conversation,
                agent,
                tool,
                payload.get("parameters") or {},
                self._secret_values(),
                self._agent_http,
            )
        except agent_platform.CallRefused as refused:
            return _detail_response(400, str(refused))
        self.history.tool_call(conversation_id, tool, payload.get("parameters") or {}, result)
        return jsonify(result)

    def _control_transfer(self, conversation_id: str) -> Response:
        """The agent transfers the call (its transfer_to_number tool): the SIP REFER it sends, and
        `{"refer_answer": N}` how the PBX answered it (202 by default). A refused REFER leaves the
        caller in this conversation; an accepted one ends it (the call leaves the agent)."""
        found = self._conversation_and_agent(conversation_id)
        if found is None:
            return _detail_response(404, f"no conversation {conversation_id}")
        try:
            refer = agent_platform.refer_target(found[1])
        except agent_platform.CallRefused as refused:
            return _detail_response(409, str(refused))
        answer = (request.get_json(silent=True) or {}).get("refer_answer", self.worlds.refer_answer)
        if not isinstance(answer, int) or not 200 <= answer <= 699:
            return _detail_response(400, "refer_answer must be a SIP status code (200-699)")
        transferred = 200 <= answer < 300
        self._note_transfer(conversation_id, refer, transferred)
        if transferred:
            with self._lock:
                self._conversations.pop(conversation_id, None)
            self._ended(conversation_id, "Call transferred (SIP REFER accepted)")
        return jsonify(
            {"transfer_type": "sip_refer", **refer, "refer_answer": answer, "transferred": transferred}
        )

    def _control_agent_transfer(self, conversation_id: str) -> Response:
        """The agent's LLM calls transfer_to_agent: `{"agent_number": 0, "tool": name?}`
        (emulators.agent_transfer). The conversation goes on with the target agent, in its voice."""
        found = self._conversation_and_agent(conversation_id)
        if found is None:
            return _detail_response(404, f"no conversation {conversation_id}")
        conversation, agent = found
        payload = request.get_json(silent=True) or {}
        call = {
            "agent_number": payload.get("agent_number", 0),
            "tool": payload.get("tool"),
            "reads": self.worlds.agent_transfer_reads,
        }
        with self._lock:
            agents = _copy(self._agents)
        outcome = agent_transfer.transfer(conversation, agent, agents, self.tools(), call)
        self.history.agent_transfer(conversation_id, outcome, {"agent_number": call["agent_number"]})
        return jsonify(
            outcome.result | {"transferred": outcome.transferred, "voice_id": conversation.voice_id}
        )

    def _control_conversation(self, conversation_id: str) -> Response:
        """A live conversation as the emulator plays it, with `spoken`: each agent turn's agent and
        voice (what a listener hears; ElevenLabs' history names the agent, not the voice)."""
        found = self._conversation_and_agent(conversation_id)
        if found is None:
            return _detail_response(404, f"no conversation {conversation_id}")
        return jsonify(found[0].describe())

    def _control_end(self, conversation_id: str) -> Response:
        """The caller hangs up."""
        with self._lock:
            conversation = self._conversations.pop(conversation_id, None)
        if conversation is None:
            return _detail_response(404, f"no conversation {conversation_id}")
        self._ended(conversation_id, "Call ended by the caller")
        return jsonify({"conversation_id": conversation_id, "ended": True})

    def _ended(self, conversation_id: str, reason: str) -> None:
        """The conversation is over: its history says so, and the post-call webhook tells it."""
        self.history.ended(conversation_id, reason)
        self._told_ended(conversation_id)

    def _told_ended(self, conversation_id: str) -> None:
        details = self.history.details(conversation_id)
        if details is not None:
            self.post_call.conversation_ended(details)

    def _control_config(self) -> Response:
        payload = request.get_json(silent=True) or {}
        try:
            if "worlds" in payload:
                self.worlds = self.worlds.changed(payload["worlds"])
            latency = payload.get("clone_latency")
            voice_limit = payload.get("voice_limit")
            self.configure(
                clone_latency=CloneLatency(**latency) if latency is not None else None,
                voice_limit=int(voice_limit) if voice_limit is not None else None,
                max_voice_add_edits=payload.get("max_voice_add_edits", "keep"),
                clones_need_verification=_optional_bool(payload, "clones_need_verification"),
                voice_search=payload.get("voice_search"),
                lenient_dynamic_variables=_optional_bool(payload, "lenient_dynamic_variables"),
                simulated_refer_succeeds=_optional_bool(payload, "simulated_refer_succeeds"),
            )
        except (TypeError, ValueError) as error:
            return _detail_response(400, str(error))
        with self._lock:
            return jsonify(
                {
                    "clone_latency": asdict(self.clone_latency),
                    "voice_limit": self.voice_limit,
                    "max_voice_add_edits": self.max_voice_add_edits,
                    "voice_search": self.worlds.voice_search,
                    "lenient_dynamic_variables": self.worlds.lenient_dynamic_variables,
                    "simulated_refer_succeeds": self.worlds.simulated_refer_succeeds,
                    "worlds": self.worlds.describe(),
                }
            )

    # ---- the probes' endpoints: key presses on a call, the worlds' view of an INVITE ----

    def agent_ids(self) -> list[str]:
        with self._lock:
            return list(self._agents)

    def _invite_as_seen(self, invite: dict[str, Any]) -> dict[str, Any]:
        """The INVITE as the platform reads it in these worlds (caller ID, called number)."""
        seen = dict(invite)
        if not self.worlds.caller_id_passed:
            seen |= {"from": f"sip:{TRUNK_NUMBER}@pbx.invalid", "headers": {}, "caller_id_as": None}
        if not self.worlds.sip_called_number:
            seen["to"] = "sip:@sip.rtc.elevenlabs.io"
        return seen

    def _note_transfer(self, conversation_id: str, refer: dict[str, Any], transferred: bool) -> None:
        """The transfer's system tool result, in the documented shapes (`TransferToNumberResult*`)."""
        if transferred:
            result = {
                "result_type": "transfer_to_number_sip_success",
                "status": "success",
                "transfer_number": refer["destination"],
            }
        else:
            result = {
                "result_type": "transfer_to_number_error",
                "status": "error",
                "error": f"SIP REFER to {refer['destination']} was refused",
            }
        outcome = {
            "type": "system",
            "request_id": secrets.token_hex(8),
            "tool_name": "transfer_to_number",
            "result_value": json.dumps(result),
            "is_error": not transferred,
            "tool_has_been_called": True,
            "result": result,
        }
        self.history.add_turn(conversation_id, "agent", "", tool_results=[outcome])

    def _control_dtmf(self, conversation_id: str) -> Response:
        """The caller presses keys on a call: `{"digits": "1"}`; they reach the agent as a user turn
        with `source_medium: dtmf`, unless the trunk swallows them (world `dtmf_passed`)."""
        if self._conversation_and_agent(conversation_id) is None:
            return _detail_response(404, f"no conversation {conversation_id}")
        digits = str((request.get_json(silent=True) or {}).get("digits") or "")
        if self.worlds.dtmf_passed and digits:
            self.history.add_turn(conversation_id, "user", digits, source_medium="dtmf")
        return jsonify({"digits": digits, "reached_agent": self.worlds.dtmf_passed})


def _searchable(voices: list[dict[str, Any]], search: str, lag_seconds: float) -> list[dict[str, Any]]:
    """The voices a search sees: with a search lag, none made in the last `lag_seconds`."""
    if not search or not lag_seconds:
        return voices
    newest = time.time() - lag_seconds
    return [voice for voice in voices if voice.get("created_at", 0.0) <= newest]


def _shallow_merge(current: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    return {**current, **change}


def _corrupted(response: Response, patch: Any) -> Response:
    if not response.is_json or not isinstance(patch, dict):
        return response
    answer = _merge_patch(response.get_json(), patch)
    return Response(json.dumps(answer), status=response.status_code, mimetype="application/json")


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged


def _optional_bool(payload: dict[str, Any], name: str) -> bool | None:
    value = payload.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{name} is true or false, not {value!r}")


def _ok(_done: None) -> Response:
    return jsonify({"status": "ok"})


def _voice_not_found(voice_id: str) -> Response:
    # ElevenLabs has answered an unknown voice with 400 (voice_not_found, voice_does_not_exist) as
    # well as 404 (shared/reference/platform-review.md, section 6); the emulator answers the 400.
    return error_response(400, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")


def _detail_response(status: int, message: str) -> Response:
    response = jsonify({"detail": message})
    response.status_code = status
    return response


def _factory_agent(agent_id: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "agent_id": agent_id,
        "name": "warmline (emulated agent)",
        "conversation_config": {
            "agent": {
                "first_message": "Hello, how can I help you today?",
                "language": "en",
                "prompt": {"prompt": "You are a helpful assistant.", "tool_ids": []},
            },
            "tts": {"voice_id": GREETING_VOICE_ID},
            # SDK 2.78's DtmfInputConfig, with its defaults (the OpenAPI copy has no such field).
            "conversation": {
                "dtmf_input_settings": {
                    "dtmf_input_timeout": 2.0,
                    "hash_terminator": True,
                    "redact_input": False,
                }
            },
        },
        "platform_settings": {},
        "metadata": {"created_at_unix_secs": now, "updated_at_unix_secs": now},
        "phone_numbers": [],
        "tags": [],
    }


def _agent_summary(agent: dict[str, Any]) -> dict[str, Any]:
    access = {"is_creator": True, "creator_name": "emulator", "creator_email": "emulator@example.invalid"}
    return {
        "agent_id": agent["agent_id"],
        "name": agent["name"],
        "tags": agent.get("tags") or [],
        "created_at_unix_secs": agent["metadata"]["created_at_unix_secs"],
        # The SDK requires these two; the OpenAPI copy does not have them (openapi_check.SDK_REQUIRED).
        "updated_at_unix_secs": agent["metadata"]["updated_at_unix_secs"],
        "voice_id": _at_path(agent, "conversation_config", "tts", "voice_id") or GREETING_VOICE_ID,
        "access_info": access | {"role": "admin"},
        "last_call_time_unix_secs": None,
        "archived": False,
    }


def _at_path(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _stored_secret(secret: dict[str, str]) -> dict[str, str]:
    """A workspace secret as ElevenLabs answers it: never its value."""
    return {"type": "stored", "secret_id": secret["secret_id"], "name": secret["name"]}


def _deep_merge(current: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _part_size(part: Any) -> int:
    stream = part.stream
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size


def _voice_matches(voice: dict[str, Any], search: str, words: bool = False) -> bool:
    """`search` in the voice's name, description, labels or category; with `words`, only as one of
    their whole words (split at anything but letters, digits and `_`)."""
    searched = [voice["name"], voice.get("description") or "", voice["category"], *voice["labels"].values()]
    if words and search:
        return any(search in re.split(r"[^a-z0-9_]+", str(text).lower()) for text in searched)
    return any(search in str(text).lower() for text in searched)


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _voice_response(voice: dict[str, Any], category: str, is_owner: bool) -> dict[str, Any]:
    return {
        "voice_id": voice["voice_id"],
        "name": voice["name"],
        "category": category,
        "labels": voice.get("labels") or {},
        "description": voice.get("description"),
        "samples": voice.get("samples"),
        "preview_url": None,
        "available_for_tiers": [],
        "high_quality_base_model_ids": ["eleven_flash_v2_5", "eleven_multilingual_v2"],
        "created_at_unix": voice.get("created_at_unix"),
        "is_owner": is_owner,
        "is_legacy": False,
        "is_mixed": False,
    }


def _premade_voices() -> list[dict[str, Any]]:
    return [
        _voice_response({"voice_id": key, **voice}, "premade", False) for key, voice in PREMADE_VOICES.items()
    ]


def _cloned_voice_response(voice: dict[str, Any]) -> dict[str, Any]:
    return _voice_response(voice, "cloned", True)


# ---- process mode --------------------------------------------------------------------------------


def _parse_latency(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.elevenlabs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--api-key", required=True, help="the xi-api-key the emulator accepts")
    parser.add_argument("--clone-latency", type=_parse_latency, default=(5.0, 30.0), help="min,max seconds")
    parser.add_argument("--latency-scale", type=float, default=0.25, help="multiplies the clone latency")
    parser.add_argument("--voice-limit", type=int, default=30)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    low, high = args.clone_latency
    emulator = Emulator(
        args.api_key,
        clone_latency=CloneLatency(low, high, scale=args.latency_scale),
        voice_limit=args.voice_limit,
        seed=args.seed,
    )
    stop_requested = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    base_url = emulator.start(port=args.port)
    print(f"ELEVENLABS_BASE_URL={base_url}", flush=True)
    stop_requested.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
