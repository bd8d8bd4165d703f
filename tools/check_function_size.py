"""Fail when a function spans more than MAX_LINES lines (its decorators and docstring included),
so use cases stay small. (At most 5 parameters: ruff's PLR0913, configured in pyproject.toml.)

Usage: python tools/check_function_size.py [PATH ...]   (default: layers/common/warmline local warmline_cli)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_LINES = 40
DEFAULT_PATHS = ("layers/common/warmline", "local", "warmline_cli")


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    name: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name}: {self.problem}"


def line_count(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
    return (function.end_lineno or function.lineno) - first + 1


def functions_of(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def check_source(source: str, path: str) -> list[Violation]:
    violations = []
    for function in functions_of(ast.parse(source, filename=path)):
        lines = line_count(function)
        if lines > MAX_LINES:
            problem = f"{lines} lines (at most {MAX_LINES})"
            violations.append(Violation(path, function.lineno, function.name, problem))
    return sorted(violations, key=lambda v: (v.path, v.line, v.problem))


def python_files(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def main(argv: list[str]) -> int:
    violations = []
    for path in python_files(argv or list(DEFAULT_PATHS)):
        violations += check_source(path.read_text(encoding="utf-8"), str(path))
    for violation in violations:
        print(violation)
    if violations:
        print(f"{len(violations)} function(s) over the limits", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
