"""The CLI's public entry points for programs (the local stack, its demo, the tests): register a
caller's voice sample, and wire the emulated agent, on the running local stack, the way an operator
does; and whether a recorded process still runs. `local/` imports only this module of the CLI, and
the CLI imports nothing of `local/` (the stack records what the CLI needs in its local.json).

`register_caller` is `warmline samples add --local` without its printing: the audio is checked and
the sample and consent are recorded by the CLI's own code (the consent log notes the source as
`import`: a program registered the caller, not an operator at the command line). `wire_agent` is
`warmline elevenlabs configure --local`, so the emulated agent calls warmline exactly as configure
leaves a real one. `show_call` is `warmline calls show --local --call-id ID --png FILE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warmline.consent import ConsentSource
from warmline.verification import check_new_pin
from warmline_cli import audio, cfd, samples
from warmline_cli.agent_setup import AgentSetup
from warmline_cli.elevenlabs_admin import AdminClient
from warmline_cli.target import from_local_state, process_alive

__all__ = ["cfd_project", "process_alive", "register_caller", "show_call", "wire_agent"]


def register_caller(
    state: dict[str, Any], number: str, files: list[Path], consent: str, pin: str | None = None
) -> str:
    """`state` is the stack's description, as in its local.json; `pin`, if any, as `--pin` sets it."""
    target = from_local_state(state)
    caller = samples.resolve_caller(target, number)
    checked = [audio.inspect(path) for path in files]
    samples.register(target, caller, checked, consent, source=ConsentSource.IMPORT)
    if pin is not None:
        samples.save_pin(target, caller, check_new_pin(pin))
    return caller.key


def wire_agent(state: dict[str, Any], transfer_to: str) -> None:
    """Configure the stack's default agent (the emulator's) for this stack."""
    target = from_local_state(state)
    client = AdminClient(target.secret("ElevenLabsApiKeySecret"), target.elevenlabs_base_url)
    try:
        AgentSetup(client, target, target.default_agent_id, target.secret("AgentSecret"), transfer_to).run()
    finally:
        client.close()


def set_up_agent_transfer(state_file: Path, transfer_to: str, voice_slots: int = 2) -> bool:
    """HandoffMode=agent_transfer on a local stack: `probe voice-switch`, then `configure` with its
    voice-slot agents (refused when the probe did not pass); whether both succeeded."""
    from warmline_cli.main import main

    where = ["--local", "--local-state", str(state_file)]
    if main(["elevenlabs", "probe", "voice-switch", *where]) != 0:
        return False
    configure = ["elevenlabs", "configure", "--transfer-to", transfer_to, "--voice-slots", str(voice_slots)]
    return main([*configure, *where]) == 0


def cfd_project(incoming_call_url: str, threecx_secret: str, agent_number: str) -> dict[str, str]:
    """The Call Flow Designer project `warmline 3cx flow` writes, file name -> text."""
    return cfd.project_files(cfd.FlowSettings(incoming_call_url, threecx_secret, agent_number))


def show_call(state: dict[str, Any], call_id: str, png: Path | None = None) -> list[str] | None:
    """The call's timeline as `calls show` prints it (None if no such call in the last hour), and,
    with `png`, drawn there."""
    from warmline_cli.call_timeline import find_call, text_lines
    from warmline_cli.calls import recent_calls

    call = find_call(recent_calls(from_local_state(state), hours=1), call_id)
    if call is None:
        return None
    if png is not None:
        from warmline_cli.call_picture import draw

        draw(call, png)
    return text_lines(call)
