"""The CLI against the whole local stack (moto, gateway, functions, ElevenLabs emulator) on loopback,
through the same `--local` path an operator uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.elevenlabs import CloneLatency
from local.stack import LocalStack, StackOptions
from tests.cli import sounds
from warmline.adapters.dynamodb import DynamoCloneStore, DynamoRegistryStore
from warmline_cli import samples
from warmline_cli import target as targets

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("cli-state")
    with LocalStack(
        REPO_ROOT / "template.yaml",
        state_dir=state_dir,
        options=StackOptions(
            visibility_timeout_override=1,
            emulator_options={"clone_latency": CloneLatency.instant()},
            stack_name="clitest",
        ),
    ) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _the_cli_polls_the_emulator_briskly(monkeypatch):
    """`warmline selftest` and the probes back off to 2 s between looks at a simulation or a voice,
    for ElevenLabs; the emulator is done in a fraction of a second, and no test waits more than a
    second at once (tests/conftest.py)."""
    from warmline_cli import probe_checks, selftest

    monkeypatch.setattr(selftest, "POLL_SECONDS", (0.1, 0.5))
    monkeypatch.setattr(probe_checks, "POLL_SECONDS", (0.1, 0.5))


@pytest.fixture
def stack(local_stack, monkeypatch):
    """A clean local stack: emulator reset, table, bucket and dead-letter queue emptied, no probe
    report left; cwd is the repo root."""
    monkeypatch.chdir(REPO_ROOT)
    local_stack.emulator.reset()
    target = targets.from_local(local_stack.state_file)
    dynamodb = target.client("dynamodb")
    for item in dynamodb.scan(TableName=target.table).get("Items", []):
        dynamodb.delete_item(TableName=target.table, Key={"pk": item["pk"], "sk": item["sk"]})
    s3 = target.client("s3")
    versions = s3.list_object_versions(Bucket=target.bucket)
    for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=target.bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    _drain(target.client("sqs"), target.dead_letter_queue_url)
    for report in local_stack.state_file.parent.glob("probe-*.json"):  # no earlier test's probe reports
        report.unlink()
    return local_stack


def _drain(sqs, queue_url):
    """Delete every message (PurgeQueue is allowed once a minute)."""
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def target_of(stack: LocalStack) -> targets.Target:
    """The stack as the CLI sees it with `--local`."""
    return targets.from_local(stack.state_file)


def clone_store_of(stack: LocalStack) -> DynamoCloneStore:
    return samples.clone_store(target_of(stack))


def registry_of(stack: LocalStack) -> DynamoRegistryStore:
    return samples.registry_store(target_of(stack))


@pytest.fixture
def local_args(stack):
    return ["--local", "--local-state", str(stack.state_file)]


def make_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    """A phone-quality WAV of someone talking (synthetic: see tests/cli/sounds.py)."""
    return sounds.write(path, sounds.voice(seconds), rate)


def make_mp3(path: Path, seconds: float) -> Path:
    """An MP3 (LAME, 22.05 kHz mono) of someone talking."""
    return sounds.write(path, sounds.voice(seconds))
