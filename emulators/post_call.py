"""ElevenLabs' post-call webhooks, as the emulator plays them.

- A workspace webhook is made with `POST /v1/workspace/webhooks {"settings": {"auth_type": "hmac",
  "name", "webhook_url"}}`; ElevenLabs makes its secret and answers it once, with the id
  (`{webhook_id, webhook_secret}`); `GET /v1/workspace/webhooks` lists them (never the secret).
- The agents platform uses it once `PATCH /v1/convai/settings {"webhooks": {"post_call_webhook_id",
  "events": ["transcript", "call_initiation_failure", ...]}}` names it (`GET` reads the settings).
- When a conversation ends (the caller hangs up, a SIP REFER takes the call away), the platform POSTs
  `{"type": "post_call_transcription", "event_timestamp": <unix s>, "data": <the GET conversation
  answer>}` to the webhook's URL, signed `ElevenLabs-Signature: t=<unix s>,v0=<hex HMAC-SHA256 of
  "<t>.<body>" keyed with the secret>` (DOCS-REPO `webhook-hmac-authentication.mdx`). A
  conversation that failed at its start is sent too, with its `status` `failed`. (Outbound calls that
  never connect are `call_initiation_failure` events at ElevenLabs; the emulator's outbound calls
  always connect.)
- "Each webhook event is dispatched only once": no retry (retries are an opt-in per webhook that the
  API copy does not show). The emulator sends before it answers the hang-up, so a test sees the
  effect at once; `deliveries()` tells what was sent and how warmline answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from flask import Response, jsonify, request

TRANSCRIPT_EVENT = "transcript"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `ElevenLabs-Signature` header's value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    return f"t={timestamp},v0=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _factory_settings() -> dict[str, Any]:
    """The ConvAI settings' webhook part of a new workspace: no post-call webhook."""
    return {"post_call_webhook_id": None, "events": [], "transcript_format": "json"}


class PostCallWebhooks:
    def __init__(self, http: httpx.Client) -> None:
        self._http = http
        self._lock = threading.Lock()
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._settings: dict[str, Any] = _factory_settings()
        self._deliveries: list[dict[str, Any]] = []

    def routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        return [
            ("GET", "/v1/workspace/webhooks", self._list),
            ("POST", "/v1/workspace/webhooks", self._create),
            ("GET", "/v1/convai/settings", self._get_settings),
            ("PATCH", "/v1/convai/settings", self._patch_settings),
        ]

    def reset(self) -> None:
        with self._lock:
            self._webhooks.clear()
            self._settings = _factory_settings()
            self._deliveries.clear()

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(delivery) for delivery in self._deliveries]

    def conversation_ended(self, details: dict[str, Any]) -> None:
        """A conversation ended: `details` is its GET conversation answer."""
        self._send(TRANSCRIPT_EVENT, "post_call_transcription", details)

    def _send(self, event: str, kind: str, data: dict[str, Any]) -> None:
        """POST the event to the post-call webhook, if the settings name one and choose `event`."""
        with self._lock:
            webhook = self._webhooks.get(self._settings.get("post_call_webhook_id") or "")
            wanted = event in (self._settings.get("events") or [])
        if webhook is None or not wanted:
            return
        now = int(time.time())
        body = json.dumps({"type": kind, "event_timestamp": now, "data": data}).encode()
        headers = {
            "Content-Type": "application/json",
            "ElevenLabs-Signature": signature(webhook["secret"], now, body),
        }
        try:
            answer = self._http.post(webhook["webhook_url"], content=body, headers=headers, timeout=10)
            status: int | None = answer.status_code
        except httpx.HTTPError:
            status = None
        with self._lock:
            self._deliveries.append(
                {"type": kind, "conversation_id": data.get("conversation_id"), "status": status}
            )

    def _list(self) -> Response:
        with self._lock:
            listed = [_public(webhook) for webhook in self._webhooks.values()]
        return jsonify({"webhooks": listed})

    def _create(self) -> Response:
        settings = (request.get_json(silent=True) or {}).get("settings") or {}
        webhook_id = secrets.token_hex(10)
        secret = "wsec_" + secrets.token_hex(24)
        with self._lock:
            self._webhooks[webhook_id] = {
                "webhook_id": webhook_id,
                "name": settings.get("name", ""),
                "webhook_url": settings.get("webhook_url", ""),
                "secret": secret,
                "created_at_unix": int(time.time()),
            }
        return jsonify({"webhook_id": webhook_id, "webhook_secret": secret})

    def _get_settings(self) -> Response:
        with self._lock:
            return jsonify({"webhooks": dict(self._settings)})

    def _patch_settings(self) -> Response:
        change = (request.get_json(silent=True) or {}).get("webhooks")
        with self._lock:
            if isinstance(change, dict):
                self._settings = {**self._settings, **change}
            return jsonify({"webhooks": dict(self._settings)})


def _public(webhook: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": webhook["name"],
        "webhook_id": webhook["webhook_id"],
        "webhook_url": webhook["webhook_url"],
        "is_disabled": False,
        "is_auto_disabled": False,
        "created_at_unix": webhook["created_at_unix"],
        "auth_type": "hmac",
    }
