"""Check requests and responses against the ElevenLabs OpenAPI subsets kept in `emulators/openapi/`.

Two subsets of the same public document are loaded as one: the operations warmline's functions call
(`elevenlabs-openapi-subset.json`) and those the operator CLI calls to wire an agent
(`elevenlabs-openapi-operator-subset.json`). Their paths are disjoint; a schema both keep is the
same schema (a test checks it).

OpenAPI 3.1 schemas are JSON Schema (Draft 2020-12), so JSON bodies are checked with jsonschema,
resolving `$ref`s against the document itself. Multipart bodies arrive as form fields (strings)
plus file parts, so they are checked field by field against the request schema's properties.
Every check returns a list of problems; an empty list means valid. Answers are checked too
(`validate_response`; the emulator checks each answer it gives, `emulators/elevenlabs.py`).

Where the official `elevenlabs` Python SDK (2.78.0, newer than the OpenAPI copy of 2026-08-22) and
the copy disagree, the SDK wins: `SDK_QUERY_PARAMETERS` adds the query parameters the SDK sends and
the copy lacks, `SDK_REQUIRED` the answer fields the SDK's models require and the copy lacks (each is
absent from the copy; a test checks it, so a newer copy shows which to drop).
docs/local-stack.md lists every such case.
Fields and enum values newer than the OpenAPI copy (`SDK_NEWER_FIELDS`:
`conversation.dtmf_input_settings`; `SDK_ENUM_VALUES`: `source_medium: dtmf`; from the same SDK) are
added to the loaded document too, so they are checked like any other.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI_PATH = Path(__file__).parent / "openapi" / "elevenlabs-openapi-subset.json"
OPERATOR_OPENAPI_PATH = Path(__file__).parent / "openapi" / "elevenlabs-openapi-operator-subset.json"
DOCUMENT_URI = "urn:elevenlabs-openapi"
_STRING: dict[str, Any] = {"type": "string"}
_BOOLEAN: dict[str, Any] = {"type": "boolean"}
# (method, path template) -> {name: schema}: query parameters of the SDK 2.78.0 the copy lacks. A
# list parameter is sent as one `name=value` pair per item, each checked as a string.
SDK_QUERY_PARAMETERS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("get", "/v1/convai/agents/{agent_id}"): {"include_procedure_generated_workflow_elements": _BOOLEAN},
    ("patch", "/v1/convai/agents/{agent_id}"): {"include_procedure_generated_workflow_elements": _BOOLEAN},
    ("delete", "/v1/convai/agents/{agent_id}"): {"force": _BOOLEAN},
    ("get", "/v1/convai/agents"): {"tags": _STRING},
    ("get", "/v1/convai/tools"): {"used_by_agent_id": _STRING},
    ("get", "/v1/convai/agent-testing"): {"created_by_user_id": _STRING},
    ("get", "/v1/convai/conversations"): {
        name: _STRING
        for name in (
            "dynamic_variable_params",
            "data_collection_filter",
            "dynamic_variable_filter",
            "tool_ids",
            "tool_ids_successful",
            "tool_ids_errored",
            "phone_number_ids",
            "whatsapp_phone_number_ids",
        )
    },
}


# schema name -> {field: schema}: answer fields the SDK 2.78.0's models require that the copy lacks.
SDK_REQUIRED: dict[str, dict[str, dict[str, Any]]] = {
    "AgentSummaryResponseModel": {"voice_id": _STRING, "updated_at_unix_secs": {"type": "integer"}},
}


# Fields newer than the OpenAPI copy, from the `elevenlabs` 2.78.0 SDK's generated types (its
# `ConversationConfig.dtmf_input_settings: DtmfInputConfig`); the schema is the full public
# document's own `DTMFInputConfig` (shared/reference/elevenlabs-openapi.json). Checked, not just let through.
DTMF_INPUT_CONFIG = {
    "type": "object",
    "title": "DTMFInputConfig",
    "properties": {
        "dtmf_input_timeout": {"type": "number", "minimum": 0.5, "maximum": 10.0, "default": 2.0},
        "hash_terminator": {"type": "boolean", "default": True},
        "redact_input": {"type": "boolean", "default": False},
    },
}
# schema name -> enum values the SDK 2.78.0 has and the copy lacks (its `ChatSourceMedium` has "dtmf":
# a key pressed on a phone call, as a transcript entry's `source_medium`).
SDK_ENUM_VALUES: dict[str, list[str]] = {"ChatSourceMedium": ["dtmf"]}
SDK_NEWER_FIELDS = {
    "ConversationConfig-Input": {"dtmf_input_settings": {"$ref": "#/components/schemas/DTMFInputConfig"}},
    "ConversationConfig-Output": {"dtmf_input_settings": {"$ref": "#/components/schemas/DTMFInputConfig"}},
}


@cache
def copy_document() -> dict[str, Any]:
    """The two subsets as they are, without the SDK's additions."""
    merged = json.loads(OPENAPI_PATH.read_text())
    operator = json.loads(OPERATOR_OPENAPI_PATH.read_text())
    merged["paths"] = {**merged["paths"], **operator["paths"]}
    merged["components"]["schemas"] = {**operator["components"]["schemas"], **merged["components"]["schemas"]}
    return merged


@cache
def document() -> dict[str, Any]:
    """The subsets with what the official SDK adds (`SDK_NEWER_FIELDS`, `SDK_QUERY_PARAMETERS`,
    `SDK_REQUIRED`)."""
    merged = json.loads(json.dumps(copy_document()))
    schemas = merged["components"]["schemas"]
    schemas.setdefault("DTMFInputConfig", DTMF_INPUT_CONFIG)
    for name, extra in SDK_NEWER_FIELDS.items():
        if name in schemas:
            schemas[name]["properties"] = {**schemas[name].get("properties", {}), **extra}
    for name, values in SDK_ENUM_VALUES.items():
        schemas[name]["enum"] = [*schemas[name]["enum"], *values]
    for name, required in SDK_REQUIRED.items():
        schema = merged["components"]["schemas"][name]
        schema["properties"] = {**schema["properties"], **required}
        schema["required"] = [*schema.get("required", []), *required]
    for (method, path), parameters in SDK_QUERY_PARAMETERS.items():
        operation = merged["paths"][path][method]
        operation["parameters"] = operation.get("parameters", []) + [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
                "x-source": "elevenlabs SDK 2.78.0",
            }
            for name, schema in parameters.items()
        ]
    return merged


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    return Registry().with_resource(DOCUMENT_URI, resource)


@cache
def _path_patterns() -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for template in document()["paths"]:
        regex = re.sub(r"\{[^/}]+\}", "[^/]+", template)
        patterns.append((re.compile(f"^{regex}$"), template))
    # Literal paths win over templated ones (`/v1/voices/add` is not `/v1/voices/{voice_id}`).
    patterns.sort(key=lambda pattern_and_template: "{" in pattern_and_template[1])
    return patterns


def find_operation(method: str, path: str) -> dict[str, Any] | None:
    for pattern, template in _path_patterns():
        if pattern.match(path):
            return document()["paths"][template].get(method.lower())
    return None


@cache
def _validator(schema_json: str) -> Draft202012Validator:
    # Wrap the schema so that its "#/components/..." refs resolve against the whole document.
    wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:check"}
    wrapped |= _resolve_local_refs(json.loads(schema_json))
    return Draft202012Validator(wrapped, registry=_registry())


def _validate_json(schema: dict[str, Any], instance: Any, where: str) -> list[str]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    problems = []
    for error in sorted(
        validator.iter_errors(instance), key=lambda error: [str(part) for part in error.absolute_path]
    ):
        location = "/".join(str(part) for part in error.absolute_path) or "(root)"
        problems.append(f"{where}: {location}: {error.message}")
    return problems


def _resolve_local_refs(schema: Any) -> Any:
    """Rewrite "#/components/..." refs to point into the registered document."""
    if isinstance(schema, dict):
        return {
            key: (
                DOCUMENT_URI + value
                if key == "$ref" and isinstance(value, str) and value.startswith("#")
                else _resolve_local_refs(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_resolve_local_refs(item) for item in schema]
    return schema


def _schema_for(content: dict[str, Any], media_type: str) -> dict[str, Any] | None:
    entry = content.get(media_type)
    return entry.get("schema") if entry else None


def _dereference(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document()["components"]["schemas"][name]
    return schema


def validate_request(
    method: str,
    path: str,
    *,
    json_body: Any = None,
    form_fields: dict[str, list[str]] | None = None,
    files: dict[str, list[tuple[str, int]]] | None = None,
) -> list[str]:
    """Problems with a request. `form_fields` maps a field name to its values; `files` maps a part
    name to its (filename, size) pairs."""
    operation = find_operation(method, path)
    if operation is None:
        return [f"unknown operation {method.upper()} {path}"]
    request_body = operation.get("requestBody")
    if request_body is None:
        return []
    content = request_body.get("content", {})
    json_schema = _schema_for(content, "application/json")
    if json_schema is not None:
        if json_body is None:
            return ["body: a JSON body is required"]
        return _validate_json(json_schema, json_body, "body")
    multipart_schema = _schema_for(content, "multipart/form-data")
    if multipart_schema is not None:
        return _validate_multipart(_dereference(multipart_schema), form_fields or {}, files or {})
    return [f"unsupported request content types {sorted(content)}"]


def _validate_multipart(
    schema: dict[str, Any], form_fields: dict[str, list[str]], files: dict[str, list[tuple[str, int]]]
) -> list[str]:
    problems = []
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if not form_fields.get(name) and not files.get(name):
            problems.append(f"body: {name}: field required")
    for name in [*form_fields, *files]:
        if name not in properties:
            problems.append(f"body: {name}: unknown field")
    for name, values in form_fields.items():
        if name in properties:
            problems.extend(_check_form_values(name, values, _dereference(properties[name])))
    for name, parts in files.items():
        if name in properties and not _is_binary(_dereference(properties[name])):
            problems.append(f"body: {name}: expected a text field, got a file part")
        problems.extend(f"body: {name}: part {filename!r} is empty" for filename, size in parts if size == 0)
    return problems


def _is_binary(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "array":
        schema = schema.get("items", {})
    return schema.get("format") == "binary"


def _check_form_values(name: str, values: list[str], schema: dict[str, Any]) -> list[str]:
    if _is_binary(schema):
        return [f"body: {name}: expected a file part, got a text field"]
    if schema.get("type") != "array" and len(values) > 1:
        return [f"body: {name}: expected one value, got {len(values)}"]
    options = _type_options(schema)
    # Form text cannot say whether it was meant as a string or as an object's JSON; when an object
    # is allowed (voices/add `labels`, sent as JSON by the official SDK), insist on the JSON. Its
    # JSON `null` stands for no value where the field allows none: the SDK sends `labels=null` for
    # labels it was not given, and ElevenLabs takes it.
    if any(option.get("type") == "object" for option in options):
        if "null" in values and any(option.get("type") == "null" for option in options):
            values = [value for value in values if value != "null"]
        options = [option for option in options if option.get("type") == "object"]
    problems = []
    for value in values:
        if not any(_form_value_matches(value, option) for option in options):
            problems.append(f"body: {name}: {value[:60]!r} does not match the field's type")
    return problems


def _type_options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [_dereference(option) for option in options]


def _form_value_matches(value: str, schema: dict[str, Any]) -> bool:
    """A form field is text; decide whether that text can stand for a value of `schema`."""
    kind = schema.get("type")
    if kind == "null":
        return False
    if kind == "boolean":
        return value in ("true", "false")
    if kind == "integer":
        return re.fullmatch(r"-?[0-9]+", value) is not None
    if kind == "number":
        try:
            float(value)
        except ValueError:
            return False
        return True
    if kind in ("object", "array"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return False
        return not _validate_json(schema, decoded, "field")
    return kind == "string" or kind is None


def validate_query(method: str, path: str, query: dict[str, list[str]]) -> list[str]:
    """Problems with a request's query string: a parameter the operation does not document, or a
    value that cannot be of its type."""
    operation = find_operation(method, path)
    if operation is None:
        return [f"unknown operation {method.upper()} {path}"]
    documented = {
        parameter["name"]: _dereference(parameter.get("schema", {}))
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "query"
    }
    problems = []
    for name, values in query.items():
        if name not in documented:
            problems.append(f"query: {name}: not a parameter of {method.upper()} {path}")
            continue
        options = _type_options(documented[name])
        for value in values:
            if not any(_form_value_matches(value, option) for option in options):
                problems.append(f"query: {name}: {value[:60]!r} does not match the parameter's type")
    return problems


def validate_schema(name: str, instance: Any, where: str = "body") -> list[str]:
    """Problems with `instance` as a value of the component schema `name`."""
    return _validate_json({"$ref": f"#/components/schemas/{name}"}, instance, where)


def validate_response(method: str, path: str, status: int, json_body: Any) -> list[str]:
    operation = find_operation(method, path)
    if operation is None:
        return [f"unknown operation {method.upper()} {path}"]
    response = operation.get("responses", {}).get(str(status))
    if response is None:
        return [f"status {status} is not documented for {method.upper()} {path}"]
    schema = _schema_for(response.get("content", {}), "application/json")
    if schema is None:
        return []
    return _validate_json(schema, json_body, "response")
