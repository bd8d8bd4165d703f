"""The alternative worlds the ElevenLabs emulator can play, one switch per platform behaviour that no
document settles (shared/reference/first-contact-review.md, section 3). `warmline elevenlabs probe`
settles each on a real account; the tests show each probe telling its two worlds apart.

Set them with `POST /_emulator/config {"worlds": {"refer_answer": 403, ...}}` (only the switches
named change; `/_emulator/reset` restores the defaults below). The default of each is the world
warmline assumes, or the documented one:

- `caller_id_passed` (true: the caller is the INVITE's X-CALLER-ID / From user; false: every leg
  shows the trunk's own number, `TRUNK_NUMBER`).
- `sip_called_number` (true: the pre-call body and `system__called_number` carry the number dialled;
  false: both are empty).
- `refer_answer` (202: the PBX accepts the agent's SIP REFER; e.g. 403: refused, the caller stays).
- `init_failure` (`continue`: a failed conversation-init leaves the agent's own voice and first
  message; `end_call`: the conversation ends at once).
- `unpermitted_override` (`refuse`: a conversation-init answer with an override the agent does not
  permit ends the conversation, as the docs say; `ignore`: the override is dropped without a word).
- `init_in_testing` (true: agent testing's simulations call conversation-init; false: never).
- `patch_merge` (`deep`: PATCH agent merges nested objects; `shallow`: each top-level part of
  `conversation_config` / `platform_settings` sent replaces the stored one, e.g. `agent` whole).
- `search_lag_seconds` (0: `GET /v2/voices?search=` sees a new voice at once; N: not for N s).
- `dtmf_passed` (true: a key pressed on a call reaches the agent, transcript `source_medium: dtmf`;
  false: the trunk swallows it).
- `clones_need_verification` (false; true: every clone answers `requires_verification: true`).
- `voice_search` (`substring`: `GET /v2/voices` `search` matches part of a name; `words`: whole words).
- `lenient_dynamic_variables` (false, as documented: a conversation whose conversation-init answer
  lacks a dynamic variable the agent declares fails; true: it goes on with the placeholders).
- `simulated_refer_succeeds` (false: agent testing's text simulation has no SIP dialog, so its SIP
  REFER fails; true: it reports success).
- `agent_transfer_reads` (`transfer`: a `transfer_to_agent` reads the target agent's configuration
  when the transfer happens, so a voice PATCHed onto it mid-conversation is the one heard;
  `start`: the targets' configuration is captured when the conversation starts, and a PATCH
  after that is not heard until the next conversation). Undocumented (platform-review.md §1);
  `warmline elevenlabs probe voice-switch` settles it, and HandoffMode=agent_transfer needs
  `transfer`.

`Emulator.configure(...)` and the top level of `/_emulator/config` also set the last four.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

TRUNK_NUMBER = "+15550100100"  # what the platform sees when the caller ID does not cross the trunk
CHOICES = {
    "init_failure": ("continue", "end_call"),
    "unpermitted_override": ("refuse", "ignore"),
    "patch_merge": ("deep", "shallow"),
    "voice_search": ("substring", "words"),
    "agent_transfer_reads": ("transfer", "start"),
}


@dataclass(frozen=True)
class Worlds:
    caller_id_passed: bool = True
    sip_called_number: bool = True
    refer_answer: int = 202
    init_failure: str = "continue"
    unpermitted_override: str = "refuse"
    init_in_testing: bool = True
    patch_merge: str = "deep"
    search_lag_seconds: float = 0.0
    dtmf_passed: bool = True
    clones_need_verification: bool = False
    voice_search: str = "substring"
    lenient_dynamic_variables: bool = False
    simulated_refer_succeeds: bool = False
    agent_transfer_reads: str = "transfer"

    def changed(self, switches: Any) -> Worlds:
        """These worlds with `switches` (a JSON object) applied; ValueError naming a bad switch."""
        if not isinstance(switches, dict):
            raise ValueError("worlds must be a JSON object of switches")
        known = {item.name: item.type for item in fields(self)}
        for name, value in switches.items():
            if name not in known:
                raise ValueError(f"unknown world switch {name!r}; known: {', '.join(sorted(known))}")
            _check(name, value, str(known[name]))
        return replace(self, **switches)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, value: Any, kind: str) -> None:
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"world switch {name} takes true or false")
    if kind == "int" and (not isinstance(value, int) or not 200 <= value <= 699):
        raise ValueError(f"world switch {name} takes a SIP status code (200-699)")
    if kind == "float" and (not isinstance(value, int | float) or value < 0):
        raise ValueError(f"world switch {name} takes a number of seconds >= 0")
    if kind == "str" and value not in CHOICES[name]:
        raise ValueError(f"world switch {name} takes one of {', '.join(CHOICES[name])}")


def ended_by(worlds: Worlds, conversation: Any, agent: dict[str, Any]) -> str | None:
    """Why the platform ends `conversation` (an `agent_platform.Conversation`) as it starts, in
    these worlds; None when it goes on."""
    fetched = conversation.webhook_request is not None
    if fetched and worlds.init_failure == "end_call" and conversation.webhook_status != 200:
        return "conversation_initiation_failed"
    if worlds.unpermitted_override == "refuse" and unpermitted_overrides(conversation, agent):
        return "override_not_permitted"
    return None


def unpermitted_overrides(conversation: Any, agent: dict[str, Any]) -> list[str]:
    """The overrides conversation-init answered that the agent does not permit (`tts.voice_id` ...)."""
    answer = conversation.webhook_answer or {}
    allowed = ((agent.get("platform_settings") or {}).get("overrides") or {}).get(
        "conversation_config_override"
    ) or {}
    sent = answer.get("conversation_config_override") or {}
    return [
        f"{part}.{name}"
        for part, values in sent.items()
        if isinstance(values, dict)
        for name, value in values.items()
        if value and not (allowed.get(part) or {}).get(name)
    ]
