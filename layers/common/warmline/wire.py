"""Request and response bodies of warmline's HTTP endpoints."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from warmline import __version__
from warmline.callers import mask_numbers
from warmline.calls import CloneProgress, Voice
from warmline.outcomes import IvrStatus, NextAction

PrintableText = Annotated[str, StringConstraints(max_length=128, pattern=r"^[\x20-\x7e]*$")]
# An id another system gives a call or conversation: a phone number sent in one is masked from here on.
Identifier = Annotated[PrintableText, AfterValidator(mask_numbers)]
CallerText = Annotated[StrictStr, StringConstraints(max_length=64)]


def _text_or_none(value: Any) -> str | None:
    """A string field ElevenLabs sends, read leniently: anything that is not short printable text is None."""
    if not isinstance(value, str) or len(value) > 256 or not value.isprintable():
        return None
    return value


LenientText = Annotated[str | None, BeforeValidator(_text_or_none)]


# The answers' vocabularies are the domain's enums, written once (warmline.calls, warmline.ivr): a
# field holds one of their values, and the OpenAPI document lists them.
def _member_of(vocabulary: type[StrEnum]) -> Callable[[str], str]:
    return lambda value: vocabulary(value).value


def _listed(vocabulary: type[StrEnum]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": [member.value for member in vocabulary]})


VoiceName = Annotated[str, AfterValidator(_member_of(Voice)), _listed(Voice)]
# Not listed in the document: clients read it as text (the document has said `string` since the start).
CloneProgressName = Annotated[str, AfterValidator(_member_of(CloneProgress))]
IvrStatusName = Annotated[str, AfterValidator(_member_of(IvrStatus)), _listed(IvrStatus)]
NextActionName = Annotated[str, AfterValidator(_member_of(NextAction)), _listed(NextAction)]


class IncomingCallRequest(BaseModel):
    """What the 3CX call flow's Web Service REST component sends (session.ani, .did, .callid)."""

    model_config = ConfigDict(extra="forbid")

    caller: CallerText
    did: PrintableText = ""
    call_id: Identifier = ""


class IncomingCallResponse(BaseModel):
    route: Literal["agent", "agent_callback"]
    voice: VoiceName
    clone_status: CloneProgressName
    job_queued: bool
    greeting_call_placed: bool
    caller: str


class ConversationInitRequest(BaseModel):
    """ElevenLabs' conversation-initiation webhook. Every field is optional and may be null (for SIP
    calls `call_sid`, a Twilio field, is); a field that cannot be read is None, other fields are
    ignored. So this model never rejects a body: the agent must always get its initiation data."""

    model_config = ConfigDict(extra="ignore")

    caller_id: LenientText = None
    agent_id: LenientText = None
    called_number: LenientText = None
    call_sid: Annotated[LenientText, AfterValidator(lambda text: text and mask_numbers(text))] = None


class TtsOverride(BaseModel):
    voice_id: str


class PromptOverride(BaseModel):
    tool_ids: list[str]  # replaces the agent's whole list (HandoffMode=agent_transfer)


class AgentOverride(BaseModel):
    first_message: str
    prompt: PromptOverride | None = None


class ConfigOverride(BaseModel):
    tts: TtsOverride | None = None
    agent: AgentOverride | None = None


class ConversationInitResponse(BaseModel):
    type: Literal["conversation_initiation_client_data"] = "conversation_initiation_client_data"
    dynamic_variables: dict[str, Any]
    conversation_config_override: ConfigOverride

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PostCallClientData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dynamic_variables: dict[str, Any] = Field(default_factory=dict)


class PostCallData(BaseModel):
    """The part of a post-call delivery's `data` warmline reads (a transcription's `data` is the GET
    conversation answer; a call_initiation_failure's has `conversation_id` and `agent_id` too)."""

    model_config = ConfigDict(extra="ignore")

    conversation_id: Identifier
    agent_id: LenientText = None
    conversation_initiation_client_data: PostCallClientData | None = None

    def variable(self, name: str) -> str:
        """A dynamic variable the conversation started with, as text ("" when it had none)."""
        client_data = self.conversation_initiation_client_data
        value = client_data.dynamic_variables.get(name) if client_data else None
        return value if isinstance(value, str) and len(value) <= 128 else ""


class PostCallEvent(BaseModel):
    """ElevenLabs' post-call webhook: `{type, event_timestamp, data}`."""

    model_config = ConfigDict(extra="ignore")

    type: PrintableText
    event_timestamp: StrictInt | None = None
    data: PostCallData


class PostCallResponse(BaseModel):
    conversation_id: str
    slot_released: bool


class CheckCloneRequest(BaseModel):
    """The check_clone server tool's body: the key the caller pressed, optionally the conversation and
    the PIN the caller typed (keypad characters only: a number would lose its leading zeros)."""

    model_config = ConfigDict(extra="forbid")

    pressed_key: Annotated[StrictStr, StringConstraints(max_length=8)] | StrictInt | None = None
    conversation_id: Identifier = ""
    pin: Annotated[StrictStr, StringConstraints(max_length=16, pattern=r"^[0-9*# ]*$")] | None = None

    @model_validator(mode="before")
    @classmethod
    def unwrap_parameters(cls, data: Any) -> Any:
        """Some ElevenLabs tool configurations wrap the tool's arguments as {"parameters": {...}}."""
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
            unwrapped = dict(data["parameters"])
            if "conversation_id" in data:
                unwrapped["conversation_id"] = data["conversation_id"]
            return unwrapped
        return data


class CheckCloneResponse(BaseModel):
    caller_id: str
    status: IvrStatusName
    clone_ready: bool
    cloned_voice_id: str | None
    wait_time_ms: int = Field(ge=0)
    next_action: NextActionName
    say: str
    handoff_mode: Literal["transfer", "outbound", "agent_transfer"] | None = None


class CloningCounts(BaseModel):
    clones_ready: int
    clones_failed: int
    clones_failed_by_reason: dict[str, int]
    calls_with_voice_sample: int
    cache_hits: int
    ivr_waits: int
    calls_waited_in_ivr: int
    calls_timed_out_in_ivr: int
    handoffs: int
    handoffs_completed: int
    handoffs_lost: int
    caller_id_not_passed_through: int
    caller_id_correlated: int
    pin_checks_by_result: dict[str, int]
    pin_lockouts: int


class CloningMetricsResponse(BaseModel):
    """GET /api/metrics/cloning: figures over the window [from, to), each None when nothing backs it."""

    model_config = ConfigDict(serialize_by_alias=True)

    window_from: str = Field(serialization_alias="from")
    window_to: str = Field(serialization_alias="to")
    from_ms: int
    to_ms: int
    avg_clone_time_ms: float | None
    p50_clone_time_ms: int | None
    p95_clone_time_ms: int | None
    p99_clone_time_ms: int | None
    clone_timeout_rate: float | None
    cache_hit_rate: float | None
    async_clone_success_rate: float | None
    avg_wait_during_ivr_ms: float | None
    p50_handoff_transfer_ms: int | None
    p95_handoff_transfer_ms: int | None
    counts: CloningCounts
    version: str = __version__
