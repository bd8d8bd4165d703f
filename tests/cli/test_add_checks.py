"""`samples add` checks what is quick to check before it decodes the audio (seconds per file)."""

from __future__ import annotations

from tests.cli import sounds
from warmline_cli.main import main

CONSENT = "Jane Doe agreed by phone on 2026-11-24, call recorded"


def test_a_wrong_number_is_named_before_the_audio_is_decoded(stack, local_args, tmp_path, capsys):
    silent = sounds.write(tmp_path / "silence.wav", sounds.silence(40))  # refused too, once decoded

    code = main(
        ["samples", "add", *local_args, "--caller", "12", "--consent", CONSENT, "--file", str(silent)]
    )

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --caller: ")
    assert "silent" not in err
