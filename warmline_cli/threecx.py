"""The 3CX Call Flow Designer settings for a stack, ready to paste (README, "Configuring 3CX")."""

from __future__ import annotations

from warmline_cli.console import say
from warmline_cli.target import Target

CONTENT_EXPRESSION = (
    'CONCATENATE("{\\"caller\\":\\"",session.ani,"\\",\\"did\\":\\"",session.did,'
    '"\\",\\"call_id\\":\\"",session.callid,"\\"}")'
)
TIMEOUT_SECONDS = 5


def flow_text(target: Target, threecx_secret: str) -> str:
    rows = [
        ("URI", f'"{target.incoming_call_url}"'),
        ("HttpRequestType", "POST"),
        ("ContentType", "application/json"),
        ("Content", CONTENT_EXPRESSION),
        ("Headers", f'X-Warmline-Secret = "{threecx_secret}"'),
        ("AuthenticationType", "None (the header authenticates)"),
        ("Timeout", f"{TIMEOUT_SECONDS}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [
        f"3CX Call Flow Designer settings for {target.description}",
        "",
        "1. Web Service REST component (first component of the app on the DID's inbound route):",
        *(f"   {name:<{width}}  {value}" for name, value in rows),
        "   Keep the secret in a project variable rather than in the component if you can.",
        "",
        "2. JSON XML Parser component: Input = <REST component>.ResponseContent, path `route`.",
        "",
        "3. Create Condition component, branches on the parsed `route`:",
        '   route == "agent"           → Transfer to the destination that reaches the ElevenLabs agent',
        "                                (the outbound rule / SIP trunk to sip.rtc.elevenlabs.io)",
        '   route == "agent_callback"  → play "we\'ll call you right back", then Disconnect',
        "   otherwise / error branch   → Transfer to the agent anyway (it answers in its own voice)",
        "",
        "Use session.did for the dialled number: in CFD session.dnis is the app's own extension.",
        "Send X-CALLER-ID (and X-CALL-ID) on the INVITE to ElevenLabs if the trunk allows it, so the",
        "agent's system__caller_id is the caller's number.",
    ]
    return "\n".join(lines)


def print_flow(target: Target) -> int:
    say(flow_text(target, target.secret("ThreeCxSecret")))
    return 0
