"""Extract the operator subset of the ElevenLabs OpenAPI document: the operations `warmline` (the CLI)
calls to wire an agent, with every schema they reference.

    python emulators/openapi/extract_operator_subset.py ../shared/reference/elevenlabs-openapi.json

writes `emulators/openapi/elevenlabs-openapi-operator-subset.json` beside this script. The PATCH body of
an agent types `conversation_config` and `platform_settings` as open objects; the request models
that POST /v1/convai/agents/create uses for them are kept too (`EXTRA_SCHEMAS`), so the emulator can
check what warmline sends inside them. Paths, methods and schemas keep the full document's order, so
a re-run on the same document writes the same bytes (tests/unit/test_openapi_copy.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).parent / "elevenlabs-openapi-operator-subset.json"
OPERATIONS: dict[str, tuple[str, ...]] = {
    "/v1/convai/agents/{agent_id}": ("get", "patch", "delete"),
    "/v1/convai/tools": ("get", "post"),
    "/v1/convai/tools/{tool_id}": ("get", "patch", "delete"),
    "/v1/convai/secrets": ("get", "post"),
    "/v1/convai/secrets/{secret_id}": ("patch",),
    "/v1/convai/agent-testing/create": ("post",),
    "/v1/convai/agent-testing/{test_id}": ("get", "delete"),
    "/v1/convai/agents/{agent_id}/run-tests": ("post",),
    "/v1/convai/test-invocations/{test_invocation_id}": ("get",),
    # For the official SDK's judgement (issue 27), the selftest and the probes:
    "/v1/convai/agents/create": ("post",),
    "/v1/convai/agents": ("get",),
    "/v1/convai/agent-testing": ("get",),
    "/v1/convai/conversations": ("get",),
    "/v1/convai/conversations/{conversation_id}": ("get",),
    # The post-call webhook that frees a voice slot when its call ends (HandoffMode=agent_transfer):
    "/v1/workspace/webhooks": ("get", "post"),
    "/v1/convai/settings": ("get", "patch"),
}
EXTRA_SCHEMAS = ("AgentPlatformSettingsRequestModel", "ConversationalConfigAPIModel-Input")
NOTE = (
    "Subset of the public ElevenLabs OpenAPI document (live spec as mirrored 2026-08-22): only the "
    "agent, tool, workspace-secret, conversation-history and agent-testing operations the warmline CLI, "
    "its selftest and probes call, the workspace webhooks and ConvAI settings `configure` sets, with every "
    "schema they reference, plus the agent request models named in x-extra-schemas."
)


def _references(node: Any, schemas: dict[str, Any], found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.rsplit("/", 1)[-1]
                if name not in found:
                    found.add(name)
                    _references(schemas[name], schemas, found)
            else:
                _references(value, schemas, found)
    elif isinstance(node, list):
        for item in node:
            _references(item, schemas, found)


def extract(full: dict[str, Any]) -> dict[str, Any]:
    """The subset, in the full document's order (paths, methods, schemas), whatever the order of
    OPERATIONS: a re-run on the same document writes the same bytes, and a changed one diffs only
    where it changed."""
    schemas = full["components"]["schemas"]
    paths: dict[str, Any] = {}
    for path, operations in full["paths"].items():
        if path in OPERATIONS:
            kept = {method: operations[method] for method in operations if method in OPERATIONS[path]}
            paths[path] = kept
    missing = [
        f"{method} {path}"
        for path, methods in OPERATIONS.items()
        for method in methods
        if method not in paths.get(path, {})
    ]
    if missing:
        raise KeyError(f"not in the full document: {', '.join(missing)}")
    found: set[str] = set(EXTRA_SCHEMAS)
    for name in EXTRA_SCHEMAS:
        _references(schemas[name], schemas, found)
    _references(paths, schemas, found)
    return {
        "openapi": full["openapi"],
        "info": {"title": "ElevenLabs API (operator subset)", "version": "1.0", "x-note": NOTE},
        "x-extra-schemas": list(EXTRA_SCHEMAS),
        "paths": paths,
        "components": {"schemas": {name: schema for name, schema in schemas.items() if name in found}},
    }


def render(full: dict[str, Any]) -> str:
    """The subset file's text, as `main` writes it."""
    return json.dumps(extract(full), indent=1, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    full = json.loads(Path(argv[0]).read_text())
    OUTPUT.write_text(render(full))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
