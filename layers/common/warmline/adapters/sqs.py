"""The clone-jobs queue in SQS, and the heartbeat that keeps a running job's message hidden."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict
from typing import Any

from warmline.clone_state import CloneJob

logger = logging.getLogger(__name__)


class SqsJobQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, job: CloneJob, delay_seconds: int = 0) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(asdict(job)), DelaySeconds=delay_seconds
        )

    def hide(self, receipt_handle: str, seconds: int) -> None:
        """Keep a received message hidden for `seconds` from now (then it is delivered again)."""
        self._client.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )


class VisibilityHeartbeat:
    """While a job runs, hide its message for `hide_seconds` at a time, renewed every `every_seconds`.

    The queue's own visibility timeout must be at least the worker's timeout (Lambda requires it),
    which alone would leave a killed worker's job invisible that long. With the heartbeat a job is
    seen again at most `hide_seconds` after its worker stopped, and never while the worker lives.
    """

    def __init__(self, queue: SqsJobQueue, receipt_handle: str, *, hide_seconds: int, every_seconds: float):
        self.queue = queue
        self.receipt_handle = receipt_handle
        self.hide_seconds = hide_seconds
        self.every_seconds = every_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True)

    def __enter__(self) -> VisibilityHeartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self.every_seconds):
            self._beat()

    def _beat(self) -> None:
        try:
            self.queue.hide(self.receipt_handle, self.hide_seconds)
        except Exception:
            # The lease still keeps a second delivery from cloning; only the retry may come sooner.
            logger.warning("could not renew the clone job's visibility", exc_info=True)
