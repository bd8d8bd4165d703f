"""Test audio made on the spot: the demo's voice-like sample shaped into phrases and pauses over a
faint background; real (synthesised) speech from espeak-ng; silence, tones, beeps, noise bursts and
music-like notes; written in each format warmline accepts (encoded by PyAV, which brings its own FFmpeg)."""

from __future__ import annotations

import fractions
import functools
import hashlib
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import av
import numpy as np

from emulators.demo_audio import SAMPLE_RATE, write_sample

RATE = SAMPLE_RATE
PHRASE_SECONDS = 2.6
PAUSE_SECONDS = 0.6

# suffix: (container, codec, its sample rate or None for the caller's, channel layout)
ENCODINGS: dict[str, tuple[str, str, int | None, str]] = {
    "wav": ("wav", "pcm_s16le", None, "mono"),
    "mp3": ("mp3", "libmp3lame", 22_050, "mono"),
    "flac": ("flac", "flac", None, "mono"),
    "ogg": ("ogg", "vorbis", 22_050, "stereo"),  # FFmpeg's own Vorbis encoder takes stereo only
    "opus": ("ogg", "libopus", 48_000, "mono"),
    "m4a": ("ipod", "aac", 22_050, "mono"),
}


@functools.cache
def _demo_voice() -> np.ndarray:
    with (
        tempfile.TemporaryDirectory() as folder,
        wave.open(str(write_sample(Path(folder) / "v.wav"))) as sample,
    ):
        data = sample.readframes(sample.getnframes())
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768


def voice(seconds: float, gain_db: float = 0.0, noise_db: float = -65.0) -> np.ndarray:
    """`seconds` of talking at RATE: phrases of PHRASE_SECONDS and pauses of PAUSE_SECONDS, the demo
    sample's level (loudest moments at about -16 dBFS) raised by `gain_db`, over white noise whose
    RMS level is `noise_db` dBFS."""
    count = round(seconds * RATE)
    time = np.arange(count) / RATE
    talking = time % (PHRASE_SECONDS + PAUSE_SECONDS) < PHRASE_SECONDS
    speech = np.resize(_demo_voice(), count) * talking * 10 ** (gain_db / 20)
    return np.clip(speech + noise(seconds, noise_db), -1, 1).astype(np.float32)


def noise(seconds: float, level_db: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.standard_normal(round(seconds * RATE)) * 10 ** (level_db / 20)).astype(np.float32)


def tone(seconds: float, hertz: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hertz * np.arange(round(seconds * RATE)) / RATE)).astype(
        np.float32
    )


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)


# (suffix, rate, mux options, the samples' type and digest) -> the file's bytes
_written: dict[tuple[str, int | None, tuple[tuple[str, str], ...], str, bytes], bytes] = {}


def write(path: Path, samples: np.ndarray, rate: int | None = None, **mux_options: str) -> Path:
    """`samples` (mono floats at RATE) encoded as the file's suffix says, at `rate` if given. The same
    samples in the same format are encoded once per process (the CLI tests write the same few
    seconds of talking dozens of times) and copied after that."""
    digest = hashlib.sha256(samples.tobytes()).digest()
    key = (path.suffix, rate, tuple(sorted(mux_options.items())), samples.dtype.str, digest)
    if key in _written:
        path.write_bytes(_written[key])
    else:
        _encode(path, samples, rate, mux_options)
        _written[key] = path.read_bytes()
    return path


def _encode(path: Path, samples: np.ndarray, rate: int | None, mux_options: dict[str, str]) -> None:
    container_format, codec, codec_rate, layout = ENCODINGS[path.suffix.lstrip(".")]
    rate = rate or codec_rate or RATE
    with av.open(str(path), "w", format=container_format, options=mux_options) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout, options={"strict": "experimental"})
        context = stream.codec_context
        resampler = av.AudioResampler(
            format=context.codec.audio_formats[0].name,
            layout=layout,
            rate=rate,
            frame_size=context.frame_size or 1024,
        )
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = RATE
        frame.pts = 0
        frame.time_base = fractions.Fraction(1, RATE)
        for out in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))


def cut(path: Path, keep: float) -> Path:
    """Keep the first `keep` (a fraction) of the file's bytes, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def bursts(seconds: float, on: float = 0.3, off: float = 0.3, level_db: float = -20.0) -> np.ndarray:
    """Bursts of white noise, `on` seconds each, `off` seconds apart."""
    time = np.arange(round(seconds * RATE)) / RATE
    return noise(seconds, level_db) * (time % (on + off) < on)


def beeps(seconds: float, hertz: float = 800.0, on: float = 0.5, off: float = 0.5) -> np.ndarray:
    time = np.arange(round(seconds * RATE)) / RATE
    return tone(seconds, hertz) * (time % (on + off) < on)


def notes(seconds: float, note: float = 0.35, gap: float = 0.1) -> np.ndarray:
    """A tune: notes of a C major scale in a fixed random order, each with five harmonics and a
    decaying envelope, `gap` seconds of silence between them."""
    rng = np.random.default_rng(3)
    scale = (262, 294, 330, 349, 392, 440, 494, 523)
    time = np.arange(round(note * RATE)) / RATE
    played = []
    while len(played) * (note + gap) < seconds:
        pitch = scale[rng.integers(len(scale))]
        sound = sum(np.sin(2 * np.pi * pitch * k * time) / k for k in range(1, 6)) * np.exp(-3 * time) * 0.2
        played += [sound, np.zeros(round(gap * RATE))]
    return np.concatenate(played)[: round(seconds * RATE)].astype(np.float32)


SPOKEN = (
    "Hello, this is Jane Doe calling about my appointment next Tuesday. I would like to move it to the "
    "afternoon if that is possible. The quick brown fox jumps over the lazy dog. Please call me back on "
    "Monday morning; I will be at the office from nine until five. Thank you very much, and goodbye."
)


def speech(path: Path) -> Path:
    """`SPOKEN` read by espeak-ng (`make setup` installs it), as a WAV file: speech no test made up."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is not installed: `make setup` installs it (apt-get install espeak-ng)"
    subprocess.run([espeak, "-v", "en-gb", "-s", "150", "-w", str(path), SPOKEN], check=True, timeout=60)
    return path
