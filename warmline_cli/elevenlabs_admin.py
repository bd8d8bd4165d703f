"""The ElevenLabs API as an operator uses it: reads, and writes that `--dry-run` prints instead of
sending. Requests and errors go through the functions' own `warmline.adapters.elevenlabs.send`."""

from __future__ import annotations

import json
from typing import Any

import httpx

from warmline.adapters.elevenlabs import send, tls_context
from warmline_cli.console import CliError, say

SECRET_FIELDS = ("value",)


class UnexpectedAnswer(CliError):
    """ElevenLabs answered a request in a shape the command cannot use; the message names the request."""

    def __init__(self, request: str, what: str) -> None:
        super().__init__(f"ElevenLabs: {request} answered {what}; nothing after it was sent")


class AdminClient:
    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        dry_run: bool = False,
        timeout_seconds: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.dry_run = dry_run
        self.writes: list[tuple[str, str, dict[str, Any]]] = []  # what was sent, or would have been
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"xi-api-key": api_key, "accept": "application/json"},
            timeout=timeout_seconds,
            transport=transport,
            verify=tls_context(),
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send("GET", path, params=params)

    def write(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send a write, or in a dry run print it and answer None."""
        self.writes.append((method, path, body))
        if self.dry_run:
            say(f"would send {method} {self.base_url}{path}")
            say(json.dumps(_hide_secrets(body), indent=2))
            return None
        return self._send(method, path, json=body)

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = send(self._http, method, path, **kwargs)
        if response.status_code == 204:
            return {}  # DELETE of an agent answers 204 No Content
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UnexpectedAnswer(f"{method} {path}", f"{response.status_code} with no JSON object")
        return body


def text_field(body: dict[str, Any], name: str, request: str) -> str:
    """A string field an answer must carry, or UnexpectedAnswer naming the request."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise UnexpectedAnswer(request, f"without a {name!r}")
    return value


def object_list(body: dict[str, Any], name: str, request: str) -> list[dict[str, Any]]:
    """A list of objects an answer may carry (absent: empty), or UnexpectedAnswer naming the request."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise UnexpectedAnswer(request, f"{name!r} that is not a list of objects")
    return value


def _hide_secrets(body: Any) -> Any:
    if isinstance(body, dict):
        return {
            key: "********" if key in SECRET_FIELDS else _hide_secrets(value) for key, value in body.items()
        }
    if isinstance(body, list):
        return [_hide_secrets(item) for item in body]
    return body
