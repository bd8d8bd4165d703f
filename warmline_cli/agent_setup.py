"""Wire an ElevenLabs agent to a warmline stack, or check that it is wired, through the API.

What "wired" means (docs/wiring.md, "Configuring the ElevenLabs agent"):
- a workspace secret holds the agent secret (named `warmline-<stack>-agent-secret-<fingerprint>`,
  the fingerprint being the first 12 hex digits of its SHA-256, so a rotated secret is noticed
  without ElevenLabs ever answering a secret's value);
- the agent's conversation-initiation webhook (`platform_settings.workspace_overrides.
  conversation_initiation_client_data_webhook`) is the stack's ConversationInitUrl with the
  X-Warmline-Secret header taken from that secret, and `platform_settings.overrides` lets it fetch
  initiation data and override `tts.voice_id` and `agent.first_message`;
- the `check_clone` webhook tool exists with the stack's CheckCloneUrl and is in the agent's
  `conversation_config.agent.prompt.tool_ids`;
- the tool makes the agent speak and play a sound while it waits (`pre_tool_speech`,
  `tool_call_sound`, `tool_call_sound_behavior`), so the caller never hears silence;
- the agent declares warmline's dynamic variables;
- the agent's prompt holds warmline's menu (between `MENU_BEGIN` and `MENU_END`; the rest of the
  prompt is the operator's and stays as it is);
- the built-in `transfer_to_number` tool transfers back to 3CX by SIP REFER (in HandoffMode=transfer);
  rewriting it keeps the tool's other settings and other transfers.

Everything is read first and compared; only what differs is written, so a second run writes nothing.
An answer in a shape this module cannot use stops it with UnexpectedAnswer, naming the request.

The keypad: `conversation_config.conversation.dtmf_input_settings.dtmf_input_timeout` (how long the
agent waits for another key before it takes the keys typed; 2 s by default) is written as
`DTMF_INPUT_TIMEOUT_SECONDS` and read back after the PATCH. The field is in the `elevenlabs` 2.78.0
SDK's types (`ConversationConfig.dtmf_input_settings: DtmfInputConfig`), newer than the OpenAPI copy,
whose `DTMFInputConfig` no agent field referred to.

The agent's own dynamic variables (every `{{name}}` in its conversation config and its placeholders,
besides warmline's and `system__` ones) are recorded with their defaults in the stack's table
(`AGENT#<agent id>` / `VARIABLES`), so conversation-init answers them all: ElevenLabs fails a
conversation whose initiation data lacks one. `doctor` reports when they changed since.

A transfer warmline wrote (a SIP REFER with `TRANSFER_CONDITION`) is replaced when `--transfer-to`
names another destination (the PBX moved): the agent never has two with warmline's condition.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from warmline.adapters.dynamodb import DynamoAgentVariables
from warmline_cli.console import UsageError
from warmline_cli.elevenlabs_admin import AdminClient, UnexpectedAnswer, object_list, text_field
from warmline_cli.target import Target

SECRET_HEADER = "X-Warmline-Secret"
TOOL_NAME = "check_clone"
TOOL_DESCRIPTION = (
    "Call when the caller presses a key while their assistant is being prepared. "
    "Then say the 'say' field and follow 'next_action' (check_again: call it again at once)."
)
MIN_TOOL_TIMEOUT_SECONDS = 20
TOOL_TIMEOUT_MARGIN_SECONDS = 5
DYNAMIC_VARIABLES = {
    "warmline_caller_key": "",
    "warmline_mode": "default",
    "warmline_clone_status": "no_sample",
    "warmline_threecx_call_id": "",
    "warmline_pin_required": "no",
    "warmline_voice_slot": "",
}
PIN_DESCRIPTION = (
    "Only when warmline_pin_required is yes: the PIN the caller typed on the keypad when asked for it, "
    "digits only, exactly as typed. Never say it back. Omit it otherwise."
)
OVERRIDES = (("tts", "voice_id"), ("agent", "first_message"))  # what conversation-init sets
TRANSFER_CONDITION = (
    "When check_clone answers next_action transfer_to_agent, after saying its 'say' text: transfer the "
    "caller back so the call continues in their personal assistant's voice."
)
# The keypad: a one-key menu needs no 2 s wait after "1"; a PIN ends with # (hash_terminator).
DTMF_INPUT_TIMEOUT_SECONDS = 0.8
DTMF_TIMEOUT_RANGE = (0.5, 1.0)
DTMF_PATH = ("conversation_config", "conversation", "dtmf_input_settings", "dtmf_input_timeout")
PENDING_SECRET_ID = "<id of the new workspace secret>"
PENDING_TOOL_ID = "<id of the new check_clone tool>"
# While check_clone waits (up to IvrMaxWaitSeconds), the agent speaks first and a sound plays.
TOOL_WAIT_SETTINGS = {
    "pre_tool_speech": "force",
    "tool_call_sound": "elevator1",
    "tool_call_sound_behavior": "always",
}
MENU_BEGIN = "[warmline menu: kept by `warmline elevenlabs configure`]"
MENU_END = "[end of warmline menu]"
_MENU = re.compile(re.escape(MENU_BEGIN) + r".*?" + re.escape(MENU_END), re.DOTALL)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SIP_URI = re.compile(r"^sips?:[^@\s]+@[^@\s]+$")
READY_STEP = {
    "transfer": "transfer the call with the transfer_to_number tool (it returns in their assistant's voice)",
    "outbound": "end this call: warmline is calling the caller back in their assistant's voice",
    "agent_transfer": "if its handoff_mode is agent_transfer, call the warmline_handoff_to_clone tool (the "
    "caller stays in this call, in their assistant's voice); otherwise transfer the call with the "
    "transfer_to_number tool",
}


class MissingTransfer(UsageError):
    """HandoffMode=transfer needs somewhere to transfer the call back to."""


def transfer_destination(text: str) -> str:
    """A `--transfer-to` value checked: a SIP URI (sip:800@pbx.example.com) or an E.164 number."""
    if _SIP_URI.match(text) or _E164.match(text):
        return text
    raise UsageError(
        f"--transfer-to {text!r} is neither a SIP URI (sip:800@pbx.example.com) nor an E.164 number "
        "(+442071234567)"
    )


def menu_prompt(handoff_mode: str) -> str:
    """The menu part of the agent's prompt: what to do while warmline prepares the caller's voice."""
    return "\n".join(
        [
            MENU_BEGIN,
            'While {{warmline_mode}} is "greeting", the caller\'s personal assistant is being prepared:',
            "- When the caller presses a key (or says a digit), call check_clone at once with pressed_key "
            "set to that key.",
            '- Say the "say" text of its answer, then follow its "next_action": transfer_to_agent: '
            f"{READY_STEP.get(handoff_mode, READY_STEP['transfer'])}; "
            "check_again: call check_clone again at once with the same pressed_key (and pin), without "
            "waiting for a key (the caller presses 1 only once); "
            "offer_voicemail: take a message; continue_with_default_voice: carry on helping the caller "
            "yourself; repeat_menu: say the menu again.",
            'If {{warmline_pin_required}} is "yes", ask for the caller\'s PIN on the keypad (ending with #) '
            'before calling check_clone for key 1, pass it as "pin" on every such call, and never say '
            "it back.",
            'When {{warmline_mode}} is not "greeting", never call check_clone.',
            MENU_END,
        ]
    )


@dataclass(frozen=True)
class Step:
    name: str
    state: str  # "ok", "changed" (written, or printed in a dry run) or "needed" (checked, not written)
    detail: str


def secret_prefix(label: str) -> str:
    return f"warmline-{label}-agent-secret-"


def secret_name(label: str, value: str) -> str:
    return secret_prefix(label) + hashlib.sha256(value.encode()).hexdigest()[:12]


def tool_timeout_seconds(target: Target) -> int:
    return max(MIN_TOOL_TIMEOUT_SECONDS, math.ceil(target.ivr_max_wait_seconds) + TOOL_TIMEOUT_MARGIN_SECONDS)


def tool_config(target: Target, secret_id: str) -> dict[str, Any]:
    return {
        "type": "webhook",
        "name": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "response_timeout_secs": tool_timeout_seconds(target),
        **TOOL_WAIT_SETTINGS,
        "api_schema": {
            "url": target.check_clone_url,
            "method": "POST",
            "content_type": "application/json",
            "path_params_schema": {"caller_id": {"type": "string", "dynamic_variable": "system__caller_id"}},
            "request_body_schema": {
                "type": "object",
                "required": ["pressed_key"],
                "properties": {
                    "pressed_key": {
                        "type": "string",
                        "description": "The key the caller pressed: 1 to continue, 2 to leave a message.",
                    },
                    "conversation_id": {"type": "string", "dynamic_variable": "system__conversation_id"},
                    "pin": {"type": "string", "description": PIN_DESCRIPTION},
                },
            },
            "request_headers": {SECRET_HEADER: {"secret_id": secret_id}},
        },
    }


def webhook_config(target: Target, secret_id: str) -> dict[str, Any]:
    return {"url": target.conversation_init_url, "request_headers": {SECRET_HEADER: {"secret_id": secret_id}}}


def transfer(destination: str) -> dict[str, Any]:
    if destination.startswith(("sip:", "sips:")):
        where: dict[str, str] = {"type": "sip_uri", "sip_uri": destination}
    else:
        where = {"type": "phone", "phone_number": destination}
    return {"transfer_destination": where, "condition": TRANSFER_CONDITION, "transfer_type": "sip_refer"}


def _destination(entry: dict[str, Any]) -> str:
    where = entry.get("transfer_destination") or {}
    return str(where.get("sip_uri") or where.get("phone_number") or entry.get("phone_number") or "")


def _contains(actual: Any, wanted: Any) -> bool:
    """True if every field of `wanted` is in `actual` with the same value (ElevenLabs fills defaults in)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(_contains(actual.get(k), v) for k, v in wanted.items())
    return actual == wanted


def _at(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _read(data: dict[str, Any], path: tuple[str, ...], request: str, kind: type = dict) -> Any:
    """The value at `path` of an answer (None when absent), or UnexpectedAnswer when the answer
    has something else than an object on the way or than `kind` at the end."""
    for depth, key in enumerate(path):
        data = data.get(key)
        wanted = kind if depth == len(path) - 1 else dict
        if data is None:
            return None
        if not isinstance(data, wanted):
            where = ".".join(path[: depth + 1])
            raise UnexpectedAnswer(request, f"{where} that is not a {wanted.__name__}")
    return data


def _put(patch: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        patch = patch.setdefault(key, {})
    patch[path[-1]] = value


@dataclass
class AgentSetup:
    client: AdminClient
    target: Target
    agent_id: str
    agent_secret: str
    transfer_to: str | None = None
    write: bool = True
    steps: list[Step] = field(default_factory=list)

    @property
    def _agent_request(self) -> str:
        return f"GET /v1/convai/agents/{self.agent_id}"

    def workspace_secret(self) -> Step:
        """Only the workspace secret: create it, or update it to hold the agent secret."""
        self._secret()
        return self.steps[-1]

    def run(self) -> list[Step]:
        if self.transfer_to is not None:
            transfer_destination(self.transfer_to)
        agent = self.client.get(f"/v1/convai/agents/{self.agent_id}")
        if self.write and self._transfer_missing(agent):
            raise MissingTransfer(
                "the stack hands callers over with HandoffMode=transfer, and the agent has no SIP REFER "
                "transfer back to 3CX: pass --transfer-to SIP_URI_OR_NUMBER (the 3CX destination whose "
                "route reaches the agent again, e.g. sip:800@pbx.example.com)"
            )
        secret_id = self._secret()
        tool_id = self._tool(agent, secret_id)
        self._agent(agent, secret_id, tool_id)
        self._agents_own_variables(agent)
        return self.steps

    def _agents_own_variables(self, agent: dict[str, Any]) -> None:
        """Record the agent's own dynamic variables (not warmline's) and their defaults for
        conversation-init, which must answer every one of them."""
        declared = agents_own_variables(agent)
        store = DynamoAgentVariables(self.target.client("dynamodb"), self.target.table)
        recorded = store.defaults(self.agent_id)
        problems = []
        if recorded is None and declared:
            problems.append(f"not recorded for conversation-init: {', '.join(sorted(declared))}")
        elif recorded is not None and recorded != declared:
            added, removed = sorted(set(declared) - set(recorded)), sorted(set(recorded) - set(declared))
            changed = sorted(
                name for name in set(declared) & set(recorded) if declared[name] != recorded[name]
            )
            parts = [("added", added), ("removed", removed), ("with a new default", changed)]
            problems.append(
                "the agent's dynamic variables changed since configure recorded them: "
                + "; ".join(f"{what} {', '.join(names)}" for what, names in parts if names)
            )
        ok = f"conversation-init answers {', '.join(sorted(declared))}" if declared else "none declared"
        if self._step("agent's own dynamic variables", problems, "recorded", ok) and not self.client.dry_run:
            store.record(self.agent_id, declared, int(time.time() * 1000))

    def _step(self, name: str, problems: list[str], done: str, ok: str) -> bool:
        if not problems:
            self.steps.append(Step(name, "ok", ok))
            return False
        state = "changed" if self.write else "needed"
        self.steps.append(Step(name, state, "; ".join(problems) + (f" → {done}" if self.write else "")))
        return self.write

    # ---- the workspace secret ----------------------------------------------------------------------

    def _secrets(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.client.get(
                "/v1/convai/secrets", {"page_size": 100, **({"cursor": cursor} if cursor else {})}
            )
            found += object_list(page, "secrets", "GET /v1/convai/secrets")
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def _secret(self) -> str:
        name = secret_name(self.target.label, self.agent_secret)
        prefix = secret_prefix(self.target.label)
        listed = "GET /v1/convai/secrets"
        ours = [secret for secret in self._secrets() if str(secret.get("name", "")).startswith(prefix)]
        exact = next((secret for secret in ours if secret["name"] == name), None)
        if exact is not None:
            self._step("workspace secret", [], "", f"{name} holds the agent secret")
            return text_field(exact, "secret_id", listed)
        if ours:
            old = ours[0]
            old_id = text_field(old, "secret_id", listed)
            problems = [f"{old['name']} holds an older agent secret (it was rotated)"]
            if self._step("workspace secret", problems, f"updated to {name}", ""):
                self.client.write(
                    "PATCH",
                    f"/v1/convai/secrets/{old_id}",
                    {"type": "update", "name": name, "value": self.agent_secret},
                )
            return old_id
        if self._step(
            "workspace secret", ["no workspace secret holds the agent secret"], f"created {name}", ""
        ):
            created = self.client.write(
                "POST", "/v1/convai/secrets", {"type": "new", "name": name, "value": self.agent_secret}
            )
            return (
                text_field(created, "secret_id", "POST /v1/convai/secrets")
                if created is not None
                else PENDING_SECRET_ID
            )
        return PENDING_SECRET_ID

    # ---- the check_clone tool ----------------------------------------------------------------------

    def _tool_ids(self, agent: dict[str, Any]) -> list[str]:
        tool_ids = _read(
            agent, ("conversation_config", "agent", "prompt", "tool_ids"), self._agent_request, list
        )
        return [str(tool_id) for tool_id in tool_ids or []]

    def _find_tool(self, tool_ids: list[str]) -> tuple[dict[str, Any], str] | None:
        """The check_clone tool and its id: one of the agent's, or one calling this stack's URL."""
        for tool_id in tool_ids:
            request = f"GET /v1/convai/tools/{tool_id}"
            tool = self.client.get(f"/v1/convai/tools/{tool_id}")
            if _read(tool, ("tool_config", "name"), request, str) == TOOL_NAME:
                return tool, text_field(tool, "id", request)
        listed = self.client.get("/v1/convai/tools", {"search": TOOL_NAME, "page_size": 100})
        for tool in object_list(listed, "tools", "GET /v1/convai/tools"):
            config = _read(tool, ("tool_config",), "GET /v1/convai/tools") or {}
            if (
                config.get("name") == TOOL_NAME
                and _at(config, "api_schema", "url") == self.target.check_clone_url
            ):
                return tool, text_field(tool, "id", "GET /v1/convai/tools")
        return None

    def _tool(self, agent: dict[str, Any], secret_id: str) -> str:
        wanted = tool_config(self.target, secret_id)
        found = self._find_tool(self._tool_ids(agent))
        if found is None:
            if self._step("check_clone tool", ["the tool does not exist"], "created", ""):
                created = self.client.write("POST", "/v1/convai/tools", {"tool_config": wanted})
                return (
                    text_field(created, "id", "POST /v1/convai/tools")
                    if created is not None
                    else PENDING_TOOL_ID
                )
            return PENDING_TOOL_ID
        tool, tool_id = found
        problems = _tool_problems(tool.get("tool_config") or {}, wanted)
        if self._step("check_clone tool", problems, "updated", f"{TOOL_NAME} ({tool_id}) is up to date"):
            self.client.write("PATCH", f"/v1/convai/tools/{tool_id}", {"tool_config": wanted})
        return tool_id

    # ---- the agent ---------------------------------------------------------------------------------

    def _agent(self, agent: dict[str, Any], secret_id: str, tool_id: str) -> None:
        patch: dict[str, Any] = {}
        problems = self._settings_problems(agent, secret_id, tool_id, patch)
        settings_write = self._step(
            f"agent {self.agent_id}", problems, "updated", "webhook, overrides, tool and variables are set"
        )
        menu_write = self._step(
            "menu in the prompt",
            self._menu_problems(agent, patch),
            "written",
            "the prompt holds warmline's menu",
        )
        transfer_problems = self._transfer_problems(agent, patch)
        transfer_write = self._step(
            "transfer to 3CX", transfer_problems, "updated", self._transfer_summary(agent)
        )
        keypad_write = self._step(
            "keypad", self._keypad_problems(agent, patch), "written", _keypad_text(_at(agent, *DTMF_PATH))
        )
        if (settings_write or menu_write or transfer_write or keypad_write) and patch:
            answer = self.client.write("PATCH", f"/v1/convai/agents/{self.agent_id}", patch)
            if keypad_write and answer is not None:  # None: a dry run sent nothing
                self._read_back_keypad()

    def _keypad_problems(self, agent: dict[str, Any], patch: dict[str, Any]) -> list[str]:
        timeout = _at(agent, *DTMF_PATH)
        low, high = DTMF_TIMEOUT_RANGE
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and low <= timeout <= high:
            return []
        _put(patch, DTMF_PATH, DTMF_INPUT_TIMEOUT_SECONDS)
        shown = timeout if timeout is not None else "2 (the default)"
        return [f"the keypad waits {shown} s after a key (dtmf_input_timeout), not {low}-{high} s"]

    def _read_back_keypad(self) -> None:
        """The keypad timeout as ElevenLabs kept it: a PATCH may drop a field it does not know."""
        agent = self.client.get(f"/v1/convai/agents/{self.agent_id}")
        kept = _at(agent, *DTMF_PATH)
        if kept != DTMF_INPUT_TIMEOUT_SECONDS:
            self.steps.append(
                Step(
                    "keypad",
                    "needed",
                    f"ElevenLabs did not keep dtmf_input_timeout {DTMF_INPUT_TIMEOUT_SECONDS} (read back: "
                    f"{kept}); set the agent's keypad timeout to {DTMF_INPUT_TIMEOUT_SECONDS} s by hand",
                )
            )

    def _menu_problems(self, agent: dict[str, Any], patch: dict[str, Any]) -> list[str]:
        path = ("conversation_config", "agent", "prompt", "prompt")
        prompt = _read(agent, path, self._agent_request, str) or ""
        wanted = menu_prompt(self.target.handoff_mode)
        if wanted in prompt:
            return []
        if _MENU.search(prompt):
            _put(patch, path, _MENU.sub(lambda _match: wanted, prompt, count=1))
            return ["warmline's menu in the prompt is out of date"]
        _put(patch, path, f"{prompt.rstrip()}\n\n{wanted}" if prompt.strip() else wanted)
        return ["the prompt does not say what to do while the caller's voice is prepared"]

    def _settings_problems(
        self, agent: dict[str, Any], secret_id: str, tool_id: str, patch: dict[str, Any]
    ) -> list[str]:
        settings = _read(agent, ("platform_settings",), self._agent_request) or {}
        _read(agent, ("conversation_config", "agent", "dynamic_variables"), self._agent_request)
        return [
            *self._override_problems(settings, patch),
            *self._webhook_problems(settings, secret_id, patch),
            *self._tool_problems(agent, tool_id, patch),
            *_variable_problems(agent, patch),
        ]

    def _override_problems(self, settings: dict[str, Any], patch: dict[str, Any]) -> list[str]:
        problems = []
        overrides = ("platform_settings", "overrides")
        if not _at(settings, "overrides", "enable_conversation_initiation_client_data_from_webhook"):
            problems.append("fetching conversation initiation data from the webhook is off")
            _put(patch, (*overrides, "enable_conversation_initiation_client_data_from_webhook"), True)
        wanted = list(OVERRIDES)
        if self.target.handoff_mode == "agent_transfer":
            wanted.append(("agent", "prompt", "tool_ids"))  # a conversation gets its voice slot's tools
        for path in wanted:
            if _at(settings, "overrides", "conversation_config_override", *path) is not True:
                problems.append(f"the {'.'.join(path)} override is not enabled")
                _put(patch, (*overrides, "conversation_config_override", *path), True)
        return problems

    def _webhook_problems(self, settings: dict[str, Any], secret_id: str, patch: dict[str, Any]) -> list[str]:
        wanted_webhook = webhook_config(self.target, secret_id)
        webhook = _at(settings, "workspace_overrides", "conversation_initiation_client_data_webhook")
        webhook_problem = ""
        if not webhook:
            webhook_problem = "the conversation-initiation webhook is not set"
        elif webhook.get("url") != wanted_webhook["url"]:
            webhook_problem = (
                f"the conversation-initiation webhook calls {webhook.get('url')}, not this stack"
            )
        elif not _contains(webhook.get("request_headers"), wanted_webhook["request_headers"]):
            webhook_problem = (
                f"the conversation-initiation webhook does not send {SECRET_HEADER} from the secret"
            )
        if not webhook_problem:
            return []
        _put(
            patch,
            ("platform_settings", "workspace_overrides", "conversation_initiation_client_data_webhook"),
            wanted_webhook,
        )
        return [webhook_problem]

    def _tool_problems(self, agent: dict[str, Any], tool_id: str, patch: dict[str, Any]) -> list[str]:
        tool_ids = self._tool_ids(agent)
        if tool_id in tool_ids:
            return []
        _put(patch, ("conversation_config", "agent", "prompt", "tool_ids"), [*tool_ids, tool_id])
        return [f"{TOOL_NAME} is not one of the agent's tools"]

    def _transfer_tool(self, agent: dict[str, Any]) -> dict[str, Any]:
        path = ("conversation_config", "agent", "prompt", "built_in_tools", "transfer_to_number")
        return _read(agent, path, self._agent_request) or {}

    def _transfers(self, agent: dict[str, Any]) -> list[dict[str, Any]]:
        params = _read(self._transfer_tool(agent), ("params",), self._agent_request) or {}
        return object_list(params, "transfers", self._agent_request)

    def _transfer_missing(self, agent: dict[str, Any]) -> bool:
        """HandoffMode=transfer, no --transfer-to, and no SIP REFER transfer on the agent yet."""
        return (
            self.transfer_to is None
            and self.target.handoff_mode in ("transfer", "agent_transfer")  # agent_transfer falls back to it
            and not any(entry.get("transfer_type") == "sip_refer" for entry in self._transfers(agent))
        )

    def _transfer_summary(self, agent: dict[str, Any]) -> str:
        refers = [
            _destination(entry)
            for entry in self._transfers(agent)
            if entry.get("transfer_type") == "sip_refer"
        ]
        return f"transfers to {', '.join(refers)} by SIP REFER" if refers else "no transfer needed"

    def _transfer_problems(self, agent: dict[str, Any], patch: dict[str, Any]) -> list[str]:
        if self.transfer_to is None:
            if self._transfer_missing(agent):
                return ["no transfer_to_number tool transfers back to 3CX by SIP REFER (pass --transfer-to)"]
            return []
        transfers = self._transfers(agent)
        wanted = transfer(self.transfer_to)
        current = next((entry for entry in transfers if _destination(entry) == self.transfer_to), None)
        # Every other transfer stays, but not one warmline wrote before (the PBX moved).
        elsewhere = [entry for entry in transfers if _destination(entry) != self.transfer_to]
        replaced = [_destination(entry) for entry in elsewhere if _is_warmlines(entry)]
        if current is not None and _contains(current, wanted) and not replaced:
            return []
        tool = self._transfer_tool(agent)
        others = [entry for entry in elsewhere if not _is_warmlines(entry)]
        # The tool is rewritten whole (the PATCH replaces it): every setting it had stays.
        _put(
            patch,
            ("conversation_config", "agent", "prompt", "built_in_tools", "transfer_to_number"),
            {
                **tool,
                "type": "system",
                "name": tool.get("name") or "transfer_to_number",
                "description": tool.get("description", ""),
                "params": {
                    **(tool.get("params") or {}),
                    "system_tool_type": "transfer_to_number",
                    "transfers": [*others, wanted],
                },
            },
        )
        if replaced:
            return [f"warmline's transfer goes to {', '.join(replaced)}, not {self.transfer_to}"]
        if current is None:
            return [f"no transfer to {self.transfer_to}"]
        return [f"the transfer to {self.transfer_to} is not a SIP REFER with warmline's condition"]


def _variable_problems(agent: dict[str, Any], patch: dict[str, Any]) -> list[str]:
    """warmline's dynamic variables the agent does not declare yet."""
    placeholders = _at(
        agent, "conversation_config", "agent", "dynamic_variables", "dynamic_variable_placeholders"
    )
    missing = {name: value for name, value in DYNAMIC_VARIABLES.items() if name not in (placeholders or {})}
    if not missing:
        return []
    _put(
        patch,
        ("conversation_config", "agent", "dynamic_variables", "dynamic_variable_placeholders"),
        {**(placeholders or {}), **missing},
    )
    return [f"dynamic variables not declared: {', '.join(missing)}"]


def agents_own_variables(agent: dict[str, Any]) -> dict[str, str]:
    """The dynamic variables the agent declares besides warmline's and the platform's (`system__`):
    its placeholders and every `{{name}}` in its conversation config (prompt, first message, tools),
    each with its placeholder as default ("" without one)."""
    config = agent.get("conversation_config") or {}
    placeholders = _at(config, "agent", "dynamic_variables", "dynamic_variable_placeholders") or {}
    named = set(placeholders) | set(_PLACEHOLDER.findall(json.dumps(config)))
    return {
        name: str(placeholders.get(name, ""))
        for name in sorted(named)
        if not name.startswith("system__") and name not in DYNAMIC_VARIABLES
    }


def _is_warmlines(entry: dict[str, Any]) -> bool:
    """A transfer configure wrote: a SIP REFER with warmline's condition."""
    return entry.get("transfer_type") == "sip_refer" and entry.get("condition") == TRANSFER_CONDITION


def _keypad_text(timeout: Any) -> str:
    return f"the keypad takes a key after {timeout} s (dtmf_input_timeout)"


def _tool_problems(actual: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    problems = []
    schema, wanted_schema = actual.get("api_schema") or {}, wanted["api_schema"]
    if actual.get("type") != "webhook":
        problems.append(f"it is a {actual.get('type')} tool, not a webhook tool")
    if schema.get("url") != wanted_schema["url"]:
        problems.append(f"it calls {schema.get('url')}, not this stack's check-clone URL")
    if schema.get("method") != "POST":
        problems.append(f"its method is {schema.get('method') or 'GET (the default)'}, not POST")
    if not _contains(schema.get("request_headers"), wanted_schema["request_headers"]):
        problems.append(f"it does not send {SECRET_HEADER} from the workspace secret")
    timeout = actual.get("response_timeout_secs", 20)
    if timeout < wanted["response_timeout_secs"]:
        problems.append(f"its response timeout {timeout} s is under {wanted['response_timeout_secs']} s")
    if not _contains(schema.get("path_params_schema"), wanted_schema["path_params_schema"]):
        problems.append("its caller_id path parameter is not taken from system__caller_id")
    if not _contains(schema.get("request_body_schema"), wanted_schema["request_body_schema"]):
        problems.append("its body schema is not warmline's (pressed_key, conversation_id, pin)")
    if not _contains(actual, TOOL_WAIT_SETTINGS):
        problems.append("the caller would hear silence while it waits (no forced pre-tool speech and sound)")
    if not problems and not _contains(actual, wanted):
        problems.append("its description or settings differ from warmline's")
    return problems
