"""The 3CX Call Flow Designer settings for a stack, ready to paste (docs/wiring.md, "Configuring 3CX")."""

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
        "   Use session.did for the dialled number: in CFD session.dnis is the app's own extension.",
        "",
        "2. Create Condition component on <REST component>.ResponseStatusCode (a non-200 answer does",
        "   not throw): anything but 200 → Transfer to the agent (it answers in its own voice).",
        "",
        "3. On 200: JSON XML Parser component, Input = <REST component>.ResponseContent, path `route`,",
        "   then a Create Condition component on the parsed `route`:",
        '   route == "agent"           → Transfer to the destination that reaches the ElevenLabs agent',
        '   route == "agent_callback"  → play "we\'ll call you right back", then Disconnect',
        "",
        "4. Error Handler flow (a timeout or refused connection lands there; components have no error",
        "   branch): Transfer to the agent as well.",
        "",
        "5. The SIP trunk to ElevenLabs (sip.rtc.elevenlabs.io):",
        "   - transport TCP (5060) or TLS (5061): ElevenLabs takes no UDP;",
        '   - Outbound Parameters: "From: User Part" = OriginatorCallerID and',
        '     "P-Asserted-Identity" = OriginatorCallerID, so the agent sees the caller\'s number on the',
        "     first leg and on the re-entry leg after its transfer (3CX cannot add X- headers; by",
        "     default it presents the trunk's own number and no clone is ever found);",
        "   - an outbound rule that dials the E.164 number imported at ElevenLabs over this trunk.",
        "   warmline counts calls whose caller did not cross the trunk (CallerIdNotPassedThrough,",
        "   CallerIdNotPassedAlarm) and logs this fix.",
        "",
        "6. The agent's transfer back (SIP REFER) goes to a destination whose route reaches the agent",
        "   again (the --transfer-to of `warmline elevenlabs configure`). Check with one call that",
        "   the trunk accepts the REFER: no document confirms it.",
    ]
    return "\n".join(lines)


def print_flow(target: Target) -> int:
    say(flow_text(target, target.secret("ThreeCxSecret")))
    return 0
