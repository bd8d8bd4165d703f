"""ElevenLabs' post-call webhook: a call's conversation is over, so the voice slot it leased is freed
now (HandoffMode=agent_transfer), not when its lease (AgentSlotLeaseSeconds) runs out.

ElevenLabs signs each delivery (DOCS-REPO `webhook-hmac-authentication.mdx`, SDK
`webhooks.construct_event`): `ElevenLabs-Signature: t=<unix seconds>,v0=<hex HMAC-SHA256 of
"<t>.<raw body>">`, keyed with the secret ElevenLabs made with the workspace webhook. A delivery
older than the tolerance (the SDK's 30 minutes) is refused, so a recorded one cannot be replayed later.

conversation-init is not told the conversation's id (its body has caller_id, agent_id,
called_number, call_sid), so it names the lease in the dynamic variable `warmline_voice_slot`;
the delivery's `data.conversation_initiation_client_data.dynamic_variables` carries it back with
`warmline_caller_key`. Only that lease is released (a conditional write on the slot's holder and
lease), so a late or repeated delivery never frees a slot a later call holds.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from warmline.agent_slots import AgentSlots

SIGNATURE_HEADER = "elevenlabs-signature"
TOLERANCE_SECONDS = 30 * 60
CONVERSATION_ENDED = "post_call_transcription"

logger = logging.getLogger(__name__)


class BadSignature(Exception):
    """The delivery is not ElevenLabs' (401): the message says why."""


def verify_signature(header: str | None, body: bytes, secrets: Iterable[str], now: float) -> None:
    """Raise BadSignature unless `header` signs `body` with one of `secrets`, within the tolerance."""
    if not header:
        raise BadSignature("missing ElevenLabs-Signature header")
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    timestamp, given = parts.get("t", ""), parts.get("v0", "")
    if not timestamp.isdigit() or not given:
        raise BadSignature("ElevenLabs-Signature must be t=<timestamp>,v0=<signature>")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise BadSignature("ElevenLabs-Signature timestamp is outside the tolerance window")
    signed = timestamp.encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, given):
            return
    raise BadSignature("ElevenLabs-Signature does not match the body")


def lease_name(number: int, leased_until_ms: int) -> str:
    """The dynamic variable's value for a lease: which slot, and which of its leases."""
    return f"{number}.{leased_until_ms}"


@dataclass(frozen=True)
class CallEnded:
    """What warmline reads of one delivery (warmline.wire.PostCallEvent)."""

    kind: str  # post_call_transcription, call_initiation_failure, post_call_audio, ...
    conversation_id: str
    caller_key: str  # "" when the conversation started without one
    slot_lease: str  # "" when it leased no slot


@dataclass(frozen=True)
class PostCalls:
    """POST /api/agent/post-call, after the signature check."""

    agent_slots: Callable[[], AgentSlots | None]

    def ended(self, call: CallEnded) -> bool:
        """True when this delivery freed the conversation's slot; False when it held none, or the
        slot was already freed (a repeated delivery, the sweep) or is now another call's."""
        slots = self.agent_slots()
        if slots is None or not call.slot_lease or not call.caller_key:
            return False
        number, _, until = call.slot_lease.partition(".")
        if not number.isdigit() or not until.isdigit():
            logger.warning(
                "post-call %s names no lease warmline made: %r", call.conversation_id, call.slot_lease
            )
            return False
        released = slots.end_lease(call.caller_key, int(number), int(until))
        logger.info("post-call: voice slot %s %s", number, "released" if released else "already free")
        return released
