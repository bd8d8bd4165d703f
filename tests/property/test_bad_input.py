"""Bad input at every endpoint, through the local stack's HTTP gateway (real API Gateway v2 events):
the only answers are 2xx, or 4xx with a JSON reason, and a 4xx writes nothing."""

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local import aws
from tests import web
from warmline_cli.agent_setup import DYNAMIC_VARIABLES

PROFILE = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HOSTILE = [
    "",
    " ",
    "anonymous",
    "+",
    "0" * 16,
    "+44 20 7946 0000",
    "../../etc/passwd",
    "%00",
    "\x00\x01\x7f",
    "𝕏" * 40,
    "+4420794600" + "9" * 5000,
    "'; DROP TABLE calls; --",
    "${jndi:ldap://x}",
    "\u202e+44",
]
text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=80))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "caller",
    "did",
    "call_id",
    "caller_id",
    "agent_id",
    "called_number",
    "call_sid",
    "pressed_key",
    "pin",
]
body_object = st.dictionaries(st.sampled_from(FIELDS) | text, json_value, max_size=6)
raw_body = st.one_of(
    body_object.map(lambda value: json.dumps(value).encode()),
    json_value.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
    st.just(b"{" * 20_000),
    st.just(b"[" * 10_000),
    st.just(b'{"caller": ' + b"9" * 5_000 + b"}"),
    st.just(b'{"caller": 1e999, "pressed_key": NaN}'),
    st.just(json.dumps({"caller": "1" * 20_000}).encode()),
    st.just(b""),
)
content_type = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "application/xml", "", "x/y+json"]
)


class Fixture:
    def __init__(self, stack):
        self.stack = stack
        self.dynamodb = aws.client("dynamodb", stack.aws_endpoint_url)
        self.sqs = aws.client("sqs", stack.aws_endpoint_url)
        self.http = web.client(timeout=30)

    def post(self, url, body, ctype, secret, query=""):
        headers = {"content-type": ctype} if ctype else {}
        if secret is not None:
            headers["x-warmline-secret"] = secret
        return self.http.post(url + query, content=body, headers=headers)

    def snapshot(self):
        items = self.dynamodb.scan(TableName=self.stack.model.tables["CloneTable"].name)["Items"]
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.model.queues["CloneJobsQueue"].url, AttributeNames=["All"]
        )["Attributes"]
        sent = sum(
            int(attributes.get(name, 0)) for name in attributes if name.startswith("ApproximateNumber")
        )
        return sorted(json.dumps(item, sort_keys=True) for item in items), sent

    def secret(self, choice, name):
        right = self.stack.secrets[name]
        # Its last character changed: one secret in 64 ends with "x" already, and "x" would be right.
        wrong = right[:-1] + ("y" if right.endswith("x") else "x")
        return {"right": right, "wrong": wrong, "other": "", "replayed": right + right}[choice]


@pytest.fixture(scope="module")
def world(fault_stack):
    fixture = Fixture(fault_stack)
    yield fixture
    fixture.http.close()


def check(world, response, before):
    assert response.status_code < 500, response.text
    assert 200 <= response.status_code < 300 or 400 <= response.status_code < 500
    body = response.json()
    assert isinstance(body, dict)
    if response.status_code >= 400:
        assert body.get("error") or body.get("message"), body
        assert world.snapshot() == before


secret_choice = st.sampled_from(["right", "wrong", "other", "replayed", None])


@PROFILE
@given(body=raw_body, ctype=content_type, secret=secret_choice)
def test_incoming_call(world, body, ctype, secret):
    before = world.snapshot()
    value = None if secret is None else world.secret(secret, "ThreeCxSecret")
    check(world, world.post(world.stack.endpoints["IncomingCall"], body, ctype, value), before)


@PROFILE
@given(body=raw_body, ctype=content_type, secret=secret_choice)
def test_conversation_init(world, body, ctype, secret):
    """Whatever the body, the agent gets its initiation data; only a wrong secret is refused."""
    before = world.snapshot()
    value = None if secret is None else world.secret(secret, "AgentSecret")
    response = world.post(world.stack.endpoints["ConversationInit"], body, ctype, value)
    check(world, response, before)
    if secret == "right":
        assert response.status_code == 200, response.text
        assert set(response.json()["dynamic_variables"]) == set(DYNAMIC_VARIABLES)
    else:
        assert response.status_code == 401


@PROFILE
@given(
    caller_id=text,
    body=raw_body,
    ctype=content_type,
    secret=secret_choice,
    query=st.sampled_from(["", "?pressed_key=1", "?pressed_key=", "?pressed_key=%00", "?x=" + "a" * 3000]),
)
def test_check_clone(world, caller_id, body, ctype, secret, query):
    before = world.snapshot()
    value = None if secret is None else world.secret(secret, "AgentSecret")
    url = world.stack.endpoints["CheckClone"].replace("{caller_id}", quote(caller_id, safe="") or "%20")
    check(world, world.post(url, body, ctype, value, query), before)
