"""The CLI as an operator installs it: `pip install .` (or pipx) of the project into a fresh virtual
environment gives a working `warmline` with only what the CLI needs (docs/cli.md), and the wheel holds
warmline and warmline_cli, not the development packages. `--version` and `--help` import none of
the heavy packages (their time is measured in docs/cli.md, not here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "httpx", "av", "numpy", "pydantic", "mutagen", "phonenumbers")


def _run(*argv: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy of the files the package is made of (so nothing else
    is needed, and the worktree gets no build folders)."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "warmline_cli", source / "warmline_cli", ignore=ignore)
    shutil.copytree(REPO_ROOT / "layers/common/warmline", source / "layers/common/warmline", ignore=ignore)
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", root / "dist", source, cwd=root
    )
    assert built.returncode == 0, built.stderr
    [found] = (root / "dist").glob("warmline-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_venv(wheel) -> Path:
    """A virtual environment with nothing but the wheel and the dependencies it declares."""
    venv = wheel.parent.parent / "venv"
    # No pip of its own (seconds of CPU to unpack): this interpreter's pip installs into it (--python).
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=wheel.parent)
    assert made.returncode == 0, made.stderr
    installed = _run(
        # --no-compile: pip's bytecode for every dependency is seconds of CPU the test does not use.
        sys.executable,
        "-m",
        "pip",
        "--python",
        venv / "bin/python",
        "install",
        "--quiet",
        "--no-compile",
        wheel,
        cwd=wheel.parent,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    return venv


def test_the_wheel_ships_the_cli_and_the_layer_only(wheel):
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"warmline", "warmline_cli"}


def test_the_declared_dependencies_are_the_pins_the_project_tests_with():
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for requirements in ("requirements-dev.txt", "layers/common/requirements.txt"):
        for line in (REPO_ROOT / requirements).read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("==")
                pins[name.split("[")[0].strip().lower()] = version.strip()
    for requirement in declared:
        name, version = requirement.split("==")
        assert pins.get(name.lower()) == version, f"{requirement} is not pinned so in the requirements files"


def test_a_fresh_venv_gets_a_working_warmline(fresh_venv, stack, tmp_path):
    warmline = fresh_venv / "bin/warmline"

    version = _run(warmline, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("warmline "), version.stderr

    listed = _run(
        warmline, "samples", "list", "--local", "--local-state", stack.state_file, "--json", cwd=tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"callers": []}

    development = _run(fresh_venv / "bin/python", "-c", "import local", cwd=tmp_path)
    assert "No module named 'local'" in development.stderr


@pytest.mark.parametrize(
    "argv", [["--version"], ["--help"], ["samples", "--help"], ["samples", "add", "--help"]]
)
def test_version_and_help_import_no_heavy_package(argv, tmp_path):
    probe = (
        "import sys\n"
        "from warmline_cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(name for name in {HEAVY!r} if name in sys.modules), file=sys.stderr)\n"
    )
    ran = _run(sys.executable, "-c", probe, cwd=tmp_path)
    assert ran.stderr.strip().splitlines()[-1] == "[]"
