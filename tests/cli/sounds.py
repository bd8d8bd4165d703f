"""Test audio made on the spot: the demo's voice-like sample shaped into phrases and pauses over a
faint background, and silence, tones and noise, written in each format warmline accepts (encoded by
PyAV, which brings its own FFmpeg)."""

from __future__ import annotations

import fractions
import functools
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


def write(path: Path, samples: np.ndarray, rate: int | None = None, **mux_options: str) -> Path:
    """`samples` (mono floats at RATE) encoded as the file's suffix says, at `rate` if given."""
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
    return path


def cut(path: Path, keep: float) -> Path:
    """Keep the first `keep` (a fraction) of the file's bytes, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
