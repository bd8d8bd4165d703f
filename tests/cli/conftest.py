"""The CLI against the whole local stack (moto, gateway, functions, ElevenLabs emulator) on loopback,
through the same `--local` path an operator uses."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import pytest

from local.elevenlabs_emulator import CloneLatency
from local.stack import LocalStack
from warmline_cli import target as targets

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("cli-state")
    with LocalStack(
        REPO_ROOT / "template.yaml",
        state_dir=state_dir,
        visibility_timeout_override=1,
        emulator_options={"clone_latency": CloneLatency.instant()},
        stack_name="clitest",
    ) as stack:
        yield stack


@pytest.fixture
def stack(local_stack, monkeypatch):
    """A clean local stack: emulator reset, table emptied, bucket emptied; cwd is the repo root."""
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
    return local_stack


@pytest.fixture
def local_args(stack):
    return ["--local", "--local-state", str(stack.state_file)]


def make_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = int(seconds * rate)
        out.writeframes(b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(frames)))
    return path


def make_mp3(path: Path, seconds: float) -> Path:
    """MPEG-1 Layer III, 32 kbps, 32 kHz mono frames of silence (144 * 32000 / 32000 = 144 bytes each)."""
    header = bytes([0xFF, 0xFB, 0x18, 0xC4])
    frame = header + bytes(144 - len(header))
    frames = int(seconds * 32000 / 1152) + 1
    path.write_bytes(frame * frames)
    return path
