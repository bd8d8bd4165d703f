"""The CLI for scripts: --version, exit codes in --help, usage errors, WARMLINE_STACK, --json,
--yes and the question a destructive command asks, idempotent add and remove, --prewarm --wait."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

from emulators.elevenlabs import CloneLatency, Fault
from tests.cli.conftest import clone_store_of, make_mp3, make_wav, registry_of
from tests.waiting import eventually
from warmline import __version__
from warmline.callers import caller_key
from warmline.clone_state import CloneStatus
from warmline_cli import target as targets
from warmline_cli.main import main, parser

NUMBER = "+44 20 7946 0000"
MASKED = "+44******0000"
CONSENT = "Jane Doe agreed by phone on 2026-11-24, call recorded"


def _key(stack):
    return caller_key("+442079460000", stack.secrets["CallerKeySecret"])


def _sample_versions(stack):
    target = targets.from_local(stack.state_file)
    listed = target.client("s3").list_object_versions(Bucket=target.bucket, Prefix=f"samples/{_key(stack)}/")
    return sorted((v["Key"], v["VersionId"]) for v in listed.get("Versions", []))


def _add(local_args, *files, extra=()):
    args = ["samples", "add", *local_args, "--caller", NUMBER, "--consent", CONSENT, *extra]
    for path in files:
        args += ["--file", str(path)]
    return main(args)


class _Terminal(io.StringIO):
    """Standard input as a terminal where the operator types `answer`."""

    def isatty(self) -> bool:
        return True


# ---- version, help, usage ---------------------------------------------------------------------------


def test_version_is_the_one_version_of_the_package(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"warmline {__version__}"
    assert version("warmline") == __version__  # pyproject.toml reads warmline.__version__


def test_help_documents_the_exit_codes_and_the_required_consent(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    root = capsys.readouterr().out
    for line in ("0  done", "1  failure", "2  usage", "3  not found"):
        assert line in root

    with pytest.raises(SystemExit):
        main(["samples", "add", "--help"])
    add = capsys.readouterr().out
    assert "3  not found" not in add  # listed once, in `warmline --help`
    assert add.rstrip().endswith("exit codes: `warmline --help`")
    usage = add.split("options:")[0]
    assert re.search(r"[^[]--file AUDIO", usage) and re.search(r"[^[]--consent TEXT", usage)  # required
    assert "required: who agreed" in add


def _commands(parser):
    """Every command's parser, its help text filled in (main fills some only when they are used)."""
    parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield command
                yield from _commands(command)


def test_every_option_of_every_command_says_what_it_is():
    undocumented = [
        f"{command.prog} {'/'.join(action.option_strings) or action.dest}"
        for command in _commands(parser())
        for action in command._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert undocumented == []


def test_the_target_options_are_shown_together(capsys):
    """--stack and --local, the pair to choose from, sit in the target group with their companions."""
    with pytest.raises(SystemExit):
        main(["samples", "show", "--help"])
    shown = capsys.readouterr().out
    options, target = shown.split("\ntarget: --stack NAME [--region REGION], or --local")
    for option in ("--stack NAME", "--region REGION", "--local ", "--local-state FILE"):
        assert option in target and option not in options.split("options:")[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["samples", "add", "--local", "--caller", NUMBER, "--file", "a.wav"],  # no --consent
        ["samples", "list", "--local", "--no-such-option"],
        ["samples", "list", "--local", "--stack", "both"],
        ["dlq", "redrive", "--local", "--yes", "--json"],
    ],
)
def test_a_wrong_command_line_exits_2_with_the_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)

    assert exit_.value.code == 2
    assert "usage: warmline" in capsys.readouterr().err


def test_no_target_is_a_usage_error_naming_warmline_stack(monkeypatch, capsys):
    monkeypatch.delenv("WARMLINE_STACK", raising=False)

    assert main(["samples", "list"]) == 2

    assert "pass --stack NAME (or set WARMLINE_STACK), or --local" in capsys.readouterr().err


def test_warmline_stack_names_the_default_stack(stack, monkeypatch, capsys):
    """The stack is looked up by the name in WARMLINE_STACK (moto's CloudFormation knows none: 3)."""
    monkeypatch.setenv("WARMLINE_STACK", "warmline-from-env")
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.aws_endpoint_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    assert main(["samples", "list"]) == 3

    assert "no CloudFormation stack named 'warmline-from-env'" in capsys.readouterr().err


def test_wait_needs_prewarm(stack, local_args, tmp_path, capsys):
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--wait"]) == 2

    assert "--wait waits for the clone --prewarm queues" in capsys.readouterr().err
    assert registry_of(stack).get_profile(_key(stack)) is None


# ---- --json -----------------------------------------------------------------------------------------


def test_list_and_show_json_have_the_documented_keys(stack, local_args, tmp_path, capsys, monkeypatch):
    assert main(["samples", "list", *local_args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"callers": []}

    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--pin"])
    capsys.readouterr()

    assert main(["samples", "list", *local_args, "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["callers"]
    assert set(listed) == {"caller", "caller_key", "samples", "registered_at", "clone_status", "pin"}
    assert (listed["caller"], listed["caller_key"], listed["samples"]) == (MASKED, _key(stack), 1)
    assert (listed["clone_status"], listed["pin"]) == ("none", True)
    assert listed["registered_at"].endswith("Z")

    assert main(["samples", "show", *local_args, "--caller", NUMBER, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {
        "caller", "caller_key", "registered_at", "consent", "pin", "samples", "clone_status", "clone"
    }  # fmt: skip
    assert shown["consent"] == CONSENT and shown["clone"] is None and shown["clone_status"] == "none"
    assert set(shown["pin"]) == {"set_at", "locked_until"} and shown["pin"]["locked_until"] is None
    [sample] = shown["samples"]
    assert sample == {
        "key": f"samples/{_key(stack)}/sample-01.wav",
        "bytes": (tmp_path / "a.wav").stat().st_size,
        "content_type": "audio/wav",
    }
    assert "+442079460000" not in json.dumps(shown)


def test_show_json_of_an_unknown_caller_exits_3_and_prints_no_json(stack, local_args, capsys):
    assert main(["samples", "show", *local_args, "--caller", "+14155550100", "--json"]) == 3

    out = capsys.readouterr()
    assert out.out == "" and "has no voice samples" in out.err


def test_doctor_json_is_one_document_with_every_check(stack, local_args, capsys):
    assert main(["doctor", *local_args, "--json"]) == 1  # the agent is not configured

    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"ok", "problems", "checks"}
    assert report["ok"] is False and report["problems"] == sum(not c["ok"] for c in report["checks"]) > 0
    assert all(set(check) == {"ok", "message"} for check in report["checks"])
    assert any(c["message"].startswith("secret ElevenLabsApiKeySecret is readable") for c in report["checks"])

    assert main(["elevenlabs", "configure", *local_args, "--transfer-to", "sip:800@pbx.example.com"]) == 0
    capsys.readouterr()
    assert main(["doctor", *local_args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["problems"]) == (True, 0)


# ---- add and remove: idempotent, --replace, --yes ---------------------------------------------------


def test_add_of_the_same_samples_again_is_a_no_op(stack, local_args, tmp_path, capsys):
    wav, mp3 = make_wav(tmp_path / "a.wav", 40), make_mp3(tmp_path / "b.mp3", 30)
    assert _add(local_args, wav, mp3) == 0
    versions = _sample_versions(stack)

    assert _add(local_args, mp3, wav) == 0  # the same files, in any order

    assert "is already registered with these samples: nothing changed" in capsys.readouterr().out
    assert _sample_versions(stack) == versions
    assert [e.event.value for e in registry_of(stack).consent_log(_key(stack))] == ["registered"]


def test_add_of_other_samples_needs_replace_and_replace_needs_yes(stack, local_args, tmp_path, capsys):
    old, new = make_wav(tmp_path / "old.wav", 40), make_mp3(tmp_path / "new.mp3", 35)
    assert _add(local_args, old) == 0
    versions = _sample_versions(stack)
    capsys.readouterr()

    assert _add(local_args, new) == 1
    assert "is registered with other samples: pass --replace" in capsys.readouterr().err
    assert _add(local_args, new, extra=["--replace"]) == 2  # standard input is no terminal
    assert "pass --yes" in capsys.readouterr().err
    assert _sample_versions(stack) == versions

    assert _add(local_args, new, extra=["--replace", "--yes"]) == 0

    profile = registry_of(stack).get_profile(_key(stack))
    assert profile.sample_keys == (f"samples/{_key(stack)}/sample-01.mp3",)
    assert [key for key, _ in _sample_versions(stack)] == [profile.sample_keys[0]]  # old versions gone
    events = [e.event.value for e in registry_of(stack).consent_log(_key(stack))]
    assert events == ["registered", "withdrawn", "registered"]


def test_remove_asks_at_a_terminal_and_refuses_without_one(stack, local_args, tmp_path, capsys, monkeypatch):
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40)) == 0
    remove = ["samples", "remove", *local_args, "--caller", NUMBER]
    capsys.readouterr()

    assert main(remove) == 2  # no terminal, no --yes
    assert "Standard input is not a terminal: pass --yes; nothing changed" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    assert main(remove) == 1
    err = capsys.readouterr().err
    assert f"Withdraw {MASKED}" in err and "[y/N]" in err and "not confirmed; nothing changed" in err
    assert registry_of(stack).get_profile(_key(stack)) is not None

    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    assert main(remove) == 0
    assert registry_of(stack).get_profile(_key(stack)) is None

    assert main(remove) == 0  # gone already: nothing to ask, nothing to do
    assert "nothing to remove" in capsys.readouterr().out


# ---- --prewarm --wait -------------------------------------------------------------------------------


def test_prewarm_wait_shows_progress_until_the_clone_is_ready(stack, local_args, tmp_path, capsys):
    stack.emulator.configure(clone_latency=CloneLatency(1.0, 1.0))
    try:
        assert _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--prewarm", "--wait"]) == 0
    finally:
        stack.emulator.configure(clone_latency=CloneLatency.instant())

    out = capsys.readouterr()
    assert "… clone pending" in out.err or "… clone cloning" in out.err
    assert "… clone ready" in out.err
    record = clone_store_of(stack).get_clone(_key(stack))
    assert record.status is CloneStatus.READY
    assert re.search(rf"clone ready after \d+ s: voice {record.cloned_voice_id}", out.out)


def test_prewarm_wait_exits_1_when_the_clone_fails_or_the_wait_times_out(stack, local_args, tmp_path, capsys):
    stack.emulator.inject(
        Fault(method="POST", path_prefix="/v1/voices/add", status=400, code="invalid_audio", always=True)
    )
    wav = make_wav(tmp_path / "a.wav", 40)
    assert _add(local_args, wav, extra=["--prewarm", "--wait"]) == 1
    assert "the clone failed: " in capsys.readouterr().err
    assert registry_of(stack).get_profile(_key(stack)) is not None  # registered all the same
    assert _add(local_args, wav, extra=["--prewarm", "--wait"]) == 1  # the failure stands for a while
    out = capsys.readouterr()
    assert "nothing changed" in out.out and "none queued: the last clone failed" in out.out
    assert "the clone failed: " in out.err

    stack.emulator.reset()
    main(["samples", "remove", *local_args, "--caller", NUMBER, "--yes"])
    stack.emulator.configure(clone_latency=CloneLatency(3.0, 3.0))
    try:
        assert _add(local_args, wav, extra=["--prewarm", "--wait", "--timeout", "0.2"]) == 1
        assert "after 0.2 s; the worker carries on" in capsys.readouterr().err
        _wait_until_settled(stack)  # no clone left in flight for the next test
    finally:
        stack.emulator.configure(clone_latency=CloneLatency.instant())


def _wait_until_settled(stack):
    def settled():
        record = clone_store_of(stack).get_clone(_key(stack))
        return record is not None and record.status in (CloneStatus.READY, CloneStatus.FAILED)

    eventually(settled, within=30, what="the clone settled")


def test_output_to_a_reader_that_stopped_reading_ends_quietly(stack, tmp_path):
    """`warmline metrics | head -1`: the rest of the table has nowhere to go; no traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        ran = subprocess.run(
            [
                sys.executable,
                "-m",
                "warmline_cli.main",
                "metrics",
                "--local",
                "--local-state",
                stack.state_file,
            ],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)

    assert ran.returncode == 141, ran.stderr
    assert "Traceback" not in ran.stderr and "BrokenPipeError" not in ran.stderr
