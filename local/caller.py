"""A simulated caller: plays 3CX and the ElevenLabs agent against warmline over HTTP.

One call goes: 3CX's webhook, the agent's conversation-init, the greeting, key presses answered by
the check_clone tool until it says something other than `ask_again`, the handoff and the second
conversation-init. A caller with a PIN types it when the agent asks for it (conversation-init says
`warmline_pin_required`), and the agent passes it with every check. Every step is put on the
caller's timeline, relative to the moment the call reached 3CX.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

SECRET_HEADER = "X-Warmline-Secret"


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    entries: list[tuple[float, str]] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.entries.append((time.monotonic() - self.started, text))

    def lines(self) -> list[str]:
        return [f"{_offset(seconds):>10}  {text}" for seconds, text in self.entries]


def _offset(seconds: float) -> str:
    return f"T+{seconds * 1000:.0f} ms" if seconds < 1 else f"T+{seconds:.1f} s"


@dataclass
class CallOutcome:
    caller: str
    call_id: str
    timeline: Timeline
    final_voice: str = ""  # cloned | default | failed-request
    cloned_voice_id: str = ""
    handed_off: bool = False
    key_presses: int = 0
    statuses: list[int] = field(default_factory=list)
    webhook_ms: float = 0.0
    greeting_ms: float = 0.0  # call start -> the greeting (or first voice) is chosen
    error: str = ""


@dataclass
class SimulatedCaller:
    endpoints: dict[str, str]  # IncomingCall, ConversationInit, CheckClone (with {caller_id})
    threecx_secret: str
    agent_secret: str
    greeting_seconds: float = 4.0
    pause_between_presses_seconds: float = 1.0
    max_key_presses: int = 20
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        # One client for every call (it is thread-safe): a new client per call costs more CPU than
        # the call itself, and many callers share this process with the local stack.
        self._http = httpx.Client(
            timeout=self.timeout_seconds,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    def __getstate__(self) -> dict[str, Any]:
        # Picklable for a caller process of its own: the HTTP client is made again there.
        return {name: value for name, value in self.__dict__.items() if name != "_http"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    def call(self, number: str, call_id: str | None = None, pin: str | None = None) -> CallOutcome:
        """`pin`: what the caller types when the agent asks for their PIN (None: they type nothing)."""
        outcome = CallOutcome(caller=number, call_id=call_id or uuid.uuid4().hex, timeline=Timeline())
        try:
            self._play(self._http, outcome, pin)
        except _CallBroken as broken:
            outcome.final_voice = "failed-request"
            outcome.error = str(broken)
            outcome.timeline.add(f"call broken: {broken}")
        except httpx.HTTPError as error:
            outcome.final_voice = "failed-request"
            outcome.error = f"HTTP error: {error!r}"
            outcome.timeline.add(f"call broken: {error!r}")
        return outcome

    def _post(self, http: httpx.Client, outcome: CallOutcome, url: str, secret: str, body: dict) -> dict:
        response = http.post(url, json=body, headers={SECRET_HEADER: secret})
        outcome.statuses.append(response.status_code)
        if response.status_code != 200:
            raise _CallBroken(
                f"{url.rsplit('/api/', 1)[-1]} answered {response.status_code}: {response.text[:200]}"
            )
        return response.json()

    def _play(self, http: httpx.Client, outcome: CallOutcome, pin: str | None) -> None:
        timeline = outcome.timeline
        number = outcome.caller
        answer = self._post(
            http,
            outcome,
            self.endpoints["IncomingCall"],
            self.threecx_secret,
            {"caller": number, "did": "+441000000000", "call_id": outcome.call_id},
        )
        outcome.webhook_ms = (time.monotonic() - timeline.started) * 1000
        timeline.add(f"webhook answered ({_describe_incoming(answer)})")

        start = self._conversation_init(http, outcome)
        outcome.greeting_ms = (time.monotonic() - timeline.started) * 1000
        mode = start["dynamic_variables"]["warmline_mode"]
        if mode == "cloned":
            outcome.final_voice = "cloned"
            outcome.cloned_voice_id = start["conversation_config_override"]["tts"]["voice_id"]
            timeline.add(f"agent speaks in the cloned voice at once (voice_id {outcome.cloned_voice_id})")
            return
        if mode == "default":
            outcome.final_voice = "default"
            timeline.add("agent speaks in its own voice (no clone for this caller)")
            return

        timeline.add("greeting starts in the greeting voice")
        time.sleep(self.greeting_seconds)
        typed = None
        if start["dynamic_variables"].get("warmline_pin_required") == "yes":
            typed = pin or ""
            timeline.add(
                "agent asks for the caller's PIN; " + ("caller types it" if pin else "caller types none")
            )
        self._wait_for_clone(http, outcome, typed)

    def _conversation_init(self, http: httpx.Client, outcome: CallOutcome) -> dict[str, Any]:
        return self._post(
            http,
            outcome,
            self.endpoints["ConversationInit"],
            self.agent_secret,
            {
                "caller_id": outcome.caller,
                "agent_id": "agent_local",
                "called_number": "+441000000000",
                "call_sid": outcome.call_id,
            },
        )

    def _wait_for_clone(self, http: httpx.Client, outcome: CallOutcome, pin: str | None) -> None:
        timeline = outcome.timeline
        url = self.endpoints["CheckClone"].replace("{caller_id}", httpx.URL(path=outcome.caller).path)
        for _ in range(self.max_key_presses):
            outcome.key_presses += 1
            timeline.add("caller presses 1")
            timeline.add("agent: 'one moment please' (check_clone is waiting)")
            body = {"pressed_key": "1", "conversation_id": f"conv_{outcome.call_id[:12]}"}
            if pin is not None:
                body["pin"] = pin
            checked = self._post(http, outcome, url, self.agent_secret, body)
            action = checked["next_action"]
            if action == "ask_again":
                timeline.add(f"still preparing: agent says '{checked['say']}'")
                time.sleep(self.pause_between_presses_seconds)
                continue
            if action == "transfer_to_agent":
                outcome.cloned_voice_id = checked["cloned_voice_id"]
                timeline.add(
                    f"clone ready (voice_id {outcome.cloned_voice_id}), waited {checked['wait_time_ms']} ms"
                )
                timeline.add("transfer back to 3CX, which routes the call to the agent again")
                second = self._conversation_init(http, outcome)
                voice = second["conversation_config_override"].get("tts", {}).get("voice_id")
                first_message = (
                    second["conversation_config_override"].get("agent", {}).get("first_message", "")
                )
                outcome.handed_off = True
                outcome.final_voice = "cloned" if voice == outcome.cloned_voice_id else "default"
                timeline.add(f"agent speaks in the cloned voice: '{first_message}'")
                return
            outcome.final_voice = "default"
            timeline.add(f"agent goes on in its own voice ({checked['status']}): '{checked['say']}'")
            return
        outcome.final_voice = "default"
        timeline.add("caller gave up pressing 1")


class _CallBroken(Exception):
    pass


def _describe_incoming(answer: dict[str, Any]) -> str:
    if answer["job_queued"]:
        return "clone job queued"
    return {
        "ready": "clone already ready",
        "pending": "clone already queued",
        "cloning": "clone already in progress",
        "failed": "recent clone failed: default voice",
        "no_sample": "no voice sample: default voice",
        "withheld": "number withheld: default voice",
    }.get(answer["clone_status"], answer["clone_status"])
