"""ElevenLabs' conversation history, as the emulator keeps it for the phone calls it plays:
`GET /v1/convai/conversations` (filtered by `agent_id` and `call_start_after_unix`, newest first) and
`GET /v1/convai/conversations/{conversation_id}`, in the documented shapes
(`GetConversationsPageResponseModel`, `GetConversationResponseModel`): `metadata.phone_call`
(`external_number`: the caller as the platform saw them, `agent_number`: the number called),
`conversation_initiation_client_data.dynamic_variables` (the `system__` variables of the call), and a
`transcript` with the key presses (`source_medium: dtmf`) and transfer results of the call.

Kept apart from `emulators/elevenlabs.py` so that a fuller version of these endpoints can replace it
without touching the calls (the probes of `warmline elevenlabs probe` read only the fields above).
These two operations are not in the OpenAPI subset the emulator checks requests against;
`UNCHECKED` lists them.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from flask import Response, jsonify, request

UNCHECKED = ("/v1/convai/conversations",)


class ConversationHistory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/v1/convai/conversations", self._list),
            ("GET", "/v1/convai/conversations/<conversation_id>", self._get),
        ]

    def started(self, conversation: Any, ended: str | None) -> None:
        """A phone call's conversation (an `agent_platform.Conversation`); `ended`: why it ended at once."""
        system = conversation.system
        record = {
            "agent_id": conversation.agent_id,
            "conversation_id": conversation.conversation_id,
            "status": "failed" if ended else "in-progress",
            "metadata": {
                "start_time_unix_secs": int(time.time()),
                "call_duration_secs": 0,
                "termination_reason": ended or "",
                "phone_call": {
                    "type": "sip_trunking",
                    "direction": "inbound",
                    "phone_number_id": "phnum_emulator",
                    "agent_number": system.get("system__called_number") or "",
                    "external_number": system.get("system__caller_id") or "",
                    "call_sid": None,
                },
            },
            "conversation_initiation_client_data": {"dynamic_variables": dict(system)},
            "transcript": [],
            "has_audio": False,
            "has_user_audio": False,
            "has_response_audio": False,
        }
        if not ended:
            record["transcript"].append(_turn(record, "agent", conversation.first_message))
        with self._lock:
            self._records[conversation.conversation_id] = record

    def add_turn(self, conversation_id: str, role: str, message: str, **fields: Any) -> None:
        with self._lock:
            record = self._records.get(conversation_id)
            if record is not None:
                record["transcript"].append(_turn(record, role, message) | fields)

    def ended(self, conversation_id: str) -> None:
        with self._lock:
            record = self._records.get(conversation_id)
            if record is not None:
                record["status"] = "done"

    def _get(self, conversation_id: str) -> Response:
        with self._lock:
            record = json.loads(json.dumps(self._records.get(conversation_id)))
        if record is None:
            response = jsonify({"detail": {"status": "not_found", "message": "Conversation not found."}})
            response.status_code = 404
            return response
        return jsonify(record)

    def _list(self) -> Response:
        agent_id = request.args.get("agent_id")
        after = int(request.args.get("call_start_after_unix") or 0)
        with self._lock:
            records = [json.loads(json.dumps(record)) for record in self._records.values()]
        listed = [
            _summary(record)
            for record in reversed(records)
            if agent_id in (None, record["agent_id"]) and record["metadata"]["start_time_unix_secs"] >= after
        ]
        return jsonify({"conversations": listed, "has_more": False, "next_cursor": None})


def _turn(record: dict[str, Any], role: str, message: str) -> dict[str, Any]:
    return {"role": role, "message": message, "time_in_call_secs": len(record["transcript"])}


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent_id": record["agent_id"],
        "conversation_id": record["conversation_id"],
        "start_time_unix_secs": record["metadata"]["start_time_unix_secs"],
        "call_duration_secs": 0,
        "message_count": len(record["transcript"]),
        "status": record["status"],
        "call_successful": "unknown",
        "direction": "inbound",
    }
