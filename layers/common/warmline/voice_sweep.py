"""Deleting the caller voices at the provider that no live record holds.

Which of a caller's voices may go is decided by `clone_state.voice_status`, the same rule wherever
a voice is deleted:
- kept: the caller's live READY clone; a voice made for the caller's job in flight (its worker
  records it, or a later delivery finds it by name); an expired clone handed out less than
  `voice_expiry_grace_seconds` ago (a call may still be speaking in it);
- deleted: an expired clone, and every other voice of the caller: a removed caller's, a failed
  job's, a superseded clone, an extra voice from an attempt whose answer was lost.

Two paths use it:
- `tidy_caller_voices`, for one caller, from the clone worker: after a clone is recorded, and on
  the delayed re-check of a job that may have made a voice twice (also when the job failed);
- `sweep_voices`, the scheduled sweep (the housekeeping function, every few minutes): it lists every
  voice at the provider, keeps to warmline's names (`warmline-<caller key>-<job id>`), reads each
  caller's record once, and deletes what the rule says, expired clones first, at most
  `sweep_max_deletions` per run (the rest waits for the next run). It never touches a voice whose
  name is not warmline's, nor a warmline voice of a caller this stack has no trace of (no consent
  entry, profile or clone record): that one belongs to another stack sharing the account.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from warmline.clone_state import CloneRecord, VoiceStatus, voice_status
from warmline.housekeeping import SWEEP_MARGIN_SECONDS, SweepContext
from warmline.ports import Clock, CloneStore
from warmline.voice_provider import ProviderError, ProviderVoice, VoiceCloner
from warmline.voice_slots import VOICE_NAME_PREFIX, parse_voice_name

logger = logging.getLogger(__name__)

DELETABLE = (VoiceStatus.EXPIRED, VoiceStatus.ORPHAN)


@dataclass(frozen=True)
class _Voice:
    voice: ProviderVoice
    caller_key: str
    job_id: str


def _warmline_voices(voices: Iterable[ProviderVoice]) -> list[_Voice]:
    found = []
    for voice in voices:
        parsed = parse_voice_name(voice.name)
        if parsed is not None:
            found.append(_Voice(voice, *parsed))
    return found


def _delete(cloner: VoiceCloner, voice: _Voice, status: VoiceStatus) -> bool:
    try:
        cloner.delete_voice(voice.voice.voice_id)
    except ProviderError as error:
        logger.warning(
            "could not delete a voice no record holds: %s",
            error.reason,
            extra={"voice_id": voice.voice.voice_id, "caller_key": voice.caller_key},
        )
        return False
    logger.info(
        "deleted a voice no live record holds",
        extra={"voice_id": voice.voice.voice_id, "caller_key": voice.caller_key, "why": status.value},
    )
    return True


def tidy_caller_voices(
    caller_key: str, *, cloner: VoiceCloner, store: CloneStore, clock: Clock, grace_seconds: int
) -> int:
    """Delete the caller's voices that their record does not hold; how many went. A failure to
    list is logged and left to the scheduled sweep. `grace_seconds`: `voice_expiry_grace_seconds`."""
    try:
        voices = _warmline_voices(cloner.list_voices(f"{VOICE_NAME_PREFIX}{caller_key}-"))
        voices = [v for v in voices if v.caller_key == caller_key]
    except ProviderError as error:
        logger.warning("could not look for this caller's extra voices: %s", error.reason)
        return 0
    record = store.get_clone(caller_key)
    now = clock.now()
    deleted = 0
    for voice in voices:
        status = _status(record, voice, now, grace_seconds)
        if status in DELETABLE:
            deleted += _delete(cloner, voice, status)
    return deleted


def _status(record: CloneRecord | None, voice: _Voice, now: float, grace_seconds: int) -> VoiceStatus:
    return voice_status(record, voice.voice.voice_id, voice.job_id, now, grace_seconds)


@dataclass
class VoiceSweepReport:
    warmline_voices: int = 0  # at the provider, named warmline-<caller key>-<job id>
    kept: int = 0  # in use, in flight, or in their grace period
    deleted: Counter[str] = field(default_factory=Counter)  # by why: expired, orphan
    left_for_next_run: int = 0  # deletable, but over this run's bound or time
    failed_deletes: int = 0
    foreign: int = 0  # named like warmline's, for a caller this stack does not know: never touched
    unchecked: int = 0  # not looked at: the run ran out of time

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "deleted": dict(self.deleted)}


def sweep_voices(context: SweepContext) -> VoiceSweepReport:
    """One run of the scheduled voice sweep (see the module's docstring)."""
    cloner = context.cloner()
    report = VoiceSweepReport()
    now = context.clock.now()
    by_caller: dict[str, list[_Voice]] = defaultdict(list)
    for voice in _warmline_voices(cloner.list_voices(VOICE_NAME_PREFIX)):
        by_caller[voice.caller_key].append(voice)
        report.warmline_voices += 1
    doomed = _doomed_voices(by_caller, context, now, report)
    _delete_doomed(doomed, cloner, context, report)
    return report


def _doomed_voices(
    by_caller: dict[str, list[_Voice]], context: SweepContext, now: float, report: VoiceSweepReport
) -> list[tuple[VoiceStatus, _Voice]]:
    """The voices the rule deletes, of the callers this stack knows; the others are counted."""
    doomed: list[tuple[VoiceStatus, _Voice]] = []
    for caller_key, voices in by_caller.items():
        if context.time_left() < SWEEP_MARGIN_SECONDS:
            report.unchecked += len(voices)
            continue
        state = context.store.load(caller_key, with_consent_log=True)
        if not state.known:
            report.foreign += len(voices)
            logger.warning(
                "voices named like warmline's for a caller this stack does not know: left alone "
                "(another warmline stack may share the ElevenLabs account)",
                extra={"caller_key": caller_key, "voices": len(voices)},
            )
            continue
        for voice in voices:
            status = _status(state.clone, voice, now, context.settings.voice_expiry_grace_seconds)
            if status in DELETABLE:
                doomed.append((status, voice))
            else:
                report.kept += 1
    return doomed


def _delete_doomed(
    doomed: list[tuple[VoiceStatus, _Voice]],
    cloner: VoiceCloner,
    context: SweepContext,
    report: VoiceSweepReport,
) -> None:
    """Expired clones first (they have a deadline), then the oldest orphans, within the bound."""
    doomed.sort(key=lambda item: (item[0] is not VoiceStatus.EXPIRED, item[1].voice.created_at_unix or 0))
    for status, voice in doomed:
        over_bound = sum(report.deleted.values()) >= context.settings.sweep_max_deletions
        if over_bound or context.time_left() < SWEEP_MARGIN_SECONDS:
            report.left_for_next_run += 1
        elif _delete(cloner, voice, status):
            report.deleted[status.value] += 1
        else:
            report.failed_deletes += 1
