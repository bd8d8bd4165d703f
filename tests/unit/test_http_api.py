"""warmline's HTTP API declared once: template.yaml's HttpApi routes are the routes each function's
resolver serves (warmline.routes), and docs/openapi.json is the document the code generates now."""

import importlib.util
import json
from pathlib import Path

import pytest

from local import template
from tests.aws_harness import ROOT, load_handler_module
from warmline.routes import ALL_ROUTES

# functions/ is no package: the generator runs as a script.
_spec = importlib.util.spec_from_file_location("openapi_document", ROOT / "functions" / "openapi_document.py")
openapi_document = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(openapi_document)


def template_routes() -> dict[str, set[tuple[str, str]]]:
    """{function directory: {(method, path)}} of the template's HttpApi events."""
    declared = template.read_yaml(ROOT / "template.yaml")
    routes: dict[str, set[tuple[str, str]]] = {}
    for resource in declared["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        function = Path(resource["Properties"]["CodeUri"]).name
        for source in resource["Properties"].get("Events", {}).values():
            if source["Type"] == "HttpApi":
                props = source["Properties"]
                routes.setdefault(function, set()).add((props["Method"].upper(), props["Path"]))
    return routes


@pytest.fixture(scope="module")
def document():
    return json.loads(openapi_document.document())


def test_each_function_serves_the_routes_the_template_gives_it():
    declared = template_routes()

    assert set(declared) == set(openapi_document.HTTP_FUNCTIONS)
    for function, routes in declared.items():
        served = load_handler_module(function).app.get_openapi_schema().paths
        assert {
            (method.upper(), path)
            for path, item in served.items()
            for method in item.model_dump(exclude_none=True)
        } == routes, function
    assert set().union(*declared.values()) == {(route.method, route.path) for route in ALL_ROUTES}


def test_docs_openapi_json_is_the_document_the_code_generates():
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == openapi_document.document(), "docs/openapi.json is stale: run `make openapi`"


def test_the_document_names_each_routes_models_and_errors(document):
    incoming = document["paths"]["/api/calls/incoming"]["post"]
    assert incoming["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/IncomingCallRequest"
    )
    answers = incoming["responses"]
    assert answers["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/IncomingCallResponse")
    assert set(answers) == {"200", "400", "401", "413", "415", "500", "503"}
    assert answers["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")

    metrics = document["paths"]["/api/metrics/cloning"]["get"]
    assert "requestBody" not in metrics
    assert set(document["components"]["schemas"]["CloningMetricsResponse"]["properties"]) >= {"from", "to"}
    assert document["components"]["securitySchemes"]["sharedSecret"]["name"] == "X-Warmline-Secret"
    # Powertools' own validation errors (422) are no answer warmline gives.
    assert "HTTPValidationError" not in document["components"]["schemas"]
