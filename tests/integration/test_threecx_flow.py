"""The simulated 3CX runs the generated Call Flow Designer project against a web server on loopback:
what the Web Service REST component sends, and where each answer routes the call."""

from __future__ import annotations

import json

import pytest

from emulators.threecx_flow import CallFlow
from tests import web
from tests.answering_server import AnsweringServer
from warmline_cli.api import cfd_project

AGENT = "+441000000001"
SESSION = {"session.ani": "+442079460000", "session.did": "+441000000000", "session.callid": "chid-1"}


class Webhook:
    """warmline's incoming-call webhook as the flow reaches it: it answers what the test set."""

    def __init__(self) -> None:
        self.answer = (200, "{}")
        self.server = AnsweringServer(
            lambda _path: (self.answer[0], "application/json", self.answer[1].encode())
        )
        self.url = f"{self.server.url}/api/calls/incoming"


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.server.close()


def run(webhook, status=200, content="{}"):
    webhook.answer = (status, content)
    with web.client(timeout=5) as http:
        return CallFlow(cfd_project(webhook.url, 'se"cret', AGENT)).run(SESSION, http)


def test_the_rest_component_posts_the_session_as_json_with_the_secret_header(webhook):
    run(webhook, content='{"route": "agent"}')

    (request,) = webhook.server.received
    assert request["path"] == "/api/calls/incoming"
    assert json.loads(request["body"]) == {
        "caller": "+442079460000",
        "did": "+441000000000",
        "call_id": "chid-1",
    }
    assert request["headers"]["X-Warmline-Secret"] == 'se"cret'
    assert request["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "content", "action", "last_steps"),
    [
        (200, '{"route": "agent"}', "transfer", ["routeAgent", "transferToAgent"]),
        (200, '{"route": "agent_callback"}', "disconnect", ["routeCallback", "hangUpForCallback"]),
        (200, '{"route": "somewhere"}', "transfer", ["routeOther", "transferOnOtherRoute"]),
        (503, '{"error": "queue_unavailable"}', "transfer", ["notAnswered", "transferOnFailedAnswer"]),
        (200, "not json", "transfer", ["transferOnError"]),
    ],
)
def test_each_answer_routes_the_call_as_the_flow_says(webhook, status, content, action, last_steps):
    routed = run(webhook, status, content)

    assert routed.action == action
    assert routed.destination == (AGENT if action == "transfer" else "")
    assert routed.steps[-len(last_steps) :] == last_steps
    assert routed.error_handled == (content == "not json")
