"""ElevenLabs' conversation history, as the emulator keeps it: `GET /v1/convai/conversations` (newest
first, `agent_id`, `page_size` at most 100, `cursor`, `call_start_after_unix`/`call_start_before_unix`)
and `GET /v1/convai/conversations/{conversation_id}` (404 `conversation_not_found` for an unknown one).

Every phone call the emulator plays is in it: an inbound SIP call (`POST /_emulator/sip/inbound`,
`phone_call.type` `sip_trunking`, direction `inbound`), and each outbound call placed through
`/v1/convai/sip-trunk/outbound-call` or `/v1/convai/twilio/outbound-call` (`sip_trunking` or `twilio`,
direction `outbound`; a known agent's call is answered and played, so its transcript has the agent's
first message). A conversation is `in-progress` until its call leaves the agent (an accepted SIP
REFER, a hang-up), then `done`; an agent transfer keeps it going (the system tool's call and result,
then the target agent's first message with `agent_metadata.agent_id`).
Its transcript has the agent's first message and each webhook tool call with its result, in the
documented shapes; `conversation_initiation_client_data.dynamic_variables` holds the system variables
and those the agent started with (its placeholders, the initiation webhook's answer), and its
`conversation_config_override` the voice and first message the webhook set in place of the agent's
(an outbound call: the request's own client data).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from emulators.paging import cursor_page

AGENT_NUMBER = "+441632960000"  # the emulated agent's own number (Ofcom's drama range)
PHONE_NUMBER_ID = "phnum_emulator"


class ConversationHistory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}

    def routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        return [
            ("GET", "/v1/convai/conversations", self._list),
            ("GET", "/v1/convai/conversations/<conversation_id>", self._get),
        ]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def inbound(self, conversation: Any, agent: dict[str, Any]) -> None:
        """A SIP call reached `agent` (`conversation`: an `agent_platform.Conversation`). The voice
        and first message the initiation webhook set in place of the agent's are its override."""
        caller = conversation.system["system__caller_id"]
        phone_call = _phone_call("sip_trunking", "inbound", caller, conversation.system)
        entry = _entry(conversation.conversation_id, conversation.agent_id, agent.get("name"), phone_call)
        entry["variables"] = {**conversation.system, **conversation.dynamic_variables}
        config = agent.get("conversation_config") or {}
        if conversation.voice_id != (config.get("tts") or {}).get("voice_id"):
            entry["override"]["tts"] = {"voice_id": conversation.voice_id}
        if conversation.first_message != (config.get("agent") or {}).get("first_message"):
            entry["override"]["agent"] = {"first_message": conversation.first_message}
        if conversation.first_message:
            entry["transcript"].append(_turn(entry, "agent", conversation.first_message))
        with self._lock:
            self._entries[conversation.conversation_id] = entry

    def outbound(self, conversation_id: str, agent: dict[str, Any], body: dict[str, Any], kind: str) -> None:
        """An outbound call was placed (`kind`: `sip_trunking` or `twilio`) with the request's `body`."""
        phone_call = _phone_call(kind, "outbound", body.get("to_number") or "", {})
        entry = _entry(conversation_id, agent["agent_id"], agent.get("name"), phone_call)
        client_data = body.get("conversation_initiation_client_data") or {}
        entry["variables"] = dict(client_data.get("dynamic_variables") or {})
        entry["override"] = client_data.get("conversation_config_override") or {}
        with self._lock:
            self._entries[conversation_id] = entry

    def tool_call(
        self, conversation_id: str, tool: dict[str, Any], parameters: dict[str, Any], result: Any
    ) -> None:
        """The agent called a webhook tool; `result` is `agent_platform.call_tool`'s answer."""
        request_id = secrets.token_hex(8)
        name = tool["tool_config"]["name"]
        call = {"type": "webhook", "request_id": request_id, "tool_name": name, "tool_has_been_called": True}
        body = result["body"]
        outcome = call | {
            "result_value": body if isinstance(body, str) else json.dumps(body),
            "is_error": result["status"] >= 400,
            "tool_latency_secs": result["elapsed_ms"] / 1000,
        }
        with self._lock:
            entry = self._entries.get(conversation_id)
            if entry is not None:
                entry["transcript"].append(
                    _turn(entry, "agent", None)
                    | {"tool_calls": [call | {"params_as_json": json.dumps(parameters)}]}
                )
                entry["transcript"].append(_turn(entry, "agent", None) | {"tool_results": [outcome]})

    def agent_transfer(self, conversation_id: str, outcome: Any, parameters: dict[str, Any]) -> None:
        """The agent called transfer_to_agent (`outcome`: an `agent_transfer.Outcome`): the system
        tool's call and result, then the target agent's first message, named by its agent."""
        request_id = secrets.token_hex(8)
        call = {"type": "system", "request_id": request_id, "tool_name": outcome.tool_name}
        result = call | {
            "result_value": json.dumps(outcome.result),
            "is_error": not outcome.transferred,
            "tool_has_been_called": True,
            "result": outcome.result,
        }
        with self._lock:
            entry = self._entries.get(conversation_id)
            if entry is None:
                return
            entry["transcript"].append(
                _turn(entry, "agent", None)
                | {
                    "tool_calls": [
                        call | {"params_as_json": json.dumps(parameters), "tool_has_been_called": True}
                    ]
                }
            )
            entry["transcript"].append(_turn(entry, "agent", None) | {"tool_results": [result]})
            if outcome.first_message:
                arrived = {"agent_metadata": {"agent_id": outcome.result["to_agent"]}}
                entry["transcript"].append(_turn(entry, "agent", outcome.first_message) | arrived)

    def failed_at_start(self, conversation_id: str, reason: str) -> None:
        """The conversation ended before it began (e.g. its initiation answer lacked a variable)."""
        with self._lock:
            entry = self._entries.get(conversation_id)
            if entry is not None:
                entry.update(status="failed", termination_reason=reason, duration=0, transcript=[])

    def add_turn(self, conversation_id: str, role: str, message: str, **fields: Any) -> None:
        """A turn of the call other than a webhook tool's: a key press (`source_medium="dtmf"`), a
        system tool's result."""
        with self._lock:
            entry = self._entries.get(conversation_id)
            if entry is not None:
                entry["transcript"].append(_turn(entry, role, message) | fields)

    def ended(self, conversation_id: str, reason: str = "Call ended") -> None:
        with self._lock:
            entry = self._entries.get(conversation_id)
            if entry is not None and entry["status"] != "done":
                entry.update(status="done", termination_reason=reason, duration=_elapsed(entry))

    def details(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation as `GET /v1/convai/conversations/{id}` answers it, or None."""
        with self._lock:
            entry = self._entries.get(conversation_id)
            return _details(entry) if entry is not None else None

    def _list(self) -> Response:
        args = request.args
        page_size = int(args.get("page_size", 30))
        if not 1 <= page_size <= 100:
            response = jsonify(
                {"detail": [{"loc": ["query", "page_size"], "msg": "must be 1-100", "type": "value_error"}]}
            )
            response.status_code = 422
            return response
        after = int(args.get("call_start_after_unix", 0))
        before = int(args.get("call_start_before_unix", 2**62))
        with self._lock:
            # newest first; of two begun in the same second, the later one first
            entries = sorted(
                reversed(self._entries.values()), key=lambda entry: entry["started_at"], reverse=True
            )
            matching = [
                _summary(entry)
                for entry in entries
                if args.get("agent_id") in (None, entry["agent_id"])
                and after <= entry["started_at"] <= before
            ]
        return cursor_page("conversations", matching, page_size)

    def _get(self, conversation_id: str) -> Response:
        with self._lock:
            entry = self._entries.get(conversation_id)
            answer = _details(entry) if entry is not None else None
        if answer is None:
            return _not_found(conversation_id)
        return jsonify(answer)


def _entry(
    conversation_id: str, agent_id: str, agent_name: str | None, phone_call: dict[str, Any]
) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "agent_id": agent_id,
        "agent_name": agent_name,
        "started_at": int(time.time()),
        "monotonic_start": time.monotonic(),
        "status": "in-progress",
        "termination_reason": "",
        "duration": None,
        "phone_call": phone_call,
        "transcript": [],
        "variables": {},
        "override": {},
    }


def _phone_call(kind: str, direction: str, external: str, system: dict[str, Any]) -> dict[str, Any]:
    call = {
        "type": kind,
        "direction": direction,
        "phone_number_id": PHONE_NUMBER_ID,
        "agent_number": system.get("system__called_number") or AGENT_NUMBER,
        "external_number": external,
    }
    if kind == "twilio":
        return call | {"call_sid": "CA" + secrets.token_hex(16), "stream_sid": "MZ" + secrets.token_hex(16)}
    return call | {"call_sid": "sip_" + secrets.token_hex(12), "call_id": None}


def _turn(entry: dict[str, Any], role: str, message: str | None) -> dict[str, Any]:
    return {"role": role, "message": message, "time_in_call_secs": _elapsed(entry)}


def _elapsed(entry: dict[str, Any]) -> int:
    return int(time.monotonic() - entry["monotonic_start"])


def _duration(entry: dict[str, Any]) -> int:
    return entry["duration"] if entry["duration"] is not None else _elapsed(entry)


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent_id": entry["agent_id"],
        "agent_name": entry["agent_name"],
        "conversation_id": entry["conversation_id"],
        "start_time_unix_secs": entry["started_at"],
        "call_duration_secs": _duration(entry),
        "message_count": sum(1 for turn in entry["transcript"] if turn["message"]),
        "status": entry["status"],
        "termination_reason": entry["termination_reason"],
        "call_successful": "unknown",
        "direction": entry["phone_call"]["direction"],
        "conversation_initiation_source": "unknown",
        "tool_names": sorted(
            {call["tool_name"] for turn in entry["transcript"] for call in turn.get("tool_calls", [])}
        ),
        "tag_ids": [],
    }


def _details(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent_id": entry["agent_id"],
        "agent_name": entry["agent_name"],
        "conversation_id": entry["conversation_id"],
        "status": entry["status"],
        "metadata": {
            "start_time_unix_secs": entry["started_at"],
            "call_duration_secs": _duration(entry),
            "cost_fiat": None,
            "phone_call": entry["phone_call"],
            "termination_reason": entry["termination_reason"],
        },
        "conversation_initiation_client_data": {
            "dynamic_variables": entry["variables"],
            "conversation_config_override": entry["override"],
        },
        "has_audio": False,
        "has_user_audio": False,
        "has_response_audio": False,
        "has_auxiliary_audio": False,
        "transcript": json.loads(json.dumps(entry["transcript"])),
        "tag_ids": [],
    }


def _not_found(conversation_id: str) -> Response:
    message = f"Conversation {conversation_id} was not found."
    response = jsonify({"detail": {"status": "conversation_not_found", "message": message}})
    response.status_code = 404
    return response
