"""The template after SAM's transform grants no managed policy and no wildcard to any function, and
the check (tests/template_iam.py, run with the SAM CLI's Python) catches each way of breaking that."""

import copy
import json
import subprocess

import pytest

from local.template import read_yaml
from tests.aws_harness import ROOT

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"
CHECK = ROOT / "tests" / "template_iam.py"


def run_check(*paths):
    if not SAM_PYTHON.exists():
        pytest.fail(f"{SAM_PYTHON} is missing: `make template-check` installs the SAM CLI")
    return subprocess.run(
        [str(SAM_PYTHON), str(CHECK), *map(str, paths)], capture_output=True, text=True, timeout=300
    )


def statements(document, role):
    return document["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def sam_made_role_for_a_new_function(document):
    """A function in the old style (as a new one might be added): `Policies`, and SAM makes the role."""
    document["Resources"]["HousekeepingFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "functions/webhook/",
            "Handler": "app.lambda_handler",
            "Policies": [
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["dynamodb:Query"],
                            "Resource": {"Fn::GetAtt": ["CloneTable", "Arn"]},
                        }
                    ]
                }
            ],
        },
    }


def worker_back_on_a_sam_made_role(document):
    worker = document["Resources"]["CloneWorkerFunction"]["Properties"]
    del worker["Role"]
    worker["Policies"] = [{"Statement": statements(document, "CloneWorkerRole")}]


def resource_star(document):
    statements(document, "WebhookRole")[2]["Resource"] = "*"


def someone_elses_queues(document):
    statements(document, "WebhookRole")[2]["Resource"] = "arn:aws:sqs:*:*:*"


def wildcard_action(document):
    statements(document, "IvrCheckRole")[1]["Action"] = ["dynamodb:*"]


def xray_statement_widened(document):
    policy = document["Resources"]["TracingPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    policy["Action"] = [*policy["Action"], "s3:GetObject"]


def not_resource(document):
    statement = statements(document, "IvrCheckRole")[1]
    statement["NotResource"] = statement.pop("Resource")


def star_in_a_condition_branch(document):
    for statement in statements(document, "WebhookRole"):
        if "Fn::If" in statement:
            statement["Fn::If"][1]["Resource"] = "*"


def managed_policy_on_a_role(document):
    document["Resources"]["IvrCheckRole"]["Properties"]["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"
    ]


BROKEN = {
    sam_made_role_for_a_new_function: "HousekeepingFunctionRole: managed policy",
    worker_back_on_a_sam_made_role: "AWSLambdaSQSQueueExecutionRole",
    resource_star: 'resource "*"',
    someone_elses_queues: 'resource "arn:aws:sqs:*:*:*"',
    wildcard_action: 'wildcard action "dynamodb:*"',
    xray_statement_widened: 'resource "*" for ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "s3:GetO',
    not_resource: "NotAction / NotResource",
    star_in_a_condition_branch: 'WebhookRole: resource "*"',
    managed_policy_on_a_role: "IvrCheckRole: managed policy",
}


def test_the_template_passes_and_every_broken_copy_fails_for_its_reason(tmp_path):
    template = read_yaml(ROOT / "template.yaml")
    paths = {}
    for breakage in BROKEN:
        broken = copy.deepcopy(template)
        breakage(broken)
        paths[breakage] = tmp_path / f"{breakage.__name__}.json"
        paths[breakage].write_text(json.dumps(broken))

    result = run_check(ROOT / "template.yaml", *paths.values())

    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert [line for line in lines if line.startswith(str(ROOT / "template.yaml"))] == [
        f"{ROOT / 'template.yaml'}: IAM least privilege ok (no managed policy, no wildcard beyond X-Ray's)"
    ]
    for breakage, expected in BROKEN.items():
        reported = [line for line in lines if line.startswith(f"{paths[breakage]}:")]
        assert any(expected in line for line in reported), (breakage.__name__, reported, result.stderr)


def test_the_only_wildcard_is_xray_and_tracing_disabled_removes_it():
    template = read_yaml(ROOT / "template.yaml")
    tracing = template["Resources"]["TracingPolicy"]
    assert tracing["Condition"] == "TracingEnabled"
    assert template["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "Tracing"}, "Active"]}
    [statement] = tracing["Properties"]["PolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        "Resource": "*",
    }
    functions = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]
    roles = {template["Resources"][f]["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions}
    assert {role["Ref"] for role in tracing["Properties"]["Roles"]} == roles
