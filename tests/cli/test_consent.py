"""`warmline samples consent`: the consent log on the local stack, through the operator's CLI. It
outlives `samples remove`, names who acted and through which path, and holds no number or audio."""

from __future__ import annotations

import csv
import json

from tests.cli.conftest import make_wav
from tests.cli.test_samples import CONSENT, MASKED, NUMBER, _add, _key
from warmline_cli.main import main


def test_the_log_outlives_remove_and_exports_as_csv_and_json(stack, local_args, tmp_path, capsys):
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40)) == 0
    assert main(["samples", "remove", *local_args, "--caller", NUMBER, "--yes"]) == 0
    assert (
        _add(local_args, make_wav(tmp_path / "b.wav", 40), consent="Jane Doe again, by email 2026-12-01") == 0
    )
    capsys.readouterr()

    assert main(["samples", "consent", *local_args, "--export", str(tmp_path / "log.csv")]) == 0
    assert main(["samples", "consent", *local_args, "--export", str(tmp_path / "log.json")]) == 0

    assert "wrote 3 consent entries (1 caller(s))" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert json.loads((tmp_path / "log.json").read_text()) == [
        {**row, "at_ms": int(row["at_ms"])} for row in rows
    ]
    assert [(r["event"], r["source"], r["consent"]) for r in rows] == [
        ("registered", "cli", CONSENT),
        ("withdrawn", "cli", ""),
        ("registered", "cli", "Jane Doe again, by email 2026-12-01"),
    ]
    assert {r["caller_key"] for r in rows} == {_key(stack)}
    assert all(r["by"].startswith("arn:aws:") for r in rows)  # the operator's AWS identity (moto's)
    assert [int(r["at_ms"]) for r in rows] == sorted(int(r["at_ms"]) for r in rows)
    assert all(r["at"].endswith("Z") for r in rows)
    for path in (tmp_path / "log.csv", tmp_path / "log.json"):
        text = path.read_text()
        assert "442079460000" not in text and MASKED not in text and "sample-01" not in text


def test_one_callers_log_to_stdout_and_as_a_listing(stack, local_args, tmp_path, capsys):
    _add(local_args, make_wav(tmp_path / "a.wav", 40))
    capsys.readouterr()

    args = ["samples", "consent", *local_args, "--caller", NUMBER]
    assert main([*args, "--export", "-", "--format", "json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert (entry["event"], entry["consent"], entry["caller_key"]) == ("registered", CONSENT, _key(stack))

    assert main(args) == 0
    listed = capsys.readouterr().out
    assert "registered" in listed and CONSENT in listed and _key(stack) in listed


def test_unclear_exports_and_unknown_callers_are_errors(stack, local_args, tmp_path, capsys):
    _add(local_args, make_wav(tmp_path / "a.wav", 40))
    capsys.readouterr()

    assert main(["samples", "consent", *local_args, "--export", str(tmp_path / "log.txt")]) == 2
    assert "say --format csv or --format json" in capsys.readouterr().err
    assert not (tmp_path / "log.txt").exists()

    assert main(["samples", "consent", *local_args, "--caller", "+14155552671"]) == 3
    assert "the consent log has no entry for" in capsys.readouterr().err
