"""`samples remove --key` and `--all`: withdrawing callers whose numbers the operator does not have
(`samples list` shows masked numbers and keys), and every caller before `sam delete`, with the same
confirmation rules as `remove --caller`."""

from __future__ import annotations

import io
import json

import pytest

from emulators.elevenlabs import Fault
from tests.cli.conftest import make_wav, target_of
from tests.waiting import eventually
from warmline.callers import caller_key
from warmline_cli import samples
from warmline_cli.main import main

CONSENT = "Jane Doe agreed by phone on 2026-11-24, call recorded"
CALLERS = {"+442079460000": "+44******0000", "+14155550123": "+14*****0123"}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _register(local_args, tmp_path, number):
    path = make_wav(tmp_path / f"{number}.wav", 40)
    assert (
        main(["samples", "add", *local_args, "--caller", number, "--consent", CONSENT, "--file", str(path)])
        == 0
    )


def _listed(local_args, capsys):
    capsys.readouterr()
    assert main(["samples", "list", *local_args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["callers"]


def _holds(stack, key) -> bool:
    target = target_of(stack)
    state = samples.clone_store(target).load(key)
    objects = target.client("s3").list_object_versions(Bucket=target.bucket, Prefix=f"samples/{key}/")
    return state.profile is not None or bool(objects.get("Versions"))


def test_remove_by_the_key_that_list_shows(stack, local_args, tmp_path, capsys, monkeypatch):
    _register(local_args, tmp_path, "+442079460000")
    [listed] = _listed(local_args, capsys)
    remove = ["samples", "remove", *local_args, "--key", listed["caller_key"]]

    assert main(remove) == 2  # no terminal, no --yes: as by number
    assert "Standard input is not a terminal: pass --yes; nothing changed" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    assert main(remove) == 1
    assert f"Withdraw {listed['caller']} ({listed['caller_key']})" in capsys.readouterr().err
    assert _holds(stack, listed["caller_key"])

    assert main([*remove, "--yes"]) == 0
    assert not _holds(stack, listed["caller_key"])
    assert [
        entry.event.value
        for entry in samples.registry_store(target_of(stack)).consent_log(listed["caller_key"])
    ] == [
        "registered",
        "withdrawn",
    ]
    assert main([*remove, "--yes"]) == 0  # gone already
    assert "nothing to remove" in capsys.readouterr().out


@pytest.mark.parametrize("key", ["+442079460000", "ck_123", "CK_" + "a" * 32, "ck_" + "g" * 32])
def test_remove_refuses_what_is_not_a_caller_key(stack, local_args, capsys, key):
    assert main(["samples", "remove", *local_args, "--key", key, "--yes"]) == 2
    assert "is not a caller key (ck_ and 32 hex digits" in capsys.readouterr().err


@pytest.mark.parametrize(
    "which", [[], ["--all", "--key", "ck_" + "0" * 32], ["--caller", "+442079460000", "--all"]]
)
def test_remove_takes_exactly_one_of_caller_key_all(stack, local_args, capsys, which):
    with pytest.raises(SystemExit) as exit_:
        main(["samples", "remove", *local_args, *which, "--yes"])
    assert exit_.value.code == 2


def test_remove_all_withdraws_every_caller_and_stray_samples_after_one_question(
    stack, local_args, tmp_path, capsys, monkeypatch
):
    for number in CALLERS:
        _register(local_args, tmp_path, number)
    target = target_of(stack)
    stray = caller_key("+33123456789", stack.secrets["CallerKeySecret"])  # an upload that never got a profile
    target.client("s3").put_object(Bucket=target.bucket, Key=f"samples/{stray}/sample-01.wav", Body=b"RIFF")
    keys = [caller_key(number, stack.secrets["CallerKeySecret"]) for number in CALLERS]
    remove_all = ["samples", "remove", *local_args, "--all"]
    capsys.readouterr()

    assert main(remove_all) == 2
    assert all(_holds(stack, key) for key in [*keys, stray])
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    assert main(remove_all) == 1
    question = capsys.readouterr().err
    assert "Withdraw all 3 caller(s) of the local stack" in question
    assert all(masked in question for masked in CALLERS.values()) and "(no number)" in question
    assert question.count("[y/N]") == 1

    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    assert main(remove_all) == 0

    assert not any(_holds(stack, key) for key in [*keys, stray])
    assert _listed(local_args, capsys) == []
    assert main([*remove_all, "--yes"]) == 0
    assert "holds no caller's samples, profile or clone: nothing to remove" in capsys.readouterr().out


def _ready_clone(stack, local_args, tmp_path, number):
    """The caller registered, their clone made by the worker and READY; its voice id."""
    path = make_wav(tmp_path / f"{number}.wav", 40)
    add = ["samples", "add", *local_args, "--caller", number, "--consent", CONSENT, "--file", str(path)]
    assert main([*add, "--prewarm"]) == 0
    store, key = samples.clone_store(target_of(stack)), caller_key(number, stack.secrets["CallerKeySecret"])

    def ready():
        record = store.get_clone(key)
        return record.cloned_voice_id if record is not None and record.status.value == "READY" else None

    return eventually(ready, within=20, what="the clone READY")


def test_remove_all_deletes_the_clones_of_a_caller_withdrawn_earlier_that_elevenlabs_kept(
    stack, local_args, tmp_path, capsys
):
    """A withdrawal whose clone delete failed stands (the REMOVED marker) and leaves the clone to the
    sweep; `remove --all` must not then say "nothing to remove" while that likeness exists."""
    number = next(iter(CALLERS))
    voice_id = _ready_clone(stack, local_args, tmp_path, number)
    stack.emulator.inject(Fault(method="DELETE", path_prefix="/v1/voices/", status=500, always=True))
    assert main(["samples", "remove", *local_args, "--caller", number, "--yes"]) == 1
    assert [voice["voice_id"] for voice in stack.emulator.voices()] == [voice_id]
    stack.emulator.inject(Fault(method="GET", path_prefix="/v2/voices", status=503, always=True))
    capsys.readouterr()
    assert main(["samples", "remove", *local_args, "--all", "--yes"]) == 1  # cannot look: never "nothing"
    assert "clones at ElevenLabs of callers withdrawn before were not looked for" in capsys.readouterr().err
    stack.emulator.clear_faults()  # ElevenLabs answers and deletes again

    assert main(["samples", "remove", *local_args, "--all", "--yes"]) == 0

    out = capsys.readouterr().out
    assert f"deleted the clone {voice_id} at ElevenLabs" in out and "nothing to remove" not in out
    assert stack.emulator.voices() == []
    assert main(["samples", "remove", *local_args, "--all", "--yes"]) == 0
    assert "nothing to remove" in capsys.readouterr().out
