"""The simulated 3CX routes calls by the Call Flow Designer project `warmline 3cx flow` writes (issue
22 §1): what the administrator imports is what the local stack's calls go through."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from emulators.caller import Pbx
from emulators.threecx_flow import CallFlow, FlowError
from tests import web
from warmline_cli.api import cfd_project

THROUGH_THE_AGENT_ROUTE = [
    "warmlineIncomingCall",
    "checkAnswer",
    "answered",
    "readRoute",
    "chooseRoute",
    "routeAgent",
    "transferToAgent",
]


def transfer_entry(outcome):
    return next(text for _, text in outcome.timeline.entries if text.startswith("3CX transfers"))


def test_a_first_time_caller_goes_through_the_generated_flow_to_the_clone(register, make_caller):
    register("+44 20 7946 2201")

    outcome = make_caller(pbx=Pbx(did="+441000002201")).call("+442079462201")

    assert outcome.handed_off and outcome.final_voice == "cloned" and set(outcome.statuses) == {200}
    assert " > ".join(THROUGH_THE_AGENT_ROUTE) in transfer_entry(outcome)
    assert "+441000000001" in transfer_entry(outcome)


def test_a_webhook_refusing_the_secret_still_reaches_the_agent_by_the_status_branch(make_caller, local_stack):
    # The project written with a secret the administrator got wrong.
    caller = replace(make_caller(pbx=Pbx(did="+441000002202")), threecx_secret="not-the-3cx-secret")

    outcome = caller.call("+442079462202")

    assert outcome.statuses[0] == 401
    assert outcome.error == "" and outcome.final_voice == "default"
    assert "checkAnswer > notAnswered > transferOnFailedAnswer" in transfer_entry(outcome)


def test_an_unreachable_webhook_runs_the_error_handler_flow_to_the_agent(make_caller, local_stack):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    caller = make_caller(pbx=Pbx(did="+441000002203"))
    caller = replace(
        caller, endpoints={**caller.endpoints, "IncomingCall": f"http://127.0.0.1:{port}/api/calls"}
    )

    outcome = caller.call("+442079462203")

    assert outcome.error == "" and outcome.final_voice == "default"
    assert "webhook unreachable" in outcome.timeline.lines()[0]
    assert "transferOnError" in transfer_entry(outcome)


@pytest.mark.parametrize(
    ("written", "instead"),
    [
        (
            "EQUAL(warmlineIncomingCall.ResponseStatusCode,200)",
            "warmlineIncomingCall.ResponseStatusCode == 200",
        ),
        ('EQUAL(callflow$.route,"agent")', 'EQUAL(callflow$.destination,"agent")'),
        ('EQUAL(callflow$.route,"agent")', 'route == "agent"'),
    ],
)
def test_the_simulated_3cx_refuses_a_flow_cfd_would_not_build(local_stack, written, instead):
    files = cfd_project(local_stack.endpoints["IncomingCall"], local_stack.secrets["ThreeCxSecret"], "+4410")
    files["Main.flow"] = files["Main.flow"].replace(
        written.replace('"', "&quot;"), instead.replace('"', "&quot;")
    )
    session = {"session.ani": "+442079462204", "session.did": "+441000002204", "session.callid": "c1"}

    with web.client(timeout=10) as http, pytest.raises(FlowError):
        CallFlow(files).run(session, http)
