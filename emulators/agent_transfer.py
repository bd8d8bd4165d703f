"""Agent-to-agent transfer inside one conversation, as the emulator plays it: the `transfer_to_agent`
system tool (ElevenLabs documents it as `AgentTransfer` entries: `agent_id`, `condition`,
`enable_transferred_agent_first_message`, `preserve_client_tts_overrides` default false).

The LLM calls the tool with `agent_number`, the index of one of its transfers. The tool is the
agent's built-in `transfer_to_agent`, or a workspace system tool (`POST /v1/convai/tools`,
`params.system_tool_type: transfer_to_agent`) among the conversation's tools (its initiation
answer's `agent.prompt.tool_ids` where the agent permits that override, else the agent's own).
The conversation goes on, same id and same call, with the target agent: its first message when
the transfer enables it, and its own voice (the initiation answer's voice is kept only with
`preserve_client_tts_overrides` true).

Which configuration of the target is used is undocumented: world `agent_transfer_reads`
(emulators/worlds.py) reads it when the transfer happens (`transfer`), or as it was when the
conversation started (`start`), captured by `capture_targets`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from emulators.agent_platform import Conversation

TOOL_TYPE = "transfer_to_agent"


@dataclass(frozen=True)
class Outcome:
    tool_name: str
    result: dict[str, Any]  # TransferToAgentToolResultSuccessModel or ...ErrorModel
    first_message: str  # what the target agent said on arrival ("" when nothing)

    @property
    def transferred(self) -> bool:
        return self.result.get("status") == "success"


def transfer_tools(
    agent: dict[str, Any], tools: list[dict[str, Any]], tool_ids: list[str] | None
) -> list[dict[str, Any]]:
    """The conversation's transfer_to_agent tools, as `SystemToolConfig`s: the agent's built-in one
    first, then the workspace system tools among its tool ids."""
    prompt = _at(agent, "conversation_config", "agent", "prompt") or {}
    found = []
    built_in = _at(prompt, "built_in_tools", TOOL_TYPE)
    if isinstance(built_in, dict):
        found.append(built_in)
    wanted = tool_ids if tool_ids is not None else prompt.get("tool_ids") or []
    for tool in tools:
        config = tool["tool_config"]
        if tool["id"] in wanted and _at(config, "params", "system_tool_type") == TOOL_TYPE:
            found.append(config)
    return found


def capture_targets(
    conversation: Conversation, agent: dict[str, Any], agents: dict[str, Any], tools: list[dict[str, Any]]
) -> None:
    """The configuration of every agent the conversation can transfer to, as it is now (its start)."""
    for config in transfer_tools(agent, tools, conversation.tool_ids):
        for entry in _at(config, "params", "transfers") or []:
            target = agents.get(entry.get("agent_id"))
            if target is not None:
                conversation.targets_at_start[target["agent_id"]] = copy.deepcopy(target)


def transfer(
    conversation: Conversation,
    agent: dict[str, Any],
    agents: dict[str, Any],
    tools: list[dict[str, Any]],
    call: dict[str, Any],
) -> Outcome:
    """The LLM calls transfer_to_agent: `call` = `{"agent_number": n, "tool": name?, "reads": world}`.
    On success the conversation is the target agent's from now on."""
    configs = transfer_tools(agent, tools, conversation.tool_ids)
    if call.get("tool"):
        configs = [config for config in configs if config.get("name") == call["tool"]]
    if not configs:
        return _error(conversation, "", "the agent has no transfer_to_agent tool")
    config = configs[0]
    entries = _at(config, "params", "transfers") or []
    number = call.get("agent_number", 0)
    if not isinstance(number, int) or not 0 <= number < len(entries):
        return _error(conversation, config.get("name", TOOL_TYPE), f"no transfer number {number!r}")
    entry = entries[number]
    live = agents.get(entry.get("agent_id"))
    if live is None:
        return _error(conversation, config.get("name", TOOL_TYPE), f"no agent {entry.get('agent_id')}")
    target = conversation.targets_at_start.get(live["agent_id"], live) if call["reads"] == "start" else live
    return _arrive(conversation, config.get("name", TOOL_TYPE), entry, target)


def _arrive(conversation: Conversation, name: str, entry: dict[str, Any], target: dict[str, Any]) -> Outcome:
    preserve = bool(entry.get("preserve_client_tts_overrides", False))
    from_agent = conversation.agent_id
    conversation.agent_id = target["agent_id"]
    conversation.system["system__agent_id"] = target["agent_id"]
    conversation.tool_ids = None  # the target works with its own tools
    if not (preserve and conversation.voice_from_override):
        conversation.voice_id = _at(target, "conversation_config", "tts", "voice_id") or conversation.voice_id
        conversation.voice_from_override = False
    first_message = ""
    if entry.get("enable_transferred_agent_first_message", False):
        first_message = _at(target, "conversation_config", "agent", "first_message") or ""
        if first_message:
            conversation.say(first_message)
    result = {
        "result_type": "transfer_to_agent_success",
        "status": "success",
        "from_agent": from_agent,
        "to_agent": target["agent_id"],
        "condition": entry.get("condition") or "",
        "delay_ms": int(entry.get("delay_ms") or 0),
        "transfer_message": entry.get("transfer_message"),
        "enable_transferred_agent_first_message": bool(entry.get("enable_transferred_agent_first_message")),
        "preserve_client_tts_overrides": preserve,
    }
    return Outcome(name, result, first_message)


def _error(conversation: Conversation, name: str, why: str) -> Outcome:
    result = {
        "result_type": "transfer_to_agent_error",
        "status": "error",
        "from_agent": conversation.agent_id,
        "error": why,
    }
    return Outcome(name or TOOL_TYPE, result, "")


def _at(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data
