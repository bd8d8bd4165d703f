"""Custom voice slots at the provider: make room for a clone by deleting warmline's least recently
used voice, and never any other voice in the account.

Which voice goes, when every slot is used:
- Only voices named like warmline's (`warmline-<caller key>-<job id>`) of a caller this stack
  knows (a profile, a clone record or a consent entry, as for the scheduled sweep) are ever
  considered; any other voice in the account stays, including another stack's sharing the account.
- A warmline voice no caller can be handed goes first: an orphan (its record failed, or moved on to
  a newer clone, or is gone), and an expired clone past its grace period; least recently used
  first (an orphan's last use is its making, the provider's `created_at_unix`).
- Then the READY clones, least recently used first. A clone's last use is the latest of when it
  became ready, when the IVR handed the caller over to it, and when conversation-init last handed
  it out (`last_used_at_ms`).
- Never deleted: a READY clone used within `voice_in_use_seconds` (its caller may be in a call
  right now), an expired clone handed out within `voice_expiry_grace_seconds` (the same grace as
  the sweep's: a call may still be speaking in it), and a voice made for a job that is still in
  flight (an earlier attempt's voice the next attempt will pick up by name).
- If nothing may go, the clone fails with `voice_slots_full` and the caller goes on in the default
  voice.
A deleted READY clone's record is expired first, so no caller is handed a deleted voice; that
caller's next call clones afresh.

Slot usage comes from GET /v1/user/subscription, cached for `voice_slot_cache_seconds` per
execution environment and adjusted for the clones and deletes this environment makes; a clone that
still meets `voice_limit_reached` (another environment filled the last slot) makes room without
the cache.

Every clone also spends one of the plan's voice additions/edits (`voice_add_edit_counter` against
`max_voice_add_edits`; deleting a voice gives none back). When none is left, a clone fails at once
with `voice_add_edit_limit` instead of deleting a voice for a clone that cannot be made.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from warmline.clone_state import CallerState, VoiceStatus, voice_status
from warmline.ports import Clock, CloneStore
from warmline.settings import Settings
from warmline.voice_provider import ProviderVoice, Subscription, VoiceCloner

logger = logging.getLogger(__name__)

VOICE_NAME_PREFIX = "warmline-"
_VOICE_NAME = re.compile(r"^warmline-(?P<caller_key>ck_[0-9a-f]{32})-(?P<job_id>[0-9a-zA-Z]+)$")


class NoSlotFree(Exception):
    """Every voice slot is used and none of warmline's voices may be deleted."""


class AddEditAllowanceUsedUp(Exception):
    """The plan's voice add/edit allowance (`max_voice_add_edits`) is used up: no clone can be made."""


def voice_name(job_id: str, caller_key: str) -> str:
    """Deterministic per job, so a repeated attempt can find what an earlier one created."""
    return f"{VOICE_NAME_PREFIX}{caller_key}-{job_id}"


def parse_voice_name(name: str) -> tuple[str, str] | None:
    """(caller key, job id) of a warmline voice name, or None for any other name."""
    found = _VOICE_NAME.match(name)
    return (found["caller_key"], found["job_id"]) if found else None


class SubscriptionCache:
    """The provider's slot counts, trusted for a short while. One per execution environment."""

    def __init__(self) -> None:
        self._subscription: Subscription | None = None
        self._fetched_at = 0.0

    def get(self, cloner: VoiceCloner, now: float, max_age_seconds: float) -> Subscription:
        if self._subscription is None or now - self._fetched_at >= max_age_seconds:
            self._subscription = cloner.get_subscription()
            self._fetched_at = now
        return self._subscription

    def adjust(self, slots: int, add_edits: int = 0) -> None:
        """Count this environment's own clones (+1 slot, +1 add/edit) and deletes (-1 slot)."""
        if self._subscription is not None:
            self._subscription = replace(
                self._subscription,
                voice_slots_used=max(0, self._subscription.voice_slots_used + slots),
                voice_add_edit_counter=self._subscription.voice_add_edit_counter + add_edits,
            )

    def current(self) -> Subscription | None:
        return self._subscription

    def clear(self) -> None:
        self._subscription = None


@dataclass(frozen=True)
class SlotPolicy:
    cache_seconds: float  # how long the subscription's counts are trusted
    in_use_seconds: int  # a clone handed out this recently is never deleted
    grace_seconds: int = 0  # an expired clone handed out this recently is kept (voice_expiry_grace_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> SlotPolicy:
        return cls(
            settings.voice_slot_cache_seconds,
            settings.voice_in_use_seconds,
            settings.voice_expiry_grace_seconds,
        )


@dataclass(frozen=True)
class _Candidate:
    voice: ProviderVoice
    orphan: bool  # no caller can be handed it: an orphan, or an expired clone past its grace
    last_used_ms: int  # an orphan's: its making


def _candidate(
    voice: ProviderVoice, job_id: str, state: CallerState, now: float, policy: SlotPolicy
) -> _Candidate | None:
    """The voice as a candidate for deletion, or None when the rules keep it."""
    record = state.clone
    status = voice_status(record, voice.voice_id, job_id, now, policy.grace_seconds)
    if status in (VoiceStatus.IN_FLIGHT, VoiceStatus.GRACE):
        return None
    if record is not None and status in (VoiceStatus.IN_USE, VoiceStatus.EXPIRED):
        used = record.last_used_ms()
        if status is VoiceStatus.IN_USE and used >= int((now - policy.in_use_seconds) * 1000):
            return None
        return _Candidate(voice, orphan=status is VoiceStatus.EXPIRED, last_used_ms=used)
    return _Candidate(voice, orphan=True, last_used_ms=(voice.created_at_unix or 0) * 1000)


def choose_voice_to_delete(
    voices: list[ProviderVoice], *, store: CloneStore, now: float, policy: SlotPolicy
) -> ProviderVoice | None:
    """The voice the rules in this module's docstring delete next, or None."""
    candidates = []
    states: dict[str, CallerState] = {}
    for voice in voices:
        parsed = parse_voice_name(voice.name)
        if parsed is None:
            continue
        caller_key, job_id = parsed
        if caller_key not in states:
            states[caller_key] = store.load(caller_key)
        if not states[caller_key].known:
            continue  # another stack sharing the account made it
        candidate = _candidate(voice, job_id, states[caller_key], now, policy)
        if candidate is not None:
            candidates.append(candidate)
    if not candidates:
        return None
    return min(candidates, key=lambda c: (not c.orphan, c.last_used_ms)).voice


@dataclass(frozen=True)
class VoiceSlots:
    """The account's voice slots and add/edit allowance, as one clone job sees them."""

    cloner: VoiceCloner
    store: CloneStore
    clock: Clock
    cache: SubscriptionCache  # one per execution environment
    policy: SlotPolicy

    def _subscription(self) -> Subscription:
        return self.cache.get(self.cloner, self.clock.now(), self.policy.cache_seconds)

    def check_add_edit_allowance(self) -> None:
        """Raise AddEditAllowanceUsedUp when the plan has no voice add/edit left (evicting a voice
        to clone again would then only lose a caller's clone). A cached "none left" is read again
        first: the allowance may have renewed, or the plan grown, since."""
        subscription = self._subscription()
        if subscription.add_edits_left == 0:
            self.cache.clear()
            subscription = self._subscription()
        if subscription.add_edits_left == 0:
            raise AddEditAllowanceUsedUp(
                "the ElevenLabs plan's voice add/edit allowance is used up "
                f"({subscription.voice_add_edit_counter} of {subscription.max_voice_add_edits}): "
                "no clone until it renews or the plan is upgraded"
            )

    def make_room(self, *, known_full: bool = False) -> str:
        """Make sure one voice slot is free. Returns the id of the voice deleted for it ("" if none
        needed to go); raises NoSlotFree. `known_full`: the provider just answered voice_limit_reached."""
        if not known_full and self._subscription().free_slots > 0:
            return ""
        now = self.clock.now()
        voices = self.cloner.list_voices(VOICE_NAME_PREFIX)
        voice = choose_voice_to_delete(voices, store=self.store, now=now, policy=self.policy)
        if voice is None:
            raise NoSlotFree(
                "every custom voice slot is used and no voice warmline created may be deleted "
                "(the others are not warmline's, or their callers used them recently)"
            )
        parsed = parse_voice_name(voice.name)
        if parsed is not None:
            # Expire the record first: from now on no caller is handed the voice about to go.
            self.store.expire_clone(parsed[0], voice.voice_id, now)
        self.cloner.delete_voice(voice.voice_id)
        self.cache.adjust(-1)
        logger.info(
            "deleted warmline's least recently used voice for a slot", extra={"voice_id": voice.voice_id}
        )
        return voice.voice_id
