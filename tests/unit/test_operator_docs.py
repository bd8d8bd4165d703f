"""The operator's documents name what exists: the metrics endpoint's figures, the template's roles
and functions, and the warmline commands where the runbooks would otherwise reach for raw aws or curl."""

from __future__ import annotations

import re

import pytest

from local import template
from tests.aws_harness import ROOT
from warmline.wire import CloningCounts, CloningMetricsResponse

DOCS = ROOT / "docs"
RESOURCES = template.read_yaml(ROOT / "template.yaml")["Resources"]
FIGURE = re.compile(r"`((?:avg|p\d\d)_[a-z_]+_ms|[a-z_]+_rate)`")


def _of_type(kind: str) -> list[str]:
    return [name for name, resource in RESOURCES.items() if resource["Type"] == kind]


@pytest.mark.parametrize("doc", ["runbooks.md", "observability.md", "troubleshooting.md", "benchmark.md"])
def test_every_figure_a_doc_names_is_one_the_metrics_endpoint_answers(doc):
    answered = set(CloningMetricsResponse.model_fields) | set(CloningCounts.model_fields)
    named = set(FIGURE.findall((DOCS / doc).read_text()))
    assert named - answered == set()


def test_the_runbooks_use_the_warmline_commands_that_exist():
    runbooks = (DOCS / "runbooks.md").read_text()
    assert "curl" not in runbooks  # `warmline metrics` reads the operator secret and calls the endpoint
    for raw in ("aws sqs receive-message", "aws sqs purge-queue"):
        assert raw not in runbooks  # `warmline dlq list` / `dlq redrive`
    assert "warmline metrics --stack $STACK" in runbooks and "warmline dlq list --stack $STACK" in runbooks


def test_sam_logs_names_the_template_functions():
    functions = _of_type("AWS::Serverless::Function")
    for doc in ("runbooks.md", "observability.md"):
        text = (DOCS / doc).read_text()
        assert "sam logs --stack-name" in text
        assert [name for name in functions if f"`{name}`" not in text] == []


def test_configuration_names_every_role_of_the_template():
    configuration = (DOCS / "configuration.md").read_text()
    roles = _of_type("AWS::IAM::Role")
    assert roles
    assert [role for role in roles if f"`{role}`" not in configuration] == []
