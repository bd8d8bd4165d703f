"""`make sam-local`: every file in events/ through the real `sam local invoke`, in the order a call
goes, then one request per route through the real `sam local start-api`, each function in SAM's
container (the stand-in python3.13 image tools/sam_local/image.sh builds, with SAM's own
aws-lambda-rie and the layer at /opt), against moto and the ElevenLabs emulator.

The containers sit on the docker bridge, where this machine's 127.0.0.1 is not theirs: moto and the
emulator listen on loopback as everywhere else, and relays on the bridge's address (this machine's
end of the network the dockerd made) forward to them. The functions get env.json with the relays'
addresses (warmline.settings takes plain http to them only under `sam local`: AWS_SAM_LOCAL).
`make sam-local` (tools/sam_local/run.sh) builds what this needs first: the image, `sam build`,
and an x86_64 copy of the built template with the layer built for this machine, which it names in
WARMLINE_SAM_LOCAL_TEMPLATE."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from emulators.elevenlabs import CloneLatency, Emulator
from local import aws, sam_invoke
from local.relay import Relay, bridge_address
from tests.aws_harness import EVENTS, ROOT
from tests.sam_local_answers import check_call

# tools/sam_local/run.sh names the template it built; without it the module is skipped (Docker, minutes).
BUILT_TEMPLATE = os.environ.get("WARMLINE_SAM_LOCAL_TEMPLATE", "")
pytestmark = [
    pytest.mark.skipif(not BUILT_TEMPLATE, reason="needs Docker and its image: `make sam-local` runs it"),
    pytest.mark.timeout(900),  # the fixtures: six cold containers, then start-api's
]

TEMPLATE = ROOT / BUILT_TEMPLATE
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
LOGS = ROOT / ".warmline" / "logs"
SAM_ENV = {
    **os.environ,
    "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    "AWS_DEFAULT_REGION": "us-east-1",
    "SAM_CLI_TELEMETRY": "0",
}
INVOKE_TIMEOUT_S = 180
START_API_TIMEOUT_S = 300
# The events of the routes (API Gateway's), in the order a call goes.
HTTP_EVENTS = [
    name for name in sam_invoke.EVENT_FUNCTIONS if "routeKey" in json.loads((EVENTS / name).read_text())
]


def progress(line: str) -> None:
    print(f"==> {line}", file=sys.stderr, flush=True)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """moto and the emulator on loopback, relayed from the bridge; the template's resources in moto,
    and env.json with the relays' addresses."""
    host = bridge_address()
    moto = aws.MotoServer(LOGS / "sam-local-moto.log")
    emulator = Emulator(
        sam_invoke.EVENT_SECRETS["ElevenLabsApiKeySecret"], clone_latency=CloneLatency.instant()
    )
    relays = []
    try:
        moto_url = moto.start()
        sam_invoke.create_resources(sam_invoke.load_model(moto_url), moto_url)
        for url in (moto_url, emulator.start()):
            relays.append(Relay(host, int(url.rsplit(":", 1)[1])))
        moto_relay, emulator_relay = (relay.start() for relay in relays)
        env_path = tmp_path_factory.mktemp("sam-local") / "env.json"
        env_path.write_text(sam_invoke.env_json_at(moto_relay, emulator_relay))
        progress(
            f"moto at {moto_relay}, the ElevenLabs emulator at {emulator_relay} (relays on the docker bridge)"
        )
        yield env_path, emulator
    finally:
        for relay in relays:
            relay.stop()
        emulator.stop()
        moto.stop()


def sam_local_invoke(function: str, event: str, env_path: Path) -> dict:
    command = [str(SAM), "local", "invoke", function, "-t", str(TEMPLATE), "-e", f"events/{event}"]
    command += ["--env-vars", str(env_path), "--skip-pull-image"]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=ROOT, env=SAM_ENV, capture_output=True, text=True, timeout=INVOKE_TIMEOUT_S, check=False
    )
    (LOGS / f"sam-local-invoke-{event.removesuffix('.json')}.log").write_text(done.stderr)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stderr[-4000:]}"
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    progress(f"sam local invoke {function} -e events/{event}: {time.monotonic() - started:.1f} s")
    return answer


@pytest.fixture(scope="module")
def invoked(backend):
    """Each event's answer from `sam local invoke`, in the order a call goes."""
    env_path, emulator = backend
    answers = {
        name: sam_local_invoke(function, name, env_path)
        for name, function in sam_invoke.EVENT_FUNCTIONS.items()
    }
    return answers, emulator


def test_every_event_through_sam_local_invoke(invoked):
    answers, emulator = invoked
    check_call(answers, voices_made=len(emulator.voices()))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def start_api(backend, invoked):
    """`sam local start-api` on a loopback port, its containers started at once (EAGER), after the
    call `invoked` played (the caller's clone is READY). Each route is called once with a wrong
    secret first, which warms its function's container (RIE starts the runtime at the first
    invocation, and a cold start in a busy container can miss the webhook's time budget); yields
    the base URL and those answers."""
    env_path, _ = backend
    port = free_port()
    command = [str(SAM), "local", "start-api", "-t", str(TEMPLATE), "--env-vars", str(env_path)]
    command += ["--skip-pull-image", "--host", "127.0.0.1", "--port", str(port), "--warm-containers", "EAGER"]
    started = time.monotonic()
    with open(LOGS / "sam-local-start-api.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=SAM_ENV, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_answering(base, process)
        refused = {
            name: request(base, http_event(name), secret="not-the-local-secret") for name in HTTP_EVENTS
        }
        progress(f"sam local start-api at {base}, warm after {time.monotonic() - started:.1f} s")
        yield base, refused
    finally:
        stop(process)


def wait_until_answering(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_API_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"sam local start-api exited; see {LOGS / 'sam-local-start-api.log'}"
        try:
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"sam local start-api did not answer within {START_API_TIMEOUT_S} s")


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C, as a developer stops it: SAM then removes its warm containers."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def http_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def request(base: str, event: dict, secret: str | None = None) -> tuple[int, dict]:
    """The HTTP request an API Gateway event stands for: its method, path, query, headers and body."""
    headers = {
        name: value for name, value in event["headers"].items() if name not in ("host", "content-length")
    }
    if secret is not None:
        headers["x-warmline-secret"] = secret
    query = event.get("rawQueryString")
    body = event.get("body")
    outgoing = urllib.request.Request(
        f"{base}{event['rawPath']}" + (f"?{query}" if query else ""),
        data=body.encode() if body else None,
        headers=headers,
        method=event["requestContext"]["http"]["method"],
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_every_route_refuses_a_wrong_secret_through_start_api(start_api):
    _, refused = start_api
    for name, (status, body) in refused.items():
        assert (status, "error" in body) == (401, True), (name, status, body)


def test_the_callers_second_call_through_start_api_uses_the_first_calls_clone(start_api, invoked):
    base, _ = start_api
    _, emulator = invoked
    answers = {}
    for name in HTTP_EVENTS:  # one request per route, in the order a call goes
        started = time.monotonic()
        answers[name] = request(base, http_event(name))
        took = time.monotonic() - started
        progress(f"{name.removesuffix('.json')} through start-api: {answers[name][0]}, {took:.2f} s")
    assert {name: status for name, (status, _) in answers.items()} == dict.fromkeys(HTTP_EVENTS, 200), answers
    (clone,) = [voice["voice_id"] for voice in emulator.voices()]
    incoming = answers["incoming_call.json"][1]
    assert (incoming["clone_status"], incoming["voice"], incoming["job_queued"]) == ("ready", "cloned", False)
    check = answers["check_clone.json"][1]
    assert (check["next_action"], check["cloned_voice_id"]) == ("transfer_to_agent", clone)
    init = answers["conversation_init.json"][1]
    assert init["dynamic_variables"]["warmline_mode"] == "cloned"
    assert init["conversation_config_override"]["tts"]["voice_id"] == clone
    counts = answers["cloning_metrics.json"][1]["counts"]
    assert (counts["clones_ready"], counts["cache_hits"], counts["handoffs"]) == (1, 1, 2), counts
