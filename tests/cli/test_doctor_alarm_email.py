"""`warmline doctor` on a deployed stack checks that the alarms reach someone: the AlarmEmail parameter
is set and its e-mail subscription to the alarm topic confirmed, and says how to fix either. (On the
local stack, which sends no alarm, it checks nothing: test_threecx_and_doctor.py's clean doctor run.)"""

import json

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from warmline_cli.doctor import Doctor
from warmline_cli.target import Target

REGION = "eu-west-1"
EMAIL = "oncall@example.com"
STACK_TEMPLATE = {
    "Resources": {"AlarmTopic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {"AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}}},
}


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # Not mock_aws()'s default start and stop: they reset every moto backend of this process, the
    # integration tests' moto server's too when a test worker runs both. Only this region's
    # CloudFormation and SNS, which nothing else uses, are emptied afterwards. (Imported here: moto's
    # CloudFormation imports every moto service, a second of each test worker's collection.)
    from moto.cloudformation.models import cloudformation_backends
    from moto.sns.models import sns_backends

    mock = mock_aws()
    mock.start(reset=False)
    try:
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(StackName="warmline", TemplateBody=json.dumps(STACK_TEMPLATE))
        outputs = cloudformation.describe_stacks(StackName="warmline")["Stacks"][0]["Outputs"]
        yield outputs[0]["OutputValue"]
    finally:
        for backends in (cloudformation_backends, sns_backends):
            backends[DEFAULT_ACCOUNT_ID][REGION].reset()
        mock.stop(remove_data=False)


def deployed(alarm_email: str) -> Target:
    """The stack as `--stack warmline` reads it (only what the alarm-email check uses is filled in)."""
    return Target(
        label="warmline",
        description=f"stack warmline ({REGION})",
        region=REGION,
        aws_endpoint_url=None,
        table="",
        bucket="",
        queue_url="",
        secret_arns={},
        incoming_call_url="",
        conversation_init_url="",
        check_clone_url="",
        elevenlabs_base_url="https://api.elevenlabs.io",
        parameters={"AlarmEmail": alarm_email},
    )


def alarm_email_check(target: Target, capsys) -> tuple[bool, str]:
    doctor = Doctor(target, agent_id="")
    doctor._alarm_email()
    assert len(doctor.checks) == 1
    printed = capsys.readouterr().out
    assert doctor.checks[0].message in printed
    return doctor.checks[0].ok, doctor.checks[0].message


def test_no_alarm_email_fails_and_says_how_to_set_it(aws, capsys):
    ok, message = alarm_email_check(deployed(""), capsys)
    assert not ok
    assert "AlarmEmail parameter is empty" in message
    assert "parameter_overrides" in message and "samconfig.toml" in message and "make deploy" in message


def test_a_confirmed_subscription_passes(aws, capsys):
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=aws, Protocol="email", Endpoint=EMAIL)
    assert alarm_email_check(deployed(EMAIL), capsys) == (True, f"alarms are e-mailed to {EMAIL}")


def test_an_unconfirmed_subscription_fails_and_says_to_confirm_it(aws, capsys):
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=aws, Protocol="email", Endpoint=EMAIL)
    # SNS lists an e-mail subscription nobody confirmed as "PendingConfirmation"; moto confirms at once.
    from moto.sns.models import sns_backends

    backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
    for subscription in backend.subscriptions.values():
        subscription.arn = "PendingConfirmation"
    ok, message = alarm_email_check(deployed(EMAIL), capsys)
    assert not ok
    assert "not confirmed" in message and "Confirm subscription" in message
    assert f"aws sns subscribe --topic-arn {aws} --protocol email --notification-endpoint {EMAIL}" in message


def test_an_address_the_topic_does_not_send_to_fails(aws, capsys):
    ok, message = alarm_email_check(deployed(EMAIL), capsys)
    assert not ok and "not subscribed" in message
