"""A parameter that picks one of a few modes lists them (AllowedValues), so `sam deploy` refuses a
typo instead of deploying a stack that silently runs in no mode: each value a Condition compares it
with is allowed, and a parameter the functions read into a Literal setting allows exactly its values."""

from typing import Literal, get_args, get_origin

import pytest

from local import template
from tests.aws_harness import ROOT
from warmline.settings import Settings

DOCUMENT = template.read_yaml(ROOT / "template.yaml")
PARAMETERS = DOCUMENT["Parameters"]


def compared_values(node, found=None):
    """(parameter, value) for every `Fn::Equals [!Ref parameter, value]` in the node."""
    found = set() if found is None else found
    if isinstance(node, dict):
        equals = node.get("Fn::Equals")
        if isinstance(equals, list) and len(equals) == 2:
            for left, right in (equals, equals[::-1]):
                if isinstance(left, dict) and left.get("Ref") in PARAMETERS and isinstance(right, str):
                    found.add((left["Ref"], right))
        for child in node.values():
            compared_values(child, found)
    elif isinstance(node, list):
        for child in node:
            compared_values(child, found)
    return found


def environment_parameters():
    """(variable, parameter) for each function environment variable that is a parameter's value."""
    blocks = [DOCUMENT["Globals"]["Function"].get("Environment", {})]
    blocks += [
        resource["Properties"].get("Environment", {})
        for resource in DOCUMENT["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    return {
        (name, value["Ref"])
        for block in blocks
        for name, value in block.get("Variables", {}).items()
        if isinstance(value, dict) and value.get("Ref") in PARAMETERS
    }


COMPARED = sorted(compared_values({"Conditions": DOCUMENT["Conditions"], "Rules": DOCUMENT.get("Rules", {})}))
LITERAL_SETTINGS = sorted(
    (variable, parameter)
    for variable, parameter in environment_parameters()
    if (field := Settings.model_fields.get(variable.lower())) is not None
    and get_origin(field.annotation) is Literal
)


def test_the_mode_parameters_are_found():
    assert {parameter for parameter, _ in COMPARED} >= {"ColdStartMode", "EdgeProtection", "HandoffMode"}
    assert {parameter for _, parameter in LITERAL_SETTINGS} >= {"HandoffMode", "GreetingTimeoutFallback"}


@pytest.mark.parametrize("parameter, value", [pair for pair in COMPARED if pair[1] != ""])
def test_every_value_a_condition_compares_a_parameter_with_is_allowed(parameter, value):
    declared = PARAMETERS[parameter]
    assert "AllowedValues" in declared, f"{parameter} is compared with {value!r} but lists no AllowedValues"
    assert value in declared["AllowedValues"]
    assert declared["Default"] in declared["AllowedValues"]


@pytest.mark.parametrize("variable, parameter", LITERAL_SETTINGS)
def test_a_parameter_read_into_a_literal_setting_allows_exactly_its_values(variable, parameter):
    allowed = get_args(Settings.model_fields[variable.lower()].annotation)

    assert sorted(PARAMETERS[parameter].get("AllowedValues", [])) == sorted(allowed), parameter
