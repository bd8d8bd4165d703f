"""`warmline elevenlabs probe voice-switch`: does a `transfer_to_agent` read the target agent's
configuration when the transfer happens, or when the conversation started? (platform-review.md §1,
first-contact-review.md §4). HandoffMode=agent_transfer rests on the first answer.

Premade voices only (no clone, no voice add or edit spent): agent B speaks in voice X; agent A,
in voice X too, has a workspace `transfer_to_agent` tool to B (`preserve_client_tts_overrides`
false, B's first message on). A conversation with A starts (an outbound call to the test phone
over the stack's agent phone number); only then is B's voice PATCHed to Y; the listener presses 1,
A transfers to B, and B asks "press 1 if this voice is different from the first one, 2 if it is
the same". The answer is read back from the conversation's history: the first key (or word) after
the transfer's result. ElevenLabs' history names the agent of each turn, not its voice, so the
listener's ear decides. On `--local` the emulator plays the call and the listener, who hears the
voices the emulator says spoke (`GET /_emulator/conversations/{id}`).

A, B and the tool are deleted at the end, also on failure and Ctrl-C (`Leftovers.clean`).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from warmline_cli.console import CliError, say
from warmline_cli.elevenlabs_admin import text_field
from warmline_cli.probe import Observation, ProbeContext, Verdict

FIRST_VOICE = "21m00Tcm4TlvDq8ikWAM"  # premade (Rachel)
SECOND_VOICE = "EXAVITQu4vr4xnSDxMaL"  # premade (Sarah)
TOOL_NAME = "warmline_probe_hand_over"
A_FIRST_MESSAGE = "This is the first voice. Remember how it sounds, then press 1 to hear the second."
B_FIRST_MESSAGE = (
    "This is the second voice. Press 1 if this voice is different from the first one, 2 if it is the same."
)
A_PROMPT = (
    f"You are a probe of warmline. When the listener presses 1 or says they are ready, call {TOOL_NAME}."
)
B_PROMPT = "You are a probe of warmline. After the listener presses 1 or 2, say thank you and end the call."
DIFFERENT, SAME = ("1", "one", "different"), ("2", "two", "same")
POLL_SECONDS = 1.0
LOCAL_PHONE_NUMBER_ID = "phnum_local"  # the emulator places a call from any phone number id
SENT = (
    "agent A (voice X) with a transfer_to_agent to agent B (voice X); a call with A; B's voice PATCHed "
    "to Y once the call runs; key 1, the transfer; B asks whether its voice differs"
)


def voice_switch(context: ProbeContext) -> Observation:
    phone_number_id = _phone_number_id(context)
    if not context.options.caller:
        return Observation(Verdict.INCONCLUSIVE, "nothing", "no test phone: pass --caller NUMBER")
    if not phone_number_id:
        why = "the stack has no ElevenLabsAgentPhoneNumberId: the probe calls the test phone from it"
        return Observation(Verdict.INCONCLUSIVE, "nothing", why)
    second = _agent(context, "B", B_FIRST_MESSAGE, B_PROMPT, [])
    first = _agent(context, "A", A_FIRST_MESSAGE, A_PROMPT, [_transfer_tool(context, second)])
    if not (context.local and not context.options.guided):
        say(f"The voice-switch probe calls the test phone {context.options.caller} now: answer it, and")
        say("listen to the first voice. Do not press anything until this screen asks you to.")
    conversation_id = _call(context, first, phone_number_id)
    if not _running(context, conversation_id):
        return Observation(Verdict.INCONCLUSIVE, SENT, "the call was not answered")
    patch = {"conversation_config": {"tts": {"voice_id": SECOND_VOICE}}}
    context.admin.write("PATCH", f"/v1/convai/agents/{second}", patch)
    if context.local and not context.options.guided:
        heard = _listen_on_the_emulator(context, conversation_id)
    elif _operator_answers():
        heard = ""
    else:
        return Observation(Verdict.INCONCLUSIVE, SENT, "the operator skipped the call")
    return judge(_history(context, conversation_id), second, heard)


def judge(history: dict[str, Any], second: str, heard: str = "") -> Observation:
    """PASS: the listener heard a different voice after the transfer; FAIL: the same one."""
    transcript = [turn for turn in history.get("transcript") or [] if isinstance(turn, dict)]
    moved = next((n for n, turn in enumerate(transcript) if _transferred_to(turn, second)), None)
    if moved is None:
        return Observation(Verdict.INCONCLUSIVE, SENT, "the conversation never transferred to agent B")
    answers = [_answer(turn) for turn in transcript[moved:] if turn.get("role") == "user"]
    answer = next((found for found in answers if found), "")
    where = f"the transfer to B succeeded in the same conversation ({history.get('conversation_id')})"
    where += f"; {heard}" if heard else ""
    if answer == "different":
        return Observation(Verdict.PASS, SENT, f"{where}; the listener answered: a different voice")
    if answer == "same":
        return Observation(Verdict.FAIL, SENT, f"{where}; the listener answered: the same voice")
    return Observation(Verdict.INCONCLUSIVE, SENT, f"{where}; the listener gave no answer (1 or 2)")


def _transferred_to(turn: dict[str, Any], agent_id: str) -> bool:
    for result in turn.get("tool_results") or []:
        outcome = result.get("result") if isinstance(result, dict) else None
        if isinstance(outcome, dict) and outcome.get("to_agent") == agent_id and not result.get("is_error"):
            return True
    return False


def _answer(turn: dict[str, Any]) -> str:
    words = str(turn.get("message") or "").lower().replace(".", " ").split()
    if any(word in DIFFERENT for word in words):
        return "different"
    return "same" if any(word in SAME for word in words) else ""


def _phone_number_id(context: ProbeContext) -> str:
    number = context.target.parameters.get("ElevenLabsAgentPhoneNumberId") or ""
    return number or (LOCAL_PHONE_NUMBER_ID if context.local else "")


def _agent(context: ProbeContext, label: str, first_message: str, prompt: str, tool_ids: list[str]) -> str:
    body = {
        "name": f"warmline probe {context.run_id} {label} (deleted when the probe ends)",
        "conversation_config": {
            "agent": {
                "first_message": first_message,
                "language": "en",
                "prompt": {"prompt": prompt, "tool_ids": tool_ids},
            },
            "tts": {"voice_id": FIRST_VOICE},
        },
    }
    answer = context.admin.write("POST", "/v1/convai/agents/create", body) or {}
    agent_id = text_field(answer, "agent_id", "POST /v1/convai/agents/create")
    context.leftovers.agents.append(agent_id)
    return agent_id


def _transfer_tool(context: ProbeContext, target: str) -> str:
    transfer = {
        "agent_id": target,
        "condition": "the listener pressed 1 or said they are ready",
        "delay_ms": 0,
        "enable_transferred_agent_first_message": True,
        "preserve_client_tts_overrides": False,
    }
    config = {
        "type": "system",
        "name": TOOL_NAME,
        "description": "Hand the listener over to the second agent.",
        "params": {"system_tool_type": "transfer_to_agent", "transfers": [transfer]},
    }
    answer = context.admin.write("POST", "/v1/convai/tools", {"tool_config": config}) or {}
    tool_id = text_field(answer, "id", "POST /v1/convai/tools")
    context.leftovers.tools.append(tool_id)
    return tool_id


def _call(context: ProbeContext, agent_id: str, phone_number_id: str) -> str:
    twilio = context.target.parameters.get("OutboundTelephony") == "twilio"
    path = "/v1/convai/twilio/outbound-call" if twilio else "/v1/convai/sip-trunk/outbound-call"
    body = {
        "agent_id": agent_id,
        "agent_phone_number_id": phone_number_id,
        "to_number": context.options.caller,
    }
    answer = context.admin.write("POST", path, body) or {}
    return text_field(answer, "conversation_id", f"POST {path}")


def _running(context: ProbeContext, conversation_id: str) -> bool:
    """Whether the call is answered (its conversation in progress), asked until the probe's timeout."""
    deadline = time.monotonic() + context.options.timeout_seconds
    while time.monotonic() < deadline:
        status = _status(context, conversation_id)
        if status == "in-progress":
            return True
        if status in ("done", "failed"):
            return False
        time.sleep(POLL_SECONDS)
    return False


def _status(context: ProbeContext, conversation_id: str) -> str:
    try:
        return str(context.admin.get(f"/v1/convai/conversations/{conversation_id}").get("status") or "")
    except (CliError, httpx.HTTPError):  # not listed yet (404) while the phone rings
        return ""


def _operator_answers() -> bool:
    say(
        "Now, on the phone:\n"
        "  1. Press 1. A second agent speaks.\n"
        "  2. Press 1 if its voice is different from the first one, 2 if it is the same.\n"
        "  3. Hang up.\n"
        "Press Enter when you have hung up (or type skip and Enter to skip this probe)."
    )
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() != "skip"


def _listen_on_the_emulator(context: ProbeContext, conversation_id: str) -> str:
    """The listener on the emulated line: key 1, A's LLM transfers, then key 1 or 2 for what the
    emulator says was heard (the voice of the first and of the last agent turn); then hang up."""
    base = f"{context.target.elevenlabs_base_url}/_emulator/conversations/{conversation_id}"
    context.http.post(f"{base}/dtmf", json={"digits": "1"}).raise_for_status()
    context.http.post(f"{base}/agent-transfer", json={"tool": TOOL_NAME}).raise_for_status()
    spoken = context.http.get(base).json()["spoken"]
    first, last = spoken[0]["voice_id"], spoken[-1]["voice_id"]
    context.http.post(f"{base}/dtmf", json={"digits": "1" if first != last else "2"}).raise_for_status()
    context.http.post(f"{base}/end", json={}).raise_for_status()
    return f"the emulator played A in {first}, B in {last}"


def _history(context: ProbeContext, conversation_id: str) -> dict[str, Any]:
    """The conversation's record once it is over (ElevenLabs may take a few seconds after the hang-up)."""
    deadline = time.monotonic() + 20.0
    while True:
        history = context.admin.get(f"/v1/convai/conversations/{conversation_id}")
        if history.get("status") == "done" or time.monotonic() > deadline:
            return history
        time.sleep(POLL_SECONDS)
