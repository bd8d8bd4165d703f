"""The dashboard and alarms in template.yaml name exactly the metrics the code emits.

"What the code emits" is taken twice: from the constants in warmline/observability.py, and from the
EMF lines the real handlers print during a whole call, a repeat call, a failed clone and a run of
the scheduled housekeeping.
"""

import json
import math
import re
import struct

import pytest

from local import dashboard, template
from tests.aws_harness import ROOT, event, with_body
from tests.integration.test_observability import (  # noqa: F401 (fixture)
    conversation_init,
    handlers,
    invoke,
    play_calls,
    run_housekeeping,
)
from warmline import observability

NAMESPACE = observability.NAMESPACE
SPECS = {spec.name: spec for spec in observability.ALL_METRICS}


def _template():
    return template.read_yaml(ROOT / "template.yaml")


def dashboard_metrics():
    body = _template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # The ${...} are resource names and the region; any string keeps the JSON valid.
    document = json.loads(re.sub(r"\$\{[^}]+\}", "X", body))
    found = set()
    for widget in document["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):  # a metric math expression
                continue
            names = [part for part in row if isinstance(part, str)]
            namespace, name, pairs = names[0], names[1], names[2:]
            found.add((namespace, name, frozenset(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def alarm_metrics():
    found = set()
    for resource in _template()["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        metrics = [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
        if "MetricName" in properties:
            metrics.append(properties)
        for metric in metrics:
            dimensions = frozenset(
                (d["Name"], d["Value"]) for d in metric.get("Dimensions", []) if isinstance(d["Value"], str)
            )
            found.add((metric["Namespace"], metric["MetricName"], dimensions))
    return found


def warmline_only(identities):
    return {identity for identity in identities if identity[0] == NAMESPACE}


def test_the_template_sets_the_namespace_and_service_the_code_uses():
    variables = _template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE


def test_the_dashboard_shows_every_metric_the_code_can_emit_and_no_other():
    assert warmline_only(dashboard_metrics()) == observability.metric_identities()


def test_every_alarm_on_a_warmline_metric_names_one_the_code_emits():
    alarmed = warmline_only(alarm_metrics())
    assert alarmed, "no alarm watches a warmline metric"
    assert alarmed <= observability.metric_identities()


def test_the_aws_metrics_on_the_dashboard_and_alarms_are_the_expected_ones():
    names = {(namespace, name) for namespace, name, _ in dashboard_metrics() | alarm_metrics()}
    assert {
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/ApiGateway", "4xx"),
        ("AWS/ApiGateway", "5xx"),
    } <= names


def correlated_call(handlers, stack):  # noqa: F811
    """A caller with a PIN behind a trunk that presents its own number: tied to their one call."""
    did, number = "+442071239999", "+442079463333"
    stack.register_caller(number, pin="482916")
    call = {"caller": number, "did": did, "call_id": "call-3333"}
    invoke(handlers["webhook"], stack, "WebhookFunction", with_body(event("incoming_call.json"), call))
    conversation_init(handlers, stack, did)


@pytest.fixture
def emitted(handlers, stack, emulator, capsys):  # noqa: F811
    capsys.readouterr()
    play_calls(handlers, stack, emulator)
    correlated_call(handlers, stack)
    run_housekeeping(handlers, stack)  # the scheduled sweep's metrics
    return capsys.readouterr().out


def test_what_the_handlers_emit_is_on_the_dashboard(emitted, tmp_path):
    points = dashboard.parse_emf_lines(emitted.splitlines())
    on_dashboard = dashboard_metrics()

    assert {point.identity for point in points} <= on_dashboard
    assert {point.namespace for point in points} == {NAMESPACE}
    # Every kind of metric came out of the run, with the unit the constants give it.
    assert {point.name for point in points} == set(SPECS)
    assert all(point.unit == SPECS[point.name].unit.value for point in points)

    # The same lines, read back from log files as on the local stack, make a PNG.
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "WebhookFunction.log").write_text("not json\n" + emitted)
    out = tmp_path / "dashboard.png"
    assert dashboard.main(["--out", str(out), "--logs", str(logs)]) == 0
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert (width, height) == (2400, 49 * 55)  # the dashboard's 24 columns and 49 rows of metric widgets


def test_the_picture_has_the_panels_of_the_cloudwatch_dashboard(tmp_path):
    body = _template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "X", body))["widgets"]
    point = dashboard.MetricPoint(NAMESPACE, "CloneDuration", "Milliseconds", {"service": "warmline"}, 1.0, 0)

    titles = dashboard.render([point], tmp_path / "d.png")

    assert titles == [w["properties"]["title"] for w in widgets if w["type"] == "metric"]
    assert "Clone time (ms)" in titles and len(titles) >= 10


def _point(name, value, seconds, **dimensions):
    return dashboard.MetricPoint(
        NAMESPACE, name, "Count", {"service": "warmline", **dimensions}, value, seconds * 1000
    )


def test_counts_are_series_over_time_with_zero_where_nothing_happened():
    points = [_point("ClonesFailed", 2, 0), _point("ClonesSucceeded", 1, 0), _point("ClonesFailed", 1, 5)]
    picture = dashboard._Picture(points, {})
    row = ["warmline", "ClonesFailed", "service", "warmline", {"stat": "Sum", "label": "failed"}]
    other = ["warmline", "ClonesFailed", "service", "warmline", "reason", "x", {"stat": "Sum"}]

    assert picture.period == 1 and picture.periods == 6
    assert picture.series(row, "Average") == ("failed", [2, 0, 0, 0, 0, 1])
    assert picture.series(other, "Sum")[1] == [0] * 6  # other dimensions: not this series, but zeros
    assert picture.series(["AWS/Lambda", "Errors", "FunctionName", "f"], "Sum") is None


def test_statistics_per_period_and_the_targets_from_the_template_parameters():
    assert dashboard.statistic("p95", [float(v) for v in range(1, 21)]) == 19
    assert dashboard.statistic("Average", [1.0, 3.0]) == 2.0
    assert dashboard.statistic("Sum", []) == 0
    assert math.isnan(dashboard.statistic("Maximum", []))
    clone_time = next(
        w for w in dashboard.dashboard_widgets() if w["properties"]["title"] == "Clone time (ms)"
    )
    widget = {"properties": {**clone_time["properties"], "annotations": {"horizontal": [{"value": 9}]}}}

    targets = dashboard._Picture([], {"GreetingTimeoutSeconds": "35"}).targets(widget)

    assert targets == [("", 9.0), ("greeting timeout (35 s)", 35000.0)]


def test_the_png_command_says_what_to_do_when_there_are_no_metrics_yet(tmp_path, capsys):
    (tmp_path / "WebhookFunction.log").write_text('{"level":"INFO","message":"no metrics here"}\n')

    assert dashboard.main(["--out", str(tmp_path / "x.png"), "--logs", str(tmp_path)]) == 1
    assert "run `make demo` first" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_the_time_axis_is_the_run_it_has_in_seconds_for_a_short_run():
    """A 4-second demo is drawn over its 4 seconds, not over minutes (issue 25 point 4)."""
    short = dashboard._Picture([_point("ClonesSucceeded", 1, 100), _point("ClonesFailed", 1, 104)], {})

    assert short.x_axis() == ("seconds since the first metric (1 s periods)", [0, 1, 2, 3, 4], (0, 4))

    long = dashboard._Picture([_point("ClonesSucceeded", 1, 0), _point("ClonesFailed", 1, 1800)], {})
    label, positions, limits = long.x_axis()
    assert label == "minutes since the first metric (61 s periods)"
    assert limits == (0, positions[-1]) and positions[-1] == pytest.approx(29 * 61 / 60)
