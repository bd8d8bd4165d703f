"""The demo callers' voice sample: a few seconds of synthetic, voice-like audio made on the spot.

Made by the project rather than shipped, so no recording of a real person is in the repository.
"""

from __future__ import annotations

import functools
import math
import struct
import wave
from pathlib import Path

SAMPLE_RATE = 16_000


def write_sample(path: Path, seconds: float = 12.0, pitch_hz: float = 140.0) -> Path:
    """A mono 16-bit WAV: a glottal-like harmonic series under a slow syllable-rate envelope."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(_frames(seconds, pitch_hz))
    return path


@functools.cache  # made once per process: a second of audio is about 30 ms of CPU
def _frames(seconds: float, pitch_hz: float) -> bytes:
    frames = bytearray()
    for n in range(int(seconds * SAMPLE_RATE)):
        t = n / SAMPLE_RATE
        vibrato = pitch_hz * (1 + 0.02 * math.sin(2 * math.pi * 5 * t))
        tone = sum(math.sin(2 * math.pi * vibrato * k * t) / k for k in range(1, 8))
        syllables = 0.5 + 0.5 * math.sin(2 * math.pi * 3.5 * t)
        frames += struct.pack("<h", int(6000 * tone * syllables))
    return bytes(frames)
