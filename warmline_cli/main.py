"""`warmline`: register callers' voice samples and wire ElevenLabs and 3CX to a warmline stack.

Every command acts on a deployed stack (`--stack NAME`, or the WARMLINE_STACK environment variable;
read from its CloudFormation outputs) or on the local stack (`--local`, read from
.warmline/local.json). See docs/deployment.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warmline import __version__
from warmline.voice_provider import ProviderError
from warmline_cli.console import EXIT_CODES_HELP, OK, CliError, ExitCode, UsageError, emit_json, say, warn

if TYPE_CHECKING:
    from warmline_cli.target import Target

# Each command imports what it needs when it runs (boto3, httpx, PyAV and numpy take half a second to
# load): `warmline --version` and `--help` load none of them (tests/cli/test_install.py).

COMMANDS = (
    """commands (each takes --stack NAME [--region REGION], WARMLINE_STACK, or --local):
  warmline samples add --caller NUMBER --file AUDIO [--file AUDIO ...] --consent TEXT
                       [--pin] [--replace [--yes]] [--prewarm [--wait [--timeout SECONDS]]]
  warmline samples import FILE.csv [--dry-run] [--replace [--yes]]
  warmline samples list [--json]
  warmline samples show --caller NUMBER [--json]
  warmline samples remove (--caller NUMBER | --key CALLER_KEY | --all) [--yes]
  warmline samples rekey --caller NUMBER [--pin]
  warmline samples pin --caller NUMBER [--clear | --unlock]
  warmline samples consent [--caller NUMBER] [--export FILE|-] [--format csv|json]
  warmline elevenlabs configure [--agent-id ID] [--transfer-to SIP_URI_OR_NUMBER] [--dry-run]
  warmline elevenlabs selftest [--agent-id ID] [--caller NUMBER] [--transfer-to SIP_URI_OR_NUMBER] [--json]
  warmline elevenlabs probe [NAME ...] [--caller NUMBER] [--did NUMBER] [--sample-caller NUMBER]
                            [--guided] [--json FILE]
  warmline 3cx flow --project DIR --agent-number NUMBER
  warmline doctor [--agent-id ID] [--json]
  warmline metrics [--from WHEN] [--to WHEN] [--json]
  warmline dlq list [--json]
  warmline dlq redrive [--yes]
  warmline calls list [--hours H] [--limit N] [--json]
  warmline calls show --call-id ID [--hours H] [--png FILE] [--json]
  warmline secrets rotate {threecx,agent,operator}

`warmline COMMAND [ACTION] --help` explains each one. --json prints one JSON document on stdout
(keys in docs/cli.md); progress and errors go to stderr.

"""
    + EXIT_CODES_HELP
)


def _target_options() -> argparse.ArgumentParser:
    """--stack or --local (main() refuses both: argparse loses a mutually exclusive group's place in
    its argument group when the group comes from a parent parser, and lists it under "options")."""
    options = argparse.ArgumentParser(add_help=False)
    where = options.add_argument_group("target: --stack NAME [--region REGION], or --local")
    where.add_argument(
        "--stack", metavar="NAME", help="a deployed warmline CloudFormation stack (default: $WARMLINE_STACK)"
    )
    where.add_argument(
        "--region", help="with --stack: its AWS region (default: AWS_REGION / your AWS config)"
    )
    where.add_argument("--local", action="store_true", help="the local stack (`make up`)")
    where.add_argument(
        "--local-state",
        type=Path,
        metavar="FILE",
        help="with --local: the state file `make up` writes (default .warmline/local.json)",
    )
    return options


def _json_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true", help="print one JSON document (keys in docs/cli.md)")


def _yes_option(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument(
        "--yes",
        action="store_true",
        help=f"{what} without asking (needed when standard input is not a terminal)",
    )


class _Parser(argparse.ArgumentParser):
    """A parser whose arguments may be added when it is used (`fill`: its command line parsed or its
    help printed), so that listing the commands imports none of the modules that describe their options.

    Every command's help ends with a pointer to the exit codes, which `warmline --help` lists once."""

    def __init__(self, *args: Any, fill: Callable[[argparse.ArgumentParser], None] | None = None, **kw: Any):
        kw.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kw.setdefault("epilog", "exit codes: `warmline --help`")
        super().__init__(*args, **kw)
        self._fill = fill

    def _filled(self) -> None:
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._filled()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._filled()
        return super().format_help()


def parser() -> argparse.ArgumentParser:
    target = _target_options()
    root = _Parser(prog="warmline", description=__doc__, epilog=COMMANDS)
    root.add_argument("--version", action="version", version=f"warmline {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sample_group = commands.add_parser(
        "samples", help="callers' voice samples: add, import, list, show, remove; the consent log"
    )
    sample_commands = sample_group.add_subparsers(dest="action", required=True, metavar="ACTION")
    for add_parsers in (_add_parser, _import_parser, _record_parsers, _key_parsers):
        add_parsers(sample_commands, target)
    for add_parsers in (_wiring_parsers, _operations_parsers, _dlq_parsers, _calls_parsers):
        add_parsers(commands, target)
    return root


Subcommands = Any  # argparse's _SubParsersAction, which it does not export


def _add_parser(sample_commands: Subcommands, target: argparse.ArgumentParser) -> None:
    add = sample_commands.add_parser(
        "add", parents=[target], help="check audio files and register them as a caller's voice sample"
    )
    add.add_argument("--caller", required=True, metavar="NUMBER", help=CALLER_HELP)
    add.add_argument(
        "--file",
        required=True,
        action="append",
        type=Path,
        metavar="AUDIO",
        help="an audio file (mp3, wav, flac, ogg/opus, m4a); repeat for more",
    )
    add.add_argument(
        "--consent",
        required=True,
        metavar="TEXT",
        help='required: who agreed, when and how, e.g. "Jane Doe, by phone, 2026-11-24"',
    )
    add.add_argument("--pin", action="store_true", help=PIN_HELP)
    add.add_argument(
        "--replace",
        action="store_true",
        help="the caller is registered: delete their samples and clones, then register these files "
        "(without it, the same files are a no-op and other files are refused)",
    )
    _yes_option(add, "--replace")
    _prewarm_options(add)


def _prewarm_options(add: argparse.ArgumentParser) -> None:
    add.add_argument(
        "--prewarm", action="store_true", help="clone now, so the caller's first call has the clone"
    )
    add.add_argument(
        "--wait",
        action="store_true",
        help="with --prewarm: show progress until the clone is ready (or failed)",
    )
    add.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"with --wait: give up waiting after this long (default {DEFAULT_WAIT_SECONDS:g}; exit 1)",
    )


def _import_parser(sample_commands: Subcommands, target: argparse.ArgumentParser) -> None:
    importer = sample_commands.add_parser(
        "import",
        parents=[target],
        help="register the callers of a CSV file (number,samples,consent[,pin]); all rows are checked first",
        fill=_import_description,
    )
    importer.add_argument("file", type=Path, metavar="FILE.csv", help="the callers, a row each")
    importer.add_argument("--dry-run", action="store_true", help="check every row; register nothing")
    importer.add_argument(
        "--replace", action="store_true", help="re-register callers registered with other samples"
    )
    _yes_option(importer, "--replace")


def _import_description(importer: argparse.ArgumentParser) -> None:
    from warmline_cli import samples_import

    importer.description = samples_import.__doc__


def _record_parsers(sample_commands: Subcommands, target: argparse.ArgumentParser) -> None:
    listing = sample_commands.add_parser("list", parents=[target], help="list the callers with voice samples")
    _json_option(listing)
    show = sample_commands.add_parser("show", parents=[target], help="a caller's samples, consent and clone")
    show.add_argument("--caller", required=True, metavar="NUMBER", help=CALLER_HELP)
    _json_option(show)
    remove = sample_commands.add_parser(
        "remove",
        parents=[target],
        help="withdraw a caller: delete their samples (all versions), profile, clone record and clones; "
        "asks first; a caller already gone is success",
    )
    which = remove.add_mutually_exclusive_group(required=True)
    which.add_argument("--caller", metavar="NUMBER", help=CALLER_HELP)
    which.add_argument(
        "--key",
        metavar="CALLER_KEY",
        help="the caller's key (ck_…), as `samples list` shows it: for a caller whose number you do not have",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="every registered caller, and any samples left without one (before `sam delete`); one question",
    )
    _yes_option(remove, "remove")


def _key_parsers(sample_commands: Subcommands, target: argparse.ArgumentParser) -> None:
    rekey = sample_commands.add_parser(
        "rekey",
        parents=[target],
        help="move a caller registered under the numbering rule before libphonenumber's to their current key",
    )
    rekey.add_argument(
        "--caller", required=True, metavar="NUMBER", help="the caller's number, as it was registered"
    )
    rekey.add_argument("--pin", action="store_true", help="the caller has a PIN: ask for it, to set it again")
    pin = sample_commands.add_parser(
        "pin", parents=[target], help="set (asks for it), clear or unlock a registered caller's PIN"
    )
    pin.add_argument("--caller", required=True, metavar="NUMBER", help=CALLER_HELP)
    pin_change = pin.add_mutually_exclusive_group()
    pin_change.add_argument("--clear", action="store_true", help="remove the PIN: no verification")
    pin_change.add_argument(
        "--unlock", action="store_true", help="forget the wrong attempts and end a lock; keep the PIN"
    )
    sample_commands.add_parser(
        "consent",
        parents=[target],
        help="the consent log: who registered each caller, when, on what consent, and any withdrawal",
        fill=_consent_options,
    )


def _consent_options(consent: argparse.ArgumentParser) -> None:
    from warmline_cli import consent_log

    consent.add_argument("--caller", metavar="NUMBER", help="one caller's entries (default: every caller's)")
    consent.add_argument(
        "--export",
        type=Path,
        metavar="FILE",
        help="write the entries to FILE (`-` for stdout) instead of listing",
    )
    consent.add_argument(
        "--format",
        choices=consent_log.FORMATS,
        help="csv or json (default: from FILE's extension; csv for -)",
    )


def _wiring_parsers(commands: Subcommands, target: argparse.ArgumentParser) -> None:
    commands.add_parser(
        "elevenlabs",
        help="wire the ElevenLabs agent to the stack; check it live",
        fill=lambda elevenlabs: _elevenlabs_parsers(elevenlabs, target),
    )
    threecx_group = commands.add_parser("3cx", help="the 3CX Call Flow Designer project")
    threecx_commands = threecx_group.add_subparsers(dest="action", required=True, metavar="ACTION")
    flow = threecx_commands.add_parser(
        "flow", parents=[target], help="write the Call Flow Designer project and say what to do with it"
    )
    flow.add_argument("--project", required=True, type=Path, metavar="DIR", help="where to write it")
    flow.add_argument(
        "--agent-number",
        required=True,
        metavar="NUMBER",
        help="what the flow's Transfer components dial to reach the ElevenLabs agent (the number imported "
        "at ElevenLabs, sent over the trunk by an outbound rule)",
    )


def _elevenlabs_parsers(elevenlabs: argparse.ArgumentParser, target: argparse.ArgumentParser) -> None:
    from warmline_cli import probe, selftest

    elevenlabs_commands = elevenlabs.add_subparsers(dest="action", required=True, metavar="ACTION")
    configure = elevenlabs_commands.add_parser(
        "configure",
        parents=[target],
        help="set the agent's webhook, overrides, check_clone tool, variables and transfer (idempotent)",
    )
    configure.add_argument("--agent-id", help="the ElevenLabs agent (default: the stack's ElevenLabsAgentId)")
    configure.add_argument(
        "--transfer-to",
        metavar="SIP_URI_OR_NUMBER",
        help="where the agent transfers the call back to 3CX (SIP REFER), e.g. sip:800@pbx.example.com",
    )
    configure.add_argument(
        "--dry-run", action="store_true", help="print the requests that would change anything"
    )
    configure.add_argument(
        "--voice-slots",
        type=int,
        default=2,
        metavar="N",
        help="HandoffMode=agent_transfer: how many voice-slot agents (the most first callers at once; 2)",
    )
    configure.add_argument(
        "--force",
        action="store_true",
        help="HandoffMode=agent_transfer without a passing `probe voice-switch` (says what it risks)",
    )
    selftest.add_parser(elevenlabs_commands, target)
    probe.add_parser(elevenlabs_commands, target)


def _operations_parsers(commands: Subcommands, target: argparse.ArgumentParser) -> None:
    secrets_group = commands.add_parser("secrets", help="rotate a shared secret without dropping calls")
    secrets_commands = secrets_group.add_subparsers(dest="action", required=True, metavar="ACTION")
    secrets_commands.add_parser(
        "rotate",
        parents=[target],
        help="a new value; the previous one is accepted for SecretOverlapSeconds (default 1 h)",
        fill=_rotate_options,
    )

    doctor = commands.add_parser("doctor", parents=[target], help="check the stack end to end without a call")
    doctor.add_argument("--agent-id", help="the ElevenLabs agent (default: the stack's ElevenLabsAgentId)")
    _json_option(doctor)

    figures = commands.add_parser(
        "metrics", parents=[target], help="the cloning figures of GET /api/metrics/cloning, as a table"
    )
    figures.add_argument(
        "--from", dest="window_from", metavar="WHEN", help="ISO-8601 or epoch ms (default: 24 h before --to)"
    )
    figures.add_argument("--to", dest="window_to", metavar="WHEN", help="ISO-8601 or epoch ms (default: now)")
    _json_option(figures)


def _rotate_options(rotate: argparse.ArgumentParser) -> None:
    from warmline_cli import secret_rotation

    rotate.add_argument("name", metavar="NAME", help=f"one of {', '.join(secret_rotation.ROTATABLE)}")


def _dlq_parsers(commands: Subcommands, target: argparse.ArgumentParser) -> None:
    dead_letters = commands.add_parser("dlq", help="the clone jobs' dead-letter queue")
    dlq_commands = dead_letters.add_subparsers(dest="action", required=True, metavar="ACTION")
    dlq_list = dlq_commands.add_parser(
        "list", parents=[target], help="the clone jobs that failed every delivery"
    )
    _json_option(dlq_list)
    dlq_redrive = dlq_commands.add_parser(
        "redrive",
        parents=[target],
        help="clone each dead-lettered job's caller again (a fresh job on the clone-jobs queue)",
    )
    _yes_option(dlq_redrive, "redrive")


DEFAULT_WAIT_SECONDS = 180.0


CALLER_HELP = "the caller's phone number, e.g. +44 20 7946 0000 (a national number takes DefaultCountryCode)"
PIN_HELP = (
    "ask for a PIN (typed twice, not echoed; or one line on standard input) that the caller types on "
    "the keypad before their cloned voice speaks: the defence against a spoofed caller number"
)


def resolve_target(args: argparse.Namespace) -> Target:
    from warmline_cli.target import from_local, from_stack

    if args.local:
        return from_local(args.local_state) if args.local_state else from_local()
    stack = args.stack or os.environ.get("WARMLINE_STACK", "").strip()
    if not stack:
        raise UsageError("which stack? pass --stack NAME (or set WARMLINE_STACK), or --local")
    return from_stack(stack, args.region)


def _agent_id(args: argparse.Namespace, target: Target) -> str:
    return args.agent_id or target.default_agent_id


def _voice_slots(args: argparse.Namespace, target: Target, client: Any, agent_id: str) -> list[Any]:
    """HandoffMode=agent_transfer: the voice-slot agents, once `probe voice-switch` passed."""
    from warmline_cli.probe import voice_switch_path
    from warmline_cli.slot_agents import SlotSetup, gate

    if args.voice_slots < 1:
        raise UsageError("--voice-slots must be at least 1")
    gate(voice_switch_path(target, args.local_state), args.force)
    main_agent = client.get(f"/v1/convai/agents/{agent_id}")
    return SlotSetup(client, target, main_agent, args.voice_slots).run()


def configure(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli.agent_setup import AgentSetup
    from warmline_cli.elevenlabs_admin import AdminClient

    agent_id = _agent_id(args, target)
    if not agent_id:
        raise UsageError(
            "no agent id: pass --agent-id (the id in the agent's URL in the ElevenLabs dashboard) "
            "or deploy the stack with ElevenLabsAgentId"
        )
    client = AdminClient(
        target.secret("ElevenLabsApiKeySecret"), target.elevenlabs_base_url, dry_run=args.dry_run
    )
    try:
        steps = AgentSetup(client, target, agent_id, target.secret("AgentSecret"), args.transfer_to).run()
        if target.handoff_mode == "agent_transfer":
            from warmline_cli import post_call_webhook

            steps += _voice_slots(args, target, client, agent_id)
            steps.append(post_call_webhook.register(client, target))
    finally:
        client.close()
    for step in steps:
        if step.state == "ok":
            say(f"{OK} {step.name}: {step.detail}")
        elif step.state == "needed":
            warn(f"{step.name}: {step.detail}")
        else:
            say(f"{'would change' if args.dry_run else 'changed'} {step.name}: {step.detail}")
    writes = len(client.writes)
    if args.dry_run:
        say(f"dry run: {writes} request(s) would be sent, none was")
    else:
        say(f"agent {agent_id} is wired to {target.description}" + ("" if writes else " (nothing to change)"))
    return 1 if any(step.state == "needed" for step in steps) else 0


def _pin_command(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import samples

    if args.clear:
        return samples.clear_pin(target, args.caller)
    if args.unlock:
        return samples.unlock_pin(target, args.caller)
    return samples.set_pin(target, args.caller)


def _add(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import prewarm, samples

    if args.wait and not args.prewarm:
        raise UsageError("--wait waits for the clone --prewarm queues: pass both")
    pin = samples.read_pin() if args.pin else None  # asked for and checked before any upload
    request = samples.AddRequest(args.caller, args.file, args.consent, pin, args.replace, args.yes)
    caller = samples.add(target, request)
    if args.prewarm:
        prewarm.prewarm(target, caller)
    if args.wait:
        return prewarm.wait_for_clone(target, caller, args.timeout)
    return 0


def _import(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import samples_import

    request = samples_import.ImportRequest(args.file, args.replace, args.yes, args.dry_run)
    return samples_import.import_callers(target, request)


def _list(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import samples_view

    return samples_view.list_callers(target, args.json)


def _show(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import samples_view

    return samples_view.show(target, args.caller, args.json)


def _remove(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import samples_remove

    if args.all:
        return samples_remove.remove_all(target, args.yes)
    if args.key is not None:
        return samples_remove.remove_by_key(target, args.key, args.yes)
    return samples_remove.remove(target, args.caller, args.yes)


def _consent(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import consent_log

    return consent_log.consent(target, args.caller, args.export, args.format)


def _rekey(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import samples, samples_remove

    return samples_remove.rekey(target, args.caller, samples.read_pin() if args.pin else None)


def _selftest(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import selftest

    return selftest.command(args, target, _agent_id(args, target))


def _probe(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import probe

    return probe.command(args, target, _agent_id(args, target))


def _flow(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import threecx

    return threecx.write_flow(target, args.project, args.agent_number)


def _rotate(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import secret_rotation

    return secret_rotation.rotate(target, args.name)


def _calls_parsers(commands: Subcommands, target: argparse.ArgumentParser) -> None:
    commands.add_parser(
        "calls",
        help="recent calls, and one call as a timeline (text or PNG)",
        fill=lambda group: _calls_actions(group, target),
    )


def _calls_actions(group: argparse.ArgumentParser, target: argparse.ArgumentParser) -> None:
    from warmline_cli import calls

    calls.add_actions(group, target)


def _calls_list(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import calls

    return calls.list_calls(target, args)


def _calls_show(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import calls

    return calls.show_call(target, args)


def _doctor(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import probe
    from warmline_cli.doctor import Doctor

    doctor = Doctor(target, _agent_id(args, target), echo=not args.json)
    doctor.probe_report = probe.report_path(target, args.local_state)
    doctor.voice_switch_report = probe.voice_switch_path(target, args.local_state)
    code = doctor.run()
    if args.json:
        checks = [{"ok": check.ok, "message": check.message} for check in doctor.checks]
        problems = sum(not check.ok for check in doctor.checks)
        emit_json({"ok": problems == 0, "problems": problems, "checks": checks})
    return code


def _metrics(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import metrics

    return metrics.metrics(target, args.window_from, args.window_to, args.json)


def _dlq_list(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import dlq

    return dlq.list_letters(target, args.json)


def _dlq_redrive(args: argparse.Namespace, target: Target) -> int:
    from warmline_cli import dlq

    return dlq.redrive(target, args.yes)


Handler = Callable[[argparse.Namespace, "Target"], int]
HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("samples", "add"): _add,
    ("samples", "import"): _import,
    ("samples", "list"): _list,
    ("samples", "show"): _show,
    ("samples", "remove"): _remove,
    ("samples", "pin"): _pin_command,
    ("samples", "consent"): _consent,
    ("samples", "rekey"): _rekey,
    ("elevenlabs", "configure"): configure,
    ("elevenlabs", "selftest"): _selftest,
    ("elevenlabs", "probe"): _probe,
    ("3cx", "flow"): _flow,
    ("secrets", "rotate"): _rotate,
    ("doctor", None): _doctor,
    ("metrics", None): _metrics,
    ("dlq", "list"): _dlq_list,
    ("dlq", "redrive"): _dlq_redrive,
    ("calls", "list"): _calls_list,
    ("calls", "show"): _calls_show,
}


def run(args: argparse.Namespace) -> int:
    handler = HANDLERS[(args.command, getattr(args, "action", None))]
    return handler(args, resolve_target(args))


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (console.ExitCode, listed in `warmline --help`)."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # `warmline metrics | head`: the reader has gone, so nothing more can be said. Standard output
        # goes to /dev/null, or Python's own flush at exit would print the same error again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    command_line = parser()
    args = command_line.parse_args(argv)  # a usage error exits 2 here, as argparse does
    if getattr(args, "stack", None) and getattr(args, "local", False):
        command_line.error("--stack and --local: pick one")
    try:
        return run(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except ProviderError as error:
        print(f"error: ElevenLabs: {error.message}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as error:
        from botocore.exceptions import BotoCoreError, ClientError  # loaded by then if it is one of them

        if isinstance(error, ClientError):
            details = error.response.get("Error", {})
            print(f"error: AWS {details.get('Code', '')}: {details.get('Message', error)}", file=sys.stderr)
        elif isinstance(error, BotoCoreError):
            print(f"error: AWS: {error}", file=sys.stderr)
        else:
            raise
    return ExitCode.FAILURE


if __name__ == "__main__":
    sys.exit(main())
