"""`warmline doctor`: check a stack end to end without a phone call, one line per check."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from warmline.adapters.elevenlabs import tls_context
from warmline.outcomes import FailureKind
from warmline.voice_provider import ProviderError, Unauthorized
from warmline_cli import metrics, probe
from warmline_cli.agent_setup import AgentSetup
from warmline_cli.console import FAIL, OK, CliError, say
from warmline_cli.elevenlabs_admin import AdminClient
from warmline_cli.samples_view import VERIFICATION_ADVICE
from warmline_cli.target import SECRET_IDS, Target

PROBE_NUMBER = "+10000000000"  # never a real caller: check-clone with key 9 reads and writes nothing
PLACEHOLDER_KEY = re.compile(r"^[A-Za-z0-9]{32}$")  # what the template's GenerateSecretString makes


@dataclass(frozen=True)
class Check:
    ok: bool
    message: str


@dataclass(frozen=True)
class EndpointProbe:
    """One of the stack's endpoints: it must answer 401 without its secret and `sane` with it."""

    name: str
    url: str
    secret_id: str
    body: dict[str, Any]
    sane: Callable[[dict[str, Any]], bool]


class Doctor:
    def __init__(
        self, target: Target, agent_id: str, http: httpx.Client | None = None, echo: bool = True
    ) -> None:
        self.target = target
        self.agent_id = agent_id
        self.http = http or httpx.Client(timeout=15, verify=tls_context())
        self.echo = echo  # print a line per check (not with --json: main prints self.checks)
        self.checks: list[Check] = []
        self.secrets: dict[str, str] = {}
        self.probe_report: Path | None = None  # where `warmline elevenlabs probe` left its last report
        self.voice_switch_report: Path | None = None  # and `probe voice-switch` its last finding

    def _add(self, ok: bool, message: str) -> None:
        self.checks.append(Check(ok, message))
        if self.echo:
            say(f"{OK if ok else FAIL} {message}")

    def run(self) -> int:
        self._secrets()
        api_key_ok = self._elevenlabs_key()
        self._endpoints()
        self._clones_needing_verification()
        if api_key_ok and "AgentSecret" in self.secrets:
            self._agent()
        if api_key_ok and self.agent_id and self.target.handoff_mode == "agent_transfer":
            self._slot_pool()
        elif not api_key_ok:
            self._add(False, NOT_CHECKED.format(agent=self.agent_id or "(no agent id)"))
        if self.target.aws_endpoint_url is None:  # a deployed stack: the local one sends no alarm
            self._alarm_email()
        self._last_probe()
        failed = sum(not check.ok for check in self.checks)
        if self.echo:
            say(f"\n{failed} problem(s) found" if failed else "\nall checks passed")
        return 1 if failed else 0

    def _last_probe(self) -> None:
        document = probe.last_report(self.probe_report) if self.probe_report else None
        if document is None:
            if self.echo:
                say("no probe report yet: `warmline elevenlabs probe` settles what the platforms leave open")
            return
        self._add(*probe.summary(document))

    def _secrets(self) -> None:
        for logical_id in SECRET_IDS:
            try:
                self.secrets[logical_id] = self.target.secret(logical_id)
            except CliError as error:
                self._add(False, str(error))
                continue
            self._add(True, f"secret {logical_id} is readable")

    def _elevenlabs_key(self) -> bool:
        key = self.secrets.get("ElevenLabsApiKeySecret")
        if key is None:
            return False
        arn = self.target.secret_arns["ElevenLabsApiKeySecret"]
        fix = f'aws secretsmanager put-secret-value --secret-id {arn} --secret-string "$ELEVENLABS_API_KEY"'
        if self.target.aws_endpoint_url is not None:  # as printed, it must reach the local stack's moto
            fix += f" --endpoint-url {self.target.aws_endpoint_url} --region {self.target.region}"
        client = AdminClient(key, self.target.elevenlabs_base_url)
        try:
            subscription = client.get("/v1/user/subscription")
        except Unauthorized as error:
            hint = (
                " (it looks like the placeholder the stack generated)" if PLACEHOLDER_KEY.match(key) else ""
            )
            self._add(
                False,
                f"ElevenLabs rejects the API key in ElevenLabsApiKeySecret{hint} ({error.reason}); "
                f"put yours: {fix}",
            )
            return False
        except ProviderError as error:
            self._add(
                False, f"ElevenLabs at {self.target.elevenlabs_base_url} did not answer: {error.message}"
            )
            return False
        finally:
            client.close()
        self._add(True, f"ElevenLabs accepts the API key ({subscription.get('tier', 'unknown')} plan)")
        self._voice_slots(subscription)
        self._add_edit_allowance(subscription)
        return True

    def _voice_slots(self, subscription: dict[str, Any]) -> None:
        if not subscription.get("can_use_instant_voice_cloning", True):
            self._add(False, "this ElevenLabs plan cannot use Instant Voice Cloning: upgrade the plan")
        limit, used = subscription.get("voice_limit", 0), subscription.get("voice_slots_used", 0)
        free = limit - used
        self._add(
            free > 0,
            f"{free} of {limit} custom voice slots free"
            if free > 0
            else f"all {limit} custom voice slots are used: delete unused voices at ElevenLabs "
            "(`warmline samples remove` deletes a caller's clone) or upgrade the plan",
        )

    def _add_edit_allowance(self, subscription: dict[str, Any]) -> None:
        """Every clone spends one of the plan's voice add/edits; deleting a voice gives none back."""
        most, counter = subscription.get("max_voice_add_edits"), subscription.get("voice_add_edit_counter")
        if not isinstance(most, int):
            self._add(True, f"voice add/edits used: {counter} (the plan reports no maximum)")
            return
        left = max(0, most - (counter or 0))
        self._add(
            left > 0,
            f"voice add/edits: {counter} of {most} used, {left} left (each clone uses one)"
            if left > 0
            else f"all {most} voice add/edits of the plan are used: no caller can be cloned until the "
            "allowance renews or the plan is upgraded",
        )

    def _endpoints(self) -> None:
        probes = [
            EndpointProbe(
                "incoming-call (3CX)",
                self.target.incoming_call_url,
                "ThreeCxSecret",
                {"caller": "anonymous", "did": "warmline-doctor", "call_id": "warmline-doctor"},
                lambda body: body.get("route") == "agent" and body.get("clone_status") == "withheld",
            ),
            EndpointProbe(
                "conversation-init (agent webhook)",
                self.target.conversation_init_url,
                "AgentSecret",
                {
                    "caller_id": "anonymous",
                    "agent_id": self.agent_id,
                    "called_number": "",
                    "call_sid": "warmline-doctor",
                },
                lambda body: body.get("type") == "conversation_initiation_client_data",
            ),
            EndpointProbe(
                "check-clone (agent tool)",
                self.target.check_clone_url.replace("{caller_id}", quote(PROBE_NUMBER, safe="")),
                "AgentSecret",
                {"pressed_key": "9", "conversation_id": "warmline-doctor"},
                lambda body: body.get("next_action") == "repeat_menu",
            ),
        ]
        for endpoint in probes:
            self._probe(endpoint)

    def _probe(self, probe: EndpointProbe) -> None:
        name, url, secret_id, body = probe.name, probe.url, probe.secret_id, probe.body
        secret = self.secrets.get(secret_id)
        try:
            anonymous = self.http.post(url, json=body)
            if anonymous.status_code != 401:
                self._add(
                    False, f"{name}: answers {anonymous.status_code} without the secret, expected 401 ({url})"
                )
                return
            if secret is None:
                return
            answer = self.http.post(url, json=body, headers={"X-Warmline-Secret": secret})
        except httpx.HTTPError as error:
            self._add(False, f"{name}: no answer from {url} ({type(error).__name__}); is the stack deployed?")
            return
        try:
            payload = answer.json()
        except ValueError:
            payload = {}
        if answer.status_code == 401:
            self._add(False, f"{name}: the {secret_id} value is refused; the function reads another secret?")
        elif answer.status_code != 200 or not isinstance(payload, dict) or not probe.sane(payload):
            detail = payload.get("message") if isinstance(payload, dict) else ""
            self._add(
                False, f"{name}: answered {answer.status_code} {detail or answer.text[:120]}; see its logs"
            )
        else:
            self._add(True, f"{name} answers 401 without the secret and 200 with it")

    def _clones_needing_verification(self) -> None:
        """Clones ElevenLabs marked requires_verification in the metrics window (deleted, never used)."""
        if not self.target.metrics_url or "OperatorSecret" not in self.secrets:
            return
        try:
            figures = metrics.fetch(self.target, None, None)
        except CliError:
            return  # the endpoint checks above say what is wrong with it
        by_reason = (figures.get("counts") or {}).get("clones_failed_by_reason") or {}
        count = by_reason.get(FailureKind.NEEDS_VERIFICATION.value, 0)
        if count:
            self._add(
                False,
                f"{count} clone(s) since {figures.get('from')} needed ElevenLabs verification and were "
                "deleted (those callers hear the default voice): `warmline samples show --caller NUMBER`; "
                + VERIFICATION_ADVICE,
            )
        else:
            self._add(True, f"no clone needed ElevenLabs verification since {figures.get('from')}")

    def _agent(self) -> None:
        if not self.agent_id:
            self._add(False, "no ElevenLabs agent id: pass --agent-id (or deploy with ElevenLabsAgentId)")
            return
        client = AdminClient(self.secrets["ElevenLabsApiKeySecret"], self.target.elevenlabs_base_url)
        setup = AgentSetup(client, self.target, self.agent_id, self.secrets["AgentSecret"], write=False)
        try:
            steps = setup.run()
        except ProviderError as error:
            self._add(False, f"agent {self.agent_id}: {error.message}")
            return
        finally:
            client.close()
        for step in steps:
            if step.state == "ok":
                self._add(True, f"{step.name}: {step.detail}")
            else:
                self._add(False, f"{step.name}: {step.detail}; run `warmline elevenlabs configure`")

    def _slot_pool(self) -> None:
        """HandoffMode=agent_transfer: the last probe voice-switch passed, every voice-slot agent is
        there and in step with the main agent, and the post-call webhook reaches the stack."""
        from warmline_cli import post_call_webhook, slot_agents

        path = self.voice_switch_report
        verdict = slot_agents.voice_switch_verdict(path) if path else None
        if verdict == "PASS":
            self._add(True, "the last `warmline elevenlabs probe voice-switch` passed")
        else:
            self._add(
                False, f"probe voice-switch has not passed ({verdict or 'never run'}): the mode rests on it"
            )
        client = AdminClient(self.secrets["ElevenLabsApiKeySecret"], self.target.elevenlabs_base_url)
        try:
            main_agent = client.get(f"/v1/convai/agents/{self.agent_id}")
            for ok, line in slot_agents.check_pool(client, self.target, main_agent):
                self._add(ok, line)
            step = post_call_webhook.register(client, self.target, write=False)
        except ProviderError as error:
            self._add(False, f"voice slots: {error.message}")
            return
        finally:
            client.close()
        fix = "" if step.state == "ok" else "; run `warmline elevenlabs configure`"
        self._add(step.state == "ok", f"{step.name}: {step.detail}{fix}")

    def _alarm_email(self) -> None:
        """The AlarmEmail parameter is set, and its subscription to the alarm topic confirmed."""
        email = self.target.parameters.get("AlarmEmail", "")
        if not email:
            self._add(False, ALARM_EMAIL_UNSET.format(stack=self.target.label))
            return
        try:
            topic = _stack_output(self.target, "AlarmTopicArn")
            subscriptions = self.target.client("sns").list_subscriptions_by_topic(TopicArn=topic)
        except (BotoCoreError, ClientError, LookupError) as error:
            self._add(False, f"alarm e-mail {email}: cannot read the alarm topic's subscriptions ({error})")
            return
        states = [
            item["SubscriptionArn"]
            for item in subscriptions.get("Subscriptions", [])
            if item.get("Protocol") == "email" and item.get("Endpoint", "").lower() == email.lower()
        ]
        resend = f"aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint {email}"
        if not states:
            self._add(False, f"alarm e-mail {email} is not subscribed to the alarm topic: run `{resend}`")
        elif all(state == "PendingConfirmation" for state in states):
            self._add(False, ALARM_EMAIL_PENDING.format(email=email, resend=resend))
        else:
            self._add(True, f"alarms are e-mailed to {email}")


# What _elevenlabs_key and _agent check once ElevenLabs accepts the key (AgentSetup's steps).
NOT_CHECKED = (
    "not checked until ElevenLabs accepts the API key: the plan's Instant Voice Cloning, the custom voice "
    "slots, the voice add/edits, and agent {agent}'s workspace secret, check_clone tool, webhook, "
    "overrides, variables, menu in the prompt and transfer to 3CX; fix the key, then run doctor again"
)
ALARM_EMAIL_UNSET = (
    "no alarm e-mail: stack {stack}'s AlarmEmail parameter is empty, so its alarms reach no one. Set it: "
    "add AlarmEmail=oncall@example.com to parameter_overrides under [ENV.deploy.parameters] in "
    "samconfig.toml and run `make deploy ENV=ENV` (docs/deployment.md, section 2), then confirm the e-mail "
    "SNS sends"
)
ALARM_EMAIL_PENDING = (
    "alarm e-mail {email} is not confirmed yet, so no alarm reaches it: open the e-mail "
    "'AWS Notification - Subscription Confirmation' and follow 'Confirm subscription' (a link lasts 3 days; "
    "`{resend}` sends a new one)"
)


def _stack_output(target: Target, key: str) -> str:
    stack = target.client("cloudformation").describe_stacks(StackName=target.label)["Stacks"][0]
    for output in stack.get("Outputs", []):
        if output["OutputKey"] == key:
            return output["OutputValue"]
    raise LookupError(f"stack {target.label} has no output {key}")
