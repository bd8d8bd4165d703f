"""ColdStartMode none | snapstart (issue 23 §2): the CloudFormation SAM makes of the template, with
its conditions evaluated for each value (tools/template_cold_start.py, run with the SAM CLI's
Python), and the check catching each way of breaking it; the local stack reads both values."""

import copy
import json
import subprocess

import pytest

from local import template
from local.template import TemplateError, read_yaml
from tests.aws_harness import ROOT

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"
CHECK = ROOT / "tools" / "template_cold_start.py"


def worker_snapshotted(document):
    worker = document["Resources"]["CloneWorkerFunction"]["Properties"]
    worker["AutoPublishAlias"] = "live"
    worker["SnapStart"] = {"ApplyOn": "PublishedVersions"}


def check_clone_without_alias(document):
    del document["Resources"]["IvrCheckFunction"]["Properties"]["AutoPublishAlias"]


def snapstart_always(document):
    document["Resources"]["WebhookFunction"]["Properties"]["SnapStart"] = {"ApplyOn": "PublishedVersions"}


BROKEN = {
    worker_snapshotted: "ColdStartMode=none: CloneWorkerFunction: should keep its plain start",
    check_clone_without_alias: "ColdStartMode=snapstart: IvrCheckFunction: no live alias",
    snapstart_always: "ColdStartMode=none: WebhookFunction: SnapStart {'ApplyOn': 'PublishedVersions'}",
}


def test_both_modes_pass_and_every_broken_copy_fails_for_its_reason(tmp_path):
    if not SAM_PYTHON.exists():
        pytest.fail(f"{SAM_PYTHON} is missing: `make template-check` installs the SAM CLI")
    document = read_yaml(ROOT / "template.yaml")
    paths = {}
    for breakage in BROKEN:
        broken = copy.deepcopy(document)
        breakage(broken)
        paths[breakage] = tmp_path / f"{breakage.__name__}.json"
        paths[breakage].write_text(json.dumps(broken))

    result = subprocess.run(
        [str(SAM_PYTHON), str(CHECK), str(ROOT / "template.yaml"), *map(str, paths.values())],
        capture_output=True,
        text=True,
        timeout=300,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
    )

    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    ours = [line for line in lines if line.startswith(f"{ROOT / 'template.yaml'} ")]
    assert ours == [
        f"{ROOT / 'template.yaml'} ColdStartMode={mode}: ok (aliases, SnapStart, integrations, IAM)"
        for mode in ("none", "snapstart")
    ]
    for breakage, expected in BROKEN.items():
        reported = [line for line in lines if line.startswith(f"{paths[breakage]} ")]
        assert any(expected in line for line in reported), (breakage.__name__, reported, result.stderr)


@pytest.mark.parametrize("mode", ["none", "snapstart"])
def test_the_local_stack_reads_both_modes(mode):
    model = template.load(ROOT / "template.yaml", {"ColdStartMode": mode})
    assert {f.logical_id: f.alias for f in model.functions.values()} == {
        "WebhookFunction": "live",
        "IvrCheckFunction": "live",
        "CloneWorkerFunction": None,
        "HousekeepingFunction": None,
    }
    webhook = model.functions["WebhookFunction"]
    assert webhook.environment["CHECK_CLONE_FUNCTION_NAME"] == "local-IvrCheckFunction:live"


def test_the_local_stack_refuses_a_mode_the_template_does_not_know():
    with pytest.raises(TemplateError, match="ColdStartMode"):
        template.load(ROOT / "template.yaml", {"ColdStartMode": "provisioned"})
