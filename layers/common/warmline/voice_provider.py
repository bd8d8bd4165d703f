"""The provider ports: what warmline needs from ElevenLabs, by job, and the errors it can answer.

`VoiceCloner` makes, lists and deletes voices; `AgentCalls` places calls with the voice agent. The
domain depends on this module only and speaks in its own values (a voice id, a first message, the
dynamic variables); `warmline.adapters.elevenlabs` implements both over HTTP and builds the
ElevenLabs bodies, and the tests' fakes implement them in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Telephony = Literal["sip_trunk", "twilio"]


@dataclass(frozen=True)
class VoiceSample:
    filename: str
    content: bytes
    content_type: str = "audio/mpeg"


@dataclass(frozen=True)
class AddedVoice:
    voice_id: str
    requires_verification: bool = False


@dataclass(frozen=True)
class ProviderVoice:
    voice_id: str
    name: str
    category: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created_at_unix: int | None = None


@dataclass(frozen=True)
class Subscription:
    voice_limit: int
    voice_slots_used: int
    can_use_instant_voice_cloning: bool = True
    # Every clone (voice add) and voice edit counts against a separate allowance of the plan; a
    # delete frees a slot but gives no add/edit back. None: the plan reports no maximum.
    max_voice_add_edits: int | None = None
    voice_add_edit_counter: int = 0

    @property
    def free_slots(self) -> int:
        return max(0, self.voice_limit - self.voice_slots_used)

    @property
    def add_edits_left(self) -> int | None:
        if self.max_voice_add_edits is None:
            return None
        return max(0, self.max_voice_add_edits - self.voice_add_edit_counter)


@dataclass(frozen=True)
class AgentCall:
    """A call the agent places to `to_number`, speaking in `voice_id` and opening with
    `first_message`, with warmline's dynamic variables (warmline.calls.dynamic_variables)."""

    to_number: str
    voice_id: str
    first_message: str
    dynamic_variables: dict[str, Any]


@dataclass(frozen=True)
class PlacedCall:
    conversation_id: str | None
    call_id: str | None


class ProviderError(Exception):
    """Any failure talking to the provider. `code` is the provider's own reason when it gave one."""

    retryable = False
    # True when the request may have taken effect although it failed (so a blind retry of a
    # non-idempotent request such as voices/add could do it twice).
    ambiguous = False

    def __init__(self, message: str, *, status_code: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code

    @property
    def reason(self) -> str:
        return self.code or type(self).__name__


class RateLimited(ProviderError):
    """HTTP 429: too_many_concurrent_requests, system_busy, rate_limit_exceeded, concurrent_limit_exceeded."""

    retryable = True


class VoiceLimitReached(ProviderError):
    """HTTP 400 with detail.status == voice_limit_reached: every custom voice slot is used."""


class InvalidRequest(ProviderError):
    """Any other 4xx: the provider refused the request and will refuse it again."""


class Unauthorized(InvalidRequest):
    """HTTP 401/403: the API key is missing, wrong or lacks a permission."""


class ProviderUnavailable(ProviderError):
    """HTTP 5xx: the provider failed; the request may or may not have taken effect."""

    retryable = True
    ambiguous = True


class ProviderTimeout(ProviderError):
    """No answer in time, or the connection failed mid-request."""

    retryable = True
    ambiguous = True


class VoiceCloner(Protocol):
    """Cloning voices: make, list and delete them, and read the account's slots."""

    def add_voice(
        self,
        *,
        name: str,
        samples: list[VoiceSample],
        description: str,
        labels: dict[str, str],
        timeout_seconds: float,
    ) -> AddedVoice: ...

    def delete_voice(self, voice_id: str) -> None:
        """Delete the voice; one that is already gone is not an error."""
        ...

    def list_voices(self, search: str = "") -> list[ProviderVoice]:
        """The account's own cloned voices (all pages) whose name contains `search`, ignoring case."""
        ...

    def get_subscription(self) -> Subscription: ...


class AgentCalls(Protocol):
    """Placing calls with the voice agent (greeting and handoff mode outbound)."""

    def place_call(self, call: AgentCall) -> PlacedCall: ...
