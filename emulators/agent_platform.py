"""The ElevenLabs agent on a phone call, as the emulator plays it for the local stack.

A SIP INVITE reaches the agent (ElevenLabs SIP trunking); the platform reads the caller from it as
ElevenLabs documents (`X-CALLER-ID` if the INVITE has one, else the From header's user part: 3CX
can set that, not `X-` headers), starts a conversation and, when the agent is set to, POSTs the
conversation-initiation webhook with a SIP-shaped body: `caller_id`, `agent_id`, `called_number`
and `call_sid` null (a Twilio field). Its answer's overrides apply only where the agent permits
them. The answer must hold every dynamic variable the agent declares (its placeholders and every
`{{name}}` in its prompt, first message or tools, `system__` ones aside): as ElevenLabs documents
("must contain all dynamic variables defined for the agent"), a conversation whose answer lacks one
fails at once (`failed`: "Missing required dynamic variables: ..."); the switch
`lenient_dynamic_variables` plays the kinder world where it goes on with the placeholders.
A tool call is made from the agent's own tool configuration: the URL with its path
parameters filled from dynamic variables (`system__caller_id` …), the body from its schema, secret
headers from the workspace secrets, and the wait the caller hears (speech first, a sound) from
`pre_tool_speech`, `tool_call_sound` and `tool_call_sound_behavior`. The agent's LLM follows its
prompt's re-call rules: a rule `<next_action>: call <tool> again at once` makes it call the tool
again, with the same arguments and no new input from the caller, when the tool's answer has that
`next_action` (and only then). A
transfer is the agent's `transfer_to_number` tool: a SIP REFER to its destination; an agent transfer
in the same conversation is `emulators/agent_transfer.py`. The overrides the initiation answer may
make, where the agent permits them: `tts.voice_id`, `agent.first_message`, `agent.prompt.tool_ids`.

Everything here reads the agent as `warmline elevenlabs configure` (or an operator) left it, so the
local stack's calls go through exactly the configuration a real agent would have.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

WEBHOOK_TIMEOUT_SECONDS = 10.0  # ElevenLabs documents none ("a reasonable timeout")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MAX_CALLS_PER_TURN = 60  # a runaway re-call rule ends here, as a real agent's turn would at its call limit
_RECALL_RULE = re.compile(r"\b(\w+): call (\w+) again at once")


class CallRefused(Exception):
    """The agent cannot take this call or tool call (unknown agent or tool, a missing argument)."""


@dataclass
class Conversation:
    conversation_id: str
    agent_id: str
    system: dict[str, Any]
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    voice_id: str = ""
    first_message: str = ""
    webhook_request: dict[str, Any] | None = None  # the body sent to the initiation webhook
    webhook_status: int | None = None  # None: the agent fetches no initiation data
    webhook_problem: str = ""  # why the answer was not used, or what it lacked
    failed: str = ""  # why the platform ended the conversation at its start ("" while it goes on)
    webhook_answer: dict[str, Any] | None = None  # the webhook's answer, as it came (emulators.worlds)
    voice_from_override: bool = False  # the voice is the initiation answer's, not the agent's own
    tool_ids: list[str] | None = None  # the initiation answer's agent.prompt.tool_ids (replace the agent's)
    targets_at_start: dict[str, Any] = field(default_factory=dict)  # emulators.agent_transfer
    spoken: list[dict[str, Any]] = field(default_factory=list)  # each agent turn: who spoke, in which voice

    def say(self, message: str) -> None:
        """The agent speaks `message` in the conversation's voice (the emulator's view of the audio)."""
        self.spoken.append({"agent_id": self.agent_id, "voice_id": self.voice_id, "message": message})

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def sip_user(uri: str) -> str:
    """`sip:+447700900123@pbx.example.com;transport=tcp` -> `+447700900123`."""
    text = uri.strip().strip("<>")
    text = text.split(":", 1)[1] if text.lower().startswith(("sip:", "sips:")) else text
    return text.split("@", 1)[0].split(";", 1)[0]


# ElevenLabs' ids as its documents show them (`conv_7401k5m9x2p8ec3rqv6dtnhb0fzw`): 28 characters of
# lowercase base32 after the prefix. Runs of digits in them are ordinary.
_ID_CHARACTERS = "0123456789abcdefghjkmnpqrstvwxyz"


def new_conversation_id(choice: Callable[[str], str] = secrets.choice) -> str:
    """A new conversation id of ElevenLabs' shape; `choice` picks each character."""
    return "conv_" + "".join(choice(_ID_CHARACTERS) for _ in range(28))


def start(
    agent: dict[str, Any],
    invite: dict[str, Any],
    secret_values: dict[str, str],
    http: httpx.Client,
    lenient_variables: bool = False,
) -> Conversation:
    """A conversation for an INVITE `{"from", "to", "headers"?, "caller_id_as"?}` to `agent`;
    `lenient_variables`: a missing dynamic variable does not fail it (the kinder world)."""
    headers = {name.lower(): value for name, value in (invite.get("headers") or {}).items()}
    caller = headers.get("x-caller-id") or sip_user(invite["from"])
    conversation = Conversation(
        conversation_id=new_conversation_id(),
        agent_id=agent["agent_id"],
        system={
            "system__caller_id": caller,
            "system__called_number": sip_user(invite["to"]),
            "system__call_sid": None,
            "system__agent_id": agent["agent_id"],
        },
    )
    conversation.system["system__conversation_id"] = conversation.conversation_id
    config = agent.get("conversation_config") or {}
    conversation.voice_id = _at(config, "tts", "voice_id") or ""
    conversation.first_message = _at(config, "agent", "first_message") or ""
    placeholders = _at(config, "agent", "dynamic_variables", "dynamic_variable_placeholders") or {}
    conversation.dynamic_variables = dict(placeholders)
    declared = declared_variables(agent)
    settings = agent.get("platform_settings") or {}
    webhook = _at(settings, "workspace_overrides", "conversation_initiation_client_data_webhook")
    if webhook and _at(settings, "overrides", "enable_conversation_initiation_client_data_from_webhook"):
        caller_id = invite["from"] if invite.get("caller_id_as") == "uri" else caller
        body = {
            "caller_id": caller_id,
            "agent_id": agent["agent_id"],
            "called_number": conversation.system["system__called_number"],
            "call_sid": None,
        }
        expected = set() if lenient_variables else declared
        _fetch_initiation_data(
            conversation, webhook, body, settings, (expected, declared), secret_values, http
        )
    if conversation.first_message and not conversation.failed:
        conversation.say(conversation.first_message)
    return conversation


def start_outbound(agent: dict[str, Any], body: dict[str, Any], conversation_id: str) -> Conversation:
    """The conversation of an outbound call the agent placed (`body`: the outbound-call request);
    its client data's overrides apply where the agent permits them."""
    config = agent.get("conversation_config") or {}
    client_data = body.get("conversation_initiation_client_data") or {}
    conversation = Conversation(
        conversation_id=conversation_id,
        agent_id=agent["agent_id"],
        system={
            "system__caller_id": body.get("to_number"),
            "system__called_number": body.get("to_number"),
            "system__call_sid": None,
            "system__agent_id": agent["agent_id"],
            "system__conversation_id": conversation_id,
        },
        dynamic_variables=dict(client_data.get("dynamic_variables") or {}),
        voice_id=_at(config, "tts", "voice_id") or "",
        first_message=_at(config, "agent", "first_message") or "",
    )
    _apply_overrides(conversation, client_data, agent.get("platform_settings") or {})
    if conversation.first_message:
        conversation.say(conversation.first_message)
    return conversation


def _fetch_initiation_data(
    conversation: Conversation,
    webhook: dict[str, Any],
    body: dict[str, Any],
    settings: dict[str, Any],
    variables_needed: tuple[set[str], set[str]],
    secret_values: dict[str, str],
    http: httpx.Client,
) -> None:
    conversation.webhook_request = body
    try:
        response = http.post(
            webhook["url"],
            json=body,
            headers=_headers(webhook.get("request_headers") or {}, secret_values),
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as error:
        conversation.webhook_problem = f"no answer: {type(error).__name__}"
        return
    conversation.webhook_status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        conversation.webhook_problem = f"answered {response.status_code}; the agent goes on without it"
        return
    conversation.webhook_answer = data
    variables = data.get("dynamic_variables") or {}
    required, declared = variables_needed  # required: those whose absence fails the conversation
    missing = sorted(declared - set(variables))
    if missing:
        conversation.webhook_problem = f"dynamic variables missing: {', '.join(missing)}"
    if required - set(variables):
        conversation.failed = (
            f"Missing required dynamic variables: {', '.join(sorted(required - set(variables)))}"
        )
        return
    conversation.dynamic_variables.update(variables)
    _apply_overrides(conversation, data, settings)


def _apply_overrides(conversation: Conversation, data: dict[str, Any], settings: dict[str, Any]) -> None:
    """The overrides of an initiation answer (or an outbound call's client data) the agent permits."""
    allowed = _at(settings, "overrides", "conversation_config_override") or {}
    override = data.get("conversation_config_override") or {}
    if _at(override, "tts", "voice_id") and _at(allowed, "tts", "voice_id"):
        conversation.voice_id = override["tts"]["voice_id"]
        conversation.voice_from_override = True
    if _at(override, "agent", "first_message") and _at(allowed, "agent", "first_message"):
        conversation.first_message = override["agent"]["first_message"]
    tool_ids = _at(override, "agent", "prompt", "tool_ids")
    if isinstance(tool_ids, list) and _at(allowed, "agent", "prompt", "tool_ids"):
        conversation.tool_ids = [str(tool_id) for tool_id in tool_ids]


def declared_variables(agent: dict[str, Any]) -> set[str]:
    """The dynamic variables an agent declares: its placeholders and every `{{name}}` in its
    conversation config (prompt, first message, tools' texts), less the platform's `system__` ones."""
    config = agent.get("conversation_config") or {}
    placeholders = _at(config, "agent", "dynamic_variables", "dynamic_variable_placeholders") or {}
    named = set(placeholders) | set(_PLACEHOLDER.findall(json.dumps(config)))
    return {name for name in named if not name.startswith("system__")}


def call_tool(
    conversation: Conversation,
    tool: dict[str, Any],
    parameters: dict[str, Any],
    secret_values: dict[str, str],
    http: httpx.Client,
) -> dict[str, Any]:
    """Run a webhook tool as the agent would, and say what the caller heard while it ran."""
    config = tool["tool_config"]
    schema = config.get("api_schema") or {}
    values = {**conversation.system, **conversation.dynamic_variables}
    url = schema["url"]
    for name, spec in (schema.get("path_params_schema") or {}).items():
        url = url.replace("{" + name + "}", quote(str(_argument(name, spec, values, parameters)), safe=""))
    body_schema = schema.get("request_body_schema") or {}
    required = set(body_schema.get("required") or [])
    body = {
        name: _argument(name, spec, values, parameters)
        for name, spec in (body_schema.get("properties") or {}).items()
        if name in required or name in parameters or "dynamic_variable" in spec or "constant_value" in spec
    }
    sound = config.get("tool_call_sound")
    heard = {
        "pre_tool_speech": config.get("pre_tool_speech", "auto") == "force",
        "sound": sound if sound and config.get("tool_call_sound_behavior", "auto") == "always" else None,
    }
    started = time.monotonic()
    try:
        response = http.request(
            schema.get("method", "GET"),
            url,
            json=body if body_schema else None,
            headers=_headers(schema.get("request_headers") or {}, secret_values),
            timeout=float(config.get("response_timeout_secs", 20)),
        )
        status, answer = response.status_code, _json_or_text(response)
    except httpx.TimeoutException:
        status, answer = 504, "the tool did not answer within response_timeout_secs"
    return {
        "status": status,
        "body": answer,
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
        "caller_heard": heard,
        "silent_wait": not (heard["pre_tool_speech"] or heard["sound"]),
    }


def recall_rules(agent: dict[str, Any]) -> dict[str, str]:
    """The prompt's re-call rules: {next_action: the tool the agent calls again at once}."""
    prompt = _at(agent, "conversation_config", "agent", "prompt", "prompt") or ""
    return {action: tool for action, tool in _RECALL_RULE.findall(prompt)}


def call_tool_until_answered(
    conversation: Conversation,
    agent: dict[str, Any],
    tool: dict[str, Any],
    parameters: dict[str, Any],
    secret_values: dict[str, str],
    http: httpx.Client,
) -> dict[str, Any]:
    """One turn of the agent: the tool call, and each re-call its prompt asks for. The last call's
    result, with every call (`calls`, each with `started_ms` from the turn's start)."""
    again = recall_rules(agent)
    name = tool["tool_config"].get("name")
    started = time.monotonic()
    calls: list[dict[str, Any]] = []
    while len(calls) < MAX_CALLS_PER_TURN:
        began_ms = round((time.monotonic() - started) * 1000, 1)
        result = {**call_tool(conversation, tool, parameters, secret_values, http), "started_ms": began_ms}
        calls.append(result)
        body = result["body"]
        action = body.get("next_action") if isinstance(body, dict) else None
        if result["status"] != 200 or again.get(str(action)) != name:
            break
    return {**calls[-1], "calls": calls, "silent_wait": any(call["silent_wait"] for call in calls)}


def webhook_tool(
    agent: dict[str, Any], tools: list[dict[str, Any]], name: Any, tool_ids: list[str] | None = None
) -> dict[str, Any] | None:
    """The agent's webhook tool called `name` (one of its `tool_ids`, or of `tool_ids` given: the
    conversation's own, from its initiation answer), or None."""
    if tool_ids is None:
        tool_ids = _at(agent, "conversation_config", "agent", "prompt", "tool_ids") or []
    for tool in tools:
        config = tool["tool_config"]
        if tool["id"] in tool_ids and config.get("name") == name and config.get("type") == "webhook":
            return tool
    return None


def refer_target(agent: dict[str, Any]) -> dict[str, Any]:
    """The SIP REFER the agent's transfer_to_number tool makes (its first `sip_refer` transfer)."""
    tool = _at(agent, "conversation_config", "agent", "prompt", "built_in_tools", "transfer_to_number") or {}
    for entry in _at(tool, "params", "transfers") or []:
        if entry.get("transfer_type") == "sip_refer":
            where = entry.get("transfer_destination") or {}
            return {
                "destination": where.get("sip_uri") or where.get("phone_number"),
                "condition": entry.get("condition"),
            }
    raise CallRefused("the agent has no transfer_to_number tool with a sip_refer transfer")


def _argument(name: str, spec: dict[str, Any], values: dict[str, Any], parameters: dict[str, Any]) -> Any:
    if "dynamic_variable" in spec:
        return values.get(spec["dynamic_variable"])
    if "constant_value" in spec:
        return spec["constant_value"]
    if name not in parameters:
        raise CallRefused(f"the LLM gave no value for {name!r}")
    return parameters[name]


def _headers(configured: dict[str, Any], secret_values: dict[str, str]) -> dict[str, str]:
    resolved = {}
    for name, value in configured.items():
        if isinstance(value, dict) and "secret_id" in value:
            resolved[name] = secret_values.get(value["secret_id"], "")
        elif isinstance(value, str):
            resolved[name] = value
    return resolved


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _at(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data
