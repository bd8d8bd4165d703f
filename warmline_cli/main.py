"""`warmline`: register callers' voice samples and wire ElevenLabs and 3CX to a warmline stack.

Every command acts on a deployed stack (`--stack NAME`, read from its CloudFormation outputs) or on
the local stack (`--local`, read from .warmline/local.json). See docs/deployment.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from warmline.voice_provider import ProviderError
from warmline_cli import consent_log, samples, selftest, threecx
from warmline_cli import secrets as shared_secrets
from warmline_cli.agent_setup import AgentSetup
from warmline_cli.console import OK, CliError, say, warn
from warmline_cli.doctor import Doctor
from warmline_cli.elevenlabs_admin import AdminClient
from warmline_cli.target import DEFAULT_LOCAL_STATE, Target, from_local, from_stack

COMMANDS = """commands (each takes --stack NAME [--region REGION] or --local):
  warmline samples add --caller NUMBER --file AUDIO [--file AUDIO ...] --consent TEXT [--prewarm] [--pin]
  warmline samples list
  warmline samples show --caller NUMBER
  warmline samples remove --caller NUMBER
  warmline samples rekey --caller NUMBER [--pin]
  warmline samples pin --caller NUMBER [--clear | --unlock]
  warmline samples consent [--caller NUMBER] [--export FILE|-] [--format csv|json]
  warmline elevenlabs configure [--agent-id ID] [--transfer-to SIP_URI_OR_NUMBER] [--dry-run]
  warmline elevenlabs selftest [--agent-id ID] [--caller NUMBER] [--transfer-to SIP_URI_OR_NUMBER] [--json]
  warmline 3cx flow
  warmline doctor [--agent-id ID]
  warmline secrets rotate {threecx,agent,operator}

`warmline COMMAND [ACTION] --help` explains each one."""


def _target_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    where = options.add_argument_group("target (one of)")
    choice = where.add_mutually_exclusive_group(required=True)
    choice.add_argument("--stack", metavar="NAME", help="a deployed warmline CloudFormation stack")
    choice.add_argument("--local", action="store_true", help="the local stack (`make up`)")
    where.add_argument("--region", help="the stack's AWS region (default: AWS_REGION / your AWS config)")
    where.add_argument(
        "--local-state",
        type=Path,
        default=DEFAULT_LOCAL_STATE,
        help=f"with --local (default {DEFAULT_LOCAL_STATE})",
    )
    return options


def parser() -> argparse.ArgumentParser:
    target = _target_options()
    root = argparse.ArgumentParser(
        prog="warmline",
        description=__doc__,
        epilog=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sample_group = commands.add_parser(
        "samples", help="callers' voice samples: add, list, show, remove; the consent log"
    )
    sample_commands = sample_group.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sample_commands.add_parser(
        "add", parents=[target], help="check audio files and register them as a caller's voice sample"
    )
    add.add_argument("--caller", required=True, metavar="NUMBER", help="the caller's phone number")
    add.add_argument(
        "--file",
        required=True,
        action="append",
        type=Path,
        metavar="AUDIO",
        help="an audio file (mp3, wav, flac, ogg/opus, m4a); repeat for more",
    )
    add.add_argument(
        "--consent", default="", help='who agreed, when and how, e.g. "Jane Doe, by phone, 2026-11-24"'
    )
    add.add_argument(
        "--prewarm", action="store_true", help="clone now, so the caller's first call has the clone"
    )
    add.add_argument("--pin", action="store_true", help=PIN_HELP)
    sample_commands.add_parser("list", parents=[target], help="list the callers with voice samples")
    show = sample_commands.add_parser("show", parents=[target], help="a caller's samples, consent and clone")
    show.add_argument("--caller", required=True, metavar="NUMBER")
    remove = sample_commands.add_parser(
        "remove",
        parents=[target],
        help="withdraw a caller: delete their samples (all versions), profile, clone record and clones",
    )
    remove.add_argument("--caller", required=True, metavar="NUMBER")
    rekey = sample_commands.add_parser(
        "rekey",
        parents=[target],
        help="move a caller registered under the numbering rule before libphonenumber's to their current key",
    )
    rekey.add_argument("--caller", required=True, metavar="NUMBER", help="the number as it was registered")
    rekey.add_argument("--pin", action="store_true", help="the caller has a PIN: ask for it, to set it again")
    pin = sample_commands.add_parser(
        "pin", parents=[target], help="set (asks for it), clear or unlock a registered caller's PIN"
    )
    pin.add_argument("--caller", required=True, metavar="NUMBER")
    pin_change = pin.add_mutually_exclusive_group()
    pin_change.add_argument("--clear", action="store_true", help="remove the PIN: no verification")
    pin_change.add_argument(
        "--unlock", action="store_true", help="forget the wrong attempts and end a lock; keep the PIN"
    )
    consent = sample_commands.add_parser(
        "consent",
        parents=[target],
        help="the consent log: who registered each caller, when, on what consent, and any withdrawal",
    )
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

    elevenlabs = commands.add_parser("elevenlabs", help="wire the ElevenLabs agent to the stack")
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
    selftest.add_parser(elevenlabs_commands, target)

    threecx_group = commands.add_parser("3cx", help="3CX Call Flow Designer settings")
    threecx_commands = threecx_group.add_subparsers(dest="action", required=True, metavar="ACTION")
    threecx_commands.add_parser(
        "flow", parents=[target], help="print the Web Service REST settings and branches"
    )

    secrets_group = commands.add_parser("secrets", help="rotate a shared secret without dropping calls")
    secrets_commands = secrets_group.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = secrets_commands.add_parser(
        "rotate",
        parents=[target],
        help="a new value; the previous one is accepted for SecretOverlapSeconds (default 1 h)",
    )
    rotate.add_argument("name", metavar="NAME", help=f"one of {', '.join(shared_secrets.ROTATABLE)}")

    doctor = commands.add_parser("doctor", parents=[target], help="check the stack end to end without a call")
    doctor.add_argument("--agent-id", help="the ElevenLabs agent (default: the stack's ElevenLabsAgentId)")
    return root


PIN_HELP = (
    "ask for a PIN (typed twice, not echoed; or one line on standard input) that the caller types on "
    "the keypad before their cloned voice speaks: the defence against a spoofed caller number"
)


def resolve_target(args: argparse.Namespace) -> Target:
    if args.local:
        return from_local(args.local_state)
    return from_stack(args.stack, args.region)


def _agent_id(args: argparse.Namespace, target: Target) -> str:
    return args.agent_id or target.default_agent_id


def configure(args: argparse.Namespace, target: Target) -> int:
    agent_id = _agent_id(args, target)
    if not agent_id:
        raise CliError(
            "no agent id: pass --agent-id (the id in the agent's URL in the ElevenLabs dashboard) "
            "or deploy the stack with ElevenLabsAgentId"
        )
    client = AdminClient(
        target.secret("ElevenLabsApiKeySecret"), target.elevenlabs_base_url, dry_run=args.dry_run
    )
    try:
        steps = AgentSetup(client, target, agent_id, target.secret("AgentSecret"), args.transfer_to).run()
    except ProviderError as error:
        print(f"error: ElevenLabs: {error.message}", file=sys.stderr)
        return 1
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
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
    say("Keypad input: no documented API field sets the agent's DTMF settings; see docs/deployment.md.")
    return 1 if any(step.state == "needed" for step in steps) else 0


def _pin_command(args: argparse.Namespace, target: Target) -> int:
    if args.clear:
        return samples.clear_pin(target, args.caller)
    if args.unlock:
        return samples.unlock_pin(target, args.caller)
    return samples.set_pin(target, args.caller)


def run(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    if args.command == "samples":
        if args.action == "add":
            pin = samples.read_pin() if args.pin else None  # asked for and checked before any upload
            return samples.add(target, args.caller, args.file, args.consent, args.prewarm, pin)
        if args.action == "pin":
            return _pin_command(args, target)
        if args.action == "list":
            return samples.list_callers(target)
        if args.action == "show":
            return samples.show(target, args.caller)
        if args.action == "consent":
            return consent_log.consent(target, args.caller, args.export, args.format)
        if args.action == "rekey":
            return samples.rekey(target, args.caller, samples.read_pin() if args.pin else None)
        return samples.remove(target, args.caller)
    if args.command == "elevenlabs" and args.action == "selftest":
        return selftest.command(args, target, _agent_id(args, target))
    if args.command == "elevenlabs":
        return configure(args, target)
    if args.command == "3cx":
        return threecx.print_flow(target)
    if args.command == "secrets":
        return shared_secrets.rotate(target, args.name)
    return Doctor(target, _agent_id(args, target)).run()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
    except ProviderError as error:
        print(f"error: ElevenLabs: {error.message}", file=sys.stderr)
    except ClientError as error:
        details = error.response.get("Error", {})
        print(f"error: AWS {details.get('Code', '')}: {details.get('Message', error)}", file=sys.stderr)
    except BotoCoreError as error:
        print(f"error: AWS: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
