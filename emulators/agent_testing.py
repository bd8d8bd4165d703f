"""ElevenLabs agent testing, as the emulator plays it: tests (`POST /v1/convai/agent-testing/create`,
`DELETE /v1/convai/agent-testing/{test_id}`), runs (`POST /v1/convai/agents/{agent_id}/run-tests`)
and their results (`GET /v1/convai/test-invocations/{test_invocation_id}`).

A simulation test runs the emulated agent (`emulators/agent_platform.py`) against a scripted user in
place of ElevenLabs' LLMs. The conversation starts as a SIP call from the test's `system__caller_id`
dynamic variable, so the agent fetches its conversation-initiation data as configured; the agent says
its first message; the user presses 1; the agent calls its `check_clone` webhook tool (for real, or
answered by the test's mock for that tool's id, as `tool_mock_config` selects) and says the answer's
`say`; when the answer's `next_action` is `transfer_to_agent`, it calls its `transfer_to_number`
tool (a SIP REFER to the tool's destination). A text simulation has no SIP dialog, and ElevenLabs
documents SIP REFER as "only available when using SIP protocol during the conversation": the
tool call is made (its `params_as_json` names the destination) and its result is an error
(`transfer_to_number_error`); the switch `simulated_refer_succeeds` plays the kinder world where it
reports `transfer_to_number_sip_success`. The transcript (`agent_responses`) has the documented
shape: tool calls, tool results, a SIP transfer's `transfer_number`. A run stays `pending` while its
conversation runs (in a thread), then is `passed`, or `failed` when a tool call failed. Success
conditions are not judged (no LLM). Only simulation tests run; any other type fails.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from flask import Response, jsonify, request

from emulators import agent_platform
from emulators.paging import cursor_page
from emulators.worlds import Worlds, ended_by

CHECK_TOOL = "check_clone"
PRESSED_KEY = "1"
NO_SIP_DIALOG = "SIP REFER transfers are only available during a SIP call, not in a simulation"


def _not_found(what: str) -> Response:
    response = jsonify({"detail": {"status": "not_found", "message": f"{what} was not found."}})
    response.status_code = 404
    return response


class AgentTesting:
    def __init__(
        self,
        agent: Callable[[str], dict[str, Any]],
        tools: Callable[[], list[dict[str, Any]]],
        secret_values: Callable[[], dict[str, str]],
        http: httpx.Client,
    ) -> None:
        self.agent, self.tools, self.secret_values, self.http = agent, tools, secret_values, http
        self._lock = threading.Lock()
        self._tests: dict[str, dict[str, Any]] = {}
        self._invocations: dict[str, dict[str, Any]] = {}
        self._created_at: dict[str, int] = {}
        self.worlds: Callable[[], Worlds] = Worlds  # the emulator's switches (emulators/worlds.py)

    def routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        return [
            ("POST", "/v1/convai/agent-testing/create", self._create),
            ("DELETE", "/v1/convai/agent-testing/<test_id>", self._delete),
            ("GET", "/v1/convai/agent-testing", self._list),
            ("GET", "/v1/convai/agent-testing/<test_id>", self._get),
            ("POST", "/v1/convai/agents/<agent_id>/run-tests", self._run),
            ("GET", "/v1/convai/test-invocations/<invocation_id>", self._invocation),
        ]

    def reset(self) -> None:
        with self._lock:
            self._tests.clear()
            self._invocations.clear()
            self._created_at.clear()

    def tests(self) -> list[dict[str, Any]]:
        with self._lock:
            return json.loads(json.dumps(list(self._tests.values())))

    def _create(self) -> Response:
        test = {"type": "llm", **(request.get_json(silent=True) or {}), "id": secrets.token_hex(10)}
        with self._lock:
            self._tests[test["id"]] = test
            self._created_at[test["id"]] = int(time.time())
        return jsonify({"id": test["id"]})

    def _get(self, test_id: str) -> Response:
        with self._lock:
            test = json.loads(json.dumps(self._tests.get(test_id)))
        return jsonify(test) if test else _not_found(f"Test {test_id}")

    def _list(self) -> Response:
        """Oldest first; `search` in the name, `types`, `page_size` (at most 100), `cursor`."""
        page_size = int(request.args.get("page_size", 30))
        search = (request.args.get("search") or "").lower()
        types = request.args.getlist("types")
        with self._lock:
            matching = [
                _summary(test, self._created_at[test["id"]])
                for test in self._tests.values()
                if search in test.get("name", "").lower() and (not types or test["type"] in types)
            ]
        return cursor_page("tests", matching, page_size)

    def _delete(self, test_id: str) -> Response:
        with self._lock:
            self._created_at.pop(test_id, None)
            if self._tests.pop(test_id, None) is None:
                return _not_found(f"Test {test_id}")
        return jsonify({})

    def _run(self, agent_id: str) -> Response:
        try:
            self.agent(agent_id)
        except KeyError:
            return _not_found(f"Agent {agent_id}")
        wanted = [entry["test_id"] for entry in (request.get_json(silent=True) or {}).get("tests", [])]
        with self._lock:
            missing = [test_id for test_id in wanted if test_id not in self._tests]
            tests = [json.loads(json.dumps(self._tests[test_id])) for test_id in wanted if not missing]
        if missing:
            return _not_found(f"Test {missing[0]}")
        invocation_id = secrets.token_hex(10)
        invocation = {
            "id": invocation_id,
            "agent_id": agent_id,
            "created_at": int(time.time()),
            "test_runs": [_pending_run(invocation_id, agent_id, test) for test in tests],
        }
        with self._lock:
            self._invocations[invocation_id] = invocation
            answer = json.loads(json.dumps(invocation))
        for run, test in zip(invocation["test_runs"], tests, strict=True):
            threading.Thread(target=self._finish, args=(run, test), daemon=True).start()
        return jsonify(answer)

    def _invocation(self, invocation_id: str) -> Response:
        with self._lock:
            invocation = self._invocations.get(invocation_id)
            answer = json.loads(json.dumps(invocation)) if invocation else None
        return jsonify(answer) if answer else _not_found(f"Test invocation {invocation_id}")

    def _finish(self, run: dict[str, Any], test: dict[str, Any]) -> None:
        transcript: list[dict[str, Any]] = []
        try:
            if test.get("type") == "simulation":
                transcript = Simulation(self, test, self.agent(run["agent_id"])).run()
        except Exception:  # a run never stays pending: one the emulator cannot play fails
            logging.getLogger(__name__).exception("simulation %s failed", test.get("id"))
        failed = not transcript or any(
            result.get("is_error") for turn in transcript for result in turn.get("tool_results", [])
        )
        with self._lock:
            run.update(
                status="failed" if failed else "passed",
                agent_responses=transcript,
                last_updated_at_unix=int(time.time()),
            )


def _summary(test: dict[str, Any], created_at: int) -> dict[str, Any]:
    access = {"is_creator": True, "creator_name": "emulator", "creator_email": "emulator@example.invalid"}
    return {
        "id": test["id"],
        "name": test.get("name", ""),
        "access_info": access | {"role": "admin"},
        "created_at_unix_secs": created_at,
        "last_updated_at_unix_secs": created_at,
        "type": test["type"],
    }


def _pending_run(invocation_id: str, agent_id: str, test: dict[str, Any]) -> dict[str, Any]:
    return {
        "test_run_id": secrets.token_hex(10),
        "test_invocation_id": invocation_id,
        "agent_id": agent_id,
        "status": "pending",
        "test_id": test["id"],
        "test_name": test.get("name", ""),
        "agent_responses": None,
        "last_updated_at_unix": int(time.time()),
        "metadata": {
            "workspace_id": "emulator",
            "test_name": test.get("name", ""),
            "ran_by_user_email": "emulator@example.invalid",
            "test_type": "simulation" if test.get("type") == "simulation" else "llm",
        },
    }


class Simulation:
    """One simulated conversation of a test with the agent, as a transcript."""

    def __init__(self, testing: AgentTesting, test: dict[str, Any], agent: dict[str, Any]) -> None:
        self.testing, self.test, self.agent = testing, test, agent
        self.transcript: list[dict[str, Any]] = []

    def run(self) -> list[dict[str, Any]]:
        variables = self.test.get("dynamic_variables") or {}
        caller = variables.get("system__caller_id") or "anonymous"
        invite = {"from": f"sip:{caller}@simulation.invalid", "to": "sip:agent@simulation.invalid"}
        worlds = self.testing.worlds()
        conversation = agent_platform.start(
            self.agent if worlds.init_in_testing else _without_webhook(self.agent),
            invite,
            self.testing.secret_values(),
            self.testing.http,
        )
        if ended_by(worlds, conversation, self.agent):
            return self.transcript  # the conversation ended before the agent said anything
        conversation.dynamic_variables.update(
            {name: value for name, value in variables.items() if not name.startswith("system__")}
        )
        self._say("agent", conversation.first_message)
        self._say("user", PRESSED_KEY)
        tool = agent_platform.webhook_tool(self.agent, self.testing.tools(), CHECK_TOOL)
        if tool is None:
            self._say("agent", "Sorry, I can't check on that for you.")
            return self.transcript
        answer = self._check(conversation, tool)
        self._say("agent", answer.get("say") if isinstance(answer, dict) else None)
        if isinstance(answer, dict) and answer.get("next_action") == "transfer_to_agent":
            self._transfer()
        return self.transcript

    def _say(self, role: str, message: str | None) -> None:
        if message:
            self.transcript.append(
                {"role": role, "message": message, "time_in_call_secs": len(self.transcript)}
            )

    def _tool_turn(self, kind: str, name: str, parameters: dict[str, Any], result: dict[str, Any]) -> None:
        request_id = secrets.token_hex(8)
        call = {
            "type": kind,
            "request_id": request_id,
            "tool_name": name,
            "params_as_json": json.dumps(parameters),
            "tool_has_been_called": True,
        }
        turn = {"role": "agent", "message": None, "time_in_call_secs": len(self.transcript)}
        self.transcript.append({**turn, "tool_calls": [call], "tool_results": []})
        outcome = {"type": kind, "request_id": request_id, "tool_name": name, "tool_has_been_called": True}
        self.transcript.append({**turn, "tool_calls": [], "tool_results": [{**outcome, **result}]})

    def _check(self, conversation: agent_platform.Conversation, tool: dict[str, Any]) -> Any:
        """The check_clone call: the mock the test gives for the tool, or the real request."""
        parameters = {"pressed_key": PRESSED_KEY}
        mocked = self._mock(tool["id"])
        if mocked is not None:
            text, is_error = mocked
            self._tool_turn("webhook", CHECK_TOOL, parameters, {"result_value": text, "is_error": is_error})
            return None if is_error else _json(text)
        try:
            answer = agent_platform.call_tool(
                conversation, tool, parameters, self.testing.secret_values(), self.testing.http
            )
        except agent_platform.CallRefused as refused:
            answer = {"status": 400, "body": str(refused), "elapsed_ms": 0.0}
        except httpx.HTTPError as error:  # as ElevenLabs reports a tool it cannot reach
            answer = {
                "status": 502,
                "body": f"Error: {type(error).__name__} calling the tool",
                "elapsed_ms": 0.0,
            }
        body, failed = answer["body"], answer["status"] >= 400
        self._tool_turn(
            "webhook",
            CHECK_TOOL,
            parameters,
            {
                "result_value": body if isinstance(body, str) else json.dumps(body),
                "is_error": failed,
                "tool_latency_secs": answer["elapsed_ms"] / 1000,
                "error_type": f"http_{answer['status']}" if failed else "",
            },
        )
        return None if failed else body

    def _mock(self, tool_id: str) -> tuple[str, bool] | None:
        """(mock_result, is_error) when the test mocks this tool; None to call it for real."""
        config = self.test.get("tool_mock_config") or {}
        strategy = config.get("mocking_strategy", "none")
        if strategy == "none" or (
            strategy == "selected" and tool_id not in config.get("mocked_tool_ids", [])
        ):
            return None
        mocks = (self.test.get("tool_mock_overrides") or {}).get(tool_id) or []
        if mocks:
            return mocks[0]["mock_result"], bool(mocks[0].get("is_error"))
        if config.get("fallback_strategy", "raise_error") == "call_real_tool":
            return None
        return f"Error: no mock matched for tool '{CHECK_TOOL}'", True

    def _transfer(self) -> None:
        try:
            refer = agent_platform.refer_target(self.agent)
        except agent_platform.CallRefused as refused:
            result: dict[str, Any] = {"result_type": "transfer_to_number_error", "status": "error"}
            result["error"] = str(refused)
        else:
            parameters = {"transfer_number": refer["destination"], "reason": refer["condition"]}
            if not self.testing.worlds().simulated_refer_succeeds:
                # ElevenLabs: a SIP REFER is "only available when using SIP protocol during the
                # conversation"; a text simulation has no SIP dialog to send it in.
                error = {"result_type": "transfer_to_number_error", "status": "error", "error": NO_SIP_DIALOG}
                outcome = {"result_value": json.dumps(error), "is_error": True, "result": error}
                self._tool_turn("system", "transfer_to_number", parameters, outcome)
                return
            result = {
                "result_type": "transfer_to_number_sip_success",
                "status": "success",
                "transfer_number": refer["destination"],
                "reason": refer["condition"],
            }
        parameters = {"transfer_number": result.get("transfer_number"), "reason": result.get("reason")}
        failed = result["status"] == "error"
        outcome = {"result_value": json.dumps(result), "is_error": failed, "result": result}
        self._tool_turn("system", "transfer_to_number", parameters, outcome)


def _without_webhook(agent: dict[str, Any]) -> dict[str, Any]:
    """The agent as a simulation runs it in the world where testing skips conversation-init."""
    copy = json.loads(json.dumps(agent))
    overrides = (copy.get("platform_settings") or {}).get("overrides") or {}
    overrides.pop("enable_conversation_initiation_client_data_from_webhook", None)
    return copy


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
