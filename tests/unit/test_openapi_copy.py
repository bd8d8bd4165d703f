"""The repo carries its own copy of the ElevenLabs OpenAPI subset; it must match the shared reference."""

from __future__ import annotations

import importlib.util
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


# ---- the operator subset's extractor (emulators/openapi/extract_operator_subset.py) ----------------

EXTRACTOR = REPO_ROOT / "emulators" / "openapi" / "extract_operator_subset.py"
FULL_DOCUMENT = REPO_ROOT.parent / "shared" / "reference" / "elevenlabs-openapi.json"


def _extractor():
    spec = importlib.util.spec_from_file_location("extract_operator_subset", EXTRACTOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema(*refs):
    return {"properties": {f"p{n}": {"$ref": f"#/components/schemas/{ref}"} for n, ref in enumerate(refs)}}


def test_the_extractor_keeps_the_full_documents_order_of_paths_methods_and_schemas(monkeypatch):
    """Whatever order warmline lists its operations in, the subset follows the full document, so a
    re-run after a change to the list (or to the document) diffs only where something changed."""
    extractor = _extractor()
    answer = {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Zed"}}}}}
    full = {
        "openapi": "3.1.0",
        "paths": {
            "/v1/b": {"delete": {"responses": {}}, "get": {"responses": answer}, "post": {"responses": {}}},
            "/v1/unused": {"get": {"responses": {}}},
            "/v1/a": {"patch": {"requestBody": _schema("Alpha", "Mid")}, "get": {"responses": {}}},
        },
        "components": {
            "schemas": {
                "Zed": _schema("Extra"),
                "Alpha": {},
                "Unused": {},
                "Mid": {},
                "Extra": {},
                "Keep": {},
            }
        },
    }
    monkeypatch.setattr(extractor, "OPERATIONS", {"/v1/a": ("get", "patch"), "/v1/b": ("get", "delete")})
    monkeypatch.setattr(extractor, "EXTRA_SCHEMAS", ("Keep",))

    subset = extractor.extract(full)

    assert list(subset["paths"]) == ["/v1/b", "/v1/a"]
    assert [list(methods) for methods in subset["paths"].values()] == [["delete", "get"], ["patch", "get"]]
    assert list(subset["components"]["schemas"]) == ["Zed", "Alpha", "Mid", "Extra", "Keep"]
    monkeypatch.setattr(extractor, "OPERATIONS", {"/v1/b": ("delete", "get"), "/v1/a": ("patch", "get")})
    assert extractor.render(full) == extractor.render(json.loads(json.dumps(full)))
    assert json.loads(extractor.render(full)) == subset and extractor.render(full).endswith("}\n")


def test_the_committed_operator_subset_is_byte_for_byte_what_a_re_run_writes():
    if not FULL_DOCUMENT.exists():
        pytest.skip(f"{FULL_DOCUMENT} is not present")
    extractor = _extractor()

    written = extractor.render(json.loads(FULL_DOCUMENT.read_text()))

    assert openapi_check.OPERATOR_OPENAPI_PATH.read_text() == written
