"""The one phone call the call probes (caller-id, sip-body, refer, dtmf) share: placed by the operator
from a test phone, guided step by step, or on `--local` played unattended on the emulator's
simulated phone line, the way 3CX and a caller would: the 3CX webhook, the INVITE to the agent,
the key press, the transfer, and 3CX routing the transferred call to the agent again.

Either way the call is then read back from ElevenLabs' conversation history, as the probes judge
it: each leg's record (`GET /v1/convai/conversations/{id}`, at most two legs); on a real call the
legs are the agent's conversations that began since the probe asked for the call
(`GET /v1/convai/conversations`, oldest first), so run it when the line is otherwise quiet.
"""

from __future__ import annotations

import time
from typing import Any

from warmline_cli.agent_setup import SECRET_HEADER
from warmline_cli.console import CliError, say
from warmline_cli.probe import ProbeContext

LEGS = 2  # the first leg, and the one after the transfer
LISTING_SECONDS = 20.0


def the_call(context: ProbeContext) -> dict[str, Any]:
    """`{"legs": [conversation, ...], "started_ms": epoch_ms}` or `{"skipped": why}`; placed once."""
    return context.once("call", _place)


def _place(context: ProbeContext) -> dict[str, Any]:
    if not context.options.caller:
        return {"skipped": "no test phone: pass --caller NUMBER (the phone you will call from)"}
    started_ms = int(time.time() * 1000)
    started = started_ms // 1000
    if context.local and not context.options.guided:
        ids = _simulated_call(context)
    elif _operator_call(context):
        ids = _conversations_since(context, started)
    else:
        return {"skipped": "the operator skipped the call"}
    legs = [context.admin.get(f"/v1/convai/conversations/{conversation}") for conversation in ids[:LEGS]]
    return {"legs": legs, "started_ms": started_ms}


def _operator_call(context: ProbeContext) -> bool:
    dialled = context.options.did or "your 3CX number routed to warmline"
    say(
        "The call probes need one phone call. Step by step:\n"
        f"  1. From the test phone {context.options.caller}, call {dialled} now.\n"
        "  2. When the agent greets you, press 1 on the keypad (once).\n"
        "  3. If the agent transfers you and greets you again, listen to the greeting, then hang up.\n"
        "     If nothing happens for 30 seconds after pressing 1, hang up.\n"
        "Press Enter when you have hung up (or type skip and Enter to skip the call probes)."
    )
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() != "skip"


def _simulated_call(context: ProbeContext) -> list[str]:
    """The call on the local stack's emulated phone line: 3CX's webhook, the INVITE, key 1, the
    REFER (answered as the emulator's world says), and when it is accepted, the second leg."""
    base = context.target.elevenlabs_base_url
    conversation = _leg(context, f"warmline-probe-{context.run_id}-1")
    if conversation.get("ended"):
        return [conversation["conversation_id"]]
    legs = [conversation["conversation_id"]]
    context.http.post(f"{base}/_emulator/conversations/{legs[0]}/dtmf", json={"digits": "1"})
    transfer = context.http.post(f"{base}/_emulator/conversations/{legs[0]}/transfer", json={})
    if transfer.status_code == 200 and transfer.json().get("transferred"):
        legs.append(_leg(context, f"warmline-probe-{context.run_id}-2")["conversation_id"])
    return legs


def _leg(context: ProbeContext, call_id: str) -> dict[str, Any]:
    """3CX's incoming-call webhook for the test phone, then its INVITE to the agent."""
    target, options = context.target, context.options
    context.http.post(
        target.incoming_call_url,
        json={"caller": options.caller, "did": options.did, "call_id": call_id},
        headers={SECRET_HEADER: target.secret("ThreeCxSecret")},
    )
    invite = {
        "from": f"sip:{options.caller}@pbx.local",
        "to": f"sip:{options.did}@sip.rtc.elevenlabs.io",
        "agent_id": context.agent_id,
    }
    answer = context.http.post(f"{target.elevenlabs_base_url}/_emulator/sip/inbound", json=invite)
    if answer.status_code != 200:
        raise CliError(f"the emulator refused the simulated call: {answer.status_code} {answer.text[:160]}")
    result: dict[str, Any] = answer.json()
    return result


def _conversations_since(context: ProbeContext, started: int) -> list[str]:
    """The agent's conversations that began since the probe asked for the call, oldest first
    (ElevenLabs may list a call a few seconds after it ended: asked for up to `LISTING_SECONDS`)."""
    deadline = time.monotonic() + LISTING_SECONDS
    while not (found := _listed_since(context, started)) and time.monotonic() < deadline:
        time.sleep(1.0)
    return found


def _listed_since(context: ProbeContext, started: int) -> list[str]:
    listing = context.admin.get(
        "/v1/convai/conversations",
        params={"agent_id": context.agent_id, "call_start_after_unix": started},
    )
    newest_first = [item for item in listing.get("conversations") or [] if isinstance(item, dict)]
    summaries = sorted(  # oldest first; ElevenLabs lists the newest first, and two may share a second
        reversed(newest_first),
        key=lambda item: item.get("start_time_unix_secs") or 0,
    )
    return [str(item["conversation_id"]) for item in summaries if item.get("conversation_id")]
