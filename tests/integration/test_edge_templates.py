"""The optional edge of issue 21 §5: template.yaml's CloudFront distribution behind EdgeProtection,
and edge/waf.yaml, its web ACL for us-east-1. cfn-lint passes for every value of the new parameters;
the distribution and the URL outputs exist only with the edge."""

import json
import subprocess
import sys

import pytest

from local import template
from local.edge import WebAcl
from tests.aws_harness import ROOT

DOCUMENT = template.read_yaml(ROOT / "template.yaml")
WAF = template.read_yaml(ROOT / "edge" / "waf.yaml")
WEB_ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/w-edge/0a1b2c3d-0000-4000-8000-000000000000"


def cfn_lint(path, *arguments):
    runner = "import sys; from cfnlint.runner import main; sys.exit(main())"
    command = [sys.executable, "-c", runner, "--regions", "eu-west-2", *arguments, "--", str(path)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize(
    "parameters",
    [["EdgeProtection=none"], ["EdgeProtection=cloudfront-waf", f"EdgeWebAclArn={WEB_ACL_ARN}"]],
    ids=["none", "cloudfront-waf"],
)
def test_the_template_lints_for_each_edge_protection(parameters):
    linted = cfn_lint(ROOT / "template.yaml", "--parameters", *parameters)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize("addresses", [[""], ["203.0.113.7/32", "198.51.100.0/24"]], ids=["none", "two"])
def test_the_web_acl_template_lints_with_and_without_3cx_addresses(addresses, tmp_path):
    values = tmp_path / "parameters.json"
    values.write_text(json.dumps([{"ParameterKey": "ThreeCxAddresses", "ParameterValue": addresses}]))
    linted = cfn_lint(ROOT / "edge" / "waf.yaml", "--parameter-files", str(values))
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_edge_exists_only_when_chosen_and_then_the_url_outputs_name_it():
    distribution = DOCUMENT["Resources"]["EdgeDistribution"]
    assert distribution["Condition"] == "EdgeProtected"
    config = distribution["Properties"]["DistributionConfig"]
    assert config["WebACLId"] == {"Ref": "EdgeWebAclArn"}
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "https-only"
    for output in ("IncomingCallUrl", "ConversationInitUrl", "CheckCloneUrl", "CloningMetricsUrl"):
        condition, with_edge, without = DOCUMENT["Outputs"][output]["Value"]["Fn::If"]
        assert condition == "EdgeProtected"
        assert with_edge["Fn::Sub"].startswith("https://${EdgeDistribution.DomainName}/api/")
        assert without["Fn::Sub"].startswith("https://${HttpApi}.execute-api.")
    # The edge without its web ACL is refused at deploy time, not deployed unprotected.
    [assertion] = DOCUMENT["Rules"]["EdgeNeedsItsWebAcl"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "EdgeWebAclArn"}, ""]}]}


def test_the_web_acl_blocks_requests_without_the_secret_header_and_rate_limits_each_address():
    acl = WAF["Resources"]["WebAcl"]["Properties"]
    assert acl["Scope"] == "CLOUDFRONT" and acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"] if "Name" in rule}
    header_rule = rules["require-secret-header"]["Statement"]["NotStatement"]["Statement"]
    header = header_rule["SizeConstraintStatement"]["FieldToMatch"]["SingleHeader"]
    assert header == {"Name": "x-warmline-secret"}
    rate = rules["rate-per-address"]["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP" and rate["Limit"] == {"Ref": "RequestsPerAddress"}
    allow_3cx = next(rule for rule in acl["Rules"] if "Fn::If" in rule)["Fn::If"][1]
    assert allow_3cx["Priority"] < rules["rate-per-address"]["Priority"]  # 3CX is never rate-limited


def test_the_local_edge_plays_the_rules_of_edge_waf_yaml():
    acl = WebAcl.from_template(
        ROOT / "edge" / "waf.yaml", {"ThreeCxAddresses": "203.0.113.7/32", "RequestsPerAddress": 10}
    )
    guess = {"x-warmline-secret": "guess"}

    assert acl.verdict("198.51.100.1", {}) == ("block", 403)  # no secret header: never reaches the API
    verdicts = [acl.verdict("198.51.100.1", guess) for _ in range(11)]
    assert verdicts[:10] == [("allow", 0)] * 10 and verdicts[10] == ("block", 429)  # past 10 in the window
    assert acl.verdict("198.51.100.2", guess) == ("allow", 0)  # counted per address
    assert {acl.verdict("203.0.113.7", {}) for _ in range(30)} == {("allow", 0)}  # 3CX always passes

    without_3cx = WebAcl.from_template(ROOT / "edge" / "waf.yaml", {})
    assert [rule["Name"] for rule in without_3cx.rules] == [
        "require-secret-header",
        "rate-per-address",
        "aws-ip-reputation",
    ]
