"""The map at the top of the package (warmline/__init__.py) names every module of the layer, so a
newcomer finds the room for a change by its name, and a new module cannot be left off it."""

import re
from pathlib import Path

import warmline

PACKAGE = Path(warmline.__file__).parent


def mapped_names() -> set[str]:
    """The module names the map opens its lines with (two on a line: `aws ...;  deadline ...`)."""
    names = set()
    for line in (warmline.__doc__ or "").splitlines():
        names.update(re.findall(r"(?:^  |;  )([a-z_0-9]+)\s", line))
    return names


def test_every_module_of_the_layer_is_on_the_map():
    modules = {path.stem for path in PACKAGE.rglob("*.py") if path.stem != "__init__"}

    assert modules - mapped_names() == set()
    assert mapped_names() - modules == set()  # nor a module that is gone
