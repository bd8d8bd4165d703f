"""`warmline samples …` on the local stack."""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import replace

from emulators.elevenlabs import Fault
from tests import web
from tests.cli import sounds
from tests.cli.conftest import make_mp3, make_wav, target_of
from tests.waiting import eventually
from warmline.callers import caller_key
from warmline.clone_state import CloneStatus, PinRecord
from warmline.verification import hash_pin
from warmline_cli import audio, samples, samples_remove
from warmline_cli.main import main

NUMBER = "+44 20 7946 0000"
MASKED = "+44******0000"
CONSENT = "Jane Doe agreed by phone on 2026-11-24, call recorded"


def _key(stack):
    return caller_key("+442079460000", stack.secrets["CallerKeySecret"])


def _add(local_args, *files, consent=CONSENT, extra=()):
    args = ["samples", "add", *local_args, "--caller", NUMBER, "--consent", consent, *extra]
    for path in files:
        args += ["--file", str(path)]
    return main(args)


def test_add_uploads_the_checked_samples_and_records_the_consent(stack, local_args, tmp_path, capsys):
    wav = make_wav(tmp_path / "jane interview.wav", 40)
    mp3 = make_mp3(tmp_path / "jane.mp3", 30)

    assert _add(local_args, wav, mp3) == 0

    target = target_of(stack)
    profile = samples.registry_store(target).get_profile(_key(stack))
    assert profile is not None
    assert profile.consent == CONSENT
    assert profile.masked_number == MASKED
    assert profile.sample_keys == (
        f"samples/{_key(stack)}/sample-01.wav",
        f"samples/{_key(stack)}/sample-02.mp3",
    )
    s3 = target.client("s3")
    heads = [s3.head_object(Bucket=target.bucket, Key=key) for key in profile.sample_keys]
    assert [head["ContentType"] for head in heads] == ["audio/wav", "audio/mpeg"]
    assert heads[0]["ContentLength"] == wav.stat().st_size
    out = capsys.readouterr()
    assert "+442079460000" not in out.out + out.err
    assert MASKED in out.out
    assert "queued" not in out.out
    assert stack.emulator.requests("/v1/voices/add") == []


def test_add_refuses_without_consent(stack, local_args, tmp_path, capsys):
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), consent="") == 2

    assert "no voice sample without consent" in capsys.readouterr().err
    target = target_of(stack)
    assert target.client("s3").list_objects_v2(Bucket=target.bucket).get("KeyCount", 0) == 0


def test_add_refuses_a_consent_text_over_the_limit(stack, local_args, tmp_path, capsys):
    """Consent text is bounded (issue 21, point 2): it is kept twice in the caller's items for good."""
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), consent="Jane Doe agreed " + "x" * 1000) == 2

    err = capsys.readouterr().err
    assert "1016 characters, over the 1000-character limit" in err and "reference" in err
    target = target_of(stack)
    assert target.client("s3").list_objects_v2(Bucket=target.bucket).get("KeyCount", 0) == 0
    assert target.client("dynamodb").scan(TableName=target.table)["Items"] == []
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), consent="Jane Doe agreed " + "x" * 984) == 0


def test_add_refuses_audio_that_is_not_audio(stack, local_args, tmp_path, capsys):
    fake = tmp_path / "voice.mp3"
    fake.write_bytes(b"this is a text file pretending to be an mp3" * 100)

    assert _add(local_args, fake) == 2

    assert "voice.mp3: not readable audio" in capsys.readouterr().err

    notes = tmp_path / "notes.txt"
    notes.write_text("hello " * 200)
    assert _add(local_args, notes) == 2
    assert "notes.txt: not a recognised audio file; use mp3, wav" in capsys.readouterr().err


def test_add_refuses_a_file_over_the_size_limit(stack, local_args, tmp_path, capsys):
    big = make_mp3(tmp_path / "long.mp3", 60)
    with big.open("ab") as out:
        out.truncate(audio.MAX_FILE_BYTES + 1)

    assert _add(local_args, big) == 2

    assert "over the 10 MB limit" in capsys.readouterr().err


def test_add_refuses_a_file_too_short_and_too_much_in_total(stack, local_args, tmp_path, capsys):
    assert _add(local_args, make_wav(tmp_path / "short.wav", 2)) == 2
    assert "too short" in capsys.readouterr().err

    long_files = [make_wav(tmp_path / f"part{n}.wav", 110, rate=4000) for n in range(3)]
    assert _add(local_args, *long_files) == 2
    assert "over the 300 s limit" in capsys.readouterr().err


def test_add_refuses_a_cut_short_wav_and_silence_naming_the_file(stack, local_args, tmp_path, capsys):
    """What mutagen alone let through: a truncated WAV passed as its header's 44.5 s, silence as audio."""
    good = make_wav(tmp_path / "good.wav", 40)
    cut = sounds.cut(make_wav(tmp_path / "jane.wav", 44.5), keep=0.3)
    blank = sounds.write(tmp_path / "blank.mp3", sounds.silence(40))

    assert _add(local_args, good, cut) == 2
    assert (
        "jane.wav: cut short or damaged: its header says 44.5 s but only 13.3 s of it decodes"
        in capsys.readouterr().err
    )
    assert _add(local_args, good, blank) == 2
    assert "blank.mp3: silent (no sound at all): 0.0 s of speech in 40.0 s" in capsys.readouterr().err

    target = target_of(stack)
    assert target.client("s3").list_objects_v2(Bucket=target.bucket).get("KeyCount", 0) == 0
    assert samples.registry_store(target).get_profile(_key(stack)) is None


def test_add_shows_the_speech_in_each_file_and_warns_of_clipping(stack, local_args, tmp_path, capsys):
    loud = sounds.write(tmp_path / "loud.wav", sounds.voice(40, gain_db=20), rate=8000)

    assert _add(local_args, loud, make_mp3(tmp_path / "jane.mp3", 30)) == 0

    out = capsys.readouterr()
    assert re.search(r"loud\.wav: wav, 40\.0 s \(3\d\.\d s of speech\)", out.out)
    assert re.search(r"jane\.mp3: mp3, 30\.0 s \(2\d\.\d s of speech\)", out.out)
    assert re.search(r"loud\.wav: \d+\.\d% of it is clipped", out.err)


def test_add_warns_when_there_is_little_audio(stack, local_args, tmp_path, capsys):
    assert _add(local_args, make_wav(tmp_path / "brief.wav", 12)) == 0

    assert "advises at least 1 minute" in capsys.readouterr().err


def test_prewarm_queues_exactly_one_clone_and_the_worker_makes_it(stack, local_args, tmp_path, capsys):
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--prewarm"]) == 0
    assert "clone queued" in capsys.readouterr().out

    target = target_of(stack)
    store = samples.clone_store(target)
    record = eventually(lambda: _ready(store, _key(stack)), within=20, what="the clone READY")
    assert len(stack.emulator.requests("/v1/voices/add")) == 1
    assert [voice["name"] for voice in stack.emulator.voices()] == [f"warmline-{_key(stack)}-{record.job_id}"]


def test_list_and_show_mask_the_number(stack, local_args, tmp_path, capsys):
    _add(local_args, make_wav(tmp_path / "a.wav", 40))
    capsys.readouterr()

    assert main(["samples", "list", *local_args]) == 0
    listed = capsys.readouterr().out
    assert MASKED in listed and _key(stack) in listed and "+442079460000" not in listed

    assert main(["samples", "show", *local_args, "--caller", NUMBER]) == 0
    shown = capsys.readouterr().out
    assert CONSENT in shown and MASKED in shown and "sample-01.wav" in shown and "+442079460000" not in shown


def test_show_of_an_unknown_caller_says_so(stack, local_args, capsys):
    assert main(["samples", "show", *local_args, "--caller", "+14155550100"]) == 3
    assert "has no voice samples" in capsys.readouterr().err


def test_remove_deletes_every_version_the_records_and_the_clones(stack, local_args, tmp_path, capsys):
    target = target_of(stack)
    s3 = target.client("s3")
    assert s3.get_bucket_versioning(Bucket=target.bucket)["Status"] == "Enabled"  # as the template says
    _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--prewarm"])
    key = _key(stack)
    store = samples.clone_store(target)
    eventually(lambda: _ready(store, key), within=20, what="the clone READY")
    # An older version of a sample, and a stray voice from an earlier attempt with warmline's name.
    s3.put_object(Bucket=target.bucket, Key=f"samples/{key}/sample-01.wav", Body=b"older")
    with_stray = stack.emulator.base_url + "/v1/voices/add"

    web.post(
        with_stray,
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        data={"name": f"warmline-{key}-earlier"},
        files=[("files", ("a.wav", b"RIFF0000", "audio/wav"))],
    ).raise_for_status()
    assert len(stack.emulator.voices()) == 2

    assert main(["samples", "remove", *local_args, "--caller", NUMBER, "--yes"]) == 0

    assert stack.emulator.voices() == []
    listed = s3.list_object_versions(Bucket=target.bucket, Prefix=f"samples/{key}/")
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []
    state = store.load(key)
    assert state.profile is None
    # The REMOVED marker, expired from the start: no record for any call, a stop sign for a worker.
    assert state.clone.status is CloneStatus.REMOVED and not state.clone.is_live(time.time())
    assert [entry.event.value for entry in samples.registry_store(target).consent_log(key)] == [
        "registered",
        "withdrawn",
    ]
    assert "+442079460000" not in capsys.readouterr().out


def _ready_caller(stack, local_args, tmp_path, extra=()):
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--prewarm", *extra]) == 0
    store = samples.clone_store(target_of(stack))
    return eventually(lambda: _ready(store, _key(stack)), within=20, what="the clone READY")


def _ready(store, key):
    """The caller's clone record once it is READY, else None."""
    record = store.get_clone(key)
    return record if record is not None and record.status is CloneStatus.READY else None


def _withdrawn_with_no_samples(stack):
    target, key = target_of(stack), _key(stack)
    store = samples.clone_store(target)
    state = store.load(key)
    assert state.profile is None and state.pin is None and state.clone.status is CloneStatus.REMOVED
    assert [entry.event.value for entry in samples.registry_store(target).consent_log(key)] == [
        "registered",
        "withdrawn",
    ]
    listed = target.client("s3").list_object_versions(Bucket=target.bucket, Prefix=f"samples/{key}/")
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []


def test_remove_withdraws_and_deletes_the_samples_while_elevenlabs_is_down(
    stack, local_args, tmp_path, capsys
):
    """Withdrawing consent does not wait for ElevenLabs (issue 21, point 4): the clone is left to
    the REMOVED marker (no call gets it) and to the sweep, and the command says so (exit 1)."""
    record = _ready_caller(stack, local_args, tmp_path)
    stack.emulator.inject(Fault(path_prefix="/v2/voices", status=503, always=True))
    capsys.readouterr()

    assert main(["samples", "remove", *local_args, "--caller", NUMBER, "--yes"]) == 1

    _withdrawn_with_no_samples(stack)
    err = capsys.readouterr().err
    assert "withdrawn" in err and "samples are deleted" in err and "sweep" in err
    assert [voice["voice_id"] for voice in stack.emulator.voices()] == [record.cloned_voice_id]

    stack.emulator.clear_faults()  # ElevenLabs answers again: running it again finishes the job
    assert main(["samples", "remove", *local_args, "--caller", NUMBER, "--yes"]) == 0
    assert stack.emulator.voices() == []
    assert f"deleted the clone {record.cloned_voice_id}" in capsys.readouterr().out


def test_remove_deletes_the_samples_even_when_deleting_a_clone_fails(stack, local_args, tmp_path, capsys):
    record = _ready_caller(stack, local_args, tmp_path)
    stack.emulator.inject(Fault(method="DELETE", path_prefix="/v1/voices/", status=500, always=True))

    assert main(["samples", "remove", *local_args, "--caller", NUMBER, "--yes"]) == 1

    _withdrawn_with_no_samples(stack)
    assert "sweep" in capsys.readouterr().err
    assert [voice["voice_id"] for voice in stack.emulator.voices()] == [record.cloned_voice_id]


def test_remove_of_an_unknown_caller_is_done_already(stack, local_args, capsys):
    """Idempotent: the caller is gone either way, so a script removing them twice succeeds (no --yes
    needed: nothing is deleted)."""
    assert main(["samples", "remove", *local_args, "--caller", "+14155550100"]) == 0
    assert "has no samples, profile or clone: nothing to remove" in capsys.readouterr().out


def test_every_written_form_of_the_number_is_the_same_caller(stack, local_args, tmp_path, capsys):
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40)) == 0
    capsys.readouterr()

    for written in ("+44 (0)20 7946 0000", "0044 20 7946 0000", "tel:+44-20-7946-0000"):
        assert main(["samples", "show", *local_args, "--caller", written]) == 0
        assert _key(stack) in capsys.readouterr().out


def test_a_number_without_its_country_is_refused_when_the_stack_has_no_default_country(
    stack, local_args, tmp_path, capsys
):
    """The local stack's DefaultCountryCode is empty: `020 …` could never match a caller ID."""
    for national in ("020 7946 0002", "12345"):
        args = ["samples", "add", *local_args, "--caller", national, "--consent", CONSENT]
        assert main([*args, "--file", str(make_wav(tmp_path / "a.wav", 40))]) == 2

        err = capsys.readouterr().err
        assert "--caller: " in err and "E.164" in err and "DefaultCountryCode" in err
    target = target_of(stack)
    assert target.client("s3").list_objects_v2(Bucket=target.bucket).get("KeyCount", 0) == 0
    assert target.client("dynamodb").scan(TableName=target.table)["Items"] == []


def test_rekey_moves_a_caller_registered_under_the_old_rule(stack, local_args, tmp_path, capsys):
    from warmline_cli import samples

    target = target_of(stack)
    written = "+44 (0)20 7946 0000"  # the old rule kept the 0: +4402079460000
    old = samples.Caller("+4402079460000", caller_key("+4402079460000", stack.secrets["CallerKeySecret"]))
    samples.register(target, old, [audio.inspect(make_wav(tmp_path / "a.wav", 40))], CONSENT)

    web.post(
        stack.emulator.base_url + "/v1/voices/add",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        data={"name": f"warmline-{old.key}-oldjob"},
        files=[("files", ("a.wav", b"RIFF0000", "audio/wav"))],
    ).raise_for_status()

    assert main(["samples", "rekey", *local_args, "--caller", written]) == 0

    store = samples.registry_store(target)
    moved = store.get_profile(_key(stack))
    assert moved is not None and moved.consent == CONSENT
    assert moved.sample_keys == (f"samples/{_key(stack)}/sample-01.wav",)
    s3 = target.client("s3")
    assert s3.head_object(Bucket=target.bucket, Key=moved.sample_keys[0])["ContentLength"] > 1000
    assert store.get_profile(old.key) is None
    assert (
        s3.list_object_versions(Bucket=target.bucket, Prefix=f"samples/{old.key}/").get("Versions", []) == []
    )
    assert stack.emulator.voices() == []  # the old clone is a likeness too: deleted
    assert main(["samples", "rekey", *local_args, "--caller", written]) == 3
    assert "no caller is registered under the old key" in capsys.readouterr().err


def test_rekey_moves_a_caller_registered_as_written_while_no_default_country_was_set(stack, tmp_path, capsys):
    """Before national numbers were refused, `020 7946 0000` on a stack without DefaultCountryCode
    was keyed as written; once the operator sets it, rekey moves that caller (issue 21, point 14)."""
    target = target_of(stack)
    as_written = samples.Caller("02079460000", caller_key("02079460000", stack.secrets["CallerKeySecret"]))
    samples.register(target, as_written, [audio.inspect(make_wav(tmp_path / "a.wav", 40))], CONSENT)
    with_country = replace(target, parameters={**target.parameters, "DefaultCountryCode": "44"})

    assert samples_remove.rekey(with_country, "020 7946 0000") == 0

    store = samples.registry_store(target)
    assert store.get_profile(_key(stack)).sample_keys == (f"samples/{_key(stack)}/sample-01.wav",)
    assert store.get_profile(as_written.key) is None


def test_rekey_of_a_number_both_rules_agree_on_does_nothing(stack, local_args, capsys):
    assert main(["samples", "rekey", *local_args, "--caller", NUMBER]) == 0

    assert "keyed the same under both rules" in capsys.readouterr().out


# ---- a caller's PIN ---------------------------------------------------------------------------------


def _pin_record(stack):
    target = target_of(stack)
    return samples.clone_store(target).get_pin(_key(stack))


def test_add_with_a_pin_stores_only_its_keyed_hash(stack, local_args, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))

    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--pin"]) == 0

    record = _pin_record(stack)
    assert record.pin_hash == hash_pin(_key(stack), "482916", stack.secrets["PinPepperSecret"])
    assert (record.attempts, record.locked_until_ms) == (0, 0)
    items = target_of(stack).client("dynamodb").scan(TableName=target_of(stack).table)["Items"]
    assert "482916" not in json.dumps(items)
    assert "PIN set" in capsys.readouterr().out
    assert main(["samples", "show", *local_args, "--caller", NUMBER]) == 0
    assert "pin         set " in capsys.readouterr().out


def test_add_replace_keeps_the_pin_unless_a_new_one_is_given(
    stack, local_args, tmp_path, capsys, monkeypatch
):
    """A re-registration never leaves a protected caller unprotected (issue 21, point 1)."""
    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--pin"]) == 0
    locked = replace(_pin_record(stack), attempts=2)  # the PIN's record as the calls left it
    samples.registry_store(target_of(stack)).save_pin(_key(stack), locked)
    capsys.readouterr()

    assert _add(local_args, make_mp3(tmp_path / "b.mp3", 35), extra=["--replace", "--yes"]) == 0

    assert _pin_record(stack) == locked  # kept as it was: the same PIN, its attempts too
    assert "PIN kept" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("246810\n"))
    assert _add(local_args, make_wav(tmp_path / "c.wav", 40), extra=["--replace", "--yes", "--pin"]) == 0
    assert _pin_record(stack).pin_hash == hash_pin(_key(stack), "246810", stack.secrets["PinPepperSecret"])
    assert _pin_record(stack).attempts == 0


def test_add_replace_goes_on_while_elevenlabs_is_down_and_leaves_the_old_clone_to_the_sweep(
    stack, local_args, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    record = _ready_caller(stack, local_args, tmp_path, extra=["--pin"])
    pin = _pin_record(stack)
    stack.emulator.inject(Fault(path_prefix="/v2/voices", status=503, always=True))
    capsys.readouterr()

    assert _add(local_args, make_mp3(tmp_path / "b.mp3", 35), extra=["--replace", "--yes"]) == 0

    assert "sweep" in capsys.readouterr().err
    profile = samples.registry_store(target_of(stack)).get_profile(_key(stack))
    assert profile.sample_keys == (f"samples/{_key(stack)}/sample-01.mp3",) and _pin_record(stack) == pin
    assert samples.clone_store(target_of(stack)).get_clone(_key(stack)).status is CloneStatus.REMOVED
    assert [voice["voice_id"] for voice in stack.emulator.voices()] == [record.cloned_voice_id]


def test_add_replace_whose_old_clone_delete_fails_ends_with_only_the_new_clone(
    stack, local_args, tmp_path, capsys
):
    """The old clone ElevenLabs would not delete during `--replace` is not left behind: the new
    clone's worker deletes every voice of the caller its record does not hold."""
    old = _ready_caller(stack, local_args, tmp_path)
    stack.emulator.inject(Fault(method="DELETE", path_prefix="/v1/voices/", status=500))  # this once
    capsys.readouterr()

    assert _add(local_args, make_mp3(tmp_path / "b.mp3", 35), extra=["--replace", "--yes", "--prewarm"]) == 0

    assert "sweep" in capsys.readouterr().err
    store = samples.clone_store(target_of(stack))
    new = eventually(lambda: _ready(store, _key(stack)), within=20, what="the new clone READY")
    assert new.cloned_voice_id != old.cloned_voice_id
    eventually(
        lambda: [voice["voice_id"] for voice in stack.emulator.voices()] == [new.cloned_voice_id],
        within=10,
        what="only the new clone at ElevenLabs",
    )


def test_add_of_the_same_samples_with_the_same_pin_changes_nothing(
    stack, local_args, tmp_path, capsys, monkeypatch
):
    wav = make_wav(tmp_path / "a.wav", 40)
    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    assert _add(local_args, wav, extra=["--pin"]) == 0
    record = _pin_record(stack)

    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    assert _add(local_args, wav, extra=["--pin"]) == 0
    assert _pin_record(stack) == record  # not set again: set_at, attempts and any lock stay
    monkeypatch.setattr("sys.stdin", io.StringIO("246810\n"))
    assert _add(local_args, wav, extra=["--pin"]) == 0
    assert _pin_record(stack).pin_hash == hash_pin(_key(stack), "246810", stack.secrets["PinPepperSecret"])


def test_add_with_a_weak_pin_uploads_nothing(stack, local_args, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))

    assert _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--pin"]) == 2

    assert "PIN: that PIN is too easy to guess" in capsys.readouterr().err
    target = target_of(stack)
    assert target.client("s3").list_objects_v2(Bucket=target.bucket).get("KeyCount", 0) == 0
    assert _pin_record(stack) is None


def test_pin_sets_unlocks_and_clears_the_pin_of_a_registered_caller(
    stack, local_args, tmp_path, capsys, monkeypatch
):
    pin_args = ["samples", "pin", *local_args, "--caller", NUMBER]
    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    assert main(pin_args) == 3
    assert "has no voice samples" in capsys.readouterr().err

    _add(local_args, make_wav(tmp_path / "a.wav", 40))
    monkeypatch.setattr("sys.stdin", io.StringIO("246810\n"))
    assert main(pin_args) == 0
    assert _pin_record(stack).pin_hash == hash_pin(_key(stack), "246810", stack.secrets["PinPepperSecret"])

    target = target_of(stack)
    store = samples.registry_store(target)
    locked = PinRecord(_pin_record(stack).pin_hash, 1, attempts=3, lockouts=2, locked_until_ms=2**41)
    store.save_pin(_key(stack), locked)
    capsys.readouterr()
    assert main(["samples", "show", *local_args, "--caller", NUMBER]) == 0
    assert "locked until" in capsys.readouterr().out
    assert main([*pin_args, "--unlock"]) == 0
    assert _pin_record(stack) == PinRecord(locked.pin_hash, 1)

    assert main([*pin_args, "--clear"]) == 0
    assert _pin_record(stack) is None
    assert main([*pin_args, "--clear"]) == 0  # idempotent: no PIN either way
    assert "has no PIN: nothing to clear" in capsys.readouterr().out
    assert main([*pin_args, "--unlock"]) == 3
    assert "has no PIN: nothing to unlock" in capsys.readouterr().err


def test_remove_removes_the_pin_too(stack, local_args, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    _add(local_args, make_wav(tmp_path / "a.wav", 40), extra=["--pin"])

    assert main(["samples", "remove", *local_args, "--caller", NUMBER, "--yes"]) == 0

    assert _pin_record(stack) is None


def test_rekey_of_a_caller_with_a_pin_sets_it_again_under_the_new_key(
    stack, local_args, tmp_path, capsys, monkeypatch
):
    from warmline_cli import samples

    target = target_of(stack)
    old = samples.Caller("+4402079460000", caller_key("+4402079460000", stack.secrets["CallerKeySecret"]))
    samples.register(target, old, [audio.inspect(make_wav(tmp_path / "a.wav", 40))], CONSENT)
    samples.save_pin(target, old, "482916")
    written = "+44 (0)20 7946 0000"

    assert main(["samples", "rekey", *local_args, "--caller", written]) == 2
    assert "--pin" in capsys.readouterr().err
    assert _pin_record(stack) is None

    monkeypatch.setattr("sys.stdin", io.StringIO("482916\n"))
    assert main(["samples", "rekey", *local_args, "--caller", written, "--pin"]) == 0

    assert _pin_record(stack).pin_hash == hash_pin(_key(stack), "482916", stack.secrets["PinPepperSecret"])
    store = samples.registry_store(target)
    assert store.get_pin(old.key) is None and store.get_profile(old.key) is None
