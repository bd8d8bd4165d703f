"""In-memory fakes of warmline.agent_slots' ports, with the DynamoDB adapter's conditional-write
rules (tests/integration/test_agent_slot_store_contract.py runs one suite against both)."""

from __future__ import annotations

import threading
from dataclasses import replace

from warmline.agent_slots import Slot
from warmline.voice_provider import ProviderUnavailable


class FakeSlotStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[int, Slot] = {}

    def slots(self) -> list[Slot]:
        with self._lock:
            return sorted(self._slots.values(), key=lambda slot: slot.number)

    def take(self, number: int, caller_key: str, until_ms: int, now_ms: int) -> bool:
        with self._lock:
            slot = self._slots.get(number)
            if slot is None or not slot.can_lease(now_ms):
                return False
            self._slots[number] = replace(slot, holder=caller_key, leased_until_ms=until_ms)
            return True

    def mark_voice(self, number: int, caller_key: str, voice_id: str, *, ready: bool) -> bool:
        with self._lock:
            slot = self._slots.get(number)
            if slot is None or slot.holder != caller_key:
                return False
            self._slots[number] = replace(slot, voice_id=voice_id, voice_ready=ready)
            return True

    def free(self, slot: Slot) -> bool:
        with self._lock:
            now = self._slots.get(slot.number)
            if now is None or (now.holder, now.leased_until_ms, now.voice_id) != (
                slot.holder,
                slot.leased_until_ms,
                slot.voice_id,
            ):
                return False
            self._slots[slot.number] = replace(
                now, holder="", leased_until_ms=0, voice_id="", voice_ready=False
            )
            return True

    def save(self, slots: list[Slot]) -> None:
        with self._lock:
            kept = {
                slot.number: replace(
                    slot,
                    holder=old.holder,
                    leased_until_ms=old.leased_until_ms,
                    voice_id=old.voice_id,
                    voice_ready=old.voice_ready,
                )
                if (old := self._slots.get(slot.number)) is not None and old.agent_id == slot.agent_id
                else slot
                for slot in slots
            }
            self._slots = kept


class FakeSlotAgents:
    """The slot agents' voices at ElevenLabs; `failing` agent ids refuse every PATCH."""

    def __init__(self) -> None:
        self.voices: dict[str, str] = {}
        self.failing: set[str] = set()
        self.patches: list[tuple[str, str]] = []

    def set_voice(self, agent_id: str, voice_id: str) -> None:
        self.patches.append((agent_id, voice_id))
        if agent_id in self.failing:
            raise ProviderUnavailable("PATCH agent: 503", status_code=503, code="service_unavailable")
        self.voices[agent_id] = voice_id
