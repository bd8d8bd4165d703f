"""`warmline elevenlabs selftest`: the wired agent, run through ElevenLabs' own agent testing, checked
step by step against a stack (docs/deployment.md, step 7).

It never touches a real caller. It plays a dedicated test caller, `TEST_CALLER` (+44 7700 900999, in
Ofcom's range kept for drama, so never a real caller; `--caller` picks another number that is not a
registered caller), and clones no voice:

1. **test call**: the test caller is put in the greeting state, as while a clone is prepared: a
   PENDING clone record with no job (so no voice is ever cloned), removed at the end and expiring by
   itself if the command dies; its call is dated `GreetingTimeoutSeconds` back, so check_clone answers
   at once instead of waiting for a clone that never comes. Then its call comes in through the 3CX
   webhook, as 3CX sends it, so warmline knows the caller came through 3CX (with no dialled number,
   so no other caller's conversation can be tied to this call).
2. Two simulation tests are created on the agent (`POST /v1/convai/agent-testing/create`), run
   (`POST /v1/convai/agents/{agent_id}/run-tests`), awaited (`GET /v1/convai/test-invocations/{id}`)
   and deleted (`DELETE /v1/convai/agent-testing/{test_id}`). In both the simulated caller
   (`system__caller_id`: the test caller, over `sip_trunk`) presses 1. In the first, check_clone is
   called for real; in the second, it is mocked to answer `transfer_to_agent` (no clone is needed).
3. **greeting**: the agent's first message is the stack's GreetingMessage (conversation-init's
   override applied), and the agent lets conversation-init set the voice (a transcript has no voice).
   **check_clone**: the agent called check_clone, warmline answered it, and warmline recorded that
   check (an `ivr_check` event of the test caller). **transfer**: after `transfer_to_agent` the
   agent called transfer_to_number, to `--transfer-to` or else to the destination `configure`
   wrote (judged from the tool call's `params_as_json`). A text simulation cannot send a SIP REFER
   (ElevenLabs: "only available when using SIP protocol during the conversation"), so unless the
   run reports SIP success the step is "not testable by simulation" (`passed` null), with what to
   do instead, never a failure. In HandoffMode=agent_transfer the REFER is checked the same way: it
   is how a caller past the pool of voice slots is handed off (the test caller has no sample, so it
   is never leased a slot). In HandoffMode=outbound there is no transfer to check.

The steps are judged from the transcripts and warmline's records, not from ElevenLabs' LLM verdict.
The test caller's check counts in the metrics endpoint like any caller's.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from warmline.adapters.dynamodb import DynamoEventStore
from warmline.adapters.elevenlabs import tls_context
from warmline.callers import mask, normalise_number
from warmline.clone_state import CloneRecord, CloneStatus
from warmline.events import Event, EventType
from warmline.ivr import SAY
from warmline.outcomes import NextAction
from warmline.settings import Settings
from warmline.wire import CheckCloneResponse
from warmline_cli.agent_setup import SECRET_HEADER, TOOL_NAME, TRANSFER_CONDITION, transfer_destination
from warmline_cli.console import CliError, UsageError, progress, say
from warmline_cli.elevenlabs_admin import AdminClient, UnexpectedAnswer, text_field
from warmline_cli.samples import Caller, clone_store, registry_store, resolve_caller
from warmline_cli.target import Target

TEST_CALLER = "+447700900999"
TRANSFER_TOOL = "transfer_to_number"
SIP_TRANSFER = "transfer_to_number_sip_success"
# A finished test run is seen within a quarter second; a long one is asked about every 2 s.
POLL_SECONDS = (0.25, 2.0)
CLOCK_SLACK_MS = 120_000  # the CLI's clock against the functions' when finding warmline's records
SCENARIO = (
    "You are calling a business. The agent greets you and says your personal assistant is being "
    "prepared. Press 1 (say just the digit '1') at once, then listen and do what the agent says."
)
CONDITIONS = {
    "check_clone": "The agent calls the check_clone tool when the caller presses 1.",
    "transfer": "After check_clone answers transfer_to_agent, the agent transfers the call.",
}


@dataclass(frozen=True)
class StepResult:
    step: str
    passed: bool | None  # None: not testable by simulation (never a failure; `detail` says what to do)
    detail: str


@dataclass(frozen=True)
class SelfTestOptions:
    caller: str = TEST_CALLER
    transfer_to: str | None = None
    timeout_seconds: float = 300.0


class SelfTest:
    def __init__(
        self,
        client: AdminClient,
        target: Target,
        agent_id: str,
        options: SelfTestOptions,
        http: httpx.Client,
    ) -> None:
        self.client = client
        self.target = target
        self.agent_id = agent_id
        self.options = options
        self.http = http
        self.run_id = secrets.token_hex(4)
        self.store = clone_store(target)
        self.agent: dict[str, Any] = {}

    def run(self) -> list[StepResult]:
        caller = self._caller()
        agent = self.client.get(f"/v1/convai/agents/{self.agent_id}")
        self.agent = agent
        tool_id = self._check_tool_id(agent)
        started_ms = int(time.time() * 1000)
        with self._greeting_state(caller):
            steps = [self._test_call(caller)]
            runs = self._run_tests(caller, tool_id)
        steps += [
            self._greeting(agent, runs["check_clone"]),
            self._check_clone(runs["check_clone"], caller, started_ms),
            self._transfer(runs.get("transfer")),
        ]
        return steps

    # ---- the test caller on the stack --------------------------------------------------------------

    def _caller(self) -> Caller:
        caller = resolve_caller(self.target, self.options.caller)
        if registry_store(self.target).get_profile(caller.key) is not None:
            raise UsageError(
                f"{caller.masked} is a registered caller: the selftest needs a number that is not one "
                f"(the default {TEST_CALLER} is kept for drama and never a real caller)"
            )
        return caller

    @contextmanager
    def _greeting_state(self, caller: Caller) -> Iterator[None]:
        now = time.time()
        greeting_seconds = float(
            _parameter(self.target, "GreetingTimeoutSeconds", "greeting_timeout_seconds")
        )
        record = CloneRecord(
            status=CloneStatus.PENDING,
            job_id=f"selftest-{self.run_id}",
            expires_at=int(now + self.options.timeout_seconds + 60),
            requested_at_ms=int(now * 1000),
            call_started_at_ms=int((now - greeting_seconds) * 1000),
            threecx_call_id=self._call_id,
        )
        if not self.store.start_clone(caller.key, record, now):
            raise CliError(
                f"the test caller {caller.masked} has a clone record in flight (another selftest running?); "
                "try again in a few minutes, or pick another --caller"
            )
        try:
            yield
        finally:
            self.store.remove_pending(caller.key, record.job_id)

    @property
    def _call_id(self) -> str:
        return f"warmline-selftest-{self.run_id}"

    def _test_call(self, caller: Caller) -> StepResult:
        url = self.target.incoming_call_url
        body = {"caller": caller.number, "did": "", "call_id": self._call_id}
        headers = {SECRET_HEADER: self.target.secret("ThreeCxSecret")}
        try:
            answer = self.http.post(url, json=body, headers=headers)
        except httpx.HTTPError as error:
            return StepResult(
                "test call", False, f"warmline is not reachable at {url} ({type(error).__name__})"
            )
        if answer.status_code != 200:
            return StepResult("test call", False, f"{url} answered {answer.status_code}: {answer.text[:160]}")
        return StepResult(
            "test call", True, f"the test caller {caller.masked} came in through the 3CX webhook"
        )

    # ---- ElevenLabs agent testing ------------------------------------------------------------------

    def _check_tool_id(self, agent: dict[str, Any]) -> str | None:
        prompt = ((agent.get("conversation_config") or {}).get("agent") or {}).get("prompt") or {}
        for tool_id in prompt.get("tool_ids") or []:
            tool = self.client.get(f"/v1/convai/tools/{tool_id}")
            if (tool.get("tool_config") or {}).get("name") == TOOL_NAME:
                return str(tool_id)
        return None

    def _test(
        self, caller: Caller, step: str, mock: dict[str, Any] | None, tool_id: str | None
    ) -> dict[str, Any]:
        test: dict[str, Any] = {
            "type": "simulation",
            "name": f"warmline selftest {self.run_id}: {step}",
            "simulation_scenario": SCENARIO,
            "success_conditions": [CONDITIONS[step]],
            "simulation_max_turns": 5,
            "dynamic_variables": {"system__caller_id": caller.number},
            "conversation_initiation_source": "sip_trunk",
            "tool_mock_config": {"mocking_strategy": "none"},
        }
        if mock is not None and tool_id is not None:
            test["tool_mock_config"] = {"mocking_strategy": "selected", "mocked_tool_ids": [tool_id]}
            test["tool_mock_overrides"] = {tool_id: [{"mock_result": json.dumps(mock)}]}
        return test

    def _run_tests(self, caller: Caller, tool_id: str | None) -> dict[str, dict[str, Any]]:
        """The finished run of each test, by step; the tests are deleted whatever happens."""
        tests = {"check_clone": self._test(caller, "check_clone", None, tool_id)}
        if self.target.handoff_mode != "outbound":  # agent_transfer: the REFER past the pool
            tests["transfer"] = self._test(caller, "transfer", _ready_answer(caller), tool_id)
        created: dict[str, str] = {}
        try:
            for step, test in tests.items():
                answer = self.client.write("POST", "/v1/convai/agent-testing/create", test) or {}
                created[step] = text_field(answer, "id", "POST /v1/convai/agent-testing/create")
            invocation = (
                self.client.write(
                    "POST",
                    f"/v1/convai/agents/{self.agent_id}/run-tests",
                    {"tests": [{"test_id": test_id} for test_id in created.values()]},
                )
                or {}
            )
            runs = self._finished(text_field(invocation, "id", "POST run-tests"))
        finally:
            for test_id in created.values():
                self.client.write("DELETE", f"/v1/convai/agent-testing/{test_id}", {})
        by_test = {run.get("test_id"): run for run in runs}
        return {step: by_test.get(test_id, {}) for step, test_id in created.items()}

    def _finished(self, invocation_id: str) -> list[dict[str, Any]]:
        request = f"GET /v1/convai/test-invocations/{invocation_id}"
        progress(f"ElevenLabs is running the simulated calls (test invocation {invocation_id})")
        deadline = time.monotonic() + self.options.timeout_seconds
        pause, longest_pause = POLL_SECONDS
        while True:
            runs = self.client.get(f"/v1/convai/test-invocations/{invocation_id}").get("test_runs")
            if not isinstance(runs, list):
                raise UnexpectedAnswer(request, "no test_runs list")
            if all(run.get("status") != "pending" for run in runs):
                return runs
            if time.monotonic() > deadline:
                raise CliError(
                    f"ElevenLabs did not finish the tests in {self.options.timeout_seconds:.0f} s "
                    f"(test invocation {invocation_id}); try again with a longer --timeout"
                )
            time.sleep(pause)
            pause = min(pause * 2, longest_pause)

    # ---- the steps, judged ---------------------------------------------------------------------------

    def _greeting(self, agent: dict[str, Any], run: dict[str, Any]) -> StepResult:
        expected = _parameter(self.target, "GreetingMessage", "greeting_message")
        said = next((turn.get("message") for turn in _turns(run) if turn.get("role") == "agent"), None)
        if said != expected:
            return StepResult(
                "greeting",
                False,
                f"the agent's first message was {str(said)[:80]!r}, not warmline's greeting: "
                "conversation-init did not reach warmline, or the agent does not let it set the first "
                "message (`warmline elevenlabs configure`)",
            )
        overrides = (agent.get("platform_settings") or {}).get("overrides") or {}
        voice = ((overrides.get("conversation_config_override") or {}).get("tts") or {}).get("voice_id")
        if not voice:
            return StepResult(
                "greeting", False, "the agent does not let conversation-init set the voice (tts.voice_id)"
            )
        return StepResult(
            "greeting",
            True,
            "the agent greeted the test caller with conversation-init's first message and voice",
        )

    def _check_clone(self, run: dict[str, Any], caller: Caller, started_ms: int) -> StepResult:
        results = _tool_results(run, TOOL_NAME)
        if not results:
            return StepResult(
                "check_clone",
                False,
                "the agent never called check_clone (`warmline elevenlabs configure` adds it)",
            )
        if results[0].get("is_error"):
            why = str(results[0].get("result_value", ""))[:160]
            return StepResult(
                "check_clone", False, f"the check_clone call failed, not reaching warmline: {why}"
            )
        answer = _json(results[0].get("result_value"))
        if not isinstance(answer, dict) or "next_action" not in answer:
            return StepResult(
                "check_clone", False, "check_clone answered something that is not warmline's answer"
            )
        events = DynamoEventStore(self.target.client("dynamodb"), self.target.table, 0)
        seen = events.between(started_ms - CLOCK_SLACK_MS, int(time.time() * 1000) + CLOCK_SLACK_MS)
        if not any(self._is_our_check(event, caller) for event in seen):
            return StepResult(
                "check_clone",
                False,
                "check_clone was answered, but this stack recorded no check of the test caller: "
                "the tool calls another stack?",
            )
        return StepResult(
            "check_clone",
            True,
            f"the agent called check_clone; warmline answered {answer.get('status')} / "
            f"{answer['next_action']} and recorded the check",
        )

    def _is_our_check(self, event: Event, caller: Caller) -> bool:
        """A check of this run's test call (its record's 3CX call id), not of an earlier selftest."""
        return (
            event.type is EventType.IVR_CHECK
            and event.caller_key == caller.key
            and event.data.get("threecx_call_id") == self._call_id
        )

    def _transfer(self, run: dict[str, Any] | None) -> StepResult:
        """Whether the agent transferred after transfer_to_agent, and to the number configured."""
        if run is None:
            return StepResult(
                "transfer", True, "HandoffMode=outbound: warmline calls the caller back, no transfer"
            )
        results = _tool_results(run, TRANSFER_TOOL)
        if not results:
            return _no_transfer(run)
        result = results[0].get("result") or _json(results[0].get("result_value")) or {}
        called = _tool_call_params(run, TRANSFER_TOOL).get("transfer_number")
        number = result.get("transfer_number") or called
        wanted = self.options.transfer_to or _configured_transfer(self.agent)
        if not number:
            why = result.get("error") or results[0].get("result_value")
            return StepResult(
                "transfer", False, f"the agent's transfer_to_number named no destination: {why}"
            )
        if wanted and number != wanted:
            return StepResult("transfer", False, f"the agent transferred to {number}, not to {wanted}")
        if not results[0].get("is_error") and result.get("result_type") == SIP_TRANSFER:
            return StepResult(
                "transfer", True, f"after transfer_to_agent the agent transferred by SIP REFER to {number}"
            )
        # A text simulation has no SIP dialog: ElevenLabs makes a SIP REFER "only available when
        # using SIP protocol during the conversation". The tool call is what it can show.
        why = result.get("error") or result.get("result_type") or results[0].get("result_value")
        return StepResult(
            "transfer",
            None,
            f"the agent called transfer_to_number to {number} as configured; the SIP REFER itself is "
            f"not testable by simulation ({why}): place a real call as a registered test caller, press 1 "
            "when asked, and hear the call come back in the cloned voice",
        )


def _parameter(target: Target, name: str, setting: str) -> Any:
    """A stack parameter, or the functions' own default when the stack does not say."""
    return target.parameters.get(name) or Settings.model_fields[setting].default


def _ready_answer(caller: Caller) -> dict[str, Any]:
    """warmline's check_clone answer when the clone is ready (the transfer test's mock)."""
    return CheckCloneResponse(
        caller_id=caller.masked,
        status="ready",
        clone_ready=True,
        cloned_voice_id=None,
        wait_time_ms=0,
        next_action=NextAction.TRANSFER_TO_AGENT.value,
        say=SAY[NextAction.TRANSFER_TO_AGENT],
        handoff_mode="transfer",
    ).model_dump()


def _turns(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [turn for turn in run.get("agent_responses") or [] if isinstance(turn, dict)]


def _tool_results(run: dict[str, Any], tool_name: str) -> list[dict[str, Any]]:
    return [
        result
        for turn in _turns(run)
        for result in turn.get("tool_results") or []
        if isinstance(result, dict) and result.get("tool_name") == tool_name
    ]


def _tool_call_params(run: dict[str, Any], tool_name: str) -> dict[str, Any]:
    """The parameters of the agent's first call of `tool_name` (`params_as_json`), or {}."""
    for turn in _turns(run):
        for call in turn.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("tool_name") == tool_name:
                params = _json(call.get("params_as_json"))
                return params if isinstance(params, dict) else {}
    return {}


def _configured_transfer(agent: dict[str, Any]) -> str | None:
    """Where warmline's transfer (its condition) on the agent goes, if it has one."""
    prompt = ((agent.get("conversation_config") or {}).get("agent") or {}).get("prompt") or {}
    tool = (prompt.get("built_in_tools") or {}).get(TRANSFER_TOOL) or {}
    for entry in (tool.get("params") or {}).get("transfers") or []:
        if isinstance(entry, dict) and entry.get("condition") == TRANSFER_CONDITION:
            where = entry.get("transfer_destination") or {}
            return where.get("sip_uri") or where.get("phone_number")
    return None


def _json(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


VERDICTS = {True: "PASS", False: "FAIL", None: "NOT TESTABLE BY SIMULATION"}


def report(steps: list[StepResult], as_json: bool, caller: str) -> str:
    if as_json:
        passed = all(step.passed is not False for step in steps)
        return json.dumps(
            {"passed": passed, "caller": caller, "steps": [asdict(step) for step in steps]}, indent=2
        )
    return "\n".join(f"{VERDICTS[step.passed]} {step.step}: {step.detail}" for step in steps)


def add_parser(commands: Any, target: argparse.ArgumentParser) -> None:
    """`warmline elevenlabs selftest`, under the `elevenlabs` command group."""
    selftest = commands.add_parser(
        "selftest",
        parents=[target],
        help="check the agent live with ElevenLabs' agent testing: greeting, check_clone, transfer",
    )
    selftest.add_argument("--agent-id", help="the ElevenLabs agent (default: the stack's ElevenLabsAgentId)")
    selftest.add_argument(
        "--caller",
        default=TEST_CALLER,
        metavar="NUMBER",
        help=f"the test caller: a number that is never a real caller (default {TEST_CALLER}, kept for drama)",
    )
    selftest.add_argument(
        "--transfer-to",
        metavar="SIP_URI_OR_NUMBER",
        help="where the transfer must go (default: anywhere by SIP REFER)",
    )
    selftest.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for ElevenLabs (300)",
    )
    selftest.add_argument("--json", action="store_true", help="print the steps as JSON")


def command(args: argparse.Namespace, target: Target, agent_id: str) -> int:
    if not agent_id:
        raise UsageError("no agent id: pass --agent-id or deploy the stack with ElevenLabsAgentId")
    if args.transfer_to is not None:
        transfer_destination(args.transfer_to)
    options = SelfTestOptions(args.caller, args.transfer_to, args.timeout)
    client = AdminClient(target.secret("ElevenLabsApiKeySecret"), target.elevenlabs_base_url)
    try:
        with httpx.Client(timeout=15, verify=tls_context()) as http:
            steps = SelfTest(client, target, agent_id, options, http).run()
    finally:
        client.close()
    say(report(steps, args.json, mask(normalise_number(args.caller, target.default_country_code))))
    return 0 if all(step.passed is not False for step in steps) else 1


def _no_transfer(run: dict[str, Any]) -> StepResult:
    """The transfer step of a run in which the agent never called transfer_to_number."""
    if not _tool_results(run, TOOL_NAME):
        return StepResult("transfer", False, "the agent never called check_clone, so it never transferred")
    return StepResult(
        "transfer",
        False,
        "check_clone answered transfer_to_agent and the agent did not transfer: is its "
        "transfer_to_number tool set (`warmline elevenlabs configure --transfer-to`)?",
    )
