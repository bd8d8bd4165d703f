"""The probes of `warmline elevenlabs probe` (shared/reference/first-contact-review.md, section 3,
a-j), in the order they run: the ones agent testing and the API can settle first, then the four
that share one phone call (`warmline_cli.probe_call`), and voice-switch, which places its own
(`warmline_cli.probe_voice_switch`, issue 26).

The probes play drama numbers (Ofcom's +44 7700 900xxx, never a real caller) where a simulated
caller is enough, and put a caller in the greeting state only for the length of one simulation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from warmline.adapters.dynamodb import DynamoEventStore
from warmline.callers import normalise_number
from warmline.clone_state import CloneRecord, CloneStatus
from warmline.events import EventType
from warmline.voice_provider import VoiceSample
from warmline.voice_slots import voice_name
from warmline_cli.console import CliError, progress
from warmline_cli.elevenlabs_admin import UnexpectedAnswer, text_field
from warmline_cli.probe import Observation, Probe, ProbeContext, Verdict
from warmline_cli.probe_call import the_call
from warmline_cli.probe_voice_switch import voice_switch
from warmline_cli.samples import Caller, clone_store, registry_store, resolve_caller

TEST_CALLER = "+447700900999"  # the call probes' caller on --local (the selftest's, too)
TEST_DID = "+442079460000"  # the number dialled on --local (Ofcom's London drama range)
TESTING_CALLER = "+447700900998"  # testing-init's and init-failure's simulated caller
OVERRIDE_CALLER = "+447700900997"  # override-permission's, in the greeting state meanwhile
PROBE_VOICE = "21m00Tcm4TlvDq8ikWAM"  # a premade voice (Rachel): no slot, no likeness
OWN_FIRST_MESSAGE = "This is the probe agent's own first message."
SCENARIO = "You are calling a business. Listen to the agent's first message, say 'thank you', and hang up."
CLOCK_SLACK_MS = 120_000
POLL_SECONDS = (0.1, 2.0)


# ---- throwaway agents and simulations -----------------------------------------------------------


def throwaway_agent(context: ProbeContext, platform_settings: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {
        "name": f"warmline probe {context.run_id} (deleted when the probe ends)",
        "conversation_config": {
            "agent": {
                "first_message": OWN_FIRST_MESSAGE,
                "language": "en",
                "prompt": {
                    "prompt": "You are a probe of warmline. Say your first message, then end the call."
                },
            },
            "tts": {"voice_id": PROBE_VOICE},
        },
    }
    if platform_settings is not None:
        body["platform_settings"] = platform_settings
    answer = context.admin.write("POST", "/v1/convai/agents/create", body) or {}
    agent_id = text_field(answer, "agent_id", "POST /v1/convai/agents/create")
    context.leftovers.agents.append(agent_id)
    return agent_id


def webhook_settings(webhook: dict[str, Any], permitted: bool) -> dict[str, Any]:
    """Platform settings that fetch conversation-init from `webhook`; `permitted`: whether the
    overrides warmline answers (voice, first message) are allowed."""
    overrides: dict[str, Any] = {"enable_conversation_initiation_client_data_from_webhook": True}
    if permitted:
        overrides["conversation_config_override"] = {
            "tts": {"voice_id": True},
            "agent": {"first_message": True},
        }
    return {
        "workspace_overrides": {"conversation_initiation_client_data_webhook": webhook},
        "overrides": overrides,
    }


def configured_webhook(context: ProbeContext) -> dict[str, Any] | None:
    """The stack's conversation-init webhook as `configure` set it on the agent (with its secret)."""
    agent = context.admin.get(f"/v1/convai/agents/{context.agent_id}")
    settings = agent.get("platform_settings") or {}
    webhook = (settings.get("workspace_overrides") or {}).get("conversation_initiation_client_data_webhook")
    if not isinstance(webhook, dict) or webhook.get("url") != context.target.conversation_init_url:
        return None
    return {"url": webhook["url"], "request_headers": webhook.get("request_headers") or {}}


def simulate(context: ProbeContext, agent_id: str, caller: str) -> dict[str, Any]:
    """One simulation test of `agent_id` with `caller` as system__caller_id: its finished run."""
    test = {
        "type": "simulation",
        "name": f"warmline probe {context.run_id}",
        "simulation_scenario": SCENARIO,
        "success_conditions": ["The agent says its first message."],
        "simulation_max_turns": 2,
        "dynamic_variables": {"system__caller_id": caller},
        "conversation_initiation_source": "sip_trunk",
        "tool_mock_config": {"mocking_strategy": "none"},
    }
    answer = context.admin.write("POST", "/v1/convai/agent-testing/create", test) or {}
    test_id = text_field(answer, "id", "POST /v1/convai/agent-testing/create")
    context.leftovers.tests.append(test_id)
    body = {"tests": [{"test_id": test_id}]}
    invocation = context.admin.write("POST", f"/v1/convai/agents/{agent_id}/run-tests", body) or {}
    return _finished(context, text_field(invocation, "id", "POST run-tests"))


def _finished(context: ProbeContext, invocation_id: str) -> dict[str, Any]:
    request = f"GET /v1/convai/test-invocations/{invocation_id}"
    progress(f"ElevenLabs is running the simulation (test invocation {invocation_id})")
    deadline = time.monotonic() + context.options.timeout_seconds
    pause, longest = POLL_SECONDS
    while True:
        runs = context.admin.get(f"/v1/convai/test-invocations/{invocation_id}").get("test_runs")
        if not isinstance(runs, list) or not runs or not isinstance(runs[0], dict):
            raise UnexpectedAnswer(request, "no test_runs")
        if runs[0].get("status") != "pending":
            return runs[0]
        if time.monotonic() > deadline:
            raise CliError(
                f"ElevenLabs did not finish the simulation in {context.options.timeout_seconds:.0f} s"
            )
        time.sleep(pause)
        pause = min(pause * 2, longest)


def first_agent_message(run: dict[str, Any]) -> str | None:
    for turn in run.get("agent_responses") or []:
        if isinstance(turn, dict) and turn.get("role") == "agent" and turn.get("message"):
            return str(turn["message"])
    return None


def probe_caller(context: ProbeContext, number: str) -> Caller:
    caller = resolve_caller(context.target, number)
    if registry_store(context.target).get_profile(caller.key) is not None:
        raise CliError(f"{caller.masked} is a registered caller; the probes need it not to be")
    return caller


@contextmanager
def greeting_state(context: ProbeContext, caller: Caller) -> Iterator[None]:
    """`caller` has a clone in preparation (no job: nothing is cloned), so conversation-init answers
    the greeting voice and message; removed at the end, and expiring by itself."""
    now = time.time()
    job_id = f"probe-{context.run_id}"
    record = CloneRecord(
        status=CloneStatus.PENDING,
        job_id=job_id,
        expires_at=int(now + context.options.timeout_seconds + 60),
        requested_at_ms=int(now * 1000),
        call_started_at_ms=int(now * 1000),
        threecx_call_id=f"warmline-probe-{context.run_id}",
    )
    store = clone_store(context.target)
    if not store.start_clone(caller.key, record, now):
        raise CliError(f"{caller.masked} has a clone record in flight (another probe running?)")
    try:
        yield
    finally:
        store.remove_pending(caller.key, job_id)


def _stack_saw(context: ProbeContext, caller: Caller, since_ms: int) -> list[str]:
    """The events this stack recorded for `caller` since `since_ms` (conversation-init leaves one
    for a caller who did not come through 3CX)."""
    events = DynamoEventStore(context.target.client("dynamodb"), context.target.table, 0)
    seen = events.between(since_ms - CLOCK_SLACK_MS, int(time.time() * 1000) + CLOCK_SLACK_MS)
    return [event.type.value for event in seen if event.caller_key == caller.key and event.at_ms >= since_ms]


# ---- f, d, e: conversation-init and agent testing -------------------------------------------------


def testing_init(context: ProbeContext) -> Observation:
    webhook = configured_webhook(context)
    if webhook is None:
        return Observation(
            Verdict.INCONCLUSIVE, "nothing", "the agent's webhook is not this stack's: run configure first"
        )
    caller = probe_caller(context, TESTING_CALLER)
    agent_id = throwaway_agent(context, webhook_settings(webhook, permitted=True))
    since = int(time.time() * 1000)
    run = simulate(context, agent_id, caller.number)
    sent = (
        f"a simulation test of a throwaway agent ({agent_id}) whose conversation-init webhook is this "
        f"stack's, with system__caller_id {caller.masked} (a caller who never came through 3CX)"
    )
    seen = _stack_saw(context, caller, since)
    if seen:
        saw = f"the stack recorded conversation-init for {caller.masked} ({', '.join(sorted(set(seen)))})"
        return Observation(Verdict.PASS, sent, saw + f"; the run {run.get('status')}")
    saw = f"no conversation-init for {caller.masked} reached this stack; the run {run.get('status')}"
    return Observation(Verdict.FAIL, sent, saw)


def _testing_runs_init(context: ProbeContext) -> bool:
    finding = context.findings.get("testing-init")
    return finding is not None and finding.verdict == Verdict.PASS


def init_failure(context: ProbeContext) -> Observation:
    failing = {"url": context.target.conversation_init_url, "request_headers": {}}
    sent = (
        "a simulation test of a throwaway agent whose conversation-init webhook answers 401 "
        "(this stack's, without its secret)"
    )
    if not _testing_runs_init(context):
        return Observation(
            Verdict.INCONCLUSIVE, sent, "agent testing does not run conversation-init (probe testing-init)"
        )
    agent_id = throwaway_agent(context, webhook_settings(failing, permitted=True))
    said = first_agent_message(simulate(context, agent_id, TESTING_CALLER))
    if said == OWN_FIRST_MESSAGE:
        return Observation(
            Verdict.PASS, sent, "the conversation went on: the agent said its own first message"
        )
    if said is None:
        return Observation(Verdict.FAIL, sent, "the conversation ended before the agent said anything")
    return Observation(Verdict.INCONCLUSIVE, sent, f"the agent said {said[:80]!r}")


def override_permission(context: ProbeContext) -> Observation:
    webhook = configured_webhook(context)
    sent = (
        "a simulation test of a throwaway agent that fetches this stack's conversation-init but permits "
        "no override, for a caller in the greeting state (init answers a voice and a first message)"
    )
    if webhook is None or not _testing_runs_init(context):
        why = "run configure first" if webhook is None else "agent testing does not run conversation-init"
        return Observation(Verdict.INCONCLUSIVE, sent, why)
    caller = probe_caller(context, OVERRIDE_CALLER)
    agent_id = throwaway_agent(context, webhook_settings(webhook, permitted=False))
    with greeting_state(context, caller):
        said = first_agent_message(simulate(context, agent_id, caller.number))
    if said is None:
        return Observation(
            Verdict.PASS, sent, "the conversation was refused: it ended before the agent spoke"
        )
    if said == OWN_FIRST_MESSAGE:
        return Observation(
            Verdict.FAIL,
            sent,
            "the override was ignored without a word: the agent said its own first message",
        )
    return Observation(Verdict.FAIL, sent, f"the override was applied without the permission: {said[:80]!r}")


# ---- g: PATCH agent ---------------------------------------------------------------------------------


def _at(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def patch_merge(context: ProbeContext) -> Observation:
    agent_id = throwaway_agent(context)
    path = f"/v1/convai/agents/{agent_id}"
    before = context.admin.get(path)
    changed = "The probe agent's first message, changed."
    context.admin.write("PATCH", path, {"conversation_config": {"agent": {"first_message": changed}}})
    after = context.admin.get(path)
    sent = (
        f"GET, then PATCH conversation_config.agent.first_message alone, then GET, on a throwaway agent "
        f"({agent_id})"
    )
    kept = {
        "agent.prompt.prompt": ("agent", "prompt", "prompt"),
        "agent.language": ("agent", "language"),
        "tts.voice_id": ("tts", "voice_id"),
    }
    lost = [
        name
        for name, where in kept.items()
        if _at(after, "conversation_config", *where) != _at(before, "conversation_config", *where)
    ]
    if _at(after, "conversation_config", "agent", "first_message") != changed:
        return Observation(Verdict.INCONCLUSIVE, sent, "the PATCH did not change the first message")
    if lost:
        return Observation(
            Verdict.FAIL, sent, f"the PATCH replaced nested objects: {', '.join(lost)} changed"
        )
    return Observation(Verdict.PASS, sent, f"{', '.join(kept)} were kept; only the first message changed")


# ---- h, i: one clone of a consenting caller's sample ------------------------------------------------


def _probe_voice(context: ProbeContext) -> dict[str, Any]:
    """One clone, made once for both voice probes: `{"voice_id", "requires_verification", "made_at"}`
    or `{"skipped": why}`."""
    return context.once("voice", _clone_once)


def _clone_once(context: ProbeContext) -> dict[str, Any]:
    if not context.options.sample_caller:
        return {"skipped": "pass --sample-caller NUMBER: a registered caller who consented to cloning"}
    caller = resolve_caller(context.target, context.options.sample_caller, "--sample-caller")
    profile = registry_store(context.target).get_profile(caller.key)
    if profile is None or not profile.sample_keys:
        return {"skipped": f"{caller.masked} is not a registered caller with a voice sample"}
    key = profile.sample_keys[0]
    sample = context.target.client("s3").get_object(Bucket=context.target.bucket, Key=key)
    content = sample["Body"].read()
    # warmline's own name for a voice of this caller: if the probe could not delete it, the
    # scheduled voice sweep deletes it as an orphan (no record holds it).
    name = voice_name(f"probe{context.run_id}", caller.key)
    context.leftovers.voice_names.append(name)
    added = context.voices_client.add_voice(
        name=name,
        samples=[VoiceSample(key.rsplit("/", 1)[-1], content, sample.get("ContentType") or "audio/mpeg")],
        description="warmline probe: deleted when the probe ends",
        labels={"warmline_probe": context.run_id},
        timeout_seconds=120,
    )
    context.leftovers.voices.append(added.voice_id)
    return {
        "voice_id": added.voice_id,
        "name": name,
        "caller": caller.masked,
        "requires_verification": added.requires_verification,
        "made_at": time.monotonic(),
    }


def clone_verification(context: ProbeContext) -> Observation:
    voice = _probe_voice(context)
    if "skipped" in voice:
        return Observation(Verdict.INCONCLUSIVE, "nothing", voice["skipped"])
    sent = f"POST /v1/voices/add with {voice['caller']}'s first sample (the voice is deleted at the end)"
    needs = voice["requires_verification"]
    saw = f"requires_verification: {str(needs).lower()}"
    return Observation(Verdict.FAIL if needs else Verdict.PASS, sent, saw)


def voice_search(context: ProbeContext) -> Observation:
    voice = _probe_voice(context)
    if "skipped" in voice:
        return Observation(Verdict.INCONCLUSIVE, "nothing", voice["skipped"])
    search = voice["name"][:-1]  # a substring: the name without its last character
    budget = context.options.search_seconds
    sent = f"GET /v2/voices?search={search} until {voice['name']} is listed (at most {budget:g} s)"
    deadline = voice["made_at"] + context.options.search_seconds
    pause, longest = POLL_SECONDS
    while True:
        if voice["voice_id"] in _searched_voice_ids(context, search):
            lag = time.monotonic() - voice["made_at"]
            return Observation(Verdict.PASS, sent, f"listed {lag:.1f} s after the clone answered")
        if time.monotonic() + pause > deadline:
            saw = f"not listed {context.options.search_seconds:g} s after the clone answered"
            return Observation(Verdict.FAIL, sent, saw)
        time.sleep(pause)
        pause = min(pause * 2, longest)


def _searched_voice_ids(context: ProbeContext, search: str) -> set[str]:
    """ElevenLabs' own `search` (warmline's look-ups list the account's cloned voices and match the
    name themselves, so only this probe depends on it)."""
    body = context.admin.get("/v2/voices", {"search": search, "page_size": 100})
    return {voice.get("voice_id") for voice in body.get("voices") or [] if isinstance(voice, dict)}


# ---- a, b, c, j: the phone call ---------------------------------------------------------------------

CALL_SENT = "one call from the test phone through 3CX: greeting, key 1, transfer, the second leg"


def _legs(context: ProbeContext) -> list[dict[str, Any]] | str:
    call = the_call(context)
    if "skipped" in call:
        return str(call["skipped"])
    legs: list[dict[str, Any]] = call["legs"]
    return legs or "ElevenLabs lists no conversation of the agent since the call began"


def caller_id(context: ProbeContext) -> Observation:
    legs = _legs(context)
    if isinstance(legs, str):
        return Observation(Verdict.INCONCLUSIVE, CALL_SENT, legs)
    wanted = normalise_number(context.options.caller, context.target.default_country_code)
    seen = [str(_at(leg, "metadata", "phone_call", "external_number") or "") for leg in legs]
    matches = [_same_number(number, wanted, context) for number in seen]
    described = ", ".join(f"leg {n}: {_masked(number)}" for n, number in enumerate(seen, 1))
    unidentified = _not_passed_since(context, int(the_call(context)["started_ms"]))
    saw = (
        f"metadata.phone_call.external_number {described} (3CX's caller: {_masked(wanted)}); the stack "
        f"recorded {unidentified} caller(s) that did not come through 3CX meanwhile"
    )
    passed = all(matches) and not unidentified
    return Observation(Verdict.PASS if passed else Verdict.FAIL, CALL_SENT, saw)


def _not_passed_since(context: ProbeContext, since_ms: int) -> int:
    events = DynamoEventStore(context.target.client("dynamodb"), context.target.table, 0)
    seen = events.between(since_ms, int(time.time() * 1000) + CLOCK_SLACK_MS)
    return sum(event.type is EventType.CALLER_ID_NOT_PASSED for event in seen)


def _same_number(seen: str, wanted: str, context: ProbeContext) -> bool:
    try:
        return normalise_number(seen, context.target.default_country_code) == wanted
    except ValueError:
        return False


def _masked(number: str) -> str:
    return f"{number[:4]}...{number[-2:]}" if len(number) > 6 else (number or "(none)")


def sip_body(context: ProbeContext) -> Observation:
    legs = _legs(context)
    if isinstance(legs, str):
        return Observation(Verdict.INCONCLUSIVE, CALL_SENT, legs)
    variables = _at(legs[0], "conversation_initiation_client_data", "dynamic_variables") or {}
    system = sorted(name for name in variables if name.startswith("system__"))
    problems = [name for name in ("system__caller_id", "system__called_number") if not variables.get(name)]
    if variables.get("system__call_sid"):
        problems.append("system__call_sid is set (warmline expects it null on SIP)")
    saw = f"the first leg's system variables: {', '.join(system) or '(none)'}"
    if problems:
        return Observation(Verdict.FAIL, CALL_SENT, f"{saw}; missing or unexpected: {', '.join(problems)}")
    return Observation(Verdict.PASS, CALL_SENT, saw + "; caller and called number set, call_sid null")


def refer(context: ProbeContext) -> Observation:
    legs = _legs(context)
    if isinstance(legs, str):
        return Observation(Verdict.INCONCLUSIVE, CALL_SENT, legs)
    results = [
        result
        for turn in legs[0].get("transcript") or []
        for result in turn.get("tool_results") or []
        if isinstance(result, dict) and result.get("tool_name") == "transfer_to_number"
    ]
    if not results:
        return Observation(Verdict.INCONCLUSIVE, CALL_SENT, "the agent did not try to transfer the call")
    refused = results[-1].get("is_error")
    saw = f"the transfer {'failed' if refused else 'succeeded'}; {len(legs)} leg(s) reached the agent"
    if refused or len(legs) < 2:
        return Observation(Verdict.FAIL, CALL_SENT, saw)
    return Observation(Verdict.PASS, CALL_SENT, saw)


def dtmf(context: ProbeContext) -> Observation:
    legs = _legs(context)
    if isinstance(legs, str):
        return Observation(Verdict.INCONCLUSIVE, CALL_SENT, legs)
    presses = [
        turn
        for turn in legs[0].get("transcript") or []
        if turn.get("role") == "user" and turn.get("source_medium") == "dtmf"
    ]
    if not presses:
        return Observation(
            Verdict.FAIL, CALL_SENT, "no key press (source_medium dtmf) in the first leg's transcript"
        )
    saw = f"key {presses[0].get('message')!r} reached the agent at {presses[0].get('time_in_call_secs')} s"
    return Observation(Verdict.PASS, CALL_SENT, saw)


PROBES = [
    Probe(
        "testing-init",
        "agent testing runs the pre-call webhook and accepts system__ variables",
        testing_init,
        on_pass="the selftest's greeting and check_clone steps are judged by simulation, as today",
        on_fail="the selftest cannot see conversation-init: treat its greeting step as not testable by "
        "simulation and prove the greeting with the call probes (caller-id, sip-body)",
    ),
    Probe(
        "init-failure",
        "a failing conversation-init leaves the call going, in the agent's own voice and first message",
        init_failure,
        on_pass="warmline's fallback holds: a failing conversation-init costs the greeting, not the call",
        on_fail="a failing conversation-init ends the call: point the agent at the stack only once `doctor` "
        "passes, keep ColdStartMode warm and watch the conversation-init error alarm",
    ),
    Probe(
        "override-permission",
        "an override the agent does not permit is refused (as documented), not silently ignored",
        override_permission,
        on_pass="a missing permission shows at once as a failed call; `configure` sets the permissions "
        "warmline needs (tts.voice_id, agent.first_message) and `doctor` checks them",
        on_fail="a missing permission is silent (callers never hear their clone): run `doctor` after every "
        "change to the agent in the dashboard; it checks the permissions `configure` sets",
    ),
    Probe(
        "patch-merge",
        "PATCH agent keeps the nested fields it does not name",
        patch_merge,
        on_pass="`configure`'s partial PATCHes leave the rest of the agent alone",
        on_fail="do not run `configure` on this account: its partial PATCHes would erase what they do not "
        "name (prompt, voice, tools); report it, warmline must then send whole objects",
    ),
    Probe(
        "voice-search",
        "GET /v2/voices search matches substrings of voice names and sees a new voice promptly",
        voice_search,
        on_pass="nothing changes: warmline's look-ups (the sweep, samples remove, an interrupted clone) list "
        "the account's own cloned voices and match names themselves, never through search",
        on_fail="nothing changes either, for the same reason; a script of your own that finds voices with "
        "search may miss new ones for a while",
    ),
    Probe(
        "clone-verification",
        "a consenting caller's sample clones without requires_verification",
        clone_verification,
        on_pass="callers' clones are handed out as soon as they are ready",
        on_fail="such a clone is never handed out: warmline counts it as a failed clone, deletes it and "
        "the caller stays in the default voice; verify the voices in the ElevenLabs dashboard or record "
        "new samples",
    ),
    Probe(
        "caller-id",
        "the caller's number crosses the SIP trunk, on the first leg and on the leg after the REFER",
        caller_id,
        on_pass="warmline finds each caller's clone by the number ElevenLabs reports, on both legs",
        on_fail="no caller gets their clone: set the 3CX trunk's Outbound Parameters (From: User Part, "
        "P-Asserted-Identity) to OriginatorCallerID (docs/wiring.md); meanwhile warmline ties a "
        "conversation only to the single recent 3CX call to that number, and counts caller_id_not_passed",
    ),
    Probe(
        "sip-body",
        "the SIP pre-call data has the caller and the number called; call_sid is null",
        sip_body,
        on_pass="conversation-init reads caller_id and called_number as it does today",
        on_fail="conversation-init still answers 200 (with the defaults for what is missing); without "
        "called_number a conversation whose caller ID is lost cannot be tied to its 3CX call: set the "
        "trunk's Request-URI / To user part to the number dialled",
    ),
    Probe(
        "refer",
        "3CX accepts the agent's in-dialog SIP REFER and routes the call to the agent again",
        refer,
        on_pass="HandoffMode=transfer (the default) works: the REFER brings the caller back in their clone",
        on_fail="redeploy with HandoffMode=outbound (warmline calls the caller back in the cloned voice), "
        "or allow the REFER on the 3CX trunk (docs/wiring.md) and probe again",
    ),
    Probe(
        "dtmf",
        "a key pressed on the call crosses the 3CX trunk and reaches the agent",
        dtmf,
        on_pass="the caller's key press reaches check_clone",
        on_fail="key presses do not cross the trunk: set DTMF to RFC 4733 (RFC 2833) on the 3CX trunk to "
        "ElevenLabs and probe again; meanwhile callers can say 'one'",
    ),
    Probe(
        "voice-switch",
        "a transfer_to_agent reads the target agent's configuration when the transfer happens, so a voice "
        "PATCHed onto it mid-conversation is heard (the same call, no new leg)",
        voice_switch,
        on_pass="HandoffMode=agent_transfer may be switched on (experimental): redeploy with it, then "
        "`warmline elevenlabs configure` creates the voice-slot agents",
        on_fail="keep the REFER handoff (HandoffMode=transfer): ElevenLabs fixes the target agent's voice "
        "when the conversation starts; `configure` refuses HandoffMode=agent_transfer",
    ),
]
REQUIRES = {"init-failure": "testing-init", "override-permission": "testing-init"}
