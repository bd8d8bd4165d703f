"""Every alarm in template.yaml links to a runbook section that exists, and the alarms an on-call
person needs (IVR fallbacks, webhook latency against 3CX's timeout, clone failures at low traffic)
watch metrics the code emits."""

import re

import pytest

from local import template
from tests.aws_harness import ROOT
from warmline import observability
from warmline.ivr import IvrOutcome

TEMPLATE = template.read_yaml(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
ALARMS = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
RUNBOOKS = ROOT / "docs" / "runbooks.md"
LINK = re.compile(r"docs/runbooks\.md#([a-z0-9_-]+)")
THREECX_REST_TIMEOUT_MS = 5000  # the Web Service REST component's timeout `warmline 3cx flow` sets


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {github_anchor(heading) for heading in headings}


def description(properties: dict) -> str:
    text = properties["AlarmDescription"]
    return text["Fn::Sub"] if isinstance(text, dict) else text


def metric_stats(properties: dict) -> list[dict]:
    """(namespace, name, dimensions) of each metric an alarm reads, and the stat it uses."""
    if "MetricName" in properties:
        return [properties]
    return [query["MetricStat"]["Metric"] for query in properties["Metrics"] if "MetricStat" in query]


def identity(metric: dict) -> tuple[str, str, frozenset]:
    dimensions = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
    return metric["Namespace"], metric["MetricName"], dimensions


def test_the_template_has_the_alarms_an_on_call_person_needs():
    assert {"IvrFallbacksAlarm", "WebhookLatencyAlarm", "CloneFailuresAlarm"} <= set(ALARMS)
    assert len(ALARMS) >= 11


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_each_alarm_links_to_its_own_runbook_section_and_notifies_the_topic(name):
    properties = ALARMS[name]
    links = LINK.findall(description(properties))
    assert links == [name.lower()], f"{name}: its description must link docs/runbooks.md#{name.lower()}"
    assert links[0] in runbook_anchors(), f"docs/runbooks.md has no section {name}"
    assert len(description(properties)) <= 1024  # CloudWatch's limit
    assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert properties["OKActions"] == [{"Ref": "AlarmTopic"}]


def test_each_runbook_section_says_what_it_means_how_to_check_and_how_to_fix():
    sections = re.split(r"^## ", RUNBOOKS.read_text(), flags=re.MULTILINE)[1:]
    by_title = {section.split("\n", 1)[0].strip(): section for section in sections}
    assert set(ALARMS) <= set(by_title), "every alarm has a section titled with its name"
    for name in ALARMS:
        section = by_title[name]
        for part in ("**Means**", "**Check**", "**Fix**"):
            assert part in section, f"runbook {name} lacks {part}"


def test_the_runbook_links_between_sections_resolve():
    anchors = runbook_anchors()
    for anchor in re.findall(r"\]\(#([^)]+)\)", RUNBOOKS.read_text()):
        assert anchor in anchors


def test_the_new_alarms_watch_metrics_the_code_emits():
    emitted = observability.metric_identities()
    for name in ("IvrFallbacksAlarm", "WebhookLatencyAlarm", "CloneFailuresAlarm"):
        for metric in metric_stats(ALARMS[name]):
            assert identity(metric) in emitted, f"{name} watches {identity(metric)}, which nothing emits"


def test_ivr_fallbacks_count_the_callers_who_waited_and_got_the_default_voice():
    watched = {dict(identity(metric)[2])["outcome"] for metric in metric_stats(ALARMS["IvrFallbacksAlarm"])}
    waited_and_fell_back = {IvrOutcome.TIMEOUT, IvrOutcome.FAILED, IvrOutcome.HANDOFF_FAILED}
    assert watched == {outcome.value for outcome in waited_and_fell_back}
    expression = next(q["Expression"] for q in ALARMS["IvrFallbacksAlarm"]["Metrics"] if q.get("ReturnData"))
    for query in ALARMS["IvrFallbacksAlarm"]["Metrics"]:
        if "MetricStat" in query:
            assert f"FILL({query['Id']}, 0)" in expression  # an hour with one kind only still counts


def test_webhook_latency_is_judged_by_a_high_percentile_below_the_3cx_timeout():
    alarm = ALARMS["WebhookLatencyAlarm"]
    assert alarm["ExtendedStatistic"] in ("p95", "p99")
    assert dict((d["Name"], d["Value"]) for d in alarm["Dimensions"])["route"] == "incoming_call"
    assert alarm["Threshold"] == {"Ref": "WebhookLatencyAlarmMs"}
    parameter = PARAMETERS["WebhookLatencyAlarmMs"]
    assert parameter["Default"] < parameter["MaxValue"] < THREECX_REST_TIMEOUT_MS


def test_clone_failures_alarm_fires_on_a_single_failure_at_any_traffic():
    alarm = ALARMS["CloneFailuresAlarm"]
    assert (alarm["MetricName"], alarm["Statistic"]) == ("ClonesFailed", "Sum")
    assert alarm["Threshold"] == {"Ref": "CloneFailuresAlarmThreshold"}
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert PARAMETERS["CloneFailuresAlarmThreshold"]["Default"] == 1
    # One datapoint decides it: no "at least N clones" clause, no second breaching period needed.
    assert alarm["EvaluationPeriods"] == 1 and "DatapointsToAlarm" not in alarm
    assert alarm["TreatMissingData"] == "notBreaching"


def test_the_dashboard_shows_every_alarm():
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    shown = set(re.findall(r"\$\{(\w+Alarm)\.Arn\}", body))
    assert shown == set(ALARMS)
