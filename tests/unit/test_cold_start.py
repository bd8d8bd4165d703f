"""What a function pays for at init (issue 12): not the X-Ray SDK, not httpx until ElevenLabs is
called, no SDK in the layer; and how `make bench` weighs a cold start against its floor. The times
themselves are in the benchmark (`make bench-coldstart`), not here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from bench import coldstart
from local import template
from tests.aws_harness import ROOT

HANDLERS = ("webhook", "ivr_check", "clone_worker", "housekeeping")
# Loaded by the runtime's own boto3 or on first use, never at a function's init.
NOT_AT_INIT = ("aws_xray_sdk", "httpx")


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_functions_init_loads_neither_the_xray_sdk_nor_httpx(handler):
    code_dir = ROOT / "functions" / handler
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(code_dir), str(ROOT / "layers" / "common")]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    loaded = subprocess.run(
        [sys.executable, "-c", "import json, sys, app; print(json.dumps(sorted(sys.modules)))"],
        cwd=code_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = {name.split(".")[0] for name in json.loads(loaded.stdout)}
    assert "warmline" in modules and "boto3" in modules
    assert not modules & set(NOT_AT_INIT)


def test_the_layer_leaves_the_sdk_to_the_runtime():
    lines = (ROOT / "layers" / "common" / "requirements.txt").read_text().splitlines()
    names = [re.split(r"[\[=<>~ ]", line.strip())[0].lower() for line in lines if line.strip()[:1].isalnum()]
    assert names and not {"boto3", "botocore", "aws-xray-sdk"} & set(names)
    assert not any("[tracer]" in line or "[all]" in line for line in lines)


def test_a_floor_has_one_client_per_service_the_role_may_call():
    functions = template.load(ROOT / "template.yaml").functions
    assert coldstart.floor_services(functions["WebhookFunction"].permissions) == [
        "dynamodb",
        "lambda",  # the warm-up of check_clone (warmline.prewarm)
        "secretsmanager",
        "sqs",
    ]
    assert coldstart.floor_services(functions["CloneWorkerFunction"].permissions) == [
        "dynamodb",
        "s3",
        "secretsmanager",
        "sqs",
    ]
    one_action = [{"Action": "s3:GetObject"}, {"Action": ["logs:PutLogEvents", "xray:PutTraceSegments"]}]
    assert coldstart.floor_services(one_action) == ["s3"]


def test_the_layer_weighs_its_files_not_their_disk_blocks(tmp_path):
    assert coldstart.layer_size_mb(tmp_path / "not-built") is None
    (tmp_path / "python" / "pkg").mkdir(parents=True)
    (tmp_path / "python" / "pkg" / "a.py").write_bytes(b"x" * 1_500_000)
    (tmp_path / "python" / "b.txt").write_bytes(b"y" * 10_000)
    assert coldstart.layer_size_mb(tmp_path) == 1.51


def test_the_targets_hold_for_every_function_or_not_at_all():
    figures = {
        "WebhookFunction": {"ratio": 1.2},
        "IvrCheckFunction": {"ratio": 1.31},
    }
    goals = coldstart.targets(figures, 14.9)
    assert [(goal["value"], goal["met"]) for goal in goals.values()] == [(1.31, False), (14.9, True)]
    assert [goal["met"] for goal in coldstart.targets({"F": {"ratio": 1.3}}, None).values()] == [True, False]
