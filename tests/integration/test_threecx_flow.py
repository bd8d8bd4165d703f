"""The simulated 3CX runs the generated Call Flow Designer project against a web server on loopback:
what the Web Service REST component sends, and where each answer routes the call."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from emulators.threecx_flow import CallFlow
from warmline_cli.api import cfd_project

AGENT = "+441000000001"
SESSION = {"session.ani": "+442079460000", "session.did": "+441000000000", "session.callid": "chid-1"}


class Webhook(BaseHTTPRequestHandler):
    answer: ClassVar[tuple[int, str]] = (200, "{}")
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
        status, content = self.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Webhook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/calls/incoming"
    server.shutdown()
    server.server_close()


def run(url, status=200, content="{}"):
    Webhook.answer = (status, content)
    with httpx.Client(timeout=5) as http:
        return CallFlow(cfd_project(url, 'se"cret', AGENT)).run(SESSION, http)


def test_the_rest_component_posts_the_session_as_json_with_the_secret_header(webhook):
    run(webhook, content='{"route": "agent"}')

    (request,) = Webhook.received
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
