"""The operator subset of the ElevenLabs OpenAPI document, and the emulator's answers against it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from emulators import openapi_check
from tests import web

REPO_ROOT = Path(__file__).resolve().parents[2]
FULL_DOCUMENT = REPO_ROOT.parent / "shared" / "reference" / "elevenlabs-openapi.json"
EXTRACTOR = REPO_ROOT / "emulators" / "openapi" / "extract_operator_subset.py"


def test_the_operator_subset_is_what_the_extractor_makes_of_the_full_document():
    if not FULL_DOCUMENT.exists():
        pytest.skip(f"{FULL_DOCUMENT} is not present")
    spec = importlib.util.spec_from_file_location("extract_operator_subset", EXTRACTOR)
    assert spec and spec.loader
    extractor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extractor)

    expected = extractor.extract(json.loads(FULL_DOCUMENT.read_text()))

    assert json.loads(openapi_check.OPERATOR_OPENAPI_PATH.read_text()) == expected


def test_schemas_both_subsets_keep_are_the_same():
    functions = json.loads(openapi_check.OPENAPI_PATH.read_text())["components"]["schemas"]
    operator = json.loads(openapi_check.OPERATOR_OPENAPI_PATH.read_text())["components"]["schemas"]

    shared = set(functions) & set(operator)
    assert shared  # e.g. HTTPValidationError
    assert all(functions[name] == operator[name] for name in shared)


def test_the_emulator_answers_the_operator_endpoints_in_the_documented_shapes(stack):
    key = {"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]}
    base = stack.emulator.base_url
    secret = web.post(
        f"{base}/v1/convai/secrets", headers=key, json={"type": "new", "name": "s", "value": "v"}
    )
    tool_config = {
        "type": "webhook",
        "name": "t",
        "description": "d",
        "api_schema": {"url": "https://example.com/{x}", "path_params_schema": {"x": {"type": "string"}}},
    }
    tool = web.post(f"{base}/v1/convai/tools", headers=key, json={"tool_config": tool_config})
    answers = [
        ("POST", "/v1/convai/secrets", secret),
        ("GET", "/v1/convai/secrets", web.get(f"{base}/v1/convai/secrets", headers=key)),
        ("POST", "/v1/convai/tools", tool),
        ("GET", "/v1/convai/tools", web.get(f"{base}/v1/convai/tools", headers=key)),
        (
            "GET",
            "/v1/convai/agents/x",
            web.get(f"{base}/v1/convai/agents/agent_warmline_local", headers=key),
        ),
    ]
    for method, path, answer in answers:
        assert answer.status_code == 200, answer.text
        assert openapi_check.validate_response(method, path, 200, answer.json()) == []


def test_the_emulator_rejects_agent_settings_that_do_not_match_the_request_models(stack):
    answer = web.patch(
        f"{stack.emulator.base_url}/v1/convai/agents/agent_warmline_local",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        json={
            "platform_settings": {
                "overrides": {"enable_conversation_initiation_client_data_from_webhook": "yes"}
            }
        },
    )

    assert answer.status_code == 422
    assert "platform_settings" in answer.text


def test_the_emulator_rejects_a_tool_without_its_required_fields(stack):
    answer = web.post(
        f"{stack.emulator.base_url}/v1/convai/tools",
        headers={"xi-api-key": stack.secrets["ElevenLabsApiKeySecret"]},
        json={"tool_config": {"type": "webhook", "name": "no_schema"}},
    )

    assert answer.status_code == 422
