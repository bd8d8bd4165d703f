"""The whole local stack: moto, the template's resources, the functions, the gateway, the SQS poller,
the schedules, and the ElevenLabs emulator (unless an ElevenLabs base URL is given)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import aws, template
from local.clock import CLOCK_FILE, CLOCK_FILE_VARIABLE, StackClock
from local.edge import EDGE_PARAMETERS, Edge, WebAcl, origin_header_name
from local.gateway import Gateway
from local.lambda_api import LambdaApi
from local.lambda_runtime import DEFAULT_HTTP_CONCURRENCY, LambdaRuntime
from local.scheduler import Scheduler
from local.sqs_poller import SqsPoller
from warmline_cli.api import process_alive, wire_agent

ELEVENLABS_BASE_URL_VARIABLE = "ELEVENLABS_BASE_URL"
# The function variable that names the ElevenLabs key secret; the emulator accepts that secret's value.
ELEVENLABS_KEY_SECRET_VARIABLE = "ELEVENLABS_API_KEY_SECRET"
STATE_FILE = "local.json"
AGENT_TRANSFER_TO = "sip:800@pbx.local"  # the simulated 3CX's DN that routes a call to the agent again
ACCESS_LOG = "api-access.log"  # the HTTP API stage's access log, in the logs directory

log = logging.getLogger("warmline.local.stack")


def retention_overrides(clone_ttl_seconds: float) -> dict[str, str]:
    """Function environment for a clone that lives `clone_ttl_seconds` and is deleted at the next
    sweep after that (no grace after its last use): a demo or a test sees the voice go in seconds.
    Pair it with a short schedule (`schedule_every`)."""
    if clone_ttl_seconds <= 0:
        raise ValueError("the clone TTL must be positive")
    return {"CLONE_TTL_HOURS": f"{clone_ttl_seconds / 3600:.6f}", "VOICE_EXPIRY_GRACE_SECONDS": "0"}


def _elevenlabs_key_secret(model: template.StackModel) -> str | None:
    """The logical id of the secret the functions read the ElevenLabs key from."""
    secret_by_arn = {secret.arn: secret.logical_id for secret in model.secrets.values()}
    named = (f.environment.get(ELEVENLABS_KEY_SECRET_VARIABLE) for f in model.functions.values())
    return next((secret_by_arn[arn] for arn in named if arn in secret_by_arn), None)


class StackAlreadyRunning(RuntimeError):
    pass


def read_state(state_dir: str | Path) -> dict[str, Any] | None:
    path = Path(state_dir) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def running_stack(state_dir: str | Path) -> dict[str, Any] | None:
    """The state of the stack running from this state directory, or None."""
    state = read_state(state_dir)
    if state and process_alive(state.get("pids", {}).get("stack", -1)):
        return state
    return None


@dataclass
class StackOptions:
    """How a local stack departs from the template, for a demo, a benchmark or a test."""

    parameter_overrides: dict[str, Any] = field(default_factory=dict)
    env_overrides: dict[str, str] = field(default_factory=dict)  # every function's environment
    # By logical id; the others get random values, except the ElevenLabs key secret, which takes
    # ELEVENLABS_API_KEY from the environment when an external ElevenLabs server is used.
    secret_values: dict[str, str] = field(default_factory=dict)
    # Replaces every queue's VisibilityTimeout (tests use a second or two, the template minutes), and
    # scales the clone worker's heartbeat with it (hidden that long, renewed three times as often).
    visibility_timeout_override: int | None = None
    # Seconds by logical id: a test that kills a worker mid-clone waits seconds, not minutes, for its
    # lease to end (keep the queue's visibility timeout above the lease, as the template does).
    function_timeout_overrides: dict[str, int] = field(default_factory=dict)
    elevenlabs_base_url: str | None = None  # an ElevenLabs server of your own instead of the emulator
    emulator_options: dict[str, Any] = field(default_factory=dict)  # the emulator's keyword arguments
    http_concurrency: int = DEFAULT_HTTP_CONCURRENCY
    stack_name: str = "local"
    # Warm environments per function before the gateway opens, like Lambda's provisioned concurrency.
    provisioned: int = 0
    schedule_every: float | None = None  # replaces the period of every `Schedule` event (seconds)
    # An execution environment idle longer than this is reclaimed (the next call starts cold), as
    # Lambda does at low traffic; None: kept for the stack's life.
    idle_reclaim_seconds: float | None = None
    # The parameters of edge/waf.yaml: the stack runs with EdgeProtection=cloudfront-waf, and its
    # gateway plays CloudFront with that web ACL in front of the API (local/edge.py). None: no edge.
    edge_parameters: dict[str, Any] | None = None


class LocalStack:
    """Run the template on loopback (see StackOptions for what a run may change)."""

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        state_dir: str | Path = ".warmline",
        options: StackOptions | None = None,
        progress: Callable[[str], None] | None = None,
    ):
        self.template_path = Path(template_path)
        self.state_dir = Path(state_dir).resolve()
        self.logs_dir = self.state_dir / "logs"
        self.state_file = self.state_dir / STATE_FILE
        self.options = options = options or StackOptions()
        self.progress = progress or (lambda message: None)
        self.elevenlabs_base_url = (
            options.elevenlabs_base_url
            or options.env_overrides.get(ELEVENLABS_BASE_URL_VARIABLE)
            or os.environ.get(ELEVENLABS_BASE_URL_VARIABLE)
        )
        self.model: template.StackModel | None = None
        self.moto: aws.MotoServer | None = None
        self.emulator: Any = None
        self.runtime: LambdaRuntime | None = None
        self.gateway: Gateway | None = None
        self.lambda_api: LambdaApi | None = None  # the functions' own Lambda calls (the warm-up)
        self.poller: SqsPoller | None = None
        self.scheduler: Scheduler | None = None
        self.secrets: dict[str, str] = {}
        self.aws_endpoint_url: str | None = None
        self.lambda_api_url: str | None = None
        self.api_base_url: str | None = None
        self.endpoints: dict[str, str] = {}
        # What the functions see as now: a test advances it instead of waiting (local/clock.py).
        self.clock: StackClock | None = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        running = running_stack(self.state_dir)
        if running and running["pids"]["stack"] != os.getpid():
            raise StackAlreadyRunning(
                f"a local stack is already up (pid {running['pids']['stack']}, {running['api_base_url']}); "
                "stop it with `python -m local down`"
            )
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.clock = StackClock(self.state_dir / CLOCK_FILE)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        model = self._create_resources()
        if not self.elevenlabs_base_url and any(
            ELEVENLABS_BASE_URL_VARIABLE in f.environment for f in model.functions.values()
        ):
            self.progress("starting the ElevenLabs emulator")
            from emulators.elevenlabs import Emulator

            key_secret = _elevenlabs_key_secret(model)
            api_key = self.secrets[key_secret] if key_secret else secrets.token_urlsafe(24)
            self.emulator = Emulator(api_key, **self.options.emulator_options)
            self.elevenlabs_base_url = self.emulator.start("127.0.0.1")
        for function_id in model.functions:  # each run's function logs (and metrics) are its own
            (self.logs_dir / f"{function_id}.log").unlink(missing_ok=True)
        self.lambda_api = LambdaApi(model.functions)
        self.lambda_api_url = self.lambda_api.start()
        self.runtime = LambdaRuntime(
            model.functions,
            self.logs_dir,
            self._function_environment(),
            self.options.http_concurrency,
            idle_seconds=self.options.idle_reclaim_seconds,
        )
        self.lambda_api.runtime = self.runtime
        if self.options.provisioned:
            self.progress(f"starting {self.options.provisioned} warm execution environment(s) per function")
            self.runtime.provision(self.options.provisioned)
        self.gateway = Gateway(model, self.runtime, self.logs_dir / ACCESS_LOG, self._edge())
        self.api_base_url = self.gateway.start()
        self.endpoints = {route.name: self.api_base_url + route.path for route in model.routes}
        self.poller = SqsPoller(model, self.runtime, self.aws_endpoint_url)
        self.poller.start()
        self.scheduler = Scheduler(model.schedules, self.runtime, self.options.schedule_every)
        self.scheduler.start()
        if self.emulator is not None:
            self.progress("wiring the emulated agent to the stack (warmline elevenlabs configure)")
            wire_agent(self.describe(), transfer_to=AGENT_TRANSFER_TO)
        self._write_state()  # last: `python -m local up` waits for it
        self.progress(f"local stack up at {self.api_base_url}")

    def _edge(self) -> Edge | None:
        if self.options.edge_parameters is None:
            return None
        waf = WebAcl.from_template(
            self.template_path.parent / "edge" / "waf.yaml", self.options.edge_parameters
        )
        return Edge(waf, (origin_header_name(self.template_path), self.secrets["EdgeOriginSecret"]))

    def _parameter_overrides(self) -> dict[str, Any]:
        if self.options.edge_parameters is None:
            return self.options.parameter_overrides
        return {**EDGE_PARAMETERS, **self.options.parameter_overrides}

    def _create_resources(self) -> template.StackModel:
        """moto, and the template's resources in it; the model with their physical ids."""
        load = functools.partial(template.load, self.template_path, self._parameter_overrides())
        load()  # fail fast, before any process starts
        self.progress("starting moto (AWS on loopback)")
        self.moto = aws.MotoServer(self.logs_dir / "moto.log", clock_file=self.clock and self.clock.path)
        self.aws_endpoint_url = self.moto.start()
        ids = template.LocalIds(stack_name=self.options.stack_name, aws_endpoint_url=self.aws_endpoint_url)
        draft = load(ids)
        self.secrets = self._secret_values(draft)
        self.progress(f"creating the resources of {self.template_path}")
        secret_arns = aws.create_secrets(self.aws_endpoint_url, draft, self.secrets)
        self.model = model = load(dataclasses.replace(ids, secret_arns=secret_arns))
        for logical_id, seconds in self.options.function_timeout_overrides.items():
            model.functions[logical_id].timeout = seconds
        aws.create_resources(self.aws_endpoint_url, model, self.options.visibility_timeout_override)
        return model

    def _function_environment(self) -> dict[str, str]:
        """The variables every function gets on top of the template's and Lambda's."""
        environment = {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url or "",
            # Lambda itself is not moto's: the stack's own Invoke API (local/lambda_api.py).
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_api_url or "",
            **self.options.env_overrides,
        }
        if self.clock is not None:
            environment[CLOCK_FILE_VARIABLE] = str(self.clock.path)
        hide_seconds = self.options.visibility_timeout_override
        if hide_seconds is not None:
            environment.setdefault("CLONE_HIDE_SECONDS", str(hide_seconds))
            environment.setdefault("CLONE_HEARTBEAT_SECONDS", str(hide_seconds / 3))
        if self.elevenlabs_base_url:
            environment[ELEVENLABS_BASE_URL_VARIABLE] = self.elevenlabs_base_url
        return environment

    def _secret_values(self, model: template.StackModel) -> dict[str, str]:
        values = {logical_id: secrets.token_urlsafe(24) for logical_id in model.secrets}
        key_secret = _elevenlabs_key_secret(model)
        if key_secret and self.elevenlabs_base_url and os.environ.get("ELEVENLABS_API_KEY"):
            values[key_secret] = os.environ["ELEVENLABS_API_KEY"]
        return values | self.options.secret_values

    def describe(self) -> dict[str, Any]:
        """What local.json holds: URLs, secrets, resources, and the pids of the processes it started."""
        assert self.model is not None and self.moto is not None
        return {
            "api_base_url": self.api_base_url,
            "endpoints": self.endpoints,
            "schedules": [
                {
                    "name": s.name,
                    "function": s.function,
                    "expression": s.expression,
                    "every_seconds": self.options.schedule_every or s.period_seconds,
                }
                for s in self.model.schedules
                if s.enabled
            ],
            "parameters": {name: str(value) for name, value in self.model.parameters.items()},
            "aws_endpoint_url": self.aws_endpoint_url,
            "aws_region": template.REGION,
            "elevenlabs_base_url": self.elevenlabs_base_url,
            "elevenlabs_emulator": self.emulator is not None,
            "default_agent_id": self.emulator.default_agent_id if self.emulator is not None else "",
            "secrets": self.secrets,
            "resources": {
                "tables": {t.logical_id: t.name for t in self.model.tables.values()},
                "queues": {q.logical_id: q.url for q in self.model.queues.values()},
                "buckets": {b.logical_id: b.name for b in self.model.buckets.values()},
                "secrets": {s.logical_id: s.arn for s in self.model.secrets.values()},
            },
            "logs_dir": str(self.logs_dir),
            "pids": {"stack": os.getpid(), "moto": self.moto.pid},
            "process_group": os.getpgrp(),
        }

    def _write_state(self) -> None:
        """local.json holds every local secret: only its owner may read it (0600 from the start)."""
        temporary = self.state_file.with_suffix(".json.tmp")
        temporary.unlink(missing_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as state:
            state.write(json.dumps(self.describe(), indent=2) + "\n")
        temporary.replace(self.state_file)

    def stats(self) -> dict[str, Any]:
        return {
            "functions": self.runtime.stats() if self.runtime else {},
            "event_sources": self.poller.stats() if self.poller else {},
            "lambda_api": self.lambda_api.stats() if self.lambda_api else {},
            "schedules": self.scheduler.stats() if self.scheduler else {},
        }

    def stop(self) -> None:
        if self.runtime is not None:  # the run's figures, to look at afterwards
            figures = {**self.stats(), "invocations": self.runtime.invocations()}
            (self.state_dir / "stats.json").write_text(json.dumps(figures, indent=2) + "\n")
        for part in ("scheduler", "poller", "gateway", "lambda_api", "runtime", "emulator", "moto"):
            component = getattr(self, part)
            setattr(self, part, None)
            if component is not None:
                try:
                    component.stop()
                except Exception:
                    log.exception("stopping the %s failed", part)
        state = read_state(self.state_dir)
        if state and state.get("pids", {}).get("stack") == os.getpid():
            self.state_file.unlink(missing_ok=True)
