"""`Schedule` events: read from the template, and run by the local stack on their schedule with the
event EventBridge sends."""

import json

import pytest

from local import template
from local.stack import LocalStack, StackOptions
from local.template import TemplateError
from tests.waiting import eventually

from .conftest import FIXTURE_TEMPLATE, REPO_ROOT


def test_schedules_are_read_from_the_template():
    ids = template.LocalIds(stack_name="t")
    schedules = {s.name: s for s in template.load(FIXTURE_TEMPLATE, local_ids=ids).schedules}

    assert {name: (s.period_seconds, s.enabled) for name, s in schedules.items()} == {
        "Tick": (60, True),
        "Nightly": (86400, True),
        "Paused": (7200, False),
    }
    assert schedules["Nightly"].input == {"job": "nightly"}
    assert schedules["Tick"].rule_arn == "arn:aws:events:us-east-1:123456789012:rule/t-TickFunctionTick"


@pytest.mark.parametrize(
    "expression, seconds",
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rate_expressions(expression, seconds):
    assert template.schedule_period_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["cron(0 12 * * ? *)", "rate(0 minutes)", "rate(5 weeks)", ""])
def test_schedules_the_local_stack_cannot_run_are_named(expression, tmp_path):
    changed = FIXTURE_TEMPLATE.read_text().replace("rate(1 minute)", expression or '""')
    (tmp_path / "template.yaml").write_text(changed)

    with pytest.raises(TemplateError, match=r"TickFunction\.Tick: schedule .*rate"):
        template.load(tmp_path / "template.yaml")


def test_the_stack_invokes_scheduled_functions_like_eventbridge(tmp_path):
    with LocalStack(FIXTURE_TEMPLATE, state_dir=tmp_path, options=StackOptions(schedule_every=0.4)) as stack:
        eventually(lambda: stack.scheduler.stats()["Tick"]["runs"] >= 2, within=15, what="two ticks")
        [tick, nightly] = stack.scheduler.run_function("TickFunction")
        stats = stack.scheduler.stats()
        state = json.loads(stack.state_file.read_text())

    assert "Paused" not in stats and stats["Tick"]["errors"] == 0
    assert {s["name"]: s["every_seconds"] for s in state["schedules"]} == {"Tick": 0.4, "Nightly": 0.4}
    sent = tick.result["event"]
    expected = json.loads((REPO_ROOT / "events" / "scheduled.json").read_text())
    assert set(sent) == set(expected)  # the sample event for `sam local invoke` has the same shape
    assert (sent["source"], sent["detail-type"], sent["detail"]) == ("aws.events", "Scheduled Event", {})
    assert sent["resources"] == [stack.model.functions["TickFunction"].schedules[0].rule_arn]
    assert nightly.result["event"] == {"job": "nightly"}  # the rule's constant Input replaces the event
