"""What template.yaml promises for the public internet: per-function limits and logs, a throttled and
logged API without phone numbers, alarms on 401 spikes and on the 5xx rate, an encrypted alarm topic,
a table that cannot be deleted, https to ElevenLabs, and a killed worker's job back within 2 minutes."""

import json
import re

import pytest

from local import template
from local.template import TemplateError
from tests.aws_harness import ROOT
from warmline.cloning import SAFETY_MARGIN_SECONDS
from warmline.settings import Settings

DOCUMENT = template.read_yaml(ROOT / "template.yaml")
RESOURCES = DOCUMENT["Resources"]
FUNCTIONS = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_each_function_has_its_own_role_log_group_with_retention_and_reserved_concurrency(function_id):
    properties = FUNCTIONS[function_id]
    role = properties["Role"]["Fn::GetAtt"][0]
    assert RESOURCES[role]["Type"] == "AWS::IAM::Role"
    assert "Policies" not in properties  # SAM would make a role with managed policies
    log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
    assert RESOURCES[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert RESOURCES[log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "ReservedConcurrentExecutions" in properties
    roles = [FUNCTIONS[f]["Role"]["Fn::GetAtt"][0] for f in FUNCTIONS]
    assert roles.count(role) == 1


def test_log_retention_is_a_parameter_of_30_days_by_default():
    assert DOCUMENT["Parameters"]["LogRetentionDays"]["Default"] == 30
    assert RESOURCES["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_workers_concurrency_is_its_own_and_matches_its_sqs_maximum():
    worker = FUNCTIONS["CloneWorkerFunction"]
    maximum = worker["Events"]["CloneJobs"]["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert worker["ReservedConcurrentExecutions"] == maximum == {"Ref": "CloneMaxConcurrency"}
    for http_function in ("WebhookFunction", "IvrCheckFunction"):
        reserved = FUNCTIONS[http_function]["ReservedConcurrentExecutions"]["Ref"]
        assert DOCUMENT["Parameters"][reserved]["Type"] == "Number"


def test_every_route_is_throttled_on_the_stage():
    settings = RESOURCES["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings == {
        "ThrottlingRateLimit": {"Ref": "ApiRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiBurstLimit"},
    }


def test_the_calls_routes_have_their_own_throttling_sized_above_the_stage_default():
    """Issue 21 §5: 3CX's and the agent's routes each have their own bucket, larger than the
    default the other routes get, so a flood of wrong secrets below it is answered 401."""
    model = template.load(ROOT / "template.yaml")
    routes = {route.route_key for route in model.routes}
    own = model.http_api.route_throttling
    assert set(own) == {
        "POST /api/calls/incoming",
        "POST /api/agent/conversation-init",
        "POST /api/ivr/check-clone/{caller_id}",
        "POST /api/agent/post-call",  # ElevenLabs' too: a flood there would keep slots past their call
    }
    assert set(own) <= routes  # a key naming no route would be ignored by API Gateway
    default_rate, default_burst = model.http_api.throttling
    for rate, burst in own.values():
        assert rate >= 4 * default_rate and burst >= 4 * default_burst
    settings = RESOURCES["HttpApi"]["Properties"]["RouteSettings"]
    assert settings["POST /api/calls/incoming"]["ThrottlingRateLimit"] == {"Ref": "IncomingCallRateLimit"}


# Every $context variable of the access log; none of them carries the path, the query or a body.
ACCESS_LOG_VARIABLES = {
    "requestId",
    "requestTime",
    "identity.sourceIp",
    "identity.userAgent",
    "routeKey",
    "status",
    "protocol",
    "responseLength",
    "responseLatency",
    "integrationLatency",
    "integrationStatus",
    "error.message",
}


def test_the_api_access_log_is_json_and_holds_no_phone_number():
    settings = RESOURCES["HttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    used = set(re.findall(r"\$context\.([A-Za-z.]+)", settings["Format"]))
    assert used == ACCESS_LOG_VARIABLES
    assert json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", settings["Format"]))["routeKey"] == "x"


def test_the_5xx_alarm_is_a_rate_and_401s_have_their_own_alarm():
    errors = RESOURCES["Api5xxAlarm"]["Properties"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in errors["Metrics"] if "MetricStat" in m}
    assert names == {"5xx", "Count"}
    [rate] = [m for m in errors["Metrics"] if m.get("ReturnData")]
    assert "errors" in rate["Expression"] and "requests" in rate["Expression"]
    assert 0 < errors["Threshold"] < 1
    unauthorized = RESOURCES["ApiUnauthorizedAlarm"]["Properties"]
    assert (unauthorized["Namespace"], unauthorized["MetricName"]) == ("warmline", "UnauthorizedRequests")


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use():
    key = RESOURCES["AlarmTopic"]["Properties"]["KmsMasterKeyId"]["Ref"]
    statements = RESOURCES[key]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in statements)
    assert RESOURCES[key]["Properties"]["EnableKeyRotation"] is True


def test_the_table_cannot_be_deleted():
    table = RESOURCES["CloneTable"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://api.elevenlabs.io", True),
        ("https://api.eu.residency.elevenlabs.io/", True),
        ("http://127.0.0.1:8123", True),
        ("http://localhost:9000/v1", True),
        ("http://[::1]:80", True),
        ("http://api.elevenlabs.io", False),
        ("http://127.0.0.1.example.com", False),
        ("http://localhost@example.com", False),
        ("ftp://api.elevenlabs.io", False),
    ],
)
def test_elevenlabs_base_url_is_https_except_on_loopback(url, allowed):
    def accepted_by_template():
        try:
            template.load(ROOT / "template.yaml", {"ElevenLabsBaseUrl": url})
        except TemplateError:
            return False
        return True

    def accepted_by_settings():
        try:
            Settings(elevenlabs_base_url=url)
        except ValueError:
            return False
        return True

    assert accepted_by_template() is accepted_by_settings() is allowed


def test_a_killed_workers_job_comes_back_within_two_minutes_by_construction():
    worker = template.load(ROOT / "template.yaml")
    timeout = worker.functions["CloneWorkerFunction"].timeout
    visibility = worker.queues["CloneJobsQueue"].visibility_timeout
    settings = Settings()
    # Lambda refuses an SQS event source whose queue hides messages for less than the timeout.
    assert visibility >= timeout
    # Killed before its first heartbeat: seen again after the queue's visibility; killed later:
    # after one heartbeat's hiding, then retried when the lease (the invocation's end plus a margin)
    # ends. Either way within 2 minutes.
    lease_seconds = timeout + SAFETY_MARGIN_SECONDS
    worst = max(visibility, settings.clone_hide_seconds, lease_seconds + 1)
    assert worst <= 120
    assert settings.clone_heartbeat_seconds * 2 <= settings.clone_hide_seconds
