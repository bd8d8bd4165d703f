"""Every file in events/ is accepted by its handler, in process, with env.json's values: what
`sam local invoke FUNCTION -e events/FILE --env-vars env.json` does where Docker exists.

Each handler gets the environment the SAM CLI's own code computes for `sam local invoke` with
env.json (tests/sam_local_env.py, run with the SAM CLI's Python: every variable the template
declares, env.json's values over them, SAM's AWS_* ones), with only the two loopback addresses
changed to the tests' moto and emulator. The resources come from `python -m local.sam_invoke`'s
own code. `make sam-local` (test_sam_local_docker.py) runs the same events through the real
`sam local invoke` in Docker, checked the same way (tests/sam_local_answers.py); this module also
holds what lets it reach moto and the emulator there (the relay, the bridge env.json, and plain http
to a private address only under `sam local`).
"""

import json
import subprocess

import httpx
import pytest

from emulators.elevenlabs import CloneLatency, Emulator
from local import sam_invoke, template
from local.relay import Relay
from tests import web
from tests.aws_harness import EVENTS, ROOT, LambdaContext, handler_environment, load_handler_module
from tests.sam_local_answers import check_call
from warmline.settings import Settings

ENV_JSON = json.loads((ROOT / "env.json").read_text())
SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"
MODEL = template.load(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def sam_environment():
    """function logical id -> the variables `sam local invoke --env-vars env.json` gives it."""
    if not SAM_PYTHON.exists():
        pytest.fail(f"{SAM_PYTHON} is missing: `make template-check` installs the SAM CLI")
    done = subprocess.run(
        [str(SAM_PYTHON), str(ROOT / "tests" / "sam_local_env.py"), "template.yaml", "env.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def backend(moto_endpoint):
    """moto with the resources env.json names and the events' secrets; the emulator with env.json's key."""
    model = sam_invoke.load_model(moto_endpoint)
    sam_invoke.create_resources(model, moto_endpoint)
    with Emulator(
        sam_invoke.EVENT_SECRETS["ElevenLabsApiKeySecret"], clone_latency=CloneLatency.instant()
    ) as emulator:
        yield {"AWS_ENDPOINT_URL": moto_endpoint, "ELEVENLABS_BASE_URL": emulator.base_url}, emulator


@pytest.fixture(scope="module")
def invoke(sam_environment, backend):
    loopback, _ = backend

    def call(logical_id: str, event: dict) -> dict:
        function = MODEL.functions[logical_id]
        handler = load_handler_module(function.code_dir.name)
        with handler_environment({**sam_environment[logical_id], **loopback}):
            return handler.lambda_handler(event, LambdaContext(function.name, function.timeout))

    return call


def test_env_json_is_what_local_sam_invoke_writes_for_the_template():
    expected = sam_invoke.env_json(sam_invoke.load_model())
    assert expected == ENV_JSON, "stale: run `.venv/bin/python -m local.sam_invoke --write-env env.json`"


def test_sam_passes_every_env_json_variable_to_its_function(sam_environment):
    # SAM passes a function only the variables the template declares: any other in env.json is lost.
    assert set(ENV_JSON) == set(MODEL.functions)
    for logical_id, variables in ENV_JSON.items():
        passed = {name: sam_environment[logical_id].get(name) for name in variables}
        assert passed == variables, f"{logical_id}: sam local invoke would not pass these as env.json says"


def test_the_bridge_env_json_names_the_relays_wherever_env_json_names_loopback():
    bridged = json.loads(sam_invoke.env_json_at("http://172.17.0.1:41000", "http://172.17.0.1:42000"))
    assert "127.0.0.1" not in json.dumps(bridged)
    for logical_id, variables in ENV_JSON.items():
        assert bridged[logical_id]["AWS_ENDPOINT_URL"] == "http://172.17.0.1:41000"
        assert bridged[logical_id]["ELEVENLABS_BASE_URL"] == "http://172.17.0.1:42000"
        assert bridged[logical_id].keys() == variables.keys()


def test_every_event_file_names_its_function():
    assert {path.name for path in EVENTS.glob("*.json")} == set(sam_invoke.EVENT_FUNCTIONS)


def test_every_event_is_accepted_by_its_handler_with_env_json(invoke, backend):
    _, emulator = backend
    answers = {}
    for name, logical_id in sam_invoke.EVENT_FUNCTIONS.items():  # in the order a call goes
        answers[name] = invoke(logical_id, json.loads((EVENTS / name).read_text()))

    check_call(answers, voices_made=len(emulator.voices()))


HTTP_EVENTS = [
    name for name in sam_invoke.EVENT_FUNCTIONS if "headers" in json.loads((EVENTS / name).read_text())
]


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_the_events_secret_is_what_makes_them_accepted(invoke, name):
    event = json.loads((EVENTS / name).read_text())
    event["headers"]["x-warmline-secret"] = "not-the-local-secret"
    answer = invoke(sam_invoke.EVENT_FUNCTIONS[name], event)
    assert answer["statusCode"] == 401


# `make sam-local`'s containers reach the tests' servers on the docker bridge (172.17.0.1 here), not
# on loopback: plain http there is accepted only where `sam local` runs the function, which sets
# AWS_SAM_LOCAL=true (Lambda never does, and the template declares it for no function).
@pytest.mark.parametrize(
    "url, sam_local, allowed",
    [
        ("http://172.17.0.1:5101", "true", True),
        ("http://192.168.0.1", "true", True),
        ("http://10.1.2.3:80/v1", "true", True),
        ("http://172.17.0.1:5101", "", False),
        ("http://172.17.0.1:5101", "false", False),
        ("http://169.254.169.254", "true", False),
        ("http://172.32.0.1", "true", False),
        ("http://api.elevenlabs.io", "true", False),
        ("http://172.17.0.1.example.com", "true", False),
        ("http://127.0.0.1:5101", "", True),
        ("https://api.elevenlabs.io", "", True),
    ],
)
def test_plain_http_off_loopback_only_under_sam_local(url, sam_local, allowed):
    environ = {"ELEVENLABS_BASE_URL": url, "AWS_SAM_LOCAL": sam_local}
    try:
        Settings.from_environ({name: value for name, value in environ.items() if value})
    except ValueError:
        accepted = False
    else:
        accepted = True
    assert accepted is allowed


def test_no_deployed_function_can_be_told_it_runs_under_sam_local():
    for logical_id, function in MODEL.functions.items():
        assert "AWS_SAM_LOCAL" not in function.environment, logical_id


def test_the_relay_carries_requests_to_the_loopback_server_and_closes_when_it_is_gone():
    with Emulator(sam_invoke.EVENT_SECRETS["ElevenLabsApiKeySecret"]) as emulator:
        relay = Relay("127.0.0.1", int(emulator.base_url.rsplit(":", 1)[1]))
        url = relay.start()
        try:
            key = {"xi-api-key": sam_invoke.EVENT_SECRETS["ElevenLabsApiKeySecret"]}
            with web.client(headers=key) as client:  # one connection, kept alive between requests
                answers = [client.get(f"{url}/v1/user/subscription") for _ in range(2)]
            assert [answer.status_code for answer in answers] == [200, 200]
            assert (
                answers[0].json() == web.get(f"{emulator.base_url}/v1/user/subscription", headers=key).json()
            )
            emulator.stop()
            with pytest.raises(httpx.TransportError):
                web.get(f"{url}/v1/user/subscription", headers=key, timeout=2)
        finally:
            relay.stop()
