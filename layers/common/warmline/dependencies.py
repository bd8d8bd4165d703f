"""The adapters a function uses, built once per execution environment on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import boto3

from warmline.adapters.clock import SystemClock
from warmline.adapters.dynamodb import DynamoCloneStore, DynamoEventStore
from warmline.adapters.elevenlabs import ElevenLabsClient
from warmline.adapters.s3 import S3SampleStore
from warmline.adapters.secrets import SecretsManagerSecrets
from warmline.adapters.sqs import SqsJobQueue
from warmline.callers import caller_key
from warmline.settings import Settings, get_settings


@dataclass
class Dependencies:
    settings: Settings
    clock: SystemClock = field(default_factory=SystemClock)
    _providers: dict[str, ElevenLabsClient] = field(default_factory=dict)

    @cached_property
    def secrets(self) -> SecretsManagerSecrets:
        return SecretsManagerSecrets(self.settings.secret_cache_seconds)

    @cached_property
    def store(self) -> DynamoCloneStore:
        return DynamoCloneStore(boto3.client("dynamodb"), self.settings.table_name)

    @cached_property
    def events(self) -> DynamoEventStore:
        return DynamoEventStore(
            boto3.client("dynamodb"), self.settings.table_name, self.settings.event_ttl_seconds
        )

    @cached_property
    def queue(self) -> SqsJobQueue:
        return SqsJobQueue(boto3.client("sqs"), self.settings.clone_jobs_queue_url)

    @cached_property
    def samples(self) -> S3SampleStore:
        return S3SampleStore(boto3.client("s3"), self.settings.samples_bucket)

    def provider(self) -> ElevenLabsClient:
        """One client per API key value, so a rotated key takes effect when the secret cache expires."""
        api_key = self.secrets.get(self.settings.elevenlabs_api_key_secret)
        client = self._providers.get(api_key)
        if client is None:
            self._providers.clear()
            client = self._providers[api_key] = ElevenLabsClient(api_key, self.settings.elevenlabs_base_url)
        return client

    def caller_key(self, normalised_number: str) -> str:
        return caller_key(normalised_number, self.secrets.get(self.settings.caller_key_secret_name))


@lru_cache(maxsize=1)
def dependencies() -> Dependencies:
    return Dependencies(get_settings())
