"""`warmline 3cx flow`: write the Call Flow Designer project for a stack and print what to do with it
(docs/wiring.md, "Configuring 3CX")."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from warmline_cli import cfd
from warmline_cli.console import CliError, say
from warmline_cli.target import Target


def flow_settings(target: Target, agent_number: str) -> cfd.FlowSettings:
    return cfd.FlowSettings(target.incoming_call_url, target.secret("ThreeCxSecret"), agent_number)


def write_project(directory: Path, files: dict[str, str]) -> list[Path]:
    """Each file whole or not at all; readable by the owner only (the project holds the 3CX secret)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create {directory}: {error.strerror}") from error
    written = []
    for name, text in files.items():
        path = directory / name
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise CliError(f"cannot write {path}: {error.strerror}") from error
        written.append(path)
    return written


def instructions(target: Target, settings: cfd.FlowSettings, written: list[Path]) -> str:
    lines = [
        f"3CX Call Flow Designer project for {target.description}:",
        *(f"  {path}" for path in written),
        "It holds the 3CX secret (project variable WarmlineSecret): keep it private.",
        "",
        "1. Open the .cfdproj in the Call Flow Designer (a 3CX edition with CFD apps), build it, and",
        "   upload the app it builds in the 3CX admin console; point the DID's inbound route at the",
        "   app's extension.",
        "",
        "What the flow does (every expression below is in the flow as written):",
        f"  {cfd.REST}: Web Service REST, POST {settings.incoming_call_url}",
        f"    Content   {cfd.CONTENT}",
        f"    Headers   {cfd.SECRET_HEADER} = {cfd.SECRET_VARIABLE}",
        f"    Timeout   {cfd.TIMEOUT_SECONDS} s (the webhook's cold start plus a WAN round trip)",
        f"  {cfd.ANSWERED}: a JSON XML Parser maps `route` into {cfd.ROUTE_VARIABLE}, then",
        f"    {cfd.ROUTE_AGENT}          -> Transfer to {settings.agent_number} (the ElevenLabs agent)",
        f"    {cfd.ROUTE_CALLBACK} -> Disconnect (the agent calls the caller back)",
        f"    anything else                           -> Transfer to {settings.agent_number}",
        f"  any other status code -> Transfer to {settings.agent_number} (the agent speaks in its own voice)",
        f"  Error Handler flow (timeout, refused connection) -> Transfer to {settings.agent_number}",
        "",
        f"2. The Transfer components dial {settings.agent_number}: an outbound rule must send it over the",
        "   SIP trunk to ElevenLabs (sip.rtc.elevenlabs.io), transport TCP (5060) or TLS (5061).",
        "3. On that trunk, authenticate by IP (no registration) and add the PBX's public address to the",
        "   ElevenLabs number's inbound allowed_addresses; SRTP on the trunk must match the number's",
        "   media_encryption; allowed_numbers, if set, must hold your callers' own numbers.",
        '4. Trunk Outbound Parameters: "From: User Part" = OriginatorCallerID and',
        '   "P-Asserted-Identity" = OriginatorCallerID, so the agent sees the caller\'s number on the',
        "   first leg and on the re-entry leg after its transfer (3CX cannot add X- headers; by default",
        "   it presents the trunk's own number and no clone is ever found). warmline counts calls whose",
        "   caller did not cross the trunk (CallerIdNotPassedThrough, CallerIdNotPassedAlarm).",
        "5. The agent's transfer back (SIP REFER) goes to a destination whose route reaches the agent",
        "   again (the --transfer-to of `warmline elevenlabs configure`). Check with one call that the",
        "   trunk accepts the REFER: no document confirms it.",
    ]
    return "\n".join(lines)


def write_flow(target: Target, project_dir: Path, agent_number: str) -> int:
    if not agent_number.strip():
        raise CliError("--agent-number: give the number 3CX dials to reach the ElevenLabs agent")
    settings = flow_settings(target, agent_number.strip())
    written = write_project(project_dir, cfd.project_files(settings))
    say(instructions(target, settings, written))
    return 0
