"""The repo carries its own copy of the ElevenLabs OpenAPI subset; it must match the shared reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators import openapi_check

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "elevenlabs-openapi-subset.json"


def test_the_in_repo_copy_equals_the_shared_reference():
    if not SHARED_REFERENCE.exists():
        pytest.skip(f"{SHARED_REFERENCE} is not present")

    assert openapi_check.OPENAPI_PATH.read_bytes() == SHARED_REFERENCE.read_bytes()


def test_the_in_repo_copy_documents_every_emulated_operation():
    paths = json.loads(openapi_check.OPENAPI_PATH.read_text())["paths"]

    assert {"post"} <= set(paths["/v1/voices/add"])
    assert {"get", "delete"} <= set(paths["/v1/voices/{voice_id}"])
    assert {"get"} <= set(paths["/v1/voices"]) & set(paths["/v1/user/subscription"])
    assert {"post"} <= set(paths["/v1/convai/sip-trunk/outbound-call"])
    assert {"post"} <= set(paths["/v1/convai/twilio/outbound-call"])
