"""The IAM of the built template, after SAM's transform: no managed policy and no wildcard on any role.

SAM quietly adds managed policies to the roles it makes (AWSLambdaBasicExecutionRole to every one,
AWSLambdaSQSQueueExecutionRole, Resource "*", to a function with an SQS event, AWSXrayWriteOnlyAccess
with tracing), so the check reads the CloudFormation that `sam deploy` would create, not template.yaml.
Run it with the SAM CLI's own Python, whose samtranslator makes that CloudFormation:

    .tools/sam/bin/python tests/template_iam.py [TEMPLATE ...]      (default .aws-sam/build/template.yaml)

It prints every problem and exits 1 if there is one. `make template-check` runs it on `sam build`'s
output; tests/integration/test_built_template_iam.py runs it on the template and on broken copies.
The rules themselves need only the standard library, so the tests import them too.

The rules, for every identity policy (roles, AWS::IAM::Policy, managed policies, users, groups):
- no ManagedPolicyArns, no AWS::IAM::ManagedPolicy, no PermissionsBoundary pointing outside;
- every statement Allows, with Action and Resource (never NotAction / NotResource);
- no "*" in an action;
- every resource is a reference to a resource of this template (Ref, GetAtt, or a Sub that starts
  with one, such as "${SamplesBucket.Arn}/samples/*"): never a literal, so never "*" or an ARN
  pattern of someone else's resources;
- the one exception: X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level
  permissions, so a statement of exactly those actions may, and must, name Resource "*".
Fn::If branches are checked both ways. Resource policies (the KMS key policy, where "*" means the
key itself; the bucket policy) follow other rules and are not checked here.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

XRAY_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
IDENTITY_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::User", "AWS::IAM::Group")
DEFAULT_TEMPLATE = ".aws-sam/build/template.yaml"


def transform(template_path: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CloudFormation SAM makes of the template (needs the SAM CLI's Python)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform as sam_transform

    class AnyManagedPolicy:
        """Names a managed policy as AWS does, so that a template that uses one transforms and fails here."""

        def load(self) -> dict[str, str]:
            return _ArnsByName()

    with open(template_path) as handle:
        document = yaml_parse(handle.read())
    # As `sam validate` does: the translator wants code in S3, and the code does not matter here.
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(uri), str) and not properties[uri].startswith("s3://"):
                properties[uri] = f"s3://bucket/{properties[uri]}"
    return sam_transform(document, parameters or {}, AnyManagedPolicy())


class _ArnsByName(dict):
    def __missing__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"

    def __contains__(self, name: object) -> bool:
        return True

    def get(self, name: str, default: Any = None) -> str:
        return self[name]


def problems(cloudformation: dict[str, Any]) -> list[str]:
    resources = cloudformation.get("Resources", {})
    found = []
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if kind == "AWS::IAM::ManagedPolicy":
            found.append(f"{logical_id}: a managed policy (use an inline policy on the function's role)")
            continue
        if kind not in IDENTITY_TYPES:
            continue
        for arn in _as_list(properties.get("ManagedPolicyArns")):
            found.append(f"{logical_id}: managed policy {_show(arn)}")
        if "PermissionsBoundary" in properties:
            found.append(f"{logical_id}: a permissions boundary (a managed policy) is not expected")
        documents = [p.get("PolicyDocument", {}) for p in _as_list(properties.get("Policies"))]
        if kind == "AWS::IAM::Policy":
            documents.append(properties.get("PolicyDocument", {}))
        for document in documents:
            for statement in _statements(document):
                found += [f"{logical_id}: {p}" for p in _statement_problems(statement, resources)]
    return found


def _statements(document: Any) -> list[dict[str, Any]]:
    """Every statement, with both branches of any Fn::If."""
    found = []
    for item in _as_list(document.get("Statement") if isinstance(document, dict) else None):
        found += _branches(item)
    return found


def _branches(item: Any) -> list[Any]:
    if isinstance(item, dict) and set(item) == {"Fn::If"}:
        _, when_true, when_false = item["Fn::If"]
        return _branches(when_true) + _branches(when_false)
    if isinstance(item, dict) and set(item) == {"Ref"} and item["Ref"] == "AWS::NoValue":
        return []
    return [item]


def _statement_problems(statement: Any, resources: dict[str, Any]) -> list[str]:
    if not isinstance(statement, dict):
        return [f"a statement that is not an object: {_show(statement)}"]
    if "NotAction" in statement or "NotResource" in statement:
        return [f"NotAction / NotResource grant everything else: {_show(statement)}"]
    if statement.get("Effect") != "Allow":
        return [f"a statement that does not Allow: {_show(statement)}"]
    actions = [a for item in _as_list(statement.get("Action")) for a in _branches(item)]
    targets = [r for item in _as_list(statement.get("Resource")) for r in _branches(item)]
    if not actions or not targets:
        return [f"a statement without Action or Resource: {_show(statement)}"]
    found = [f"wildcard action {_show(a)}" for a in actions if not isinstance(a, str) or "*" in a]
    if set(actions) <= XRAY_ACTIONS:
        if targets != ["*"]:
            found.append(f"X-Ray statement should name Resource '*' alone, not {_show(targets)}")
        return found
    for target in targets:
        if not _references_own_resource(target, resources):
            found.append(f"resource {_show(target)} for {_show(actions)} is not a resource of this template")
    return found


def _references_own_resource(target: Any, resources: dict[str, Any]) -> bool:
    if not isinstance(target, dict) or len(target) != 1:
        return False
    ((function, argument),) = target.items()
    if function == "Ref":
        return argument in resources
    if function == "Fn::GetAtt":
        name = argument[0] if isinstance(argument, list) else str(argument).split(".", 1)[0]
        return name in resources
    if function == "Fn::Sub" and isinstance(argument, str):
        start = re.match(r"\$\{([A-Za-z0-9]+)(\.[A-Za-z]+)?\}", argument)
        return bool(start) and start.group(1) in resources
    return False


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def main(paths: list[str]) -> int:
    failed = False
    for path in paths or [DEFAULT_TEMPLATE]:
        found = problems(transform(path))
        for problem in found:
            print(f"{path}: {problem}")
        failed = failed or bool(found)
        if not found:
            print(f"{path}: IAM least privilege ok (no managed policy, no wildcard beyond X-Ray's)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
