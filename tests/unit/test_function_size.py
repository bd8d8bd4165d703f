"""The size check `make lint` runs on the layer (tools/check_function_size.py): at most 5 parameters
(self and cls not counted) and 40 lines per function, and a failing exit when one is over."""

import ast
import importlib.util
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
ARGS_COUNT = """
def spread(a, *args, **kwargs):
    return a
"""


def long_function(lines: int) -> str:
    body = "".join(f"    x{n} = {n}\n" for n in range(lines - 2))
    return f"@decorated\ndef long():\n{body}"


def test_five_parameters_besides_self_pass():
    assert check.check_source(SMALL, "small.py") == []


def test_six_parameters_fail_and_name_the_function():
    [violation] = check.check_source(TOO_MANY, "many.py")

    assert str(violation) == "many.py:2: place: 6 parameters (at most 5)"


def test_star_args_count_as_parameters():
    assert check.parameter_count(ast.parse(ARGS_COUNT).body[0]) == 3


def test_forty_lines_with_the_decorator_pass_and_forty_one_fail():
    assert check.check_source(long_function(40), "ok.py") == []
    [violation] = check.check_source(long_function(41), "long.py")
    assert violation.problem == "41 lines (at most 40)"


def test_a_violation_fails_the_run_and_a_clean_tree_passes(tmp_path, capsys):
    (tmp_path / "clean.py").write_text(SMALL)
    assert check.main([str(tmp_path)]) == 0

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text(TOO_MANY)
    assert check.main([str(tmp_path)]) == 1
    assert "bad.py:2: place: 6 parameters" in capsys.readouterr().out


def test_the_layer_keeps_to_the_limits():
    assert check.main([str(ROOT / "layers/common/warmline")]) == 0
