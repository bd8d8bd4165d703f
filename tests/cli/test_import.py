"""`warmline samples import FILE.csv`: a report per row, every row checked before anything is
written, each row registered all or nothing."""

from __future__ import annotations

import csv
import re

import pytest

from tests.cli import sounds
from tests.cli.conftest import clone_store_of, make_mp3, make_wav, registry_of, target_of
from warmline.callers import caller_key
from warmline.verification import hash_pin
from warmline_cli import audio, samples
from warmline_cli.main import main

JANE, JOHN, ANNA = "+44 20 7946 0001", "+44 20 7946 0002", "+44 20 7946 0003"
CONSENT = "agreed by phone on 2026-11-24, call recorded"


def _key(stack, number):
    return caller_key(number.replace(" ", ""), stack.secrets["CallerKeySecret"])


def _write_csv(path, rows, header=("number", "samples", "consent", "pin")):
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _import(local_args, path, *extra):
    return main(["samples", "import", *local_args, str(path), *extra])


def _nothing_stored(stack):
    target = target_of(stack)
    assert target.client("s3").list_object_versions(Bucket=target.bucket).get("Versions", []) == []
    items = target.client("dynamodb").scan(TableName=target.table)["Items"]
    assert items == []  # no profile, no PIN, no consent entry


@pytest.fixture
def voices(tmp_path):
    make_wav(tmp_path / "jane.wav", 40)
    make_mp3(tmp_path / "jane.mp3", 30)
    make_wav(tmp_path / "john.wav", 45)
    make_wav(tmp_path / "anna.wav", 40)
    return tmp_path


def test_import_registers_every_row_with_a_line_each(stack, local_args, voices, capsys):
    path = _write_csv(
        voices / "callers.csv",
        [
            (JANE, "jane.wav; jane.mp3", f"Jane Doe {CONSENT}", ""),
            (JOHN, str(voices / "john.wav"), f"John Roe {CONSENT}", "482916"),
        ],
    )

    assert _import(local_args, path) == 0

    out = capsys.readouterr().out
    assert "row 2 (+44******0001): ok: 2 file(s), 70 s of audio" in out
    assert "row 3 (+44******0002): ok: 1 file(s), 45 s of audio" in out
    assert "row 2 (+44******0001): ✓ registered (2 sample(s))" in out
    assert out.strip().splitlines()[-1] == "registered 2, unchanged 0, failed 0"  # the last line, for scripts
    jane = registry_of(stack).get_profile(_key(stack, JANE))
    assert jane.consent == f"Jane Doe {CONSENT}" and len(jane.sample_keys) == 2
    pin = clone_store_of(stack).get_pin(_key(stack, JOHN))
    assert pin.pin_hash == hash_pin(_key(stack, JOHN), "482916", stack.secrets["PinPepperSecret"])
    assert clone_store_of(stack).get_pin(_key(stack, JANE)) is None
    [entry] = registry_of(stack).consent_log(_key(stack, JOHN))
    assert entry.source.value == "import"
    assert "+442079460001" not in out


def test_a_bad_row_registers_nothing_and_every_problem_is_named(stack, local_args, voices, capsys):
    sounds.write(voices / "blank.wav", sounds.silence(40), 8000)
    path = _write_csv(
        voices / "callers.csv",
        [
            (JANE, "jane.wav", f"Jane Doe {CONSENT}", ""),
            (JOHN, "blank.wav", f"John Roe {CONSENT}", ""),
            ("not a number", "anna.wav", f"Anna {CONSENT}", ""),
            (ANNA, "missing.wav", f"Anna {CONSENT}", ""),
            ("+44 20 7946 0004", "anna.wav", "yes", ""),
            ("+44 20 7946 0005", "anna.wav", f"Bo {CONSENT}", "1234"),
            ("+44 (0)20 7946 0001", "anna.wav", f"Jane again {CONSENT}", ""),
            ("020 7946 0006", "anna.wav", f"Cy {CONSENT}", ""),  # no country, and the stack has none
        ],
    )

    assert _import(local_args, path) == 2

    captured = capsys.readouterr()
    out = captured.out
    assert "row 2 (+44******0001): ok" in out
    assert "row 3 (+44******0002): error: blank.wav: silent (no sound at all)" in out
    assert "row 4: error: number: " in out
    assert f"row 5 (+44******0003): error: {voices / 'missing.wav'}: cannot read it" in out
    assert "row 6 (+44******0004): error: no voice sample without consent: the consent column must say" in out
    assert "row 7 (+44******0005): error: pin: that PIN is too easy to guess" in out
    assert "row 8 (+44******0001): error: the same caller as row 2" in out
    assert re.search(r"row 9: error: number: .*DefaultCountryCode", out)
    assert "error: 7 of 8 row(s) have problems: nothing was registered" in captured.err
    _nothing_stored(stack)


def test_a_file_without_the_columns_is_refused(stack, local_args, voices, capsys):
    path = _write_csv(voices / "callers.csv", [(JANE, "jane.wav")], header=("phone", "samples"))

    assert _import(local_args, path) == 2

    assert "missing number, consent" in capsys.readouterr().err
    assert _import(local_args, voices / "nope.csv") == 2
    assert "nope.csv: no such file" in capsys.readouterr().err


def test_import_again_is_unchanged_and_other_samples_need_replace(stack, local_args, voices, capsys):
    rows = [(JANE, "jane.wav", f"Jane Doe {CONSENT}", ""), (JOHN, "john.wav", f"John Roe {CONSENT}", "")]
    path = _write_csv(voices / "callers.csv", rows)
    assert _import(local_args, path) == 0
    capsys.readouterr()

    assert _import(local_args, path) == 0
    assert "registered 0, unchanged 2, failed 0" in capsys.readouterr().out

    changed = _write_csv(voices / "changed.csv", [rows[0], (JOHN, "anna.wav", f"John Roe {CONSENT}", "")])
    assert _import(local_args, changed) == 2
    assert (
        "row 3 (+44******0002): error: registered with other samples: pass --replace"
        in capsys.readouterr().out
    )
    assert _import(local_args, changed, "--replace") == 2  # no terminal to ask at
    assert "pass --yes" in capsys.readouterr().err

    assert _import(local_args, changed, "--replace", "--yes") == 0
    assert "registered 1, unchanged 1, failed 0" in capsys.readouterr().out  # Jane's row kept as it was
    john = registry_of(stack).get_profile(_key(stack, JOHN))
    target = target_of(stack)
    size = target.client("s3").head_object(Bucket=target.bucket, Key=john.sample_keys[0])["ContentLength"]
    assert size == (voices / "anna.wav").stat().st_size


def test_import_keeps_a_pin_across_replace_and_sets_one_on_an_unchanged_row(
    stack, local_args, voices, capsys
):
    """`import` agrees with `add`: --replace keeps the caller's PIN unless the row brings one, and a
    row reported unchanged still sets the PIN its `pin` column gives (issue 21, point 1)."""
    jane = (JANE, "jane.wav", f"Jane Doe {CONSENT}", "")
    assert (
        _import(
            local_args,
            _write_csv(voices / "first.csv", [jane, (JOHN, "john.wav", f"John {CONSENT}", "482916")]),
        )
        == 0
    )
    store = clone_store_of(stack)
    johns = store.get_pin(_key(stack, JOHN))
    capsys.readouterr()

    changed = [(JANE, "jane.wav", f"Jane Doe {CONSENT}", "246810"), (JOHN, "anna.wav", f"John {CONSENT}", "")]
    assert _import(local_args, _write_csv(voices / "changed.csv", changed), "--replace", "--yes") == 0

    out = capsys.readouterr().out
    assert store.get_pin(_key(stack, JOHN)) == johns  # replaced, PIN kept
    assert "row 3 (+44******0002): ✓ registered (1 sample(s)), PIN kept" in out
    janes = store.get_pin(_key(stack, JANE))  # unchanged samples, the PIN of the row set
    assert janes.pin_hash == hash_pin(_key(stack, JANE), "246810", stack.secrets["PinPepperSecret"])
    assert "row 2 (+44******0001): unchanged, PIN set" in out
    assert out.strip().splitlines()[-1] == "registered 1, unchanged 1, failed 0"

    assert _import(local_args, voices / "changed.csv", "--replace", "--yes") == 0  # again: nothing changes
    assert store.get_pin(_key(stack, JANE)) == janes and store.get_pin(_key(stack, JOHN)) == johns
    assert "registered 0, unchanged 2, failed 0" in capsys.readouterr().out


def test_dry_run_checks_every_row_and_writes_nothing(stack, local_args, voices, capsys):
    path = _write_csv(voices / "callers.csv", [(JANE, "jane.wav", f"Jane Doe {CONSENT}", "")])

    assert _import(local_args, path, "--dry-run") == 0

    assert "all 1 row(s) check out; nothing registered (--dry-run)" in capsys.readouterr().out
    _nothing_stored(stack)


def test_a_row_that_fails_while_it_is_written_leaves_nothing_behind(stack, voices):
    """A write that fails half way (here the second file vanishes after the checks): the first file's
    upload is deleted again (every version) and the PIN saved before it too."""
    target = target_of(stack)
    caller = samples.resolve_caller(target, JANE)
    checked = [audio.inspect(voices / "jane.wav"), audio.inspect(voices / "jane.mp3")]
    (voices / "jane.mp3").unlink()
    pin = samples.new_pin(target, caller, "482916")

    with pytest.raises(FileNotFoundError):
        samples.enrol(target, samples.Enrolment(caller, checked, CONSENT, pin))

    _nothing_stored(stack)


def test_a_row_with_several_problems_names_them_all(stack, local_args, voices, capsys):
    """The operator fixes a row once, not once per problem."""
    path = _write_csv(voices / "callers.csv", [("not a number", "missing.wav", "yes", "1234")])

    assert _import(local_args, path) == 2

    [report] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("row 2")]
    assert report.startswith("row 2: error: number: ")
    for problem in (
        "; no voice sample without consent",
        f"; {voices / 'missing.wav'}: cannot read it",
        "; pin: ",
    ):
        assert problem in report
    _nothing_stored(stack)
