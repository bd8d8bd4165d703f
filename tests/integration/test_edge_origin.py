"""With EdgeProtection=cloudfront-waf the functions serve only requests CloudFront passed on: those
carry the origin secret (x-warmline-origin, from Secrets Manager) that the distribution adds. A
request sent to the API's own URL, past the WAF, is answered 401 even with the right shared secret.
Without the edge nothing changes."""

import json
import secrets

import pytest

from local import template
from tests.aws_harness import ROOT, LambdaContext, event
from warmline.http import ORIGIN_HEADER

WEB_ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/w-edge/0a1b2c3d-0000-4000-8000-000000000000"


@pytest.fixture
def origin_secret(stack):
    """The origin secret as the edge's stack holds it, and its Secrets Manager id."""
    value = secrets.token_urlsafe(32)
    name = f"edge-origin-{secrets.token_hex(4)}"
    stack.client("secretsmanager").create_secret(Name=name, SecretString=value)
    return name, value


def call(module, stack, function, ev, **env):
    with stack.function_env(function, **env):
        response = module.lambda_handler(ev, LambdaContext(function, 10))
    return response["statusCode"], json.loads(response["body"])


def with_headers(ev, **headers):
    return {**ev, "headers": {**ev["headers"], **headers}}


def test_with_the_edge_only_requests_carrying_the_origin_secret_are_served(webhook, stack, origin_secret):
    name, value = origin_secret
    incoming = event("incoming_call.json")
    edge = {"EDGE_ORIGIN_SECRET_NAME": name}

    status, body = call(webhook, stack, "WebhookFunction", incoming, **edge)
    assert (status, body["error"]) == (401, "unauthorized")
    assert ORIGIN_HEADER in body["message"]
    wrong = with_headers(incoming, **{ORIGIN_HEADER: "not-the-origin-secret"})
    assert call(webhook, stack, "WebhookFunction", wrong, **edge)[0] == 401
    assert stack.queued_messages() == []  # nothing was done for a refused request

    through_cloudfront = with_headers(incoming, **{ORIGIN_HEADER: value})
    assert call(webhook, stack, "WebhookFunction", through_cloudfront, **edge)[0] == 200


def test_the_origin_secret_is_checked_on_the_agents_routes_too(ivr, stack, origin_secret):
    name, value = origin_secret
    check = event("check_clone.json")
    edge = {"EDGE_ORIGIN_SECRET_NAME": name}

    assert call(ivr, stack, "IvrCheckFunction", check, **edge)[0] == 401
    assert (
        call(ivr, stack, "IvrCheckFunction", with_headers(check, **{ORIGIN_HEADER: value}), **edge)[0] == 200
    )


def test_without_the_edge_no_origin_header_is_needed(webhook, stack):
    assert stack.model.functions["WebhookFunction"].environment["EDGE_ORIGIN_SECRET_NAME"] == ""
    assert call(webhook, stack, "WebhookFunction", event("incoming_call.json"))[0] == 200


def test_the_edge_adds_the_origin_secret_and_the_functions_may_read_it():
    model = template.load(
        ROOT / "template.yaml", {"EdgeProtection": "cloudfront-waf", "EdgeWebAclArn": WEB_ACL_ARN}
    )
    secret = model.secrets["EdgeOriginSecret"]
    for function in ("WebhookFunction", "IvrCheckFunction"):
        assert model.functions[function].environment["EDGE_ORIGIN_SECRET_NAME"] == secret.arn
        readable = [
            s["Resource"]
            for s in model.functions[function].permissions
            if "secretsmanager:GetSecretValue" in s["Action"]
        ]
        assert secret.arn in [
            r for resource in readable for r in ([resource] if isinstance(resource, str) else resource)
        ]
    document = template.read_yaml(ROOT / "template.yaml")
    [origin] = document["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    [header] = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == ORIGIN_HEADER
    # A dynamic reference, resolved by CloudFormation: the value is in no parameter and no file.
    assert header["HeaderValue"] == {"Fn::Sub": "{{resolve:secretsmanager:${EdgeOriginSecret}:SecretString}}"}
