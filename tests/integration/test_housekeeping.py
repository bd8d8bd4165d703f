"""The housekeeping function's voice sweep, in-process against moto and the ElevenLabs emulator, with
the scheduled event EventBridge sends (events/scheduled.json)."""

import time

import pytest

from local import dashboard
from tests import web
from tests.aws_harness import LambdaContext, event, load_handler_module
from tests.integration.conftest import EMULATOR_API_KEY
from warmline.callers import caller_key
from warmline.clone_state import CloneRecord, CloneStatus

HOUR = 3600


@pytest.fixture(scope="module")
def housekeeping():
    return load_handler_module("housekeeping")


def run(housekeeping, stack, **env):
    context = LambdaContext("HousekeepingFunction", 120)
    with stack.function_env("HousekeepingFunction", **env):
        return housekeeping.lambda_handler(event("scheduled.json"), context)


def add_voice(emulator, name):
    response = web.post(
        f"{emulator.base_url}/v1/voices/add",
        headers={"xi-api-key": EMULATOR_API_KEY},
        data={"name": name},
        files=[("files", ("a.wav", b"RIFF0000WAVEfmt ", "audio/wav"))],
    )
    response.raise_for_status()
    return response.json()["voice_id"]


def record(stack, key, status, job_id, *, expires_in, voice_id="", last_used_ago=None, lease_s=0):
    now = time.time()
    clone = CloneRecord(
        status=status,
        job_id=job_id,
        expires_at=int(now + expires_in),
        requested_at_ms=int((now - 2 * HOUR) * 1000),
        cloned_voice_id=voice_id,
        ready_at_ms=int((now - 2 * HOUR) * 1000) if voice_id else 0,
        last_used_at_ms=int((now - last_used_ago) * 1000) if last_used_ago is not None else 0,
        lease_token="t" if lease_s else "",
        lease_expires_at_ms=int((now + lease_s) * 1000) if lease_s else 0,
    )
    assert stack.store.start_clone(key, clone, now)


@pytest.fixture
def account(stack, emulator):
    """Callers in every state a voice can be in, and the voices at the emulator."""
    keys = {name: stack.register_caller(number) for name, number in NUMBERS.items()}
    voices = {}

    def voice(name, job):
        voices[name] = add_voice(emulator, f"warmline-{keys[name.rstrip('2')]}-{job}")
        return voices[name]

    record(stack, keys["live"], CloneStatus.READY, "j1", expires_in=HOUR, voice_id=voice("live", "j1"))
    record(stack, keys["expired"], CloneStatus.READY, "j2", expires_in=-HOUR, voice_id=voice("expired", "j2"))
    recent = voice("recent", "j3")  # expired a minute ago, handed out 2 minutes ago: a call may go on
    record(stack, keys["recent"], CloneStatus.READY, "j3", expires_in=-60, voice_id=recent, last_used_ago=120)
    voice("no_record", "j4")  # the caller's record is gone (failed and expired, removed by hand …)
    voice("in_flight", "j5")
    record(stack, keys["in_flight"], CloneStatus.CLONING, "j5", expires_in=600, lease_s=60)
    record(stack, keys["extra"], CloneStatus.READY, "j6", expires_in=HOUR, voice_id=voice("extra", "j6"))
    voice("extra2", "j6")  # a second voice of the same job: an attempt whose answer was lost
    voices["foreign"] = add_voice(emulator, f"warmline-{caller_key('+15550100', 'another-stack')}-j7")
    voices["own"] = add_voice(emulator, "the account owner's own voice")
    return voices


NUMBERS = {
    "live": "+442079470001",
    "expired": "+442079470002",
    "recent": "+442079470003",
    "no_record": "+442079470004",
    "in_flight": "+442079470005",
    "extra": "+442079470006",
}


def remaining(emulator):
    return {voice["voice_id"] for voice in emulator.voices()}


def test_the_sweep_deletes_expired_clones_and_orphans_and_nothing_else(
    housekeeping, stack, emulator, account, capsys
):
    capsys.readouterr()

    answer = run(housekeeping, stack)

    report = answer["sweeps"]["voices"]
    assert report["deleted"] == {"expired": 1, "orphan": 2}
    assert (report["kept"], report["foreign"], report["left_for_next_run"]) == (4, 1, 0)
    gone = {account["expired"], account["no_record"], account["extra2"]}
    assert remaining(emulator) == set(account.values()) - gone
    points = dashboard.parse_emf_lines(capsys.readouterr().out.splitlines())
    deleted = {p.dimensions["reason"]: p.value for p in points if p.name == "VoicesDeletedBySweep"}
    assert deleted == {"expired": 1, "orphan": 2}

    again = run(housekeeping, stack)  # idempotent: the next run finds nothing more to delete

    assert again["sweeps"]["voices"]["deleted"] == {}
    assert remaining(emulator) == set(account.values()) - gone


def test_each_run_deletes_at_most_its_bound_expired_clones_first(housekeeping, stack, emulator, account):
    first = run(housekeeping, stack, SWEEP_MAX_DELETIONS="1")["sweeps"]["voices"]

    assert first["deleted"] == {"expired": 1} and first["left_for_next_run"] == 2
    assert account["expired"] not in remaining(emulator)

    second = run(housekeeping, stack, SWEEP_MAX_DELETIONS="1")["sweeps"]["voices"]
    third = run(housekeeping, stack, SWEEP_MAX_DELETIONS="1")["sweeps"]["voices"]

    assert second["deleted"] == third["deleted"] == {"orphan": 1}
    assert third["left_for_next_run"] == 0


def test_a_failing_sweep_fails_the_run_and_says_which(housekeeping, stack, emulator):
    from emulators.elevenlabs import Fault

    emulator.inject(Fault(method="GET", path_prefix="/v2/voices", status=503, always=True))

    with pytest.raises(housekeeping.SweepsFailed, match="voices"):
        run(housekeeping, stack)
