"""The gateway and the execution environments, over HTTP against the fixture template's stack."""

import base64
import threading
import time
from dataclasses import replace

import httpx

from local import template
from local.fork_server import PRELOAD_VARIABLE
from local.gateway import Gateway
from local.lambda_runtime import LambdaRuntime
from tests import web

from .conftest import FIXTURE_TEMPLATE, FIXTURES

# The HTTP API payload format 2.0 example from the API Gateway developer guide ("Working with AWS
# Lambda proxy integrations for HTTP APIs"), without the parts that need an authorizer, client
# certificates or stage variables.
REFERENCE_V2_EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/my/path",
    "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
    "cookies": ["cookie1", "cookie2"],
    "headers": {"header1": "value1", "header2": "value1,value2"},
    "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "http": {
            "method": "POST",
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "agent",
        },
        "requestId": "id",
        "routeKey": "$default",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    },
    "body": "Hello from Lambda",
    "pathParameters": {"parameter1": "value1"},
    "isBase64Encoded": False,
}


def echo(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_event_has_the_v2_shape(fixture_stack):
    response = web.post(
        fixture_stack.api_base_url + "/echo?a=1&a=2&b=",
        content=b'{"hello": "world"}',
        headers=[
            ("Content-Type", "application/json"),
            ("X-Repeated", "one"),
            ("X-Repeated", "two"),
            ("Cookie", "c1=v1; c2=v2"),
            ("User-Agent", "tests/1.0"),
        ],
    )
    assert response.headers["x-echo"] == "yes"
    event = echo(response)["event"]

    assert set(event) == set(REFERENCE_V2_EVENT) - {"pathParameters"}
    assert set(event["requestContext"]) == set(REFERENCE_V2_EVENT["requestContext"])
    assert set(event["requestContext"]["http"]) == set(REFERENCE_V2_EVENT["requestContext"]["http"])
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /echo"
    assert event["rawPath"] == "/echo"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-repeated"] == "one,two"
    assert event["headers"]["content-type"] == "application/json"
    assert "cookie" not in event["headers"]
    assert event["body"] == '{"hello": "world"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["apiId"] == fixture_stack.model.http_api_id
    assert context["http"] == {
        "method": "POST",
        "path": "/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/1.0",
    }
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 30


def test_context_and_environment_come_from_the_template(fixture_stack):
    body = echo(web.get(fixture_stack.endpoints["EchoGet"]))
    context, env = body["context"], body["env"]
    function = fixture_stack.model.functions["EchoFunction"]
    assert context["function_name"] == env["AWS_LAMBDA_FUNCTION_NAME"] == function.name
    assert context["memory_limit_in_mb"] == 128
    assert context["invoked_function_arn"].endswith(f":function:{function.name}")
    assert context["log_group_name"] == f"/aws/lambda/{function.name}"
    assert 0 < context["remaining_ms"] <= 5000
    for name, value in function.environment.items():
        assert env[name] == value
    assert env["AWS_ENDPOINT_URL"] == fixture_stack.aws_endpoint_url
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert body["sys_path_head"] == [str(FIXTURES / "echo"), str(FIXTURES / "layer")]
    assert body["cwd"] == str(FIXTURES / "echo") and body["local_stack_modules"] == []
    # The function's variables only, none of the stack's own process (the tests', the fork server's).
    assert not [name for name in env if name.startswith("PYTEST") or name == PRELOAD_VARIABLE]


def test_path_parameters(fixture_stack):
    event = echo(web.get(fixture_stack.api_base_url + "/items/abc%20d"))["event"]
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["pathParameters"] == {"item_id": "abc%20d"}
    assert "queryStringParameters" not in event
    assert "body" not in event


def test_binary_bodies_are_base64_both_ways(fixture_stack):
    payload = bytes(range(256))
    event = echo(
        web.post(fixture_stack.endpoints["EchoPost"], content=payload, headers={"content-type": "audio/mpeg"})
    )["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload

    response = web.get(fixture_stack.api_base_url + "/echo?binary=1")
    assert response.status_code == 201
    assert response.content == bytes(range(4))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_a_plain_return_value_is_200_json(fixture_stack):
    response = web.get(fixture_stack.api_base_url + "/echo?raw=1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"raw": True, "items": [1, 2]}


def test_unknown_routes_are_404(fixture_stack):
    for method, path in [("GET", "/nope"), ("DELETE", "/echo"), ("GET", "/items/a/b")]:
        response = web.request(method, fixture_stack.api_base_url + path)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


def test_request_body_over_10_mb_is_413(fixture_stack):
    response = web.post(fixture_stack.endpoints["EchoPost"], content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413


def test_handler_exception_is_500_and_the_environment_lives_on(fixture_stack):
    response = web.post(fixture_stack.endpoints["Boom"])
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})
    [record] = [r for r in fixture_stack.runtime.invocations() if r["function"] == "ErrorsFunction"][-1:]
    assert record["error"]["errorType"] == "ValueError"
    assert record["error"]["errorMessage"] == "boom on purpose"
    assert echo(web.get(fixture_stack.endpoints["Slow"]))["slept"] == 0
    log = (fixture_stack.logs_dir / "ErrorsFunction.log").read_text()
    assert "ValueError: boom on purpose" in log


def test_timeout_is_500_and_the_next_call_gets_a_fresh_environment(fixture_stack):
    before = echo(web.get(fixture_stack.endpoints["Slow"]))["pid"]
    started = time.monotonic()
    response = web.get(fixture_stack.endpoints["Slow"] + "?seconds=3", timeout=10)
    assert response.status_code == 500
    assert 0.9 < time.monotonic() - started < 2.5
    record = [r for r in fixture_stack.runtime.invocations() if r["function"] == "ErrorsFunction"][-1]
    assert record["timed_out"] and record["error"]["errorMessage"] == "Task timed out after 1.00 seconds"
    assert record["pid"] == before

    after = web.get(fixture_stack.endpoints["Slow"])
    assert echo(after)["pid"] != before
    assert before not in fixture_stack.runtime.pids()
    assert "Task timed out after 1.00 seconds" in (fixture_stack.logs_dir / "ErrorsFunction.log").read_text()


def test_cold_then_warm_with_stats(fixture_stack):
    first = echo(web.get(fixture_stack.endpoints["EchoGet"]))
    second = echo(web.get(fixture_stack.endpoints["EchoGet"]))
    assert second["pid"] == first["pid"]
    assert second["invocations"] == first["invocations"] + 1

    records = [r for r in fixture_stack.runtime.invocations() if r["function"] == "EchoFunction"]
    assert records[0]["cold"] and records[0]["init_ms"] > 0
    assert not records[-1]["cold"] and records[-1]["init_ms"] is None
    assert all(r["peak_rss_mb"] > 1 and r["duration_ms"] >= 0 for r in records if r["error"] is None)
    stats = fixture_stack.runtime.stats()["EchoFunction"]
    assert stats["cold_starts"] >= 1 and stats["invocations"] > stats["cold_starts"]
    assert stats["init_ms"]["max"] > 0 and stats["peak_rss_mb"] > 1
    assert "REPORT RequestId:" in (fixture_stack.logs_dir / "EchoFunction.log").read_text()


def test_module_state_stays_in_its_own_function(fixture_stack):
    echo(web.get(fixture_stack.endpoints["EchoGet"]))
    state = echo(web.get(fixture_stack.endpoints["State"]))
    state_again = echo(web.get(fixture_stack.endpoints["State"]))
    echoed = echo(web.get(fixture_stack.endpoints["EchoGet"]))

    assert (
        set(state_again["callers"]) == {"state"} and len(state_again["callers"]) == len(state["callers"]) + 1
    )
    assert set(echoed["callers"]) == {"echo"}
    assert state["pid"] != echoed["pid"]


def test_busy_environments_make_new_ones_and_calls_run_concurrently(fixture_stack):
    results = []

    def call():
        results.append(echo(web.get(fixture_stack.endpoints["Slow"] + "?seconds=0.6", timeout=10)))

    threads = [threading.Thread(target=call) for _ in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 1.7
    assert len({result["pid"] for result in results}) == 3


def test_a_changed_template_changes_the_routes(tmp_path):
    changed = FIXTURE_TEMPLATE.read_text().replace("Path: /echo\n", "Path: /renamed/{word}\n", 1)
    path = tmp_path / "template.yaml"
    path.write_text(changed)
    for name in ("layer", "echo", "errors", "state", "batch"):
        (tmp_path / name).symlink_to(FIXTURES / name)
    model = template.load(path)
    runtime = LambdaRuntime(model.functions, tmp_path / "logs")
    gateway = Gateway(model, runtime)
    base_url = gateway.start()
    try:
        event = echo(web.get(base_url + "/renamed/hi"))["event"]
        assert (event["routeKey"], event["pathParameters"]) == ("GET /renamed/{word}", {"word": "hi"})
        assert web.get(base_url + "/echo").status_code == 404
        assert echo(web.post(base_url + "/echo"))["event"]["routeKey"] == "POST /echo"
    finally:
        gateway.stop()
        runtime.stop()
    assert runtime.pids() == []


def test_init_and_result_errors_are_named_as_lambda_names_them(tmp_path):
    echo = template.load(FIXTURE_TEMPLATE).functions["EchoFunction"]
    (tmp_path / "broken.py").write_text("import a_module_that_is_not_there\n")
    (tmp_path / "unjsonable.py").write_text("def handler(event, context):\n    return object()\n")
    functions = {
        "Missing": replace(echo, handler="app.no_such_handler"),
        "Broken": replace(echo, code_dir=tmp_path, handler="broken.handler"),
        "Unjsonable": replace(echo, code_dir=tmp_path, handler="unjsonable.handler"),
    }
    runtime = LambdaRuntime(functions, tmp_path / "logs")
    try:
        errors = {function_id: runtime.invoke(function_id, {}).error for function_id in functions}
    finally:
        runtime.stop()
    assert {function_id: error["errorType"] for function_id, error in errors.items()} == {
        "Missing": "Runtime.HandlerNotFound",
        "Broken": "Runtime.ImportModuleError",
        "Unjsonable": "Runtime.MarshalError",
    }
    assert "a_module_that_is_not_there" in errors["Broken"]["errorMessage"]
    assert "Runtime.HandlerNotFound" in (tmp_path / "logs" / "Missing.log").read_text()


def test_an_environment_idle_longer_than_the_idle_time_is_reclaimed_and_the_next_call_starts_cold(tmp_path):
    """As Lambda does at low traffic: an environment left idle is reclaimed, so the next invocation is
    a cold start (issue 23: `make bench --idle-between-calls` counts them)."""
    functions = {"EchoFunction": template.load(FIXTURE_TEMPLATE).functions["EchoFunction"]}
    runtime = LambdaRuntime(functions, tmp_path / "logs", idle_seconds=0.3)
    try:
        first = runtime.invoke("EchoFunction", {})
        again = runtime.invoke("EchoFunction", {})
        time.sleep(0.5)
        after_idle = runtime.invoke("EchoFunction", {})
        pids_left = runtime.pools["EchoFunction"].pids()
    finally:
        runtime.stop()
    assert (first.cold, again.cold, after_idle.cold) == (True, False, True)
    assert again.pid == first.pid != after_idle.pid
    assert pids_left == [after_idle.pid]  # the idle one is gone, not kept beside the new one
