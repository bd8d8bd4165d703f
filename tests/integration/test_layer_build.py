"""The common layer as layers/common/build_layer.py builds it (issue 12): python3.13 bytecode that Python
loads without a source, no third-party source, warmline's sources kept, within 15 MB for Lambda's
arm64; and (this machine's build) every function's handler imports from it alone, compiling
nothing, and only the part of the domain it runs. Builds this machine's with pip (about five seconds
with pip's cache), and Lambda's too unless `sam build` has just made it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bench import coldstart
from local import template
from tests.aws_harness import ROOT

PACKAGE_SOURCE = ROOT / "layers" / "common" / "warmline"
BUILD_LAYER = ROOT / "layers" / "common" / "build_layer.py"
# The python3.13 runtime's own SDK and what it brings: what a function may load beside the layer.
RUNTIME_SDK = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
UNCHECKED_HASH_FLAGS = 0b01  # hash-based, not checked against a source (PEP 552)
HANDLERS = sorted(template.load(ROOT / "template.yaml").functions.items())
# Each function loads the part of the domain it runs, not the use cases of the others.
NOT_LOADED = {
    "WebhookFunction": {"warmline.cloning", "warmline.ivr", "warmline.verification", "warmline.voice_sweep"},
    "IvrCheckFunction": {"warmline.cloning", "warmline.voice_slots", "warmline.voice_sweep"},
    "CloneWorkerFunction": {"warmline.ivr", "warmline.verification", "warmline.calls", "warmline.handoffs"},
    "HousekeepingFunction": {"warmline.cloning", "warmline.ivr", "warmline.verification"},
}


def _build(out_dir: Path, platform: str) -> Path:
    subprocess.run(
        [sys.executable, str(BUILD_LAYER), str(out_dir), "--platform", platform],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out_dir / "python"


def _newest_change(directory: Path) -> float:
    """The newest source file's time. Not a folder's: Python writing bytecode makes a __pycache__ in
    it, which would make every build look stale (and be built again here, seconds of CPU)."""
    return max(
        path.stat().st_mtime
        for path in directory.rglob("*")
        if "__pycache__" not in path.parts and path.is_file()
    )


@pytest.fixture(scope="module")
def lambda_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer `sam build` made (`make test` runs it first) when it is newer than its sources: what
    ships, built through template.yaml and layers/common/Makefile; otherwise built here."""
    built = ROOT / ".aws-sam" / "build" / "CommonLayer" / "python"
    if built.is_dir() and built.stat().st_mtime > _newest_change(BUILD_LAYER.parent):
        return built
    return _build(tmp_path_factory.mktemp("lambda") / "CommonLayer", "lambda")


@pytest.fixture(scope="module")
def local_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("local") / "CommonLayer", "local")


def test_bytecode_written_after_a_build_leaves_it_current(tmp_path):
    source = tmp_path / "warmline" / "module.py"
    source.parent.mkdir()
    source.write_text("")
    os.utime(source, (1_000_000_000, 1_000_000_000))  # written long before the build
    (source.parent / "__pycache__").mkdir()  # the folder's own time is now
    assert _newest_change(tmp_path) == 1_000_000_000


def test_the_layer_is_python313_bytecode_that_needs_no_source(lambda_layer):
    compiled = list(lambda_layer.rglob("*.pyc"))
    assert len(compiled) > 500
    for path in compiled:
        header = path.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, f"{path} is not python3.13 bytecode"
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH_FLAGS, f"{path} would check a source"


def test_the_requirements_ship_no_source_and_warmline_keeps_its_own(lambda_layer):
    sources = {path.relative_to(lambda_layer).as_posix() for path in lambda_layer.rglob("*.py")}
    expected = {
        f"warmline/{path.relative_to(PACKAGE_SOURCE).as_posix()}" for path in PACKAGE_SOURCE.rglob("*.py")
    }
    assert sources == expected
    for source in expected:
        module = lambda_layer / source
        cached = importlib.util.cache_from_source(str(module))
        assert Path(cached).is_file(), f"{source} has no bytecode"
    assert (lambda_layer / "pydantic" / "main.pyc").is_file()
    assert list(lambda_layer.glob("pydantic_core/*aarch64-linux-gnu.so")), "not built for Lambda's arm64"


def test_the_layer_fits_in_15_mb_unpacked(lambda_layer):
    assert coldstart.layer_size_mb(lambda_layer.parent) <= coldstart.TARGET_LAYER_MB


# Run as Lambda runs a handler: python -I, the code and the layer first on sys.path, no bytecode
# written. Prints each module the import loaded: its file and whether Python compiled it from source.
IMPORT_PROBE = """
import json, sys
sys.dont_write_bytecode = True
sys.path[0:0] = sys.argv[1:3]
before = set(sys.modules)
import app
loaded = {}
for name in set(sys.modules) - before:
    spec = getattr(sys.modules[name], "__spec__", None)
    if spec is not None and spec.has_location:
        loaded[name] = {"file": spec.origin, "cached": spec.cached}
print(json.dumps(loaded))
"""


@pytest.mark.parametrize("function_id,function", HANDLERS, ids=[name for name, _ in HANDLERS])
def test_each_handler_imports_from_the_layer_alone_compiling_nothing(local_layer, function_id, function):
    code_dir = function.code_dir
    result = subprocess.run(
        [sys.executable, "-I", "-c", IMPORT_PROBE, str(code_dir), str(local_layer)],
        cwd=code_dir,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "warmline" in loaded and "pydantic" in loaded
    assert not NOT_LOADED[function_id] & set(loaded)
    stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
    for name, where in loaded.items():
        path = Path(where["file"])
        if path.is_relative_to(local_layer):
            compiled = path.suffix in {".pyc", ".so"} or Path(where["cached"] or "").is_file()
            assert compiled, f"{function_id}: {name} is compiled at every start ({path})"
        elif name.split(".")[0] not in RUNTIME_SDK and path.parent != code_dir:
            assert where["file"].startswith(stdlib), f"{function_id}: {name} is not in the layer ({path})"


def test_a_cold_start_runs_a_copy_of_the_code_that_writes_no_bytecode(tmp_path):
    webhook = template.load(ROOT / "template.yaml").functions["WebhookFunction"]
    function = coldstart.as_in_lambda(webhook, tmp_path / "layer", tmp_path / "code")
    assert function.code_dir == tmp_path / "code" and function.layer_dirs == [tmp_path / "layer"]
    assert (tmp_path / "code" / "app.py").read_text() == (webhook.code_dir / "app.py").read_text()
    assert not list((tmp_path / "code").rglob("__pycache__"))
    entry = (tmp_path / "code" / f"{function.handler.split('.')[0]}.py").read_text()
    assert entry.startswith(coldstart.NO_BYTECODE)
    assert entry.endswith("from app import lambda_handler as handler\n")
