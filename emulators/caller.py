"""A simulated caller: plays the phone, 3CX and (without the emulator) the ElevenLabs agent.

One call goes: 3CX's webhook, the SIP INVITE to the agent (whose conversation-init gives the
greeting), one press of 1 answered by the check_clone tool, which the agent calls again by itself
while it answers `check_again` (the caller presses again only if the agent does not), the transfer
back to 3CX and the second INVITE (the re-entry leg in the cloned voice), or, when check_clone
names HandoffMode=agent_transfer, the agent's transfer_to_agent to the caller's voice slot in the
same conversation (no second leg).
A caller with a PIN types it when the agent asks for it (conversation-init says
`warmline_pin_required`), and the agent passes it with every check. Every step is put on the
caller's timeline, relative to the moment the call reached 3CX.

The simulated 3CX (`Pbx`) routes each call by the Call Flow Designer project `warmline 3cx flow`
writes (emulators/threecx_flow.py runs it): the flow's Web Service REST component is the webhook,
and its Transfer to the agent's number (`elevenlabs_number`) places the call on the trunk; a
non-200 answer or an unreachable webhook reaches the agent too, as the flow says. It builds the
INVITE as a real one does from its trunk's outbound parameters: with "From: User Part" set to
OriginatorCallerID it presents the caller's number (`passes_caller_id`), by default it presents the
trunk's own number. It takes the agent's SIP REFER (`refer_answer` 202), or refuses it as a trunk
without in-dialog REFER does (403): then no re-entry leg comes and the caller stays in the greeting.
The agent is the emulator's
(`EmulatedAgent`: it calls warmline as the configured agent would), or played here (`DirectAgent`,
for an ElevenLabs-compatible server of your own and for the benchmark, whose figures measure
warmline and not the emulator's extra hop).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from emulators.agent_platform import new_conversation_id, sip_user
from emulators.threecx_flow import CallFlow, FlowResult
from warmline.adapters.elevenlabs import tls_context
from warmline_cli.api import cfd_project

SECRET_HEADER = "X-Warmline-Secret"
CHECK_AGAIN = "check_again"
# One agent turn may re-check until the greeting timeout; a tool call itself waits at most 300 s.
TURN_TIMEOUT_SECONDS = 330.0
MAX_RECHECKS = 60  # DirectAgent: as many re-calls in one turn as the emulator's agent makes
WAIT_HEARD = {
    None: "check_clone is waiting",
    True: "silence while check_clone waits",
    False: "agent: 'one moment please', then music while check_clone waits",
}


def new_threecx_call_id() -> str:
    """A call id as 3CX's call flow sends it: `session.callid` is the call chain's chid, a UUID
    (`00000000-01dc-27dd-cc8a-799100000029`)."""
    return str(uuid.uuid4())


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    entries: list[tuple[float, str]] = field(default_factory=list)

    def add(self, text: str, at: float | None = None) -> None:
        """`at`: when it happened (monotonic), if not now."""
        self.entries.append(((time.monotonic() if at is None else at) - self.started, text))

    def lines(self) -> list[str]:
        return [f"{_offset(seconds):>10}  {text}" for seconds, text in self.entries]


def _offset(seconds: float) -> str:
    return f"T+{seconds * 1000:.0f} ms" if seconds < 1 else f"T+{seconds:.1f} s"


@dataclass
class CallOutcome:
    caller: str
    call_id: str
    timeline: Timeline
    final_voice: str = ""  # cloned | default | voicemail | greeting | callback | failed-request
    cloned_voice_id: str = ""
    handed_off: bool = False
    key_presses: int = 0  # the caller's own presses of 1
    rechecks: int = 0  # check_clone calls the agent made by itself after a press
    statuses: list[int] = field(default_factory=list)
    webhook_ms: float = 0.0
    greeting_ms: float = 0.0  # call start -> the greeting (or first voice) is chosen
    error: str = ""
    silent_waits: int = 0  # check_clone waits the caller heard in silence
    # check_clone's transfer_to_agent answer -> the re-entry's conversation-init answered: the transfer leg
    transfer_ms: float | None = None
    check_ms: float | None = None  # the round trip of the check_clone request that answered transfer_to_agent
    conversations: list[dict[str, Any]] = field(default_factory=list)  # each leg's dynamic variables
    conversation_ids: list[str] = field(default_factory=list)  # each leg's conversation, in order


@dataclass(frozen=True)
class Pbx:
    """The simulated 3CX: the number callers dial, and how its trunk to ElevenLabs presents them."""

    did: str = "+441000000000"  # session.did; also the trunk's own outbound caller ID
    elevenlabs_number: str = "+441000000001"  # the number imported at ElevenLabs the outbound rule dials
    passes_caller_id: bool = True  # Outbound Parameters: From User Part = OriginatorCallerID
    host: str = "pbx.local"
    # How 3CX answers the agent's SIP REFER: 202 Accepted, or a refusal such as 403 (a trunk that
    # takes no in-dialog REFER) or 404 (a Refer-To number with no route back to the agent).
    refer_answer: int = 202

    @property
    def accepts_refer(self) -> bool:
        return 200 <= self.refer_answer < 300

    def session(self, number: str, call_id: str) -> dict[str, str]:
        """The call flow's session variables (session.dnis is the app's own extension)."""
        return {
            "session.ani": number,
            "session.did": self.did,
            "session.callid": call_id,
            "session.dnis": "810",
        }

    def call_flow(self, incoming_call_url: str, threecx_secret: str) -> CallFlow:
        """The app on the DID's inbound route: the project `warmline 3cx flow` writes for this PBX."""
        return CallFlow(cfd_project(incoming_call_url, threecx_secret, self.elevenlabs_number))

    def invite(self, number: str) -> dict[str, Any]:
        """The INVITE on the trunk to ElevenLabs, for the first leg and the re-entry leg alike."""
        user = number.replace(" ", "") if self.passes_caller_id else self.did
        return {
            "from": f"sip:{user}@{self.host}",
            "to": f"sip:{self.elevenlabs_number}@sip.rtc.elevenlabs.io",
        }

    @property
    def refer_target(self) -> str:
        """Where the agent transfers the call back to: a DN whose route reaches the agent again."""
        return f"sip:800@{self.host}"


@dataclass
class AgentTurn:
    """What the agent did: a conversation's start, or a tool call, with warmline's answer."""

    status: int
    body: Any
    conversation_id: str = ""
    silent_wait: bool | None = None  # did the caller wait in silence? None: not known (DirectAgent)
    # The check_clone calls the agent made after the press by itself: (seconds after the press, answer)
    rechecks: list[tuple[float, Any]] = field(default_factory=list)


class Agent(Protocol):
    def start(self, http: httpx.Client, invite: dict[str, Any]) -> AgentTurn: ...

    def press(
        self, http: httpx.Client, conversation: AgentTurn, invite: dict[str, Any], key: str, pin: str | None
    ) -> AgentTurn: ...

    def transfer(self, http: httpx.Client, conversation: AgentTurn, refer_answer: int) -> str:
        """The agent's SIP REFER, answered `refer_answer` by 3CX; where it pointed."""
        ...

    def agent_transfer(self, http: httpx.Client, conversation: AgentTurn) -> dict[str, Any]:
        """The agent's transfer_to_agent in the same conversation."""
        ...


@dataclass
class EmulatedAgent:
    """The emulator's agent (emulators/agent_platform.py), configured by `warmline elevenlabs configure`."""

    emulator_url: str
    agent_id: str = ""
    caller_id_as: str = "number"  # or "uri": conversation-init's caller_id is the From URI itself

    def start(self, http: httpx.Client, invite: dict[str, Any]) -> AgentTurn:
        payload = {**invite, "caller_id_as": self.caller_id_as}
        if self.agent_id:
            payload["agent_id"] = self.agent_id
        conversation = _json(http.post(f"{self.emulator_url}/_emulator/sip/inbound", json=payload))
        if conversation.get("failed"):
            raise _CallBroken(f"the agent's conversation failed: {conversation['failed']}")
        initiation = {
            "dynamic_variables": conversation["dynamic_variables"],
            "voice_id": conversation["voice_id"],
            "first_message": conversation["first_message"],
            "problem": conversation["webhook_problem"],
        }
        return AgentTurn(conversation["webhook_status"] or 0, initiation, conversation["conversation_id"])

    def press(
        self, http: httpx.Client, conversation: AgentTurn, invite: dict[str, Any], key: str, pin: str | None
    ) -> AgentTurn:
        url = f"{self.emulator_url}/_emulator/conversations/{conversation.conversation_id}/tool-calls"
        parameters = {"pressed_key": key, **({"pin": pin} if pin is not None else {})}
        result = _json(
            http.post(
                url, json={"tool": "check_clone", "parameters": parameters}, timeout=TURN_TIMEOUT_SECONDS
            )
        )
        calls = result.get("calls") or [result]
        # Each re-check, and the answer that asked for it (whose `say` the agent spoke first).
        rechecks = [(call["started_ms"] / 1000, asked["body"]) for asked, call in itertools.pairwise(calls)]
        return AgentTurn(
            result["status"], result["body"], conversation.conversation_id, result["silent_wait"], rechecks
        )

    def transfer(self, http: httpx.Client, conversation: AgentTurn, refer_answer: int) -> str:
        url = f"{self.emulator_url}/_emulator/conversations/{conversation.conversation_id}/transfer"
        return _json(http.post(url, json={"refer_answer": refer_answer}))["destination"]

    def agent_transfer(self, http: httpx.Client, conversation: AgentTurn) -> dict[str, Any]:
        """The agent's transfer_to_agent (HandoffMode=agent_transfer): the same conversation goes on
        with the voice-slot agent; `{"transferred", "voice_id", ...}`."""
        url = f"{self.emulator_url}/_emulator/conversations/{conversation.conversation_id}/agent-transfer"
        answer: dict[str, Any] = _json(http.post(url, json={}))
        return answer


@dataclass
class DirectAgent:
    """The agent played here: the same SIP-shaped requests, sent straight to warmline."""

    endpoints: dict[str, str]
    agent_secret: str
    refer_target: str = "sip:800@pbx.local"

    def start(self, http: httpx.Client, invite: dict[str, Any]) -> AgentTurn:
        body = {
            "caller_id": sip_user(invite["from"]),
            "agent_id": "agent_local",
            "called_number": sip_user(invite["to"]),
            "call_sid": None,
        }
        response = http.post(
            self.endpoints["ConversationInit"], json=body, headers={SECRET_HEADER: self.agent_secret}
        )
        answer = _json_or_none(response) or {}
        override = answer.get("conversation_config_override") or {}
        initiation = {
            "dynamic_variables": answer.get("dynamic_variables") or {},
            "voice_id": (override.get("tts") or {}).get("voice_id", ""),
            "first_message": (override.get("agent") or {}).get("first_message", ""),
            "problem": "" if response.status_code == 200 else response.text[:200],
        }
        return AgentTurn(response.status_code, initiation, new_conversation_id())

    def press(
        self, http: httpx.Client, conversation: AgentTurn, invite: dict[str, Any], key: str, pin: str | None
    ) -> AgentTurn:
        path = httpx.URL(path=sip_user(invite["from"])).path
        url = self.endpoints["CheckClone"].replace("{caller_id}", path)
        body = {"pressed_key": key, "conversation_id": conversation.conversation_id}
        if pin is not None:
            body["pin"] = pin
        pressed = time.monotonic()
        rechecks: list[tuple[float, Any]] = []
        while True:  # the prompt's rule: check_again -> call check_clone again at once
            response = http.post(url, json=body, headers={SECRET_HEADER: self.agent_secret})
            answer = _json_or_none(response)
            action = answer.get("next_action") if isinstance(answer, dict) else None
            if response.status_code != 200 or action != CHECK_AGAIN or len(rechecks) >= MAX_RECHECKS:
                break
            rechecks.append((time.monotonic() - pressed, answer))
        turn = AgentTurn(response.status_code, answer, conversation.conversation_id)
        turn.rechecks = rechecks
        return turn

    def transfer(self, http: httpx.Client, conversation: AgentTurn, refer_answer: int) -> str:
        return self.refer_target

    def agent_transfer(self, http: httpx.Client, conversation: AgentTurn) -> dict[str, Any]:
        raise _CallBroken("an agent transfer happens inside ElevenLabs: it needs the emulator's agent")


@dataclass
class SimulatedCaller:
    endpoints: dict[str, str]  # IncomingCall, ConversationInit, CheckClone (with {caller_id})
    threecx_secret: str
    agent_secret: str
    greeting_seconds: float = 4.0
    pause_between_presses_seconds: float = 1.0
    max_key_presses: int = 20
    timeout_seconds: float = 30.0
    pbx: Pbx = field(default_factory=Pbx)
    agent: Agent | None = None  # None: DirectAgent

    @classmethod
    def for_stack(cls, state: dict[str, Any], **options: Any) -> SimulatedCaller:
        """A caller of the local stack described by `state` (its local.json, or `describe()`)."""
        secrets = state["secrets"]
        return cls(
            state["endpoints"],
            threecx_secret=secrets["ThreeCxSecret"],
            agent_secret=secrets["AgentSecret"],
            **options,
        )

    def __post_init__(self) -> None:
        # One client for every call (it is thread-safe): a new client per call costs more CPU than
        # the call itself, and many callers share this process with the local stack.
        self._http = httpx.Client(
            timeout=self.timeout_seconds,
            verify=tls_context(),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        if self.agent is None:
            self.agent = DirectAgent(self.endpoints, self.agent_secret, self.pbx.refer_target)
        self._flow = self.pbx.call_flow(self.endpoints["IncomingCall"], self.threecx_secret)

    def __getstate__(self) -> dict[str, Any]:
        # Picklable for a caller process of its own: the HTTP client is made again there.
        return {name: value for name, value in self.__dict__.items() if name not in ("_http", "_flow")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    def call(self, number: str, call_id: str | None = None, pin: str | None = None) -> CallOutcome:
        """`pin`: what the caller types when the agent asks for their PIN (None: they type nothing)."""
        outcome = CallOutcome(caller=number, call_id=call_id or new_threecx_call_id(), timeline=Timeline())
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

    def _checked(self, outcome: CallOutcome, what: str, turn: AgentTurn) -> AgentTurn:
        outcome.statuses.append(turn.status)
        if turn.status != 200:
            raise _CallBroken(f"{what} answered {turn.status}: {str(turn.body)[:200]}")
        return turn

    def _play(self, http: httpx.Client, outcome: CallOutcome, pin: str | None) -> None:
        timeline = outcome.timeline
        routed = self._flow.run(self.pbx.session(outcome.caller, outcome.call_id), http)
        self._webhook_answer(outcome, routed)
        if routed.action == "disconnect":
            outcome.final_voice = "callback"
            timeline.add("3CX hangs up, freeing the line for the agent's call back")
            return
        if routed.destination != self.pbx.elevenlabs_number:
            raise _CallBroken(f"3CX transferred the call to {routed.destination}, not to the agent")
        timeline.add(
            f"3CX transfers the call to the agent's number {routed.destination} "
            f"(flow: {' > '.join(routed.steps)})"
        )

        start = self._start(http, outcome)
        outcome.greeting_ms = (time.monotonic() - timeline.started) * 1000
        mode = start.body["dynamic_variables"].get("warmline_mode")
        if mode == "cloned":
            outcome.final_voice = "cloned"
            outcome.cloned_voice_id = start.body["voice_id"]
            timeline.add(f"agent speaks in the cloned voice at once (voice_id {outcome.cloned_voice_id})")
            return
        if mode == "default":
            outcome.final_voice = "default"
            timeline.add("agent speaks in its own voice (no clone for this caller)")
            return

        timeline.add("greeting starts in the greeting voice")
        time.sleep(self.greeting_seconds)
        typed = None
        if start.body["dynamic_variables"].get("warmline_pin_required") == "yes":
            typed = pin or ""
            timeline.add(
                "agent asks for the caller's PIN; " + ("caller types it" if pin else "caller types none")
            )
        self._wait_for_clone(http, outcome, start, typed)

    def _webhook_answer(self, outcome: CallOutcome, routed: FlowResult) -> None:
        """What the flow's Web Service REST component got from warmline, on the caller's timeline."""
        rest = routed.rest_calls[0]
        outcome.webhook_ms = (rest.answered_at - outcome.timeline.started) * 1000
        if rest.status is None:
            outcome.timeline.add(f"webhook unreachable ({rest.error}): the Error Handler flow runs")
            return
        outcome.statuses.append(rest.status)
        if rest.status != 200:
            outcome.timeline.add(f"webhook answered {rest.status}: {rest.content[:200]}")
            return
        outcome.timeline.add(f"webhook answered ({_describe_incoming(json.loads(rest.content))})")

    def _start(self, http: httpx.Client, outcome: CallOutcome) -> AgentTurn:
        assert self.agent is not None
        turn = self._checked(
            outcome, "conversation-init", self.agent.start(http, self.pbx.invite(outcome.caller))
        )
        outcome.conversations.append(turn.body["dynamic_variables"])
        outcome.conversation_ids.append(turn.conversation_id)
        return turn

    def _wait_for_clone(
        self, http: httpx.Client, outcome: CallOutcome, conversation: AgentTurn, pin: str | None
    ) -> None:
        assert self.agent is not None
        timeline = outcome.timeline
        invite = self.pbx.invite(outcome.caller)
        for _ in range(self.max_key_presses):
            outcome.key_presses += 1
            timeline.add("caller presses 1")
            pressed_at = time.monotonic()
            turn = self._checked(
                outcome, "check-clone", self.agent.press(http, conversation, invite, "1", pin)
            )
            answered_at = time.monotonic()
            outcome.silent_waits += bool(turn.silent_wait)
            timeline.add(WAIT_HEARD[turn.silent_wait], at=pressed_at)
            _add_rechecks(outcome, turn, pressed_at)
            checked = turn.body
            action = checked["next_action"]
            if action == CHECK_AGAIN:  # the agent did not check again by itself: the caller presses again
                timeline.add(f"still preparing: agent says '{checked['say']}' and waits for a key")
                time.sleep(self.pause_between_presses_seconds)
                continue
            if action == "transfer_to_agent":
                outcome.check_ms = (answered_at - pressed_at) * 1000
                outcome.cloned_voice_id = checked["cloned_voice_id"]
                timeline.add(
                    f"clone ready (voice_id {outcome.cloned_voice_id}), waited {checked['wait_time_ms']} ms"
                )
                if checked.get("handoff_mode") == "agent_transfer":
                    self._agent_transfer(http, outcome, conversation, answered_at)
                else:
                    self._transfer(http, outcome, conversation, answered_at)
                return
            if action == "offer_voicemail":  # the greeting-timeout fallback GreetingTimeoutFallback=voicemail
                outcome.final_voice = "voicemail"
                timeline.add(f"agent takes a message ({checked['status']}): '{checked['say']}'")
                return
            outcome.final_voice = "default"
            timeline.add(f"agent goes on in its own voice ({checked['status']}): '{checked['say']}'")
            return
        outcome.final_voice = "default"
        timeline.add("caller gave up pressing 1")

    def _transfer(
        self, http: httpx.Client, outcome: CallOutcome, conversation: AgentTurn, answered_at: float
    ) -> None:
        """The agent's SIP REFER to 3CX and, if 3CX takes it, the re-entry leg in the cloned voice."""
        assert self.agent is not None
        timeline = outcome.timeline
        destination = self.agent.transfer(http, conversation, self.pbx.refer_answer)
        if not self.pbx.accepts_refer:
            outcome.final_voice = "greeting"
            timeline.add(
                f"transfer to 3CX ({destination}) refused: 3CX answered the REFER "
                f"{_refused(self.pbx.refer_answer)}; the caller stays in the greeting voice"
            )
            return
        timeline.add(f"transfer to 3CX ({destination}), which routes the call to the agent again")
        second = self._start(http, outcome).body
        outcome.transfer_ms = (time.monotonic() - answered_at) * 1000
        outcome.handed_off = True
        outcome.final_voice = "cloned" if second["voice_id"] == outcome.cloned_voice_id else "default"
        timeline.add(
            f"agent speaks in the {outcome.final_voice} voice: '{second['first_message']}' "
            f"(transfer leg {outcome.transfer_ms:.0f} ms: check_clone's answer to the new conversation)"
        )

    def _agent_transfer(
        self, http: httpx.Client, outcome: CallOutcome, conversation: AgentTurn, answered_at: float
    ) -> None:
        """HandoffMode=agent_transfer: the conversation moves to the caller's voice-slot agent."""
        assert self.agent is not None
        moved = self.agent.agent_transfer(http, conversation)
        outcome.transfer_ms = (time.monotonic() - answered_at) * 1000
        if not moved.get("transferred"):
            outcome.final_voice = "greeting"
            outcome.timeline.add(
                f"agent transfer failed ({moved.get('error')}): the caller stays in the greeting"
            )
            return
        outcome.handed_off = True
        outcome.final_voice = "cloned" if moved.get("voice_id") == outcome.cloned_voice_id else "default"
        outcome.timeline.add(
            f"agent transfer to the voice slot, same conversation: the {outcome.final_voice} voice "
            f"(switch {outcome.transfer_ms:.0f} ms: check_clone's answer to the slot agent speaking)"
        )


def _add_rechecks(outcome: CallOutcome, turn: AgentTurn, pressed_at: float) -> None:
    """The agent's own re-checks after the press, on the timeline: each follows a reassurance."""
    for after, answer in turn.rechecks:
        outcome.rechecks += 1
        say = answer.get("say", "") if isinstance(answer, dict) else ""
        outcome.timeline.add(f"agent says '{say}' and checks again by itself", at=pressed_at + after)


def _refused(answer: int) -> str:
    return {403: "403 Forbidden", 404: "404 Not Found", 405: "405 Method Not Allowed"}.get(
        answer, str(answer)
    )


def _json(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


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
