"""warmline's own HTTP API as an OpenAPI document, generated from the functions' resolvers (their
routes, pydantic request and response models, and error answers) by Powertools' OpenAPIMerge.

`make openapi` writes docs/openapi.json; tests/unit/test_http_api.py fails when the committed copy is
stale. Not shipped: the functions' code is each functions/<name>/ directory.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "openapi.json"
# The functions that serve HTTP routes, each with its resolver `app` (a test holds their routes equal
# to template.yaml's).
HTTP_FUNCTIONS = ("webhook", "ivr_check")


def document() -> str:
    merge = OpenAPIMerge(
        title="warmline",
        version=version("warmline"),
        description="The HTTP API warmline serves to 3CX, the ElevenLabs agent and operators. Every "
        "request carries the shared secret of its caller in the X-Warmline-Secret header; every "
        "error is a JSON body that names the problem.",
        security_schemes={"sharedSecret": APIKey(name="X-Warmline-Secret", **{"in": APIKeyIn.header})},
        security=[{"sharedSecret": []}],
        on_conflict="error",
    )
    for name in HTTP_FUNCTIONS:
        merge.add_file(ROOT / "functions" / name / "app.py", resolver_name="app")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a handler that fails to load must fail the document
        schema = json.loads(merge.get_openapi_json_schema())
    _drop_unused_schemas(schema["components"]["schemas"], schema["paths"])
    return json.dumps(schema, indent=2) + "\n"


def _drop_unused_schemas(schemas: dict, paths: dict) -> None:
    """Powertools adds its validation errors' schemas (its 422 answers) whatever the routes use:
    warmline does not validate with Powertools, so keep only the schemas the operations reach."""
    reached: set[str] = set()
    pending = [paths]
    while pending:
        text = json.dumps(pending.pop())
        for name in schemas:
            if name not in reached and f'"#/components/schemas/{name}"' in text:
                reached.add(name)
                pending.append(schemas[name])
    for name in set(schemas) - reached:
        del schemas[name]


if __name__ == "__main__":
    DOCUMENT.write_text(document())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
