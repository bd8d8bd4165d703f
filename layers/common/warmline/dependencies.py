"""The adapters and use cases a function uses, built once per execution environment on first use.

Each use case gets its ports and a small policy read from the settings (only the fields it needs);
a handler calls `dependencies().<use case>.<method>(...)`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from warmline.adapters.aws import Deadline, Timeouts, bounded_client
from warmline.adapters.clock import SystemClock
from warmline.adapters.dynamodb import (
    DynamoAgentVariables,
    DynamoCallLog,
    DynamoCallRecords,
    DynamoCloneStore,
    DynamoEventStore,
    DynamoHandoffStore,
)
from warmline.adapters.s3 import S3SampleStore
from warmline.adapters.secrets_manager import SecretsManagerSecrets
from warmline.adapters.sqs import SqsJobQueue
from warmline.callers import caller_key
from warmline.numbers import CallerNumbers
from warmline.observability import AwsCallTimer
from warmline.settings import Settings, get_settings
from warmline.shared_secrets import SharedSecret

# A use case's module is imported where the use case is built: each function loads the part of the
# domain it uses (the webhook no clone worker, the worker no IVR), not all of it, at every cold start.
if TYPE_CHECKING:
    from warmline.adapters.elevenlabs import ElevenLabsAgentCalls, ElevenLabsClient, ElevenLabsSlotAgents
    from warmline.adapters.lambda_invoke import LambdaWarmUpInvoke
    from warmline.agent_slots import AgentSlots
    from warmline.caller_id import CallerIdCheck
    from warmline.calls import CallDesk
    from warmline.cloning import CloneWorker
    from warmline.handoffs import HandoffTracker
    from warmline.ivr import IvrDesk
    from warmline.ivr_use_cases import CloningFigures, KeyPresses
    from warmline.post_call import PostCalls
    from warmline.webhook_use_cases import ConversationStarts, IncomingCalls

ANSWER_SECONDS = 0.2  # kept back at the end of an invocation to build and return the answer
# The warm-up invoke (warmline.prewarm) on the caller's path: one short attempt, never a retry.
WARM_UP_TIMEOUTS = Timeouts(connect_seconds=0.2, read_seconds=0.3, max_attempts=1)


@dataclass
class Dependencies:
    settings: Settings
    clock: SystemClock = field(default_factory=SystemClock)
    aws_timer: AwsCallTimer = field(default_factory=AwsCallTimer)
    # Every AWS and ElevenLabs call of the current invocation ends by this (docs/api.md, "Time budgets").
    deadline: Deadline = field(default_factory=Deadline)
    _providers: dict[str, ElevenLabsClient] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)
    _shared_secrets: dict[str, SharedSecret] = field(default_factory=dict)

    @cached_property
    def timeouts(self) -> Timeouts:
        return Timeouts(
            self.settings.aws_connect_timeout_seconds,
            self.settings.aws_read_timeout_seconds,
            self.settings.aws_max_attempts,
        )

    def _client(self, service: str) -> Any:
        """One client per service, shared by its adapters: a client is thread-safe, and each one built
        costs init time."""
        if service not in self._clients:
            self._clients[service] = self.aws_timer.attach(
                bounded_client(service, self.timeouts, self.deadline)
            )
        return self._clients[service]

    @contextmanager
    def bounded_by(self, context: Any) -> Iterator[None]:
        """No outside call in this block starts later than one AWS attempt, and a moment to write the
        answer, before the invocation's end: the answer comes before Lambda's timeout."""
        remaining = context.get_remaining_time_in_millis() / 1000
        self.deadline.start(remaining - self.timeouts.attempt_seconds - ANSWER_SECONDS)
        try:
            yield
        finally:
            self.deadline.clear()

    @cached_property
    def secrets(self) -> SecretsManagerSecrets:
        return SecretsManagerSecrets(self._client("secretsmanager"), self.settings.secret_cache_seconds)

    def origin_secret(self) -> SharedSecret | None:
        """CloudFront's origin secret when the stack has the edge (EdgeProtection), else None."""
        name = self.settings.edge_origin_secret_name
        return self.shared_secret(name) if name else None

    def shared_secret(self, secret_id: str) -> SharedSecret:
        """A header secret, with the overlap window of a rotation (warmline.shared_secrets)."""
        if secret_id not in self._shared_secrets:
            self._shared_secrets[secret_id] = SharedSecret(
                self.secrets,
                secret_id,
                clock=self.clock,
                overlap_seconds=self.settings.secret_overlap_seconds,
                refresh_seconds=self.settings.secret_refresh_seconds,
            )
        return self._shared_secrets[secret_id]

    @cached_property
    def store(self) -> DynamoCloneStore:
        return DynamoCloneStore(self._client("dynamodb"), self.settings.table_name)

    @cached_property
    def agent_variables(self) -> DynamoAgentVariables:
        return DynamoAgentVariables(self._client("dynamodb"), self.settings.table_name)

    @cached_property
    def calls(self) -> DynamoCallLog:
        return DynamoCallLog(self._client("dynamodb"), self.settings.table_name, self.deadline)

    @cached_property
    def call_records(self) -> DynamoCallRecords:
        return DynamoCallRecords(
            self._client("dynamodb"), self.settings.table_name, self.settings.event_ttl_seconds, self.deadline
        )

    @cached_property
    def numbers(self) -> CallerNumbers:
        """The one way to read a caller's number, and its key."""
        return CallerNumbers(self.settings.default_country_code, self.caller_key)

    @cached_property
    def caller_ids(self) -> CallerIdCheck:
        from warmline.caller_id import CallerIdCheck

        return CallerIdCheck(
            self.store, self.calls, self.events, self.clock, self.settings.caller_id_window_seconds
        )

    @cached_property
    def events(self) -> DynamoEventStore:
        return DynamoEventStore(
            self._client("dynamodb"), self.settings.table_name, self.settings.event_ttl_seconds, self.deadline
        )

    @cached_property
    def handoff_store(self) -> DynamoHandoffStore:
        return DynamoHandoffStore(
            self._client("dynamodb"), self.settings.table_name, self.settings.event_ttl_seconds
        )

    @cached_property
    def handoffs(self) -> HandoffTracker:
        from warmline.handoffs import HandoffTracker

        return HandoffTracker(self.handoff_store, self.clock, self.settings)

    @cached_property
    def queue(self) -> SqsJobQueue:
        return SqsJobQueue(self._client("sqs"), self.settings.clone_jobs_queue_url)

    @cached_property
    def check_clone_warmer(self) -> LambdaWarmUpInvoke | None:
        """The warm-up of check_clone's function; None when the settings name none."""
        if not self.settings.check_clone_function_name:
            return None
        from warmline.adapters.lambda_invoke import LambdaWarmUpInvoke  # the webhook's alone

        client = self.aws_timer.attach(bounded_client("lambda", WARM_UP_TIMEOUTS, self.deadline))
        return LambdaWarmUpInvoke(client, self.settings.check_clone_function_name)

    @cached_property
    def samples(self) -> S3SampleStore:
        return S3SampleStore(self._client("s3"), self.settings.samples_bucket)

    def provider(self) -> ElevenLabsClient:
        """One client per API key value, so a rotated key takes effect when the secret cache expires."""
        api_key = self.secrets.get(self.settings.elevenlabs_api_key_secret)
        client = self._providers.get(api_key)
        if client is None:
            # Imported on first use: httpx costs init time in the functions that seldom call ElevenLabs.
            from warmline.adapters.elevenlabs import ElevenLabsClient

            self._providers.clear()
            client = self._providers[api_key] = ElevenLabsClient(
                api_key, self.settings.elevenlabs_base_url, deadline=self.deadline
            )
        return client

    def agent_calls(self) -> ElevenLabsAgentCalls:
        """The agent's outbound calls, over the client of the current API key."""
        from warmline.adapters.elevenlabs import AgentLine, ElevenLabsAgentCalls

        line = AgentLine(
            self.settings.outbound_telephony,
            self.settings.elevenlabs_agent_id,
            self.settings.elevenlabs_agent_phone_number_id,
        )
        return ElevenLabsAgentCalls(self.provider(), line)

    @cached_property
    def call_desk(self) -> CallDesk:
        """The webhook's use case: 3CX's incoming call and the agent's conversation start."""
        from warmline.calls import CallDesk, CallPolicy

        outbound = self.settings.greeting_mode == "outbound"
        policy = CallPolicy.from_settings(self.settings)
        agent_calls = self.agent_calls if outbound else None
        return CallDesk(self.store, self.queue, self.clock, policy, self.call_records, agent_calls)

    @cached_property
    def incoming_calls(self) -> IncomingCalls:
        """POST /api/calls/incoming."""
        from warmline.webhook_use_cases import IncomingCalls

        return IncomingCalls(self.numbers, self.call_desk, self.check_clone_warmer)

    @cached_property
    def conversation_starts(self) -> ConversationStarts:
        """POST /api/agent/conversation-init."""
        from warmline.webhook_use_cases import AgentDefaults, ConversationStarts

        defaults = AgentDefaults(self.agent_variables.defaults)
        return ConversationStarts(
            self.numbers,
            self.call_desk,
            self.caller_ids,
            self.handoffs,
            self.events,
            defaults,
            self.agent_slots,
        )

    @cached_property
    def ivr_desk(self) -> IvrDesk:
        """check_clone's use case: the caller's key press while the clone is prepared."""
        from warmline.ivr import IvrDesk, IvrPolicy, IvrPorts

        outbound = self.settings.handoff_mode == "outbound"
        agent_calls = self.agent_calls if outbound else None
        ports = IvrPorts(
            self.store,
            self.events,
            self.handoff_store,
            self.clock,
            agent_calls,
            agent_slots=self.agent_slots,
            caller_ids=self.caller_ids,
        )
        return IvrDesk(ports, IvrPolicy.from_settings(self.settings))

    @cached_property
    def agent_slots(self) -> AgentSlots | None:
        """HandoffMode=agent_transfer's voice-slot agents (warmline.agent_slots); None in the other modes."""
        if self.settings.handoff_mode != "agent_transfer":
            return None
        from warmline.adapters.dynamodb_slots import DynamoSlotStore
        from warmline.agent_slots import AgentSlots, SlotPolicy

        policy = SlotPolicy(self.settings.agent_slot_lease_seconds, self.settings.greeting_voice_id)
        store = DynamoSlotStore(self._client("dynamodb"), self.settings.table_name)
        return AgentSlots(store, self.slot_agents, self.clock, policy)

    def slot_agents(self) -> ElevenLabsSlotAgents:
        from warmline.adapters.elevenlabs import ElevenLabsSlotAgents

        return ElevenLabsSlotAgents(self.provider())

    @cached_property
    def post_calls(self) -> PostCalls:
        """POST /api/agent/post-call."""
        from warmline.post_call import PostCalls

        return PostCalls(lambda: self.agent_slots)

    @cached_property
    def key_presses(self) -> KeyPresses:
        """POST /api/ivr/check-clone/{caller_id}."""
        from warmline.ivr_use_cases import KeyPresses

        return KeyPresses(self.numbers, self.ivr_desk, self._pin_pepper)

    def _pin_pepper(self) -> str:
        return self.secrets.get(self.settings.pin_pepper_secret_name)

    @cached_property
    def cloning_figures(self) -> CloningFigures:
        """GET /api/metrics/cloning."""
        from warmline.ivr_use_cases import CloningFigures

        return CloningFigures(self.events, self.clock)

    @cached_property
    def clone_worker(self) -> CloneWorker:
        """The clone-jobs consumer's use case; it keeps the provider's slot counts of this environment."""
        from warmline.cloning import ClonePolicy, CloneWorker, CloneWorkerPorts

        ports = CloneWorkerPorts(self.store, self.samples, self.provider, self.events, self.clock, self.queue)
        return CloneWorker(ports, ClonePolicy.from_settings(self.settings))

    def caller_key(self, normalised_number: str) -> str:
        return caller_key(normalised_number, self.secrets.get(self.settings.caller_key_secret_name))

    def warm_up(
        self,
        use_cases: Callable[[Dependencies], object],
        secrets: Callable[[Settings], tuple[str, ...]] = lambda _: (),
    ) -> None:
        """Build these use cases (and so their adapters) and fetch these secrets now.

        Called at import inside Lambda, so the init phase pays for the boto3 clients and the first
        secret reads instead of the first caller; the reads get `init_deadline_seconds` in all. A
        secret that cannot be read yet is read again on first use.
        """
        if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            return
        use_cases(self)
        self.deadline.start(self.settings.init_deadline_seconds)
        try:
            for secret_id in filter(None, secrets(self.settings)):
                try:
                    self.secrets.get(secret_id)
                except Exception:
                    logging.getLogger(__name__).warning("could not prefetch the secret %s at init", secret_id)
        finally:
            self.deadline.clear()


@lru_cache(maxsize=1)
def dependencies() -> Dependencies:
    return Dependencies(get_settings())
