"""The ElevenLabs HTTP API behind the `VoiceCloner` and `AgentCalls` ports.

Every request is made once: nothing here retries. Cloning (`voices/add`) is not idempotent, so a
retry decision belongs to the caller, which knows from the error's `retryable`/`ambiguous` flags
whether the voice may already exist.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from warmline.adapters.deadline import Deadline, DeadlineExceeded
from warmline.voice_provider import (
    AddedVoice,
    AgentCall,
    InvalidRequest,
    PlacedCall,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderVoice,
    RateLimited,
    Subscription,
    Telephony,
    Unauthorized,
    VoiceLimitReached,
    VoiceSample,
)

CONNECT_TIMEOUT_SECONDS = 3.0
OUTBOUND_CALL_PATHS: dict[str, str] = {
    "sip_trunk": "/v1/convai/sip-trunk/outbound-call",
    "twilio": "/v1/convai/twilio/outbound-call",
}
CALL_ID_FIELDS: dict[str, str] = {"sip_trunk": "sip_call_id", "twilio": "callSid"}
# ElevenLabs has answered a voice that is already gone with 404, and with 400 and these codes.
GONE_VOICE_CODES = frozenset({"voice_not_found", "voice_does_not_exist"})
VOICES_PAGE_SIZE = 100  # the most GET /v2/voices gives per page
OWN_CLONED_VOICES = {"voice_type": "personal", "category": "cloned"}  # GET /v2/voices filters


class MalformedResponse(ProviderUnavailable):
    """A success status with a body that is not the documented shape."""


@dataclass(frozen=True)
class AgentLine:
    """The agent and the phone number its outbound calls go out on."""

    telephony: Telephony
    agent_id: str
    agent_phone_number_id: str


class ElevenLabsClient:
    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.elevenlabs.io",
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Every request waits at most `timeout_seconds`, and never past `deadline` (when one is set)."""
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._deadline = deadline
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"xi-api-key": api_key, "accept": "application/json"},
            timeout=_timeout(timeout_seconds),
            transport=transport,
            verify=tls_context(),
        )

    def __repr__(self) -> str:
        return f"ElevenLabsClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ElevenLabsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_voice(
        self,
        *,
        name: str,
        samples: list[VoiceSample],
        description: str,
        labels: dict[str, str],
        timeout_seconds: float,
    ) -> AddedVoice:
        form = {
            "name": name,
            "description": description,
            "labels": json.dumps(labels),
            "remove_background_noise": "false",
        }
        files = [("files", (sample.filename, sample.content, sample.content_type)) for sample in samples]
        body = self._request(
            "POST", "/v1/voices/add", data=form, files=files, timeout_seconds=timeout_seconds
        )
        voice_id = _field(body, "voice_id", str)
        return AddedVoice(voice_id=voice_id, requires_verification=bool(body.get("requires_verification")))

    def delete_voice(self, voice_id: str) -> None:
        try:
            self._request("DELETE", f"/v1/voices/{voice_id}")
        except InvalidRequest as error:
            if error.status_code != 404 and error.code not in GONE_VOICE_CODES:
                raise

    def list_voices(self, search: str = "") -> list[ProviderVoice]:
        """The account's own cloned voices (GET /v2/voices filtered by `voice_type` and `category`,
        every page) whose name contains `search`. The name is matched here, not by ElevenLabs'
        `search`, whose matching (substrings? words?) and indexing lag are undocumented; the account
        holds at most its voice slots of these. (GET /v1/voices has no filter and stops working once
        an account holds more than 500 voices.)"""
        params: dict[str, Any] = {"page_size": VOICES_PAGE_SIZE, **OWN_CLONED_VOICES}
        found: list[ProviderVoice] = []
        tokens_seen: set[str] = set()
        while True:
            body = self._request("GET", "/v2/voices", params=params)
            found += [_provider_voice(voice) for voice in _field(body, "voices", list)]
            if body.get("has_more") is not True:
                break
            token = body.get("next_page_token")
            if not isinstance(token, str) or not token or token in tokens_seen:
                raise MalformedResponse(
                    "GET /v2/voices: has_more without a new next_page_token",
                    status_code=200,
                    code="malformed_response",
                )
            tokens_seen.add(token)
            params = {**params, "next_page_token": token}
        return [voice for voice in found if search.lower() in voice.name.lower()]

    def get_subscription(self) -> Subscription:
        body = self._request("GET", "/v1/user/subscription")
        most = body.get("max_voice_add_edits")
        return Subscription(
            voice_limit=_field(body, "voice_limit", int),
            voice_slots_used=_field(body, "voice_slots_used", int),
            can_use_instant_voice_cloning=bool(body.get("can_use_instant_voice_cloning", True)),
            max_voice_add_edits=most if isinstance(most, int) and not isinstance(most, bool) else None,
            voice_add_edit_counter=_field(body, "voice_add_edit_counter", int),
        )

    def place_outbound_call(self, line: AgentLine, to_number: str, client_data: dict[str, Any]) -> PlacedCall:
        payload = {
            "agent_id": line.agent_id,
            "agent_phone_number_id": line.agent_phone_number_id,
            "to_number": to_number,
            "conversation_initiation_client_data": client_data,
        }
        body = self._request("POST", OUTBOUND_CALL_PATHS[line.telephony], json=payload)
        if body.get("success") is False:
            raise InvalidRequest(
                f"outbound call refused: {body.get('message') or 'no message'}",
                status_code=200,
                code="call_not_placed",
            )
        return PlacedCall(
            conversation_id=_optional_str(body.get("conversation_id")),
            call_id=_optional_str(body.get(CALL_ID_FIELDS[line.telephony])),
        )

    def set_agent_voice(self, agent_id: str, voice_id: str) -> None:
        """PATCH an agent's `conversation_config.tts.voice_id` (HandoffMode=agent_transfer's slots)."""
        body = {"conversation_config": {"tts": {"voice_id": voice_id}}}
        self._request("PATCH", f"/v1/convai/agents/{agent_id}", json=body)

    def agent_transfer_at_ms(self, conversation_id: str) -> int | None:
        """When the conversation's transfer_to_agent succeeded (its start plus the turn's whole
        seconds into the call, epoch ms), or None (`agent_slots.AgentTransferLog`)."""
        body = self._request("GET", f"/v1/convai/conversations/{conversation_id}")
        started = (body.get("metadata") or {}).get("start_time_unix_secs")
        for turn in body.get("transcript") or []:
            for result in (turn.get("tool_results") or []) if isinstance(turn, dict) else []:
                outcome = result.get("result") if isinstance(result, dict) else None
                if isinstance(outcome, dict) and outcome.get("result_type") == "transfer_to_agent_success":
                    return int((float(started or 0) + float(turn.get("time_in_call_secs") or 0)) * 1000)
        return None

    def _request(
        self, method: str, path: str, *, timeout_seconds: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        seconds = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        if self._deadline is not None:
            try:
                seconds = self._deadline.cap(seconds)
            except DeadlineExceeded:
                raise ProviderTimeout(
                    f"{method} {path}: no time left in this invocation", code="deadline"
                ) from None
        response = send(self._http, method, path, timeout=_timeout(seconds), **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise MalformedResponse(
                f"{method} {path}: answer {response.status_code} is not JSON",
                status_code=response.status_code,
                code="malformed_response",
            ) from None
        if not isinstance(body, dict):
            raise MalformedResponse(
                f"{method} {path}: answer {response.status_code} is not a JSON object",
                status_code=response.status_code,
                code="malformed_response",
            )
        return body


@dataclass(frozen=True)
class ElevenLabsAgentCalls:
    """`AgentCalls` over one client: the agent's call, with warmline's voice and first message as
    the conversation's override."""

    client: ElevenLabsClient
    line: AgentLine

    def place_call(self, call: AgentCall) -> PlacedCall:
        return self.client.place_outbound_call(self.line, call.to_number, client_data(call))


@dataclass(frozen=True)
class ElevenLabsSlotAgents:
    """`agent_slots.SlotAgents` over one client: the voice-slot agents' voices."""

    client: ElevenLabsClient

    def set_voice(self, agent_id: str, voice_id: str) -> None:
        self.client.set_agent_voice(agent_id, voice_id)


def client_data(call: AgentCall) -> dict[str, Any]:
    """The call's `conversation_initiation_client_data`."""
    return {
        "conversation_config_override": {
            "tts": {"voice_id": call.voice_id},
            "agent": {"first_message": call.first_message},
        },
        "dynamic_variables": call.dynamic_variables,
    }


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi's CA bundle), built once per process: building them reads
    the bundle, about 25 ms of CPU, which every client would pay again."""
    return httpx.create_ssl_context()


def send(http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to ElevenLabs: a transport failure or an error status becomes a ProviderError.
    The request's read timeout bounds the whole answer, not only each read: an answer that trickles
    in a byte at a time would otherwise outrun the invocation."""
    timeout = kwargs.get("timeout") or http.timeout
    ends_at = time.monotonic() + (timeout.read or 0 if isinstance(timeout, httpx.Timeout) else 0)
    try:
        response = _read_by(http, ends_at, method, path, **kwargs)
    except httpx.TimeoutException as error:
        raise ProviderTimeout(
            f"{method} {path}: no answer in time ({type(error).__name__})", code="timeout"
        ) from None
    except httpx.TransportError as error:
        raise ProviderTimeout(
            f"{method} {path}: connection failed ({type(error).__name__})", code="connection_error"
        ) from None
    if response.is_error:
        raise error_from_response(method, path, response)
    return response


def _read_by(http: httpx.Client, ends_at: float, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The whole answer, read before `ends_at` (monotonic; the answer so far is dropped after it)."""
    with http.stream(method, path, **kwargs) as streamed:
        body = bytearray()
        for chunk in streamed.iter_bytes():
            body += chunk
            if time.monotonic() > ends_at:
                raise httpx.ReadTimeout("the whole answer took longer than the request's timeout")
    # The body is decoded already: the answer's own encoding and length no longer describe it.
    headers = [(k, v) for k, v in streamed.headers.items() if k not in ("content-encoding", "content-length")]
    return httpx.Response(
        streamed.status_code, headers=headers, content=bytes(body), request=streamed.request
    )


def error_from_response(method: str, path: str, response: httpx.Response) -> ProviderError:
    status = response.status_code
    code, detail_message = _parse_error_body(response)
    message = f"{method} {path}: HTTP {status}" + (f": {detail_message}" if detail_message else "")
    error_class: type[ProviderError]
    if status == 429:
        error_class = RateLimited
    elif status == 400 and code == "voice_limit_reached":
        error_class = VoiceLimitReached
    elif status in (401, 403):
        error_class = Unauthorized
    elif 400 <= status < 500:
        error_class = InvalidRequest
    else:
        error_class = ProviderUnavailable
    return error_class(message, status_code=status, code=code or f"http_{status}")


def _parse_error_body(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from `{"detail": {...}}`, `{"detail": [{loc, msg, type}]}`, `{"detail": "..."}`
    or a body that is not JSON at all. Any other shape (wrong types, nesting too deep to parse)
    gives what can be read of it: an error answer always becomes a ProviderError."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return "", _shorten(response.text)
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, dict):
        code = _text(detail.get("code")) or _text(detail.get("status"))
        return code, _text(detail.get("message"))
    if isinstance(detail, list):
        first = detail[0] if detail and isinstance(detail[0], dict) else {}
        code = _text(first.get("type")) or "validation_error"
        return code, _shorten("; ".join(_describe_validation_item(item) for item in detail[:10]))
    if isinstance(detail, str):
        return "", _shorten(detail)
    return "", _shorten(response.text)


def _text(value: Any) -> str:
    """A string field of an error body; anything else counts as absent."""
    return _shorten(value) if isinstance(value, str) else ""


def _describe_validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return _text(item) or type(item).__name__
    parts = item.get("loc")
    location = (
        ".".join(str(part) for part in parts if isinstance(part, (str, int)))
        if isinstance(parts, list)
        else ""
    )
    message = _text(item.get("msg"))
    return f"{location}: {message}" if location else message


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _timeout(read_seconds: float) -> httpx.Timeout:
    return httpx.Timeout(read_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, read_seconds))


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    # bool is an int subclass; a boolean where a count belongs is still malformed.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedResponse(
            f"answer lacks a valid {name!r} ({kind.__name__})", status_code=200, code="malformed_response"
        )
    return value


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _provider_voice(voice: Any) -> ProviderVoice:
    if not isinstance(voice, dict):
        raise MalformedResponse("a listed voice is not an object", status_code=200, code="malformed_response")
    labels = voice.get("labels") or {}
    created_at = voice.get("created_at_unix")
    return ProviderVoice(
        voice_id=_field(voice, "voice_id", str),
        name=str(voice.get("name") or ""),
        category=str(voice.get("category") or ""),
        labels={str(key): str(value) for key, value in labels.items()} if isinstance(labels, dict) else {},
        created_at_unix=created_at if isinstance(created_at, int) else None,
    )
