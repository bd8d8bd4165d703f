"""The audio checks on files made in the test, in every accepted format: a voice passes; what mutagen
alone let through (a truncated WAV, 40 s of silence) is refused, naming the file, why and what to do."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from tests.cli import sounds
from warmline_cli import audio

FORMATS = list(sounds.ENCODINGS)
NAMES = {
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg/vorbis",
    "opus": "ogg/opus",
    "m4a": "m4a/mp4",
}


def _level(db: float) -> float:
    """The amplitude of a sine whose RMS level is `db` dBFS."""
    return 10 ** (db / 20) * np.sqrt(2)


def _problem(path) -> str:
    with pytest.raises(audio.AudioProblem) as raised:
        audio.inspect(path)
    return str(raised.value)


# --- measure(): levels by 20 ms frames -----------------------------------------------------------


def test_measure_counts_the_seconds_that_rise_above_the_background():
    quiet, loud = sounds.noise(2, -70), sounds.tone(3, 150, _level(-23))
    measured = audio.measure(np.concatenate([quiet, loud, quiet, loud]))

    assert measured.seconds == pytest.approx(10.0)
    assert measured.sound_seconds == pytest.approx(6.0, abs=0.04)
    assert measured.speech_seconds == 0  # a held tone is sound, not speech
    assert measured.background_db == pytest.approx(-70, abs=1)
    assert measured.loud_db == pytest.approx(-23, abs=0.5)
    assert measured.clipped_fraction == 0


def test_measure_counts_nothing_under_the_speech_floor():
    silence = sounds.silence(2)
    under = audio.measure(np.concatenate([silence, sounds.tone(3, 150, _level(-53))]))
    over = audio.measure(np.concatenate([silence, sounds.tone(3, 150, _level(-47))]))

    assert under.sound_seconds == 0
    assert under.loud_db == pytest.approx(-53, abs=0.5)
    assert over.sound_seconds == pytest.approx(3.0, abs=0.04)


def test_measure_counts_only_what_stands_out_from_a_noisy_background():
    background = sounds.noise(10, -40)
    barely, clearly = background.copy(), background.copy()
    barely[sounds.RATE * 5 :] += sounds.tone(5, 150, _level(-35))  # 6 dB over the noise
    clearly[sounds.RATE * 5 :] += sounds.tone(5, 150, _level(-25))  # 15 dB over it

    assert audio.measure(barely).sound_seconds == 0
    assert audio.measure(clearly).sound_seconds == pytest.approx(5.0, abs=0.04)


def test_measure_finds_no_speech_in_a_steady_tone_and_counts_clipping():
    steady = audio.measure(sounds.tone(10, 440, 0.5))
    assert steady.speech_seconds == 0
    assert steady.clipped_fraction == 0

    clipped = audio.measure(np.clip(sounds.tone(10, 150, 3.0), -1, 1))
    assert clipped.clipped_fraction > 0.5


def test_measure_of_nothing_is_silence():
    measured = audio.measure(np.zeros(10, np.float32))

    assert (measured.seconds, measured.speech_seconds) == (pytest.approx(10 / sounds.RATE), 0)
    assert measured.loud_db == -120


# --- inspect(): each format, decoded and measured -------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_voice_passes_in_every_format(tmp_path, suffix):
    checked = audio.inspect(sounds.write(tmp_path / f"jane.{suffix}", sounds.voice(40)))

    assert checked.format == NAMES[suffix]
    assert checked.seconds == pytest.approx(40, abs=0.1)
    assert 24 < checked.speech_seconds < 35  # phrases of 2.6 s and pauses of 0.6 s
    assert checked.warnings == ()
    assert re.fullmatch(
        rf"jane\.{suffix}: {NAMES[suffix]}, 40\.0 s \(\d\d\.\d s of speech\), \d\.\d\d MB", checked.describe()
    )


def test_a_phone_recording_passes(tmp_path):
    """8 kHz, 16-bit, over a line hiss 30 dB under the voice: what 3CX records."""
    checked = audio.inspect(sounds.write(tmp_path / "call.wav", sounds.voice(30, noise_db=-50), rate=8000))

    assert checked.speech_seconds > 15
    assert checked.warnings == ()


@pytest.mark.parametrize("suffix", ["wav", "mp3", "flac"])
def test_a_file_cut_short_is_refused(tmp_path, suffix):
    cut = sounds.cut(sounds.write(tmp_path / f"jane.{suffix}", sounds.voice(44.5)), keep=0.4)

    problem = _problem(cut)

    assert re.match(
        rf"jane\.{suffix}: cut short or damaged: its header says 44\.[56] s but only 1\d\.\d s of it decodes",
        problem,
    )
    assert problem.endswith("copy or export it again from the original")


def test_an_m4a_cut_short_is_refused(tmp_path):
    faststart = sounds.write(tmp_path / "start.m4a", sounds.voice(44.5), movflags="faststart")  # index first
    assert re.match(
        r"start\.m4a: cut short or damaged: its header says 44\.5 s", _problem(sounds.cut(faststart, 0.4))
    )

    index_last = sounds.cut(sounds.write(tmp_path / "end.m4a", sounds.voice(44.5)), keep=0.4)
    assert _problem(index_last).startswith("end.m4a: not readable audio (")
    assert "if it is damaged or cut short, copy or export it again" in _problem(index_last)


@pytest.mark.parametrize("suffix", ["ogg", "opus"])
def test_an_ogg_cut_short_counts_what_is_left(tmp_path, suffix):
    """Ogg states its length on its last page: a cut file is shorter, not inconsistent."""
    checked = audio.inspect(
        sounds.cut(sounds.write(tmp_path / f"jane.{suffix}", sounds.voice(44.5)), keep=0.4)
    )

    assert 14 < checked.seconds < 22
    assert checked.speech_seconds > 10


def _damage(path):
    data = bytearray(path.read_bytes())
    for at in (len(data) // 3, len(data) // 2):
        data[at : at + 200] = bytes(range(200))
    path.write_bytes(bytes(data))
    return path


def test_damage_in_the_middle_is_warned_of_or_refused_by_what_it_loses(tmp_path):
    mp3 = audio.inspect(_damage(sounds.write(tmp_path / "scratched.mp3", sounds.voice(40))))
    assert mp3.seconds == pytest.approx(40, abs=0.25)
    assert len(mp3.warnings) == 1
    assert re.match(r"scratched\.mp3: \d damaged piece\(s\) of audio were skipped", mp3.warnings[0])

    ogg = _problem(_damage(sounds.write(tmp_path / "scratched.ogg", sounds.voice(40))))  # whole pages lost
    assert re.match(r"scratched\.ogg: cut short or damaged: its header says 40\.0 s but only 3\d\.\d s", ogg)


def test_a_wav_whose_header_states_no_length_is_measured(tmp_path):
    """A recorder that stopped before it wrote the sizes leaves 0 in the data chunk's header."""
    path = sounds.write(tmp_path / "unfinished.wav", sounds.voice(20), rate=8000)
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = struct.pack("<I", 0)
    path.write_bytes(bytes(data))

    assert audio.inspect(path).seconds == pytest.approx(20, abs=0.1)


@pytest.mark.parametrize("suffix", FORMATS)
def test_silence_is_refused_in_every_format(tmp_path, suffix):
    problem = _problem(sounds.write(tmp_path / f"empty.{suffix}", sounds.silence(40)))

    assert problem.startswith(f"empty.{suffix}: silent (")
    assert "0.0 s of speech in 40.0 s, at least 3 s needed" in problem
    assert problem.endswith("check that it is the right file and that the recording has the caller's voice")


def test_a_line_hiss_is_silent_and_a_very_quiet_voice_too_quiet(tmp_path):
    hiss = _problem(sounds.write(tmp_path / "hiss.wav", sounds.noise(40, -75)))
    assert hiss.startswith("hiss.wav: silent (its loudest moments are at -7")

    whisper = _problem(sounds.write(tmp_path / "whisper.wav", sounds.voice(40, gain_db=-40)))
    assert whisper.startswith("whisper.wav: too quiet (its loudest moments are at -5")
    assert whisper.endswith("raise its level (normalise it) and export again")


def test_a_quiet_voice_passes_with_a_warning(tmp_path):
    checked = audio.inspect(sounds.write(tmp_path / "soft.mp3", sounds.voice(40, gain_db=-20)))

    assert checked.speech_seconds > 15
    assert checked.warnings == (
        "soft.mp3: quiet (its loudest moments are at -36 dBFS); raising its level (normalising it) helps the "
        "clone",
    )


def test_a_tone_or_a_hum_is_no_voice(tmp_path):
    for path in (
        sounds.write(tmp_path / "tone.flac", sounds.tone(40)),
        sounds.write(tmp_path / "hum.wav", sounds.noise(40, -30)),
    ):
        assert _problem(path).startswith(f"{path.name}: a steady sound (a tone, hum or noise) with no voice")


def test_a_few_words_in_a_long_silence_are_too_little(tmp_path):
    samples = np.concatenate([sounds.voice(2), sounds.silence(38)])

    problem = _problem(sounds.write(tmp_path / "pause.wav", samples))

    assert re.match(r"pause\.wav: mostly silence or background noise: 1\.\d s of speech in 40\.0 s", problem)


def test_a_noisy_room_passes_and_clipping_is_warned_of(tmp_path):
    assert audio.inspect(sounds.write(tmp_path / "office.wav", sounds.voice(40, noise_db=-35))).warnings == ()

    loud = audio.inspect(sounds.write(tmp_path / "loud.wav", sounds.voice(40, gain_db=20)))
    assert len(loud.warnings) == 1
    assert re.match(r"loud\.wav: \d+\.\d% of it is clipped \(at full scale\)", loud.warnings[0])


def test_a_file_longer_than_all_samples_may_last_is_refused_before_decoding(tmp_path):
    problem = _problem(sounds.write(tmp_path / "meeting.wav", sounds.voice(310), rate=4000))

    assert problem.startswith("meeting.wav: 310 s is longer than the 300 s all samples may last together")


def test_the_set_needs_enough_speech_in_all(tmp_path):
    short = audio.inspect(sounds.write(tmp_path / "hello.wav", sounds.voice(6)))
    assert short.speech_seconds > audio.MIN_FILE_SPEECH_SECONDS

    with pytest.raises(audio.AudioProblem) as raised:
        audio.check_set([short])
    assert re.match(
        r"only \d\.\d s of speech in all \(hello\.wav \d\.\d s\); at least 8 s", str(raised.value)
    )

    more = audio.inspect(sounds.write(tmp_path / "more.wav", sounds.voice(8)))
    assert [warning.split(":")[0] for warning in audio.check_set([short, more])] == ["only 14 s of audio"]


# --- what is sound but not speech: the voice-activity detector ---------------------------------------


def test_real_speech_passes(tmp_path):
    """espeak-ng's reading (about 20 s): speech from outside these tests, counted mostly as speech."""
    checked = audio.inspect(sounds.speech(tmp_path / "spoken.wav"))

    measured = audio.measure(audio._decode(checked.path)[0])
    assert checked.seconds > 15
    assert checked.speech_seconds > 0.5 * measured.sound_seconds  # most of what is not a pause
    assert checked.warnings == ()


@pytest.mark.parametrize(
    ("name", "samples"),
    [
        ("bursts.wav", sounds.bursts(40)),  # white noise, 0.3 s on, 0.3 s off
        ("beeps.mp3", sounds.beeps(40)),  # 800 Hz, 0.5 s on, 0.5 s off
        ("low-beeps.wav", sounds.beeps(40, hertz=300)),
        ("tune.flac", sounds.notes(40)),  # notes with harmonics, like a hold melody
    ],
)
def test_noise_bursts_beeps_and_music_are_sound_but_no_voice(tmp_path, name, samples):
    path = sounds.write(tmp_path / name, samples)
    measured = audio.measure(samples)

    assert measured.sound_seconds > 10  # what the level alone counted as speech
    assert measured.speech_seconds < 0.15 * measured.sound_seconds
    assert re.match(
        rf"{re.escape(name)}: \d+\.\d s of sound but no voice in it \(beeps, tones, music", _problem(path)
    )


def test_speech_among_beeps_counts_only_the_speech(tmp_path):
    spoken = audio._decode(sounds.speech(tmp_path / "spoken.wav"))[0]
    alone = audio.measure(spoken).speech_seconds
    mixed = np.concatenate([sounds.beeps(20), spoken, sounds.notes(20)])

    assert alone <= audio.measure(mixed).speech_seconds < alone + 2  # the beeps and the tune: onsets at most
