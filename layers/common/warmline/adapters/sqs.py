"""The clone-jobs queue in SQS."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from warmline.clone_state import CloneJob


class SqsJobQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, job: CloneJob, delay_seconds: int = 0) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(asdict(job)), DelaySeconds=delay_seconds
        )
