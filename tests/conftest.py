"""Each test's tier, and the order a parallel run hands tests out in: declared here and nowhere else.

Tiers (pytest markers; `make unit` runs the first, `make test` all three):
- unit: no server of any kind, no local stack (the domain with in-memory fakes, template and
  audio checks). Seconds.
- integration: the handlers in-process against moto and the ElevenLabs emulator on loopback, the
  emulator itself, and the local stack's parts on a small fixture template.
- e2e: whole local stacks over HTTP (calls, faults, properties, and the CLI as an operator runs it).

A test's tier is the folder its file is in (TIERS). `make test` runs the tests
with pytest-xdist, one module at a time per worker (`--dist loadscope`, in the units of work_group), so a
module's fixtures start once, and a directory's whole local stack a few times (PACKAGE_STACKS), not
once per worker. Modules go out in the order of TIERS, a directory's together (the long, mostly waiting
end-to-end ones first, so that short ones fill in beside them): a worker is done with a directory's
local stack (a package-scoped fixture) before it moves on, and stops it, so each worker runs at
most one whole stack of each kind at a time.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback

import pytest

from local.fork_server import PRELOAD_VARIABLE

UNIT, INTEGRATION, E2E = "unit", "integration", "e2e"

# The local stacks' execution environments and moto servers are forks of processes that imported their
# packages once (local/fork_server.py): about 0.3 s of CPU less per cold start, some 150 of them a run,
# and 0.7 s per moto, some 40. `make bench` and `make demo` never set it: their cold starts are
# Lambda's, imports and all.
os.environ.setdefault(PRELOAD_VARIABLE, "1")

TIERS = {  # in the order a parallel run hands the folders out: the long, mostly waiting ones first
    "tests/faults/": E2E,
    "tests/e2e/": E2E,
    "tests/cli/": E2E,
    "tests/property/": E2E,
    "tests/integration/": INTEGRATION,
    "tests/unit/": UNIT,
}


def tier_of(path: str) -> tuple[int, str]:
    """(its place in TIERS, its tier) for a test file's path relative to the repository."""
    matches = [
        (len(prefix), place, tier)
        for place, (prefix, tier) in enumerate(TIERS.items())
        if path.startswith(prefix)
    ]
    if not matches:
        raise pytest.UsageError(
            f"{path} has no tier: put it in one of the folders TIERS names (tests/conftest.py)"
        )
    _, place, tier = max(matches)
    return place, tier


# A directory whose tests share a whole local stack (a package-scoped fixture) goes out in this many
# groups of its modules (dealt in turn, in the order they come), each whole to one worker: its stack
# starts that many times (each start is seconds of CPU: moto, and every function's cold start), not
# once on every worker that happens to get one of its modules. Other modules go out one by one.
PACKAGE_STACKS = {"tests/faults/": 4, "tests/e2e/": 3, "tests/cli/": 4}
# Modules that go out alone all the same: the load test leaves thousands of events in its stack's
# table, past which the metrics endpoint's reads outlast their AWS timeout.
ALONE = {"tests/e2e/test_load.py"}


def work_group(module: str, seen: dict[str, list[str]]) -> str:
    """The unit of work a test module goes to a worker in: itself, or one of its directory's stack
    groups (`seen`: the modules of each directory dealt so far)."""
    directory = module.rsplit("/", 1)[0] + "/"
    groups = PACKAGE_STACKS.get(directory)
    if groups is None or module in ALONE:
        return module
    dealt = seen.setdefault(directory, [])
    if module not in dealt:
        dealt.append(module)
    return f"{directory}stack-{dealt.index(module) % groups}"


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadscope` (make test) with work_group's units instead of modules."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class StackGroupScheduling(LoadScopeScheduling):
        def __init__(self, config: pytest.Config, log: object = None) -> None:
            super().__init__(config, log)
            self.dealt: dict[str, list[str]] = {}

        def _split_scope(self, nodeid: str) -> str:
            return work_group(nodeid.split("::", 1)[0], self.dealt)

    return StackGroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    places = {}
    for item in items:
        place, tier = tier_of(item.path.relative_to(config.rootpath).as_posix())
        item.add_marker(tier)
        places[item.nodeid] = place
    items.sort(key=lambda item: places[item.nodeid])  # stable: a module keeps its own order


def pytest_configure(config: pytest.Config) -> None:
    """A run of the unit tier alone (`make unit`) refuses to open a listening socket, so a test that
    needs a server cannot sit in that tier unnoticed."""
    if config.option.markexpr == UNIT:

        def refuse(self: socket.socket, *args: object) -> None:
            raise AssertionError(
                "a unit-tier test started a server: give its file another tier in tests/conftest.py"
            )

        socket.socket.listen = refuse  # type: ignore[method-assign]


# No test waits on the wall clock for more than a second at once: it advances the stack's clock
# (local/clock.py) or polls with tests/waiting.py's eventually(). A longer sleep in a test's own
# thread (the test, its fixtures, or warmline code it calls in-process) fails the test; the servers'
# threads (the emulator's hang faults) and other processes may sleep as long as they like.
MAX_SLEEP_SECONDS = 1.0
_real_sleep = time.sleep
_long_sleeps: list[str] = []


def _guarded_sleep(seconds: float) -> None:
    if seconds > MAX_SLEEP_SECONDS and threading.current_thread() is threading.main_thread():
        where = "".join(traceback.format_stack(limit=4)[:-1])
        _long_sleeps.append(f"time.sleep({seconds:.2f}) at\n{where}")
    _real_sleep(seconds)


time.sleep = _guarded_sleep


@pytest.fixture(autouse=True)
def _no_long_sleep():
    _long_sleeps.clear()
    yield
    if _long_sleeps:
        found = "\n".join(_long_sleeps)
        _long_sleeps.clear()
        pytest.fail(f"slept more than {MAX_SLEEP_SECONDS} s at once (advance a clock or poll):\n{found}")
