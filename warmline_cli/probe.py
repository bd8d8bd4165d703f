"""`warmline elevenlabs probe [NAME ...]`: settle, on the operator's own ElevenLabs account and 3CX,
the ten platform behaviours warmline relies on that no document confirms
(shared/reference/first-contact-review.md, section 3; the probes are in `warmline_cli.probe_checks`).

Each probe says what it sent, what it saw, PASS / FAIL / INCONCLUSIVE, and what warmline does on
that answer. Probes that need a phone call guide the operator step by step (on `--local` the
emulator's simulated call is driven instead, so every probe runs unattended) and decide from the
stack's own records and ElevenLabs' conversation history. No name runs every probe; `--json FILE`
writes the report, and every run leaves its report for `doctor` (`.warmline/probe-<stack>.json`;
with `--local`, `probe-local.json` beside the local stack's state).

Everything a probe creates at ElevenLabs (throwaway agents and tools, agent tests, voices) is deleted at the
end, when a probe fails, and on Ctrl-C (`Leftovers.clean`, in a `finally`); anything that could not
be deleted is named in the report.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from warmline.adapters.elevenlabs import ElevenLabsClient, tls_context
from warmline.voice_provider import ProviderError
from warmline_cli.console import CliError, UsageError, progress, say, warn
from warmline_cli.elevenlabs_admin import AdminClient
from warmline_cli.target import Target

REPORT_DIR = Path(".warmline")


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class Observation:
    """What one probe did and saw, and its verdict."""

    verdict: Verdict
    sent: str
    saw: str


@dataclass(frozen=True)
class Finding:
    name: str
    assumption: str
    verdict: str
    sent: str
    saw: str
    then: str  # what warmline does on this answer


@dataclass(frozen=True)
class ProbeOptions:
    caller: str  # the test phone's number (the probes' caller)
    did: str  # the number 3CX routes to warmline (what the caller dials)
    sample_caller: str | None = None  # a registered, consenting caller whose sample is cloned once
    search_seconds: float = 30.0
    timeout_seconds: float = 300.0
    guided: bool = False  # on --local too, guide the operator through the call instead of simulating it


@dataclass
class Leftovers:
    """What the probes created at ElevenLabs, deleted by `clean` whatever happened."""

    admin: AdminClient
    voices_client: ElevenLabsClient
    run_id: str
    agents: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)
    voice_names: list[str] = field(default_factory=list)  # the clones asked for, answered or not
    not_deleted: list[str] = field(default_factory=list)

    def clean(self) -> None:
        for kind, items, delete in (
            (
                "agent test",
                self.tests,
                lambda item: self.admin.write("DELETE", f"/v1/convai/agent-testing/{item}", {}),
            ),
            ("agent", self.agents, lambda item: self.admin.write("DELETE", f"/v1/convai/agents/{item}", {})),
            ("tool", self.tools, lambda item: self.admin.write("DELETE", f"/v1/convai/tools/{item}", {})),
            ("voice", self._all_voices(), self.voices_client.delete_voice),
        ):
            for item in list(items):
                try:
                    delete(item)
                except (ProviderError, CliError, httpx.HTTPError) as error:
                    self.not_deleted.append(f"{kind} {item}: {error}")
            items.clear()

    def _all_voices(self) -> list[str]:
        """The voices recorded, and any with the name of a clone asked for (one interrupted before
        its answer). Should a search miss one, it bears warmline's name for the caller
        (`warmline-<caller key>-probe<run>`), so the scheduled voice sweep deletes it as an orphan."""
        for name in self.voice_names:
            try:
                named = self.voices_client.list_voices(search=name)
            except (ProviderError, httpx.HTTPError):
                named = []
            found = [voice.voice_id for voice in named if voice.name == name]
            self.voices.extend(voice_id for voice_id in found if voice_id not in self.voices)
        return self.voices


@dataclass
class ProbeContext:
    target: Target
    agent_id: str
    options: ProbeOptions
    admin: AdminClient
    voices_client: ElevenLabsClient
    http: httpx.Client
    leftovers: Leftovers
    run_id: str
    findings: dict[str, Finding] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)  # what several probes observe, made once

    def once(self, name: str, make: Callable[[ProbeContext], dict[str, Any]]) -> dict[str, Any]:
        """What `make` gives, made on the first ask in this run (the phone call, the probe voice)."""
        if name not in self.shared:
            self.shared[name] = make(self)
        made: dict[str, Any] = self.shared[name]
        return made

    @property
    def local(self) -> bool:
        return self.target.label == "local"


@dataclass(frozen=True)
class Probe:
    name: str
    assumption: str
    run: Callable[[ProbeContext], Observation]
    on_pass: str
    on_fail: str
    on_inconclusive: str = "nothing changes: run the probe again (on a call, follow each step)"

    def then(self, verdict: Verdict) -> str:
        return {Verdict.PASS: self.on_pass, Verdict.FAIL: self.on_fail}.get(verdict, self.on_inconclusive)


def run_probes(context: ProbeContext, probes: list[Probe]) -> list[Finding]:
    """Every probe in turn (one that breaks is INCONCLUSIVE, the rest still run); whatever they
    created at ElevenLabs is deleted at the end, also on an error or Ctrl-C."""
    try:
        for probe in probes:
            progress(f"probe {probe.name}")
            try:
                seen = probe.run(context)
            except (ProviderError, CliError, httpx.HTTPError) as error:
                message = getattr(error, "message", None) or str(error)
                seen = Observation(Verdict.INCONCLUSIVE, "(stopped early)", f"the probe broke off: {message}")
            finding = Finding(
                probe.name,
                probe.assumption,
                seen.verdict.value,
                seen.sent,
                seen.saw,
                probe.then(seen.verdict),
            )
            context.findings[probe.name] = finding
            say(text_of(finding))
    finally:
        context.leftovers.clean()
        if context.leftovers.not_deleted:
            warn("not deleted at ElevenLabs (delete by hand): " + "; ".join(context.leftovers.not_deleted))
    return list(context.findings.values())


def text_of(finding: Finding) -> str:
    return (
        f"{finding.verdict} {finding.name}: {finding.assumption}\n"
        f"  sent: {finding.sent}\n  saw:  {finding.saw}\n  then: {finding.then}"
    )


def report(context: ProbeContext, findings: list[Finding], started_at: float) -> dict[str, Any]:
    counts = {verdict.value: sum(f.verdict == verdict.value for f in findings) for verdict in Verdict}
    return {
        "target": context.target.description,
        "agent_id": context.agent_id,
        "run_id": context.run_id,
        "started_at": int(started_at),
        "finished_at": int(time.time()),
        "counts": counts,
        "probes": [asdict(finding) for finding in findings],
        "not_deleted": list(context.leftovers.not_deleted),
    }


def report_path(target: Target, local_state: Path) -> Path:
    """Where each run leaves its report: beside the local stack's state with --local, else in
    `.warmline/` of the working directory."""
    folder = local_state.parent if target.label == "local" else REPORT_DIR
    return folder / f"probe-{target.label}.json"


def voice_switch_path(target: Target, local_state: Path) -> Path:
    """Where the last `probe voice-switch` finding of this stack is kept, beside the report."""
    return report_path(target, local_state).with_name(f"probe-{target.label}-voice-switch.json")


def last_report(path: Path) -> dict[str, Any] | None:
    """The last probe report at `path` (`doctor` shows it), or None."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def summary(document: dict[str, Any]) -> tuple[bool, str]:
    """`doctor`'s line for a probe report: (no probe failed, the line)."""
    counts = document.get("counts") or {}
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(document.get("finished_at") or 0))
    failed = [
        f"FAIL {item.get('name')}: then {item.get('then')}"
        for item in document.get("probes") or []
        if item.get("verdict") == Verdict.FAIL
    ]
    line = (
        f"last probe ({when}): {counts.get('PASS', 0)} PASS, {counts.get('FAIL', 0)} FAIL, "
        f"{counts.get('INCONCLUSIVE', 0)} INCONCLUSIVE" + "".join(f"; {item}" for item in failed)
    )
    return not failed, line


def _options(args: argparse.Namespace, local: bool) -> ProbeOptions:
    from warmline_cli.probe_checks import TEST_CALLER, TEST_DID

    return ProbeOptions(
        caller=args.caller or (TEST_CALLER if local else ""),
        did=args.did or (TEST_DID if local else ""),
        sample_caller=args.sample_caller,
        search_seconds=args.search_seconds,
        timeout_seconds=args.timeout,
        guided=args.guided,
    )


def _keep_voice_switch(context: ProbeContext, path: Path) -> None:
    """The voice-switch finding, kept apart: `configure` reads it whatever ran since (slot_agents.gate)."""
    switch = context.findings.get("voice-switch")
    if switch is not None:
        _write(path, asdict(switch) | {"finished_at": int(time.time())})


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def add_parser(commands: Any, target: argparse.ArgumentParser) -> None:
    """`warmline elevenlabs probe`, under the `elevenlabs` command group."""
    from warmline_cli.probe_checks import PROBES, TEST_CALLER

    probe = commands.add_parser(
        "probe",
        parents=[target],
        help="settle on your account what no document confirms (caller ID, REFER, DTMF ...); "
        f"probes: {', '.join(p.name for p in PROBES)}",
    )
    probe.add_argument("names", nargs="*", metavar="NAME", help="the probes to run (default: all)")
    probe.add_argument("--agent-id", help="the ElevenLabs agent (default: the stack's ElevenLabsAgentId)")
    probe.add_argument(
        "--caller",
        metavar="NUMBER",
        help=f"the test phone you call from (default on --local: {TEST_CALLER}); needed for the call probes",
    )
    probe.add_argument("--did", metavar="NUMBER", help="the number you dial to reach warmline through 3CX")
    probe.add_argument(
        "--sample-caller",
        metavar="NUMBER",
        help="a registered caller who consented: the voice probes clone their sample once, then delete it",
    )
    probe.add_argument(
        "--search-seconds",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a new voice may take to show in search (30)",
    )
    probe.add_argument(
        "--timeout", type=float, default=300.0, metavar="SECONDS", help="per ElevenLabs wait (300)"
    )
    probe.add_argument(
        "--guided",
        action="store_true",
        help="with --local: ask you to make the call (as on a deployed stack) instead of simulating it",
    )
    probe.add_argument("--json", type=Path, metavar="FILE", help="write the report to FILE as JSON")


def command(args: argparse.Namespace, target: Target, agent_id: str) -> int:
    from warmline_cli.probe_checks import PROBES, REQUIRES

    if not agent_id:
        raise UsageError("no agent id: pass --agent-id or deploy the stack with ElevenLabsAgentId")
    by_name = {probe.name: probe for probe in PROBES}
    unknown = [name for name in args.names if name not in by_name]
    if unknown:
        raise UsageError(f"no probe {', '.join(unknown)}; the probes: {', '.join(by_name)}")
    options = _options(args, target.label == "local")
    wanted = set(args.names) | {REQUIRES[name] for name in args.names if name in REQUIRES}
    chosen = [probe for probe in PROBES if not wanted or probe.name in wanted]
    api_key = target.secret("ElevenLabsApiKeySecret")
    admin = AdminClient(api_key, target.elevenlabs_base_url)
    voices = ElevenLabsClient(api_key, target.elevenlabs_base_url, timeout_seconds=60)
    run_id = secrets.token_hex(3)
    started = time.time()
    try:
        with httpx.Client(timeout=15, verify=tls_context()) as http:
            leftovers = Leftovers(admin, voices, run_id)
            context = ProbeContext(target, agent_id, options, admin, voices, http, leftovers, run_id)
            findings = run_probes(context, chosen)
    finally:
        admin.close()
        voices.close()
    document = report(context, findings, started)
    _write(report_path(target, args.local_state), document)
    _keep_voice_switch(context, voice_switch_path(target, args.local_state))
    if args.json:
        _write(args.json, document)
    counts = document["counts"]
    say(f"probes: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['INCONCLUSIVE']} INCONCLUSIVE")
    return 1 if counts["FAIL"] or document["not_deleted"] else 0
