"""The template model: what the local stack reads from a SAM template, and that it follows the template."""

import pytest

from local import template
from local.template import TemplateError
from tests.integration.local_stack.conftest import FIXTURE_TEMPLATE, FIXTURES, REPO_ROOT


def test_real_template_resolves_to_the_warmline_stack():
    model = template.load(REPO_ROOT / "template.yaml")
    declared = template.read_yaml(REPO_ROOT / "template.yaml")

    assert len(model.functions) == 4
    assert {(route.method, route.path) for route in model.routes} == {
        ("POST", "/api/calls/incoming"),
        ("POST", "/api/agent/conversation-init"),
        ("POST", "/api/agent/post-call"),
        ("POST", "/api/ivr/check-clone/{caller_id}"),
        ("GET", "/api/metrics/cloning"),
    }
    [schedule] = model.schedules
    assert (schedule.function, schedule.period_seconds, schedule.enabled) == (
        "HousekeepingFunction",
        300,
        True,
    )
    [source] = model.sqs_sources
    assert source.batch_size == 1
    assert source.report_batch_item_failures
    assert source.maximum_concurrency == declared["Parameters"]["CloneMaxConcurrency"]["Default"]
    [table] = model.tables.values()
    assert table.ttl_attribute == "expires_at"
    [redriven] = [queue for queue in model.queues.values() if queue.dead_letter_queue]
    assert redriven.max_receive_count == declared["Parameters"]["CloneJobMaxReceives"]["Default"]
    assert redriven.dead_letter_queue in model.queues
    for function in model.functions.values():
        assert function.layer_dirs == [REPO_ROOT / "layers" / "common"]
        assert function.code_dir.parent == REPO_ROOT / "functions"
        assert function.environment["TABLE_NAME"] == table.name
    # Only the worker and housekeeping (which deletes voices) read the ElevenLabs key by default; the
    # HTTP functions only in the outbound modes.
    key_secret = model.secrets["ElevenLabsApiKeySecret"].arn
    assert {f.logical_id: f.environment["ELEVENLABS_API_KEY_SECRET"] for f in model.functions.values()} == {
        "WebhookFunction": "",
        "CloneWorkerFunction": key_secret,
        "IvrCheckFunction": "",
        "HousekeepingFunction": key_secret,
    }
    outbound = template.load(
        REPO_ROOT / "template.yaml", {"GreetingMode": "outbound", "HandoffMode": "outbound"}
    )
    assert {f.environment["ELEVENLABS_API_KEY_SECRET"] for f in outbound.functions.values()} == {key_secret}


def test_the_retention_the_readme_states_is_the_templates():
    resources = template.read_yaml(REPO_ROOT / "template.yaml")["Resources"]
    bucket, table = resources["SamplesBucket"], resources["CloneTable"]

    [rule] = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and "Prefix" not in rule and "Filter" not in rule
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1} and rule["ExpiredObjectDeleteMarker"]
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert (bucket["DeletionPolicy"], table["DeletionPolicy"]) == ("Retain", "Retain")


def test_fixture_template_resolves_intrinsics_globals_and_layers():
    ids = template.LocalIds(stack_name="t", aws_endpoint_url="http://127.0.0.1:4000")
    model = template.load(FIXTURE_TEMPLATE, local_ids=ids)

    echo = model.functions["EchoFunction"]
    assert echo.code_dir == FIXTURES / "echo"
    assert echo.handler == "app.handler"
    assert echo.layer_dirs == [FIXTURES / "layer"]
    assert (echo.timeout, echo.memory_size) == (5, 128)
    assert echo.environment == {
        "TABLE_NAME": "t-RecordsTable",
        "GREETING": "hello",
        "STAGE_LABEL": "testing",
        "QUEUE_URL": "http://127.0.0.1:4000/123456789012/t-JobsQueue",
        "FILES_ARN": "arn:aws:s3:::t-filesbucket/files/*",
        "TOKEN_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-TokenSecret",
        "API_URL": f"https://{model.http_api_id}.execute-api.us-east-1.amazonaws.com",
    }
    assert [(r.name, r.method, r.path) for r in echo.routes] == [
        ("EchoGet", "GET", "/echo"),
        ("EchoPost", "POST", "/echo"),
        ("Item", "GET", "/items/{item_id}"),
    ]
    assert model.functions["ErrorsFunction"].timeout == 1
    [source] = model.functions["BatchFunction"].sqs_sources
    assert (source.queue, source.batch_size, source.maximum_concurrency) == ("JobsQueue", 5, 2)
    queue = model.queues["JobsQueue"]
    assert (queue.visibility_timeout, queue.dead_letter_queue, queue.max_receive_count) == (
        300,
        "JobsDeadLetterQueue",
        2,
    )
    assert model.tables["RecordsTable"].ttl_attribute == "expires_at"
    assert model.buckets["FilesBucket"].name == "t-filesbucket"
    assert model.secrets["TokenSecret"].description == "a token the echo function can read"


def test_parameter_overrides_and_conditions():
    model = template.load(FIXTURE_TEMPLATE, {"Stage": "prod", "Greeting": "hi", "MaxReceives": 4})
    environment = model.functions["StateFunction"].environment
    assert (environment["STAGE_LABEL"], environment["GREETING"]) == ("production", "hi")
    assert model.queues["JobsQueue"].max_receive_count == 4
    with pytest.raises(TemplateError, match="not one of"):
        template.load(FIXTURE_TEMPLATE, {"Stage": "qa"})
    with pytest.raises(TemplateError, match="unknown"):
        template.load(FIXTURE_TEMPLATE, {"Nope": "1"})
    with pytest.raises(TemplateError, match="below"):
        template.load(FIXTURE_TEMPLATE, {"MaxReceives": 0})


def test_an_intrinsic_the_template_does_not_use_is_refused_by_name(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(
        FIXTURE_TEMPLATE.read_text().replace("GREETING: !Ref Greeting", "GREETING: !Join [-, [a, b]]")
    )

    with pytest.raises(TemplateError, match="Fn::Join is not supported locally"):
        template.load(path)


def test_changing_the_template_changes_the_model(tmp_path):
    changed = (
        FIXTURE_TEMPLATE.read_text()
        .replace("Path: /items/{item_id}", "Path: /things/{thing_id}/parts/{part}")
        .replace("BatchSize: 5", "BatchSize: 3")
        .replace("      Timeout: 1\n", "      Timeout: 7\n")
    )
    path = tmp_path / "template.yaml"
    path.write_text(changed)
    for name in ("layer", "echo", "errors", "state", "batch", "tick"):
        (tmp_path / name).symlink_to(FIXTURES / name)

    model = template.load(path)

    assert ("GET", "/things/{thing_id}/parts/{part}") in {(r.method, r.path) for r in model.routes}
    assert "/items/{item_id}" not in {r.path for r in model.routes}
    assert model.sqs_sources[0].batch_size == 3
    assert model.functions["ErrorsFunction"].timeout == 7
    assert model.functions["EchoFunction"].code_dir == (tmp_path / "echo").resolve()


def test_a_template_read_again_is_a_copy_of_its_own_and_follows_the_file(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text("Parameters:\n  Stage:\n    Type: String\n    Default: dev\n")
    first = template.read_yaml(path)
    first["Parameters"]["Stage"]["Default"] = "changed by its reader"

    assert template.read_yaml(path)["Parameters"]["Stage"]["Default"] == "dev"
    path.write_text("Parameters:\n  Stage:\n    Type: String\n    Default: prd\n")  # same size, same instant
    assert template.read_yaml(path)["Parameters"]["Stage"]["Default"] == "prd"
