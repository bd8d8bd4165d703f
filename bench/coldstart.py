"""Cold starts beside their floor, and the common layer's size: the cold-start part of `make bench`
(alone: `make bench-coldstart`, about a minute).

A function's floor is the init no code of ours can save: a fresh process on the same bootstrap that
imports boto3 and builds one client per AWS service the function's role may call (its permissions
in the template, less the runtime's own logs and X-Ray). Both are timed alike, from starting the
process (python included, as Lambda's Init Duration includes its runtime's start) to ready, in turn,
`rounds` times each on the same quiet stack, and the least disturbed run of each is compared (the
minimum: on a shared machine other work only ever adds time). The on-CPU time is given beside it:
on a busy machine it is the stable part. Targets: init <= 1.3x the floor; the layer <= 15 MB.

A function starts as in Lambda: from a copy of the layer as built for it (`make layer` builds this
machine's twin of Lambda's arm64 layer with layers/common/build_layer.py) and of its code, writing no
bytecode (Lambda's /opt and /var/task are read-only), so whatever the build did not compile is
compiled at every start. The floor's boto3 keeps its bytecode, as the runtime's SDK has it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from local.lambda_runtime import ExecutionEnvironment, LambdaRuntime
from local.stack import LocalStack
from local.template import Function

FUNCTIONS = ("WebhookFunction", "CloneWorkerFunction", "IvrCheckFunction", "HousekeepingFunction")
TARGET_RATIO = 1.3
TARGET_LAYER_MB = 15.0
LAYER_DIR = Path(".aws-sam/layer/CommonLayer")  # where `make layer` builds Lambda's (arm64): weighed
LOCAL_LAYER_DIR = Path(".aws-sam/layer-local/CommonLayer")  # and this machine's twin of it: started
RUNTIME_SERVICES = {"logs", "xray"}  # written by Lambda itself, not through a client of the function
# The bootstrap runs python -I, which ignores PYTHONDONTWRITEBYTECODE: each start's entry module says
# it instead, before anything is imported.
NO_BYTECODE = "import sys\nsys.dont_write_bytecode = True\n"
FLOOR_HANDLER = f"""{NO_BYTECODE}import os
import boto3
clients = [boto3.client(service) for service in os.environ["FLOOR_SERVICES"].split(",")]
def handler(event, context):
    return None
"""


def floor_services(permissions: list[dict[str, Any]]) -> list[str]:
    """The AWS services a function's policy statements let it call (one client each)."""
    services = set()
    for statement in permissions:
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            services.add(action.split(":", 1)[0])
    return sorted(services - RUNTIME_SERVICES)


def measure(
    runtime: LambdaRuntime, functions: tuple[str, ...], rounds: int = 5, layer_dir: Path = LOCAL_LAYER_DIR
) -> dict[str, dict[str, Any]]:
    """Per function: init and floor ms (wall and on-CPU), their ratios, the floor's services."""
    if not (layer_dir / "python").is_dir():
        raise SystemExit(f"error: no built layer in {layer_dir}: `make layer` builds it")
    found = {}
    with tempfile.TemporaryDirectory(prefix="warmline-coldstart-") as scratch:
        layer = shutil.copytree(layer_dir, Path(scratch) / "layer")
        floor_dir = Path(scratch) / "floor"
        floor_dir.mkdir()
        (floor_dir / "floor.py").write_text(FLOOR_HANDLER)
        for function_id in functions:
            pool = runtime.pools[function_id]
            services = floor_services(pool.function.permissions)
            function = as_in_lambda(pool.function, layer, Path(scratch) / function_id)
            floor = replace(pool.function, handler="floor.handler", code_dir=floor_dir, layer_dirs=[])
            floor_environment = {**pool.environment, "FLOOR_SERVICES": ",".join(services)}
            inits, floors = [], []
            for _ in range(rounds):
                inits.append(_start(function, pool.environment, pool.log_path))
                floors.append(_start(floor, floor_environment, pool.log_path))
            found[function_id] = {**_compared(inits, floors), "floor_services": services}
    return found


def as_in_lambda(function: Function, layer: Path, code_dir: Path) -> Function:
    """The function started from a copy of its code (no bytecode) and the built layer, writing none."""
    shutil.copytree(function.code_dir, code_dir, ignore=shutil.ignore_patterns("__pycache__"))
    module, name = function.handler.rsplit(".", 1)
    (code_dir / "coldstart_entry.py").write_text(f"{NO_BYTECODE}from {module} import {name} as handler\n")
    return replace(function, handler="coldstart_entry.handler", code_dir=code_dir, layer_dirs=[layer])


def _compared(inits: list[tuple[float, float]], floors: list[tuple[float, float]]) -> dict[str, float]:
    """The least disturbed init and floor (wall and CPU ms) and their ratios."""
    init, floor = min(w for w, _ in inits), min(w for w, _ in floors)
    init_cpu, floor_cpu = min(c for _, c in inits), min(c for _, c in floors)
    return {
        "init_ms": round(init, 1),
        "floor_ms": round(floor, 1),
        "ratio": round(init / floor, 2),
        "init_cpu_ms": round(init_cpu, 1),
        "floor_cpu_ms": round(floor_cpu, 1),
        "cpu_ratio": round(init_cpu / floor_cpu, 2),
    }


def _start(function: Function, environment: dict[str, str], log_path: Path) -> tuple[float, float]:
    """Wall and on-CPU ms from starting the process to its ready message."""
    started = time.perf_counter()
    process = ExecutionEnvironment(function, environment, log_path)
    try:
        process.wait_ready()
        return (time.perf_counter() - started) * 1000, _cpu_ms(process.pid)
    finally:
        process.kill()


def _cpu_ms(pid: int) -> float:
    """The time the process's threads ran on a CPU, not the time they waited for one (schedstat, ns)."""
    tasks = Path(f"/proc/{pid}/task").glob("*/schedstat")
    return sum(int(task.read_text().split()[0]) for task in tasks) / 1e6


def layer_size_mb(layer_dir: Path) -> float | None:
    """The built layer's unpacked size: the sum of its files' sizes, as Lambda counts it toward its
    250 MB limit (not the disk blocks `du` shows). None when it has not been built."""
    if not layer_dir.is_dir():
        return None
    return round(sum(path.stat().st_size for path in layer_dir.rglob("*") if path.is_file()) / 1e6, 2)


def targets(cold_start: dict[str, dict[str, Any]], layer_mb: float | None) -> dict[str, dict[str, Any]]:
    worst = max(figures["ratio"] for figures in cold_start.values())
    return {
        f"init <= {TARGET_RATIO}x the floor (every function)": {"value": worst, "met": worst <= TARGET_RATIO},
        f"layer <= {TARGET_LAYER_MB:g} MB unpacked": {
            "value": layer_mb,
            "met": layer_mb is not None and layer_mb <= TARGET_LAYER_MB,
        },
    }


def markdown(cold_start: dict[str, dict[str, Any]], layer_mb: float | None) -> list[str]:
    lines = [
        "| function | init ms | floor ms | init / floor | init CPU ms | floor CPU ms | CPU ratio "
        "| floor's clients |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for function, f in cold_start.items():
        lines.append(
            f"| {function} | {f['init_ms']} | {f['floor_ms']} | {f['ratio']} | {f['init_cpu_ms']} "
            f"| {f['floor_cpu_ms']} | {f['cpu_ratio']} | {', '.join(f['floor_services'])} |"
        )
    size = (
        f"{layer_mb} MB"
        if layer_mb is not None
        else f"not built ({LAYER_DIR} missing: `make bench` builds it)"
    )
    return [*lines, "", f"Common layer, unpacked: {size}."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="starts of each function and floor (default 5)")
    parser.add_argument(
        "--layer", type=Path, default=LAYER_DIR, help=f"the built layer to weigh (default {LAYER_DIR})"
    )
    parser.add_argument(
        "--start-layer",
        type=Path,
        default=LOCAL_LAYER_DIR,
        help=f"the built layer the functions start from (default {LOCAL_LAYER_DIR})",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="warmline-coldstart-") as state_dir:
        stack = LocalStack(state_dir=state_dir, progress=lambda message: print(f"==> {message}", flush=True))
        stack.start()
        try:
            print(f"==> starting each function and its floor {args.rounds} times, in turn", flush=True)
            cold_start = measure(stack.runtime, FUNCTIONS, args.rounds, args.start_layer)
        finally:
            stack.stop()
    layer_mb = layer_size_mb(args.layer)
    print("\n".join(markdown(cold_start, layer_mb)))
    goals = targets(cold_start, layer_mb)
    for name, goal in goals.items():
        print(f"{name}: {goal['value']} ({'met' if goal['met'] else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
