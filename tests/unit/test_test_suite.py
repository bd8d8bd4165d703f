"""The suite's own rules: no test sleeps more than a second at once (tests/conftest.py also fails a
test whose thread does, whatever the argument), and a test's tier is the folder it is in."""

import ast
from pathlib import Path

import pytest

from tests.conftest import ALONE, MAX_SLEEP_SECONDS, PACKAGE_STACKS, TIERS, tier_of, work_group

TESTS = Path(__file__).resolve().parents[1]


def _sleeps(path: Path) -> list[tuple[int, float]]:
    """(line, seconds) of each `sleep(<number>)` or `time.sleep(<number>)` call in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        argument = node.args[0]
        if name == "sleep" and isinstance(argument, ast.Constant) and isinstance(argument.value, int | float):
            found.append((node.lineno, float(argument.value)))
    return found


def test_no_test_file_sleeps_more_than_a_second_at_once():
    # fixtures/ holds the functions of a fixture template: they run in their own processes.
    files = [path for path in TESTS.rglob("*.py") if "fixtures" not in path.parts]
    long = [
        f"{path.relative_to(TESTS.parent)}:{line}: sleep({seconds:g})"
        for path in files
        for line, seconds in _sleeps(path)
        if seconds > MAX_SLEEP_SECONDS
    ]
    assert long == []


def test_the_scan_sees_a_long_sleep(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("import time\nfrom time import sleep\ntime.sleep(0.2)\nsleep(35)\n")
    assert _sleeps(sample) == [(3, 0.2), (4, 35.0)]


def test_the_tiers_are_the_folders():
    assert TIERS == {
        "tests/unit/": "unit",
        "tests/integration/": "integration",
        "tests/e2e/": "e2e",
        "tests/faults/": "e2e",
        "tests/property/": "e2e",
        "tests/cli/": "e2e",
    }
    test_files = [path.relative_to(TESTS.parent).as_posix() for path in TESTS.rglob("test_*.py")]
    tiers = {path: tier_of(path)[1] for path in test_files if "fixtures" not in path}
    assert {tiers[path] for path in tiers if path.startswith("tests/unit/")} == {"unit"}
    assert {tiers[path] for path in tiers if path.startswith("tests/integration/")} == {"integration"}


def test_a_file_outside_the_tier_folders_has_no_tier():
    with pytest.raises(pytest.UsageError):
        tier_of("tests/elsewhere/test_x.py")


def test_a_directorys_modules_are_dealt_into_its_stack_groups_and_the_others_go_alone():
    groups = PACKAGE_STACKS["tests/e2e/"]
    seen: dict[str, list[str]] = {}
    modules = [f"tests/e2e/test_{n}.py" for n in range(groups + 1)]
    dealt = [work_group(module, seen) for module in modules]
    assert dealt == [f"tests/e2e/stack-{n}" for n in range(groups)] + ["tests/e2e/stack-0"]
    assert work_group(modules[1], seen) == "tests/e2e/stack-1"  # a module's every test goes with it
    assert work_group("tests/unit/test_x.py", seen) == "tests/unit/test_x.py"
    assert all(work_group(module, seen) == module for module in ALONE)
    nested = "tests/integration/local_stack/test_x.py"
    assert work_group(nested, seen) == nested
