"""Request and response bodies of warmline's HTTP endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints

PrintableText = Annotated[str, StringConstraints(max_length=128, pattern=r"^[\x20-\x7e]*$")]
CallerText = Annotated[StrictStr, StringConstraints(max_length=64)]


class IncomingCallRequest(BaseModel):
    """What the 3CX call flow's Web Service REST component sends (session.ani, .did, .callid)."""

    model_config = ConfigDict(extra="forbid")

    caller: CallerText
    did: PrintableText = ""
    call_id: PrintableText = ""


class IncomingCallResponse(BaseModel):
    route: Literal["agent", "agent_callback"]
    voice: Literal["cloned", "greeting", "default"]
    clone_status: str
    job_queued: bool
    greeting_call_placed: bool
    caller: str


class ConversationInitRequest(BaseModel):
    """ElevenLabs' conversation-initiation webhook; it may add fields, which are ignored."""

    model_config = ConfigDict(extra="ignore")

    caller_id: CallerText = ""
    agent_id: PrintableText = ""
    called_number: PrintableText = ""
    call_sid: PrintableText = ""


class TtsOverride(BaseModel):
    voice_id: str


class AgentOverride(BaseModel):
    first_message: str


class ConfigOverride(BaseModel):
    tts: TtsOverride | None = None
    agent: AgentOverride | None = None


class ConversationInitResponse(BaseModel):
    type: Literal["conversation_initiation_client_data"] = "conversation_initiation_client_data"
    dynamic_variables: dict[str, Any]
    conversation_config_override: ConfigOverride

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class CheckCloneRequest(BaseModel):
    """The check_clone server tool's body: the key the caller pressed, and optionally the conversation."""

    model_config = ConfigDict(extra="forbid")

    pressed_key: Annotated[StrictStr, StringConstraints(max_length=8)] | StrictInt | None = None
    conversation_id: PrintableText = ""


class CheckCloneResponse(BaseModel):
    caller_id: str
    status: Literal["ready", "cloning", "failed", "unavailable", "invalid_key"]
    clone_ready: bool
    cloned_voice_id: str | None
    wait_time_ms: int = Field(ge=0)
    next_action: Literal[
        "transfer_to_agent", "ask_again", "offer_voicemail", "continue_with_default_voice", "repeat_menu"
    ]
    say: str
    handoff_mode: Literal["transfer", "outbound"] | None = None
