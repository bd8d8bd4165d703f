"""The size checks `make lint` runs on the layer, local/ and the CLI: at most 40 lines per function
(tools/check_function_size.py) and at most 5 parameters, self and cls not counted (ruff's PLR0913,
configured in pyproject.toml), each failing the run when one is over."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_function_size", ROOT / "tools/check_function_size.py")
check = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

SMALL = """
class Desk:
    def answer(self, a, b, *, c, d, e):
        return a
"""
TOO_MANY = """
def place(a, b, c, *, d, e, f):
    return a
"""


def long_function(lines: int) -> str:
    body = "".join(f"    x{n} = {n}\n" for n in range(lines - 2))
    return f"@decorated\ndef long():\n{body}"


def ruff_parameter_check(source: str, filename: str) -> subprocess.CompletedProcess:
    """ruff with the project's configuration, on `source` as if it were the file `filename`."""
    ruff = Path(sys.executable).with_name("ruff")
    return subprocess.run(
        [str(ruff), "check", "--select", "PLR0913", "--stdin-filename", filename, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_five_parameters_besides_self_pass_and_six_fail_in_the_layer_and_the_cli():
    for place in ("layers/common/warmline/desk.py", "warmline_cli/desk.py", "local/desk.py"):
        assert ruff_parameter_check(SMALL, place).returncode == 0
        failed = ruff_parameter_check(TOO_MANY, place)
        assert failed.returncode == 1 and "PLR0913" in failed.stdout and "6 > 5" in failed.stdout


def test_forty_lines_with_the_decorator_pass_and_forty_one_fail():
    assert check.check_source(long_function(40), "ok.py") == []
    [violation] = check.check_source(long_function(41), "long.py")
    assert violation.problem == "41 lines (at most 40)"


def test_a_violation_fails_the_run_and_a_clean_tree_passes(tmp_path, capsys):
    (tmp_path / "clean.py").write_text(SMALL)
    assert check.main([str(tmp_path)]) == 0

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text(long_function(41))
    assert check.main([str(tmp_path)]) == 1
    assert "bad.py:2: long: 41 lines" in capsys.readouterr().out


def test_the_layer_local_and_the_cli_keep_to_the_limits():
    assert check.main([str(ROOT / path) for path in check.DEFAULT_PATHS]) == 0
