"""`python -m local.sam_invoke`: AWS (moto) and ElevenLabs (the emulator) on fixed loopback ports, for
`sam local invoke --env-vars env.json` (docs/local-stack.md, "Testing a function with `sam local invoke`").

The template's resources live in moto under the stack name `warmline-invoke`, its secrets hold the
(dummy) values the files in events/ carry, and env.json points each function's declared variables at
them. `--write-env PATH` writes env.json from the template (a test keeps the committed one equal to it).
SAM's containers sit on the docker bridge, where this machine's loopback is not theirs: `--bridge`
relays from the bridge's address (same ports) and writes the env.json that names it.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from local import aws, template
from local.relay import Relay, bridge_address

ROOT = Path(__file__).resolve().parents[1]
STACK_NAME = "warmline-invoke"
AWS_URL = "http://127.0.0.1:5100"
ELEVENLABS_URL = "http://127.0.0.1:5101"
# What `make sam-local` builds (tools/sam_local/run.sh), for `--bridge`.
X86_64_TEMPLATE = ".aws-sam/sam-local/build/template-x86_64.yaml"
BRIDGE_ENV_JSON = ROOT / ".warmline" / "sam-invoke-bridge-env.json"
# The secrets' values: the X-Warmline-Secret headers of events/*.json, and keys only loopback knows.
EVENT_SECRETS = {
    "ThreeCxSecret": "local-3cx-secret",
    "AgentSecret": "local-agent-secret",
    "OperatorSecret": "local-operator-secret",
    "CallerKeySecret": "local-caller-key-secret",
    "PinPepperSecret": "local-pin-pepper",
    "PostCallWebhookSecret": "local-post-call-secret",
    "ElevenLabsApiKeySecret": "local-elevenlabs-key",
}
CALLER = "+442079460000"  # the caller in events/*.json
# Which function each file in events/ is for, in the order a call goes.
EVENT_FUNCTIONS = {
    "incoming_call.json": "WebhookFunction",
    "clone_job.json": "CloneWorkerFunction",
    "check_clone.json": "IvrCheckFunction",
    "conversation_init.json": "WebhookFunction",
    "cloning_metrics.json": "IvrCheckFunction",
    "scheduled.json": "HousekeepingFunction",
}


def load_model(aws_url: str = AWS_URL) -> template.StackModel:
    ids = template.LocalIds(stack_name=STACK_NAME, aws_endpoint_url=aws_url)
    return template.load(ROOT / "template.yaml", {}, ids)


def env_json(model: template.StackModel) -> dict[str, dict[str, str]]:
    """For each function, the variables that name this command's resources (secrets by name)."""
    secret_names = {secret.arn: secret.name for secret in model.secrets.values()}
    functions: dict[str, dict[str, str]] = {}
    for logical_id, function in model.functions.items():
        variables = {
            name: secret_names.get(value, value)
            for name, value in function.environment.items()
            if STACK_NAME in value
        }
        variables["AWS_ENDPOINT_URL"] = AWS_URL
        variables["ELEVENLABS_BASE_URL"] = ELEVENLABS_URL
        functions[logical_id] = dict(sorted(variables.items()))
    return functions


def env_json_at(aws_url: str, elevenlabs_url: str) -> str:
    """env.json with other addresses for moto and the emulator (the relays on the docker bridge)."""
    text = (ROOT / "env.json").read_text()
    return text.replace(AWS_URL, aws_url).replace(ELEVENLABS_URL, elevenlabs_url)


def create_resources(model: template.StackModel, aws_url: str) -> None:
    """The template's secrets (with EVENT_SECRETS' values), table, queues and bucket, in moto at
    aws_url, and the caller the events are about, registered with a (dummy) voice sample."""
    aws.create_secrets(aws_url, model, EVENT_SECRETS)
    aws.create_resources(aws_url, model, visibility_timeout_override=None)
    register_caller(model, aws_url)


def register_caller(model: template.StackModel, aws_url: str) -> None:
    """CALLER with a sample, under the caller key events/clone_job.json names."""
    from warmline.adapters.dynamodb import DynamoRegistryStore
    from warmline.adapters.s3 import S3SampleStore
    from warmline.callers import caller_key, mask, normalise_number
    from warmline.clone_state import CallerProfile

    number = normalise_number(CALLER)
    key = caller_key(number, EVENT_SECRETS["CallerKeySecret"])
    samples = S3SampleStore(aws.client("s3", aws_url), model.buckets["SamplesBucket"].name)
    sample = samples.write(key, "sample.mp3", b"ID3\x04 a dummy voice sample", "audio/mpeg")
    store = DynamoRegistryStore(aws.client("dynamodb", aws_url), model.tables["CloneTable"].name)
    store.save_profile(CallerProfile(key, (sample,), "a dummy caller for sam local invoke", mask(number), 0))


def serve(bridge: bool) -> int:
    from emulators.elevenlabs import CloneLatency, Emulator

    moto = aws.MotoServer(ROOT / ".warmline" / "logs" / "sam-invoke-moto.log", port=_port(AWS_URL))
    emulator = Emulator(EVENT_SECRETS["ElevenLabsApiKeySecret"], clone_latency=CloneLatency.instant())
    relays: list[Relay] = []
    try:
        moto.start()
        emulator.start("127.0.0.1", _port(ELEVENLABS_URL))
        create_resources(load_model(), AWS_URL)
        env = "env.json"
        if bridge:
            relays, env = _relay_from_the_bridge()
        _print_commands(env, bridge)
        stop = threading.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
        stop.wait()
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        print(f"error: {error} (another `python -m local.sam_invoke`? Docker not running?)", file=sys.stderr)
        return 1
    finally:
        for relay in relays:
            relay.stop()
        emulator.stop()
        moto.stop()
    print("stopped")
    return 0


def _relay_from_the_bridge() -> tuple[list[Relay], str]:
    """Relays on the docker bridge's address, same ports, and the env.json that names them."""
    host = bridge_address()
    relays = [Relay(host, _port(url), port=_port(url)) for url in (AWS_URL, ELEVENLABS_URL)]
    aws_url, elevenlabs_url = (relay.start() for relay in relays)
    env = BRIDGE_ENV_JSON.relative_to(ROOT).as_posix()
    BRIDGE_ENV_JSON.parent.mkdir(parents=True, exist_ok=True)
    BRIDGE_ENV_JSON.write_text(env_json_at(aws_url, elevenlabs_url))
    print(f"relayed from the docker bridge at {aws_url} and {elevenlabs_url}; {env} names them")
    return relays, env


def _print_commands(env: str, bridge: bool) -> None:
    print(f"AWS (moto) at {AWS_URL}, the ElevenLabs emulator at {ELEVENLABS_URL}.")
    if not bridge:
        print("SAM's containers sit on the docker bridge, not on this machine's loopback: --bridge relays")
        print("from there (after `make sam-local`, which builds the image and the template it uses).")
        return
    print("In another shell (the x86_64 copy of the built template, the image `make sam-local` built):")
    for name, function in EVENT_FUNCTIONS.items():
        print(f"  .tools/sam/bin/sam local invoke -t {X86_64_TEMPLATE} {function} -e events/{name} \\")
        print(f"      --env-vars {env} --skip-pull-image")
    print("Ctrl-C stops them.", flush=True)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.sam_invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-env", metavar="PATH", help="write env.json for the template, then exit")
    parser.add_argument(
        "--bridge",
        action="store_true",
        help="relay from the docker bridge, for `sam local invoke` in Docker (after `make sam-local`)",
    )
    args = parser.parse_args(argv)
    if args.write_env:
        Path(args.write_env).write_text(json.dumps(env_json(load_model()), indent=2) + "\n")
        print(f"wrote {args.write_env}")
        return 0
    return serve(args.bridge)


if __name__ == "__main__":
    raise SystemExit(main())
