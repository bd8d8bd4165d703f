"""`python -m local up | down | status | serve | demo | calls`: the local stack, and calls against it."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from local.stack import (
    STATE_FILE,
    LocalStack,
    StackAlreadyRunning,
    StackOptions,
    read_state,
    retention_overrides,
    running_stack,
)
from local.template import TemplateError
from warmline_cli.api import process_alive

UP_TIMEOUT_S = 90.0
DOWN_TIMEOUT_S = 20.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{text} s: give more than 0 and less than a day")
    return value


def _stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", default="template.yaml", help="the SAM template to run")
    parser.add_argument(
        "--param",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=None,
        metavar="SECONDS",
        help="replace every queue's VisibilityTimeout (the template's own value by default)",
    )
    parser.add_argument(
        "--clone-latency",
        choices=("demo", "realistic", "instant"),
        default="demo",
        help="the ElevenLabs emulator's clone latency: demo (scaled 5-30 s), realistic (5-30 s), instant",
    )
    parser.add_argument(
        "--schedule-every",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="run the scheduled functions (the housekeeping sweep) this often instead of the template's rate",
    )
    parser.add_argument(
        "--clone-ttl-seconds",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="keep each clone this long instead of CloneTtlHours, with no grace after its last use "
        "(with --schedule-every 5 a voice is deleted within seconds of expiring)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--state-dir", default=".warmline", help="where local.json and the logs go")
    commands = parser.add_subparsers(dest="command", required=True)
    _stack_options(commands.add_parser("up", help="start the local stack in the background"))
    _stack_options(
        commands.add_parser("serve", help="run the local stack in the foreground until interrupted")
    )
    commands.add_parser("down", help="stop the stack `up` started")
    commands.add_parser("status", help="say whether a stack is up, and where")
    commands.add_parser(
        "demo", help="start a stack, play one call, print the caller's timeline, stop", add_help=False
    )
    commands.add_parser("calls", help="place simulated calls against the stack `up` started", add_help=False)
    return parser


def _parameter(pair: str) -> tuple[str, str]:
    name, separator, value = pair.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {pair!r}")
    return name, value


def serve(args: argparse.Namespace) -> int:
    from emulators.elevenlabs import CloneLatency

    stop_requested = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    stack = LocalStack(
        template_path=args.template,
        state_dir=args.state_dir,
        progress=lambda message: print(message, flush=True),
        options=StackOptions(
            parameter_overrides=dict(args.param),
            env_overrides=retention_overrides(args.clone_ttl_seconds) if args.clone_ttl_seconds else {},
            visibility_timeout_override=args.visibility_timeout,
            emulator_options={"clone_latency": getattr(CloneLatency, args.clone_latency)()},
            schedule_every=args.schedule_every,
        ),
    )
    try:
        stack.start()
    except (StackAlreadyRunning, TemplateError, OSError) as error:
        return _error(str(error))
    try:
        stop_requested.wait()
    finally:
        print("stopping the local stack", flush=True)
        stack.stop()
        print("stopped", flush=True)
    return 0


def up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    running = running_stack(state_dir)
    if running:
        return _error(
            f"a local stack is already up at {running['api_base_url']} (pid {running['pids']['stack']}); "
            "run `python -m local down` first"
        )
    if not Path(args.template).is_file():
        return _error(f"no template at {args.template}")
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "logs" / "stack.log"
    print(f"starting the local stack in the background (log: {log_path})", flush=True)
    index = args.argv.index("up")
    serve_argv = [*args.argv[:index], "serve", *args.argv[index + 1 :]]
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "local", *serve_argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    shown = 0
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        lines = log_path.read_text(errors="replace").splitlines()
        print("".join(f"  {line}\n" for line in lines[shown:]), end="", flush=True)
        shown = len(lines)
        if daemon.poll() is not None:
            return _error(f"the local stack exited with code {daemon.returncode}; see {log_path}")
        state = read_state(state_dir)
        if state and state["pids"]["stack"] == daemon.pid:  # written once the stack is up
            print(f"API base URL: {state['api_base_url']}")
            print(f"state: {(state_dir / STATE_FILE).resolve()}")
            print("stop it with `python -m local down`")
            return 0
        time.sleep(0.2)
    _stop_processes({"pids": {"stack": daemon.pid}, "process_group": daemon.pid})
    return _error(f"the local stack did not come up within {UP_TIMEOUT_S:.0f} s; see {log_path}")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1


def _stop_processes(state: dict) -> list[int]:
    """SIGTERM the stack, wait, then SIGKILL what is left; answer the pids that would not die."""
    pids = [pid for pid in state.get("pids", {}).values() if pid]
    stack_pid = state["pids"]["stack"]
    # Only a stack started by `up` leads its own process group; never signal the group of an
    # in-process stack (a test run, say).
    own_group = state.get("process_group") if state.get("process_group") == stack_pid else None
    if process_alive(stack_pid):
        os.kill(stack_pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while time.monotonic() < deadline and any(process_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
    if own_group is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(own_group, signal.SIGKILL)
    time.sleep(0.1)
    return [pid for pid in pids if process_alive(pid)]


def down(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    state = read_state(state_dir)
    if state is None:
        print("no local stack is running")
        return 0
    print(f"stopping the local stack (pids {', '.join(map(str, state['pids'].values()))})", flush=True)
    survivors = _stop_processes(state)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    if survivors:
        return _error(f"these processes would not stop: {survivors}")
    print("stopped")
    return 0


def status(args: argparse.Namespace) -> int:
    state = running_stack(args.state_dir)
    if state is None:
        print("no local stack is running")
        return 1
    print(f"local stack up at {state['api_base_url']} (pid {state['pids']['stack']})")
    print(json.dumps({"endpoints": state["endpoints"], "pids": state["pids"]}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # demo and calls parse their own options.
    if argv[:1] == ["demo"]:
        from local import demo

        return demo.main(argv[1:])
    if argv[:1] == ["calls"]:
        from emulators import calls

        return calls.main(argv[1:], running_stack)
    args = _parser().parse_args(argv)
    args.argv = argv
    return {"up": up, "down": down, "status": status, "serve": serve}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
