"""HandoffMode=agent_transfer's voice-slot agents, kept by `warmline elevenlabs configure`
(warmline.agent_slots has the per-call side).

Slot k is the agent `warmline-<stack>-voice-slot-<k>`: the main agent's prompt (without warmline's
menu), language, dynamic variables and tools (but check_clone), with HandoffMessage as its first
message and the greeting voice as its own (the placeholder: the worker PATCHes a clone onto it for
one call, and it goes back when the call ends). Beside it, a workspace system tool
`SLOT_TOOL_NAME` transfers to it (`transfer_to_agent`, `preserve_client_tts_overrides` false, its
first message on). The stack's table holds the pool: each slot's agent, and the tools a
conversation that leases it gets in place of the main agent's (the main agent's, and that
transfer tool). Every run puts the slots in step with the main agent again; slots past
`--voice-slots` are deleted, with their tools.

The mode rests on a behaviour no document settles (platform-review.md §1), so `configure` builds
the pool only when the last `warmline elevenlabs probe voice-switch` of this stack passed, or with
`--force` (`gate`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warmline.adapters.dynamodb_slots import DynamoSlotStore
from warmline.agent_slots import Slot
from warmline.settings import Settings
from warmline.voice_provider import ProviderError
from warmline_cli.agent_setup import _MENU, TOOL_NAME, Step
from warmline_cli.console import UsageError, warn
from warmline_cli.elevenlabs_admin import AdminClient, object_list, text_field
from warmline_cli.target import Target

SLOT_TOOL_NAME = "warmline_handoff_to_clone"
SLOT_CONDITION = "check_clone answered next_action transfer_to_agent with handoff_mode agent_transfer"
DEFAULT_SLOTS = 2
FORCE_RISK = (
    "--force: HandoffMode=agent_transfer without a passing `probe voice-switch`. If ElevenLabs reads the "
    "slot agent's voice when the conversation starts, callers are handed over in the greeting voice, "
    "not their clone (the handoff then looks done and is not); the slot agents and their PATCHes "
    "(two per clone) cost API calls either way"
)
_SLOT_NUMBER = re.compile(r"-voice-slot-(\d+)$")


def voice_switch_verdict(path: Path) -> str | None:
    """The last `probe voice-switch` verdict of the stack (PASS, FAIL, INCONCLUSIVE), or None."""
    try:
        verdict = json.loads(path.read_text()).get("verdict")
    except (OSError, ValueError, AttributeError):
        return None
    return str(verdict) if verdict else None


def gate(path: Path, force: bool) -> None:
    """UsageError unless the last probe voice-switch passed; with `force`, say what it risks."""
    verdict = voice_switch_verdict(path)
    if verdict == "PASS":
        return
    if force:
        warn(FORCE_RISK)
        return
    seen = f"its last verdict was {verdict}" if verdict else "it has not run on this stack"
    raise UsageError(
        f"HandoffMode=agent_transfer needs `warmline elevenlabs probe voice-switch` to pass first ({seen}); "
        "run it, or redeploy with HandoffMode=transfer (or pass --force, at your own risk)"
    )


@dataclass
class SlotSetup:
    client: AdminClient
    target: Target
    main_agent: dict[str, Any]
    count: int = DEFAULT_SLOTS
    steps: list[Step] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"warmline-{self.target.label}-voice-slot-"

    def run(self) -> list[Step]:
        existing = self._existing()
        tools = self._transfer_tools()
        pool = []
        for number in range(1, self.count + 1):
            agent_id = self._agent(number, existing.pop(number, None))
            tool_id = self._tool(agent_id, tools.pop(agent_id, None))
            pool.append(Slot(number, agent_id, (*self._main_tool_ids(), tool_id)))
        for number, agent_id in existing.items():
            self.client.write("DELETE", f"/v1/convai/agents/{agent_id}", {})
            self.steps.append(
                Step(f"voice slot {number}", "changed", f"deleted {agent_id} (past --voice-slots)")
            )
        for tool_id in tools.values():
            self.client.write("DELETE", f"/v1/convai/tools/{tool_id}", {})
        if not self.client.dry_run:
            DynamoSlotStore(self.target.client("dynamodb"), self.target.table).save(pool)
        return self.steps

    def _main_tool_ids(self) -> list[str]:
        prompt = _at(self.main_agent, "conversation_config", "agent", "prompt") or {}
        return [str(tool_id) for tool_id in prompt.get("tool_ids") or []]

    def _existing(self) -> dict[int, str]:
        listed = self.client.get("/v1/convai/agents", {"search": self.prefix, "page_size": 100})
        found = {}
        for agent in object_list(listed, "agents", "GET /v1/convai/agents"):
            matched = _SLOT_NUMBER.search(str(agent.get("name") or ""))
            if str(agent.get("name") or "").startswith(self.prefix) and matched:
                found[int(matched.group(1))] = text_field(agent, "agent_id", "GET /v1/convai/agents")
        return found

    def _transfer_tools(self) -> dict[str, str]:
        """The slot transfer tools there are: {the slot agent it transfers to: tool id}."""
        listed = self.client.get("/v1/convai/tools", {"search": SLOT_TOOL_NAME, "page_size": 100})
        found = {}
        for tool in object_list(listed, "tools", "GET /v1/convai/tools"):
            config = tool.get("tool_config") or {}
            transfers = _at(config, "params", "transfers") or []
            if config.get("name") == SLOT_TOOL_NAME and transfers:
                found[str(transfers[0].get("agent_id"))] = text_field(tool, "id", "GET /v1/convai/tools")
        return found

    def _agent(self, number: int, agent_id: str | None) -> str:
        body = {"name": f"{self.prefix}{number}", "conversation_config": self._slot_config()}
        if agent_id is None:
            created = self.client.write("POST", "/v1/convai/agents/create", body) or {}
            made = text_field(created, "agent_id", "POST /v1/convai/agents/create") if created else "<new>"
            self.steps.append(Step(f"voice slot {number}", "changed", f"created {made}"))
            return made
        # Not its voice: a call may hold the slot, with its clone on it (the lease's sweep resets it).
        del body["conversation_config"]["tts"]
        self.client.write("PATCH", f"/v1/convai/agents/{agent_id}", body)
        self.steps.append(Step(f"voice slot {number}", "ok", f"{agent_id} in step with the main agent"))
        return agent_id

    def _slot_config(self) -> dict[str, Any]:
        config = self.main_agent.get("conversation_config") or {}
        agent = config.get("agent") or {}
        prompt = dict(agent.get("prompt") or {})
        prompt["prompt"] = _MENU.sub("", str(prompt.get("prompt") or "")).strip()
        prompt["tool_ids"] = [
            tool_id for tool_id in self._main_tool_ids() if not self._is_check_clone(tool_id)
        ]
        defaults = Settings()
        return {
            "agent": {
                "first_message": self.target.parameters.get("HandoffMessage") or defaults.handoff_message,
                "language": agent.get("language") or "en",
                "prompt": prompt,
                "dynamic_variables": agent.get("dynamic_variables") or {},
            },
            "tts": {"voice_id": self.target.parameters.get("GreetingVoiceId") or defaults.greeting_voice_id},
        }

    def _is_check_clone(self, tool_id: str) -> bool:
        tool = self.client.get(f"/v1/convai/tools/{tool_id}")
        return _at(tool, "tool_config", "name") == TOOL_NAME

    def _tool(self, agent_id: str, tool_id: str | None) -> str:
        if tool_id is not None:
            return tool_id
        transfer = {
            "agent_id": agent_id,
            "condition": SLOT_CONDITION,
            "delay_ms": 0,
            "enable_transferred_agent_first_message": True,
            "preserve_client_tts_overrides": False,
        }
        config = {
            "type": "system",
            "name": SLOT_TOOL_NAME,
            "description": "Hand the caller over to their personal assistant's voice, in this call.",
            "params": {"system_tool_type": "transfer_to_agent", "transfers": [transfer]},
        }
        created = self.client.write("POST", "/v1/convai/tools", {"tool_config": config}) or {}
        return text_field(created, "id", "POST /v1/convai/tools") if created else "<new tool>"


_COMPARED = (("prompt", "prompt"), ("prompt", "tool_ids"), ("first_message",), ("language",))


def check_pool(client: AdminClient, target: Target, main_agent: dict[str, Any]) -> list[tuple[bool, str]]:
    """`warmline doctor`: each slot of the stack's pool exists at ElevenLabs and is in step with the
    main agent (prompt, tools, first message, language), and a conversation leasing it gets the
    main agent's tools. One (ok, line) per slot; reads only."""
    slots = DynamoSlotStore(target.client("dynamodb"), target.table).slots()
    if not slots:
        return [(False, "voice slot 0: no voice-slot pool recorded; run `warmline elevenlabs configure`")]
    setup = SlotSetup(client, target, main_agent)
    wanted = setup._slot_config()["agent"]
    main_tools = setup._main_tool_ids()
    return [_slot_check(client, slot, wanted, main_tools) for slot in slots]


def _slot_check(
    client: AdminClient, slot: Slot, wanted: dict[str, Any], main_tools: list[str]
) -> tuple[bool, str]:
    name = f"voice slot {slot.number}: {slot.agent_id}"
    try:
        agent = client.get(f"/v1/convai/agents/{slot.agent_id}")
    except ProviderError as error:
        return (
            False,
            f"{name} cannot be read at ElevenLabs ({error.reason}); run `warmline elevenlabs configure`",
        )
    have = _at(agent, "conversation_config", "agent") or {}
    differ = [path[-1] for path in _COMPARED if _at(have, *path) != _at(wanted, *path)]
    if list(slot.tool_ids[:-1]) != main_tools:
        differ.append("leased tools")
    if differ:
        verb = "differs" if len(differ) == 1 else "differ"
        return (
            False,
            f"{name}'s {' and '.join(differ)} {verb} from the main agent's; run `warmline elevenlabs "
            "configure`",
        )
    return True, f"{name} in step with the main agent"


def _at(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data
