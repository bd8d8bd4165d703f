"""The CloudFormation SAM makes of the template, for each ColdStartMode, as CloudFormation resolves it.

For `none` and `snapstart`: the HTTP functions (the webhook, check_clone) publish a version and a
`live` alias, API Gateway's integrations and permissions invoke the alias, and SnapStart
(`ApplyOn: PublishedVersions`) is on exactly when the mode is `snapstart`; the SQS worker and the
scheduled housekeeping keep their plain start (no alias, no SnapStart); the webhook may invoke
check_clone's alias and nothing else of Lambda; the IAM rules of tests/template_iam.py hold.
SAM leaves `Fn::If` to CloudFormation, so the conditions are evaluated here for the mode's value.
Run it with the SAM CLI's Python (`make template-check` does):

    .tools/sam/bin/python tools/template_cold_start.py [TEMPLATE]      (default template.yaml)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from template_iam import problems, transform

HTTP_FUNCTIONS = ("WebhookFunction", "IvrCheckFunction")
PLAIN_FUNCTIONS = ("CloneWorkerFunction", "HousekeepingFunction")
MODES = ("none", "snapstart")


def resolved(value: Any, conditions: dict[str, bool]) -> Any:
    """`value` with every Fn::If decided and AWS::NoValue dropped."""
    if isinstance(value, list):
        items = [resolved(item, conditions) for item in value]
        return [item for item in items if item is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::If"}:
        name, when_true, when_false = value["Fn::If"]
        return resolved(when_true if conditions[name] else when_false, conditions)
    if value == {"Ref": "AWS::NoValue"}:
        return _NO_VALUE
    items = {key: resolved(item, conditions) for key, item in value.items()}
    return {key: item for key, item in items.items() if item is not _NO_VALUE}


_NO_VALUE = object()


def evaluated_conditions(cloudformation: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """Every condition for these parameter values (the others at their defaults)."""
    values = {name: str(spec.get("Default", "")) for name, spec in cloudformation["Parameters"].items()}
    values.update(parameters)

    def value(expression: Any) -> Any:
        if isinstance(expression, dict) and set(expression) == {"Ref"}:
            return values[expression["Ref"]]
        if isinstance(expression, dict) and set(expression) == {"Fn::Equals"}:
            left, right = expression["Fn::Equals"]
            return str(value(left)) == str(value(right))
        if isinstance(expression, dict) and set(expression) == {"Fn::Not"}:
            return not value(expression["Fn::Not"][0])
        if isinstance(expression, dict):
            raise ValueError(f"condition function not evaluated here: {expression}")
        return expression

    return {name: bool(value(body)) for name, body in cloudformation.get("Conditions", {}).items()}


def mode_problems(template: str, mode: str) -> list[str]:
    cloudformation = transform(template, {"ColdStartMode": mode})
    found = problems(cloudformation)
    conditions = evaluated_conditions(cloudformation, {"ColdStartMode": mode})
    resources = resolved(cloudformation["Resources"], conditions)
    aliases = {
        r["Properties"]["FunctionName"]["Ref"]: logical_id
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Lambda::Alias" and r["Properties"].get("Name") == "live"
    }
    for function in HTTP_FUNCTIONS:
        snap_start = resources[function]["Properties"].get("SnapStart")
        expected = {"ApplyOn": "PublishedVersions"} if mode == "snapstart" else None
        if snap_start != expected:
            found.append(f"{function}: SnapStart {snap_start}, expected {expected}")
        if function not in aliases:
            found.append(f"{function}: no live alias")
    for function in PLAIN_FUNCTIONS:
        if "SnapStart" in resources[function]["Properties"] or function in aliases:
            found.append(f"{function}: should keep its plain start (no alias, no SnapStart)")
    found += _integration_problems(resources, aliases)
    return found


def _integration_problems(resources: dict[str, Any], aliases: dict[str, str]) -> list[str]:
    """API Gateway invokes the HTTP functions through their aliases, never $LATEST."""
    found = []
    text = json.dumps(resources)
    for function in HTTP_FUNCTIONS:
        if f"functions/${{{function}.Arn}}/invocations" in text:
            found.append(f"an API integration invokes {function} itself, not its alias")
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Permission":
            continue
        target = resource["Properties"]["FunctionName"].get("Ref")
        if resource["Properties"]["Principal"] == "apigateway.amazonaws.com" and target in HTTP_FUNCTIONS:
            alias = aliases.get(target)
            found.append(f"{logical_id}: API Gateway may invoke {target}, not its alias {alias}")
    return found


def main(paths: list[str]) -> int:
    failed = False
    for path in paths or ["template.yaml"]:
        for mode in MODES:
            found = mode_problems(path, mode)
            for problem in found:
                print(f"{path} ColdStartMode={mode}: {problem}")
            if not found:
                print(f"{path} ColdStartMode={mode}: ok (aliases, SnapStart, integrations, IAM)")
            failed = failed or bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
