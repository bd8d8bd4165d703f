"""Voice sample files: what they are (by content, not by name), how long, and whether ElevenLabs
Instant Voice Cloning can use them. The limits and where each comes from are in docs/deployment.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

# (format name, file extension, content type) by the mutagen class that recognised the content.
FORMATS: dict[type, tuple[str, str, str]] = {
    MP3: ("mp3", "mp3", "audio/mpeg"),
    WAVE: ("wav", "wav", "audio/wav"),
    FLAC: ("flac", "flac", "audio/flac"),
    OggVorbis: ("ogg/vorbis", "ogg", "audio/ogg"),
    OggOpus: ("ogg/opus", "opus", "audio/ogg"),
    MP4: ("m4a/mp4", "m4a", "audio/mp4"),
}
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES = 10
MIN_FILE_SECONDS = 5.0
RECOMMENDED_MIN_TOTAL_SECONDS = 30.0
RECOMMENDED_MAX_TOTAL_SECONDS = 180.0
MAX_TOTAL_SECONDS = 300.0
ACCEPTED = "mp3, wav, flac, ogg (vorbis or opus), m4a/mp4"


class AudioProblem(ValueError):
    """A file that cannot be used as a voice sample; the message says why and what to do."""


@dataclass(frozen=True)
class AudioFile:
    path: Path
    format: str
    extension: str
    content_type: str
    seconds: float
    size: int

    def describe(self) -> str:
        return f"{self.path.name}: {self.format}, {self.seconds:.1f} s, {self.size / 1_000_000:.2f} MB"


def inspect(path: Path) -> AudioFile:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise AudioProblem(f"{path}: cannot read it ({error.strerror or error})") from None
    if size == 0:
        raise AudioProblem(f"{path}: the file is empty")
    if size > MAX_FILE_BYTES:
        raise AudioProblem(
            f"{path.name}: {size / 1_000_000:.1f} MB is over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit "
            "per file; cut it or export it as MP3 at 128 kbps"
        )
    try:
        audio = mutagen.File(path)
    except mutagen.MutagenError as error:
        raise AudioProblem(f"{path.name}: not readable audio ({error}); use {ACCEPTED}") from None
    kind = FORMATS.get(type(audio)) if audio is not None else None
    if kind is None:
        raise AudioProblem(f"{path.name}: not a recognised audio file; use {ACCEPTED}")
    seconds = float(getattr(audio.info, "length", 0.0) or 0.0)
    if seconds < MIN_FILE_SECONDS:
        raise AudioProblem(
            f"{path.name}: {seconds:.1f} s is too short (at least {MIN_FILE_SECONDS:.0f} s per file)"
        )
    name, extension, content_type = kind
    return AudioFile(path, name, extension, content_type, seconds, size)


def check_set(files: list[AudioFile]) -> list[str]:
    """Raise for a set ElevenLabs should not get; answer warnings for one it can use but not well."""
    if len(files) > MAX_FILES:
        raise AudioProblem(f"{len(files)} files is more than {MAX_FILES}; pick the clearest ones")
    total = sum(file.seconds for file in files)
    if total > MAX_TOTAL_SECONDS:
        raise AudioProblem(
            f"{total:.0f} s of audio in total is over the {MAX_TOTAL_SECONDS:.0f} s limit; ElevenLabs "
            f"advises 1–2 minutes and no more than {RECOMMENDED_MAX_TOTAL_SECONDS:.0f} s"
        )
    warnings = []
    if total < RECOMMENDED_MIN_TOTAL_SECONDS:
        warnings.append(
            f"only {total:.0f} s of audio: the clone will sound less like the caller; ElevenLabs advises "
            "at least 1 minute"
        )
    elif total > RECOMMENDED_MAX_TOTAL_SECONDS:
        warnings.append(
            f"{total:.0f} s of audio: ElevenLabs advises no more than {RECOMMENDED_MAX_TOTAL_SECONDS:.0f} s"
        )
    return warnings
