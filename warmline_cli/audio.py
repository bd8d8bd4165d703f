"""Voice sample files: what they are (by content, not by name), how long they really are, how much
of them is speech, and whether ElevenLabs Instant Voice Cloning can use them. The limits and where
each comes from are in docs/deployment.md."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import mutagen
import numpy as np
import webrtcvad
from mutagen.flac import FLAC
from mutagen.mp3 import MP3, BitrateMode
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

# Speech is measured on the decoded audio, as 16 kHz mono, in 20 ms frames. A frame is sound when its
# level is above SPEECH_FLOOR_DB and ABOVE_BACKGROUND_DB above the file's background (the level its
# quietest BACKGROUND_PERCENTILE % of frames stay under); it is speech when it is sound and WebRTC's
# voice-activity detector (at VAD_MODE, its strictest) calls it speech, and its spectrum (100 Hz to
# 4 kHz) is neither as flat as noise (NOISE_FLATNESS: a noise burst) nor held from the frame before
# (STEADY_SIMILARITY: a beep, a tone or a held note, which the detector alone passes as speech). Its
# loudness is the level its loudest 5 % of frames reach. Levels are RMS in dBFS (0 dBFS: a full-scale
# square wave).
ANALYSIS_RATE = 16_000
FRAME_SECONDS = 0.02
SPEECH_FLOOR_DB = -50.0
ABOVE_BACKGROUND_DB = 10.0
BACKGROUND_PERCENTILE = 10
LOUD_PERCENTILE = 95
VAD_MODE = 3
NOISE_FLATNESS = 0.3  # spectral flatness: white noise about 0.55, speech 0.01 to 0.1, a tone 0
STEADY_SIMILARITY = 0.97  # of a frame's log spectrum to the one before: speech about 0.6, a held note 1
NO_VOICE_SHARE = 0.25  # sound of which the detector finds less is speech is "sound but no voice"
_BAND = (100.0, 4000.0)
SILENT_DB = -60.0
QUIET_DB = -35.0
MIN_FILE_SPEECH_SECONDS = 3.0
MIN_TOTAL_SPEECH_SECONDS = 8.0
SOME_SPEECH_SECONDS = 1.0  # with less, the message says why there is none: silent, quiet or steady
CLIP_LEVEL = 0.99
CLIPPED_FRACTION = 0.001
# A file whose audio decodes this much shorter than its header states is cut short or damaged.
CUT_SHORT_SECONDS = 0.25
_NO_SOUND_DB = -120.0


class AudioProblem(ValueError):
    """A file that cannot be used as a voice sample; the message says why and what to do."""


@dataclass(frozen=True)
class Measurement:
    """What the decoded audio holds: its real length, its seconds of speech and its levels (dBFS)."""

    seconds: float
    speech_seconds: float
    background_db: float
    loud_db: float
    clipped_fraction: float
    sound_seconds: float = 0.0  # above the background, speech or not


@dataclass(frozen=True)
class AudioFile:
    path: Path
    format: str
    extension: str
    content_type: str
    seconds: float
    size: int
    speech_seconds: float
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        return (
            f"{self.path.name}: {self.format}, {self.seconds:.1f} s ({self.speech_seconds:.1f} s of speech), "
            f"{self.size / 1_000_000:.2f} MB"
        )


def measure(samples: np.ndarray, rate: int = ANALYSIS_RATE) -> Measurement:
    """Measure mono audio at ANALYSIS_RATE (floats, full scale at ±1) by frames of FRAME_SECONDS."""
    size = round(rate * FRAME_SECONDS)
    count = len(samples) // size
    seconds = len(samples) / rate
    if count == 0:
        return Measurement(seconds, 0.0, _NO_SOUND_DB, _NO_SOUND_DB, 0.0)
    frames = samples[: count * size].reshape(count, size).astype(np.float64)
    power = np.mean(frames**2, axis=1)
    levels = 10 * np.log10(np.maximum(power, 10 ** (_NO_SOUND_DB / 10)))
    background = float(np.percentile(levels, BACKGROUND_PERCENTILE))
    sound = levels >= max(SPEECH_FLOOR_DB, background + ABOVE_BACKGROUND_DB)
    speech = sound & _voiced(frames, rate) & _speech_like_spectrum(frames, rate)
    return Measurement(
        seconds=seconds,
        speech_seconds=float(np.count_nonzero(speech) * size / rate),
        background_db=background,
        loud_db=float(np.percentile(levels, LOUD_PERCENTILE)),
        clipped_fraction=float(np.count_nonzero(np.abs(samples) >= CLIP_LEVEL) / len(samples)),
        sound_seconds=float(np.count_nonzero(sound) * size / rate),
    )


def _voiced(frames: np.ndarray, rate: int) -> np.ndarray:
    """Which frames WebRTC's voice-activity detector calls speech."""
    detector = webrtcvad.Vad(VAD_MODE)
    pcm = (np.clip(frames, -1, 1) * 32767).astype("<i2")
    return np.array([detector.is_speech(frame.tobytes(), rate) for frame in pcm], dtype=bool)


def _speech_like_spectrum(frames: np.ndarray, rate: int) -> np.ndarray:
    """Frames whose spectrum is neither noise-flat nor held from the frame before."""
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(frames.shape[1]), axis=1)) ** 2 + 1e-12
    hertz = np.fft.rfftfreq(frames.shape[1], 1 / rate)
    band = spectrum[:, (hertz >= _BAND[0]) & (hertz <= _BAND[1])]
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    shape = np.log(band) - np.mean(np.log(band), axis=1, keepdims=True)
    norms = np.linalg.norm(shape, axis=1) + 1e-12
    held = np.insert(np.sum(shape[1:] * shape[:-1], axis=1) / (norms[1:] * norms[:-1]), 0, 0.0)
    return (flatness < NOISE_FLATNESS) & (held < STEADY_SIMILARITY)


def inspect(path: Path) -> AudioFile:
    size = _size(path)
    audio, (name, extension, content_type) = _recognise(path)
    claimed = _claimed_seconds(audio)
    if claimed is not None and claimed > MAX_TOTAL_SECONDS:
        raise AudioProblem(_too_long(path.name, claimed))
    samples, damaged = _decode(path)
    measured = measure(samples)
    _check_length(path.name, claimed, measured.seconds)
    problem = _speech_problem(path.name, measured)
    if problem:
        raise AudioProblem(problem)
    warnings = _warnings(path.name, measured, damaged)
    return AudioFile(
        path, name, extension, content_type, measured.seconds, size, measured.speech_seconds, warnings
    )


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
    speech = sum(file.speech_seconds for file in files)
    if speech < MIN_TOTAL_SPEECH_SECONDS:
        each = ", ".join(f"{file.path.name} {file.speech_seconds:.1f} s" for file in files)
        raise AudioProblem(
            f"only {speech:.1f} s of speech in all ({each}); at least {MIN_TOTAL_SPEECH_SECONDS:.0f} s "
            "is needed for a clone: add a longer recording of the caller talking"
        )
    warnings = [warning for file in files for warning in file.warnings]
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


def _size(path: Path) -> int:
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
    return size


def _recognise(path: Path) -> tuple[mutagen.FileType, tuple[str, str, str]]:
    try:
        audio = mutagen.File(path)
    except mutagen.MutagenError as error:
        raise AudioProblem(_unreadable(path.name, error)) from None
    kind = FORMATS.get(type(audio)) if audio is not None else None
    if kind is None:
        raise AudioProblem(f"{path.name}: not a recognised audio file; use {ACCEPTED}")
    return audio, kind


def _claimed_seconds(audio: mutagen.FileType) -> float | None:
    """The length the file's header states; None where it states none (0 in a WAV or FLAC written
    while recording; an MP3 without a Xing or VBRI header, whose length mutagen guesses from its size)."""
    if isinstance(audio, MP3) and audio.info.bitrate_mode is BitrateMode.UNKNOWN:
        return None
    return float(getattr(audio.info, "length", 0.0) or 0.0) or None


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream as ANALYSIS_RATE mono floats, and how many packets would not decode."""
    resampler = av.AudioResampler(format="fltp", rate=ANALYSIS_RATE)
    chunks: list[np.ndarray] = []
    damaged = decoded = 0
    try:
        with av.open(str(path)) as container:
            for frame in _frames(container):
                if frame is None:
                    damaged += 1
                    continue
                chunks += [out.to_ndarray().mean(axis=0) for out in resampler.resample(frame)]
                decoded += frame.samples / frame.sample_rate
                if decoded > MAX_TOTAL_SECONDS + 1:
                    raise AudioProblem(_too_long(path.name, decoded))
        chunks += [out.to_ndarray().mean(axis=0) for out in resampler.resample(None)]
    except (av.FFmpegError, IndexError) as error:
        raise AudioProblem(_unreadable(path.name, error)) from None
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), damaged


def _frames(container: av.container.InputContainer) -> Iterator[av.AudioFrame | None]:
    """The decoded frames of the first audio stream, and None for each packet that would not decode."""
    for packet in container.demux(audio=0):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            yield None


def _unreadable(name: str, error: Exception) -> str:
    return (
        f"{name}: not readable audio ({error}); if it is damaged or cut short, copy or export it again; "
        f"use {ACCEPTED}"
    )


def _too_long(name: str, seconds: float) -> str:
    return (
        f"{name}: {seconds:.0f} s is longer than the {MAX_TOTAL_SECONDS:.0f} s all samples may last "
        "together; cut out the 1–2 minutes where the caller speaks most clearly"
    )


def _check_length(name: str, claimed: float | None, seconds: float) -> None:
    if claimed is not None and claimed - seconds > CUT_SHORT_SECONDS:
        raise AudioProblem(
            f"{name}: cut short or damaged: its header says {claimed:.1f} s but only {seconds:.1f} s of it "
            "decodes (an interrupted copy, download or recording?); copy or export it again from the original"
        )
    if seconds < MIN_FILE_SECONDS:
        raise AudioProblem(
            f"{name}: {seconds:.1f} s is too short (at least {MIN_FILE_SECONDS:.0f} s per file)"
        )


def _speech_problem(name: str, measured: Measurement) -> str | None:
    if measured.speech_seconds >= MIN_FILE_SPEECH_SECONDS:
        return None
    no_voice = measured.speech_seconds < SOME_SPEECH_SECONDS
    loud = measured.loud_db
    if no_voice and loud < SILENT_DB:
        heard = "no sound at all" if loud <= _NO_SOUND_DB else f"its loudest moments are at {loud:.0f} dBFS"
        why = f"silent ({heard})"
        advice = "check that it is the right file and that the recording has the caller's voice"
    elif no_voice and loud < SPEECH_FLOOR_DB:
        why = f"too quiet (its loudest moments are at {loud:.0f} dBFS, under {SPEECH_FLOOR_DB:.0f})"
        advice = (
            "record closer to the phone or microphone, or raise its level (normalise it) and export again"
        )
    elif no_voice and loud - measured.background_db < ABOVE_BACKGROUND_DB:
        why = "a steady sound (a tone, hum or noise) with no voice rising above it"
        advice = "pick a recording of the caller talking"
    elif (
        measured.sound_seconds >= MIN_FILE_SPEECH_SECONDS
        and measured.speech_seconds < NO_VOICE_SHARE * measured.sound_seconds
    ):
        why = (
            f"{measured.sound_seconds:.1f} s of sound but no voice in it (beeps, tones, music or noise: "
            "the voice-activity detector finds no speech)"
        )
        advice = "pick a recording of the caller talking"
    else:
        why = "mostly silence or background noise"
        advice = "pick a recording in which the caller talks for longer"
    return (
        f"{name}: {why}: {measured.speech_seconds:.1f} s of speech in {measured.seconds:.1f} s, "
        f"at least {MIN_FILE_SPEECH_SECONDS:.0f} s needed; {advice}"
    )


def _warnings(name: str, measured: Measurement, damaged: int) -> tuple[str, ...]:
    warnings = []
    if damaged:
        warnings.append(
            f"{name}: {damaged} damaged piece(s) of audio were skipped; ElevenLabs may refuse the file: "
            "export it again from the original if you can"
        )
    if measured.clipped_fraction > CLIPPED_FRACTION:
        warnings.append(
            f"{name}: {measured.clipped_fraction:.1%} of it is clipped (at full scale), so the clone may "
            "sound distorted; record it again at a lower level if you can"
        )
    if measured.loud_db < QUIET_DB:
        warnings.append(
            f"{name}: quiet (its loudest moments are at {measured.loud_db:.0f} dBFS); raising its level "
            "(normalising it) helps the clone"
        )
    return tuple(warnings)
