"""Lambda's SQS event source mapping on loopback: long-poll, invoke with SQS events, delete what succeeded.

Failed records are left alone: they come back after the queue's visibility timeout, and SQS (moto)
moves them to the dead-letter queue once they have been received maxReceiveCount times.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local import aws
from local.lambda_runtime import LambdaRuntime
from local.template import REGION, Queue, SqsEventSource, StackModel
from warmline.cloning_report import nearest_rank

RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)

log = logging.getLogger("warmline.local.sqs_poller")


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, from a ReceiveMessage message."""
    attributes = message.get("Attributes", {})
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: attributes[name] for name in RECORD_ATTRIBUTES if name in attributes},
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda's SQS event spells it (camelCase, binary values in base64)."""
    attribute: dict[str, Any] = {
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def succeeded_records(
    records: list[dict[str, Any]], ok: bool, result: Any, report_batch_item_failures: bool
) -> list[dict[str, Any]]:
    """The records Lambda deletes after an invocation, following its partial batch response rules."""
    if not ok:
        return []
    if not report_batch_item_failures or result is None:
        return records
    if not isinstance(result, dict):
        return []
    failures = result.get("batchItemFailures")
    if not failures:
        return records
    message_ids = {record["messageId"] for record in records}
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            return []
        failed.add(identifier)
    return [record for record in records if record["messageId"] not in failed]


class _SourcePoller:
    """One event source: receives only with a free invocation slot, so no message waits invisible."""

    wait_time_s = 1

    def __init__(self, source: SqsEventSource, queue: Queue, runtime: LambdaRuntime, sqs: Any):
        self.source = source
        self.queue = queue
        self.runtime = runtime
        self.sqs = sqs
        concurrency = source.maximum_concurrency or runtime.pools[source.function].cap
        self.slots = threading.Semaphore(concurrency)
        self.executor = ThreadPoolExecutor(concurrency, thread_name_prefix=f"sqs-{source.name}")
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._poll, name=f"sqs-poller-{source.name}", daemon=True)
        self.lock = threading.Lock()
        self.counts = {"batches": 0, "records": 0, "deleted": 0, "failed": 0}
        self.lag_ms: list[float] = []

    def _poll(self) -> None:
        while not self.stopping.is_set():
            self.slots.acquire()
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue.url,
                    MaxNumberOfMessages=self.source.batch_size,
                    WaitTimeSeconds=self.wait_time_s,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                messages = []
                if not self.stopping.is_set():
                    log.exception("receiving from %s failed", self.queue.name)
                    time.sleep(0.5)
            if messages and not self.stopping.is_set():
                self.executor.submit(self._run_batch, messages)
            else:
                self.slots.release()

    def _run_batch(self, messages: list[dict[str, Any]]) -> None:
        try:
            records = [sqs_record(message, self.queue.arn) for message in messages]
            invoked_at_ms = time.time() * 1000
            invocation = self.runtime.invoke(self.source.function, {"Records": records})
            succeeded = succeeded_records(
                records, invocation.ok, invocation.result, self.source.report_batch_item_failures
            )
            for start in range(0, len(succeeded), 10):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue.url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
                        for index, record in enumerate(succeeded[start : start + 10])
                    ],
                )
            with self.lock:
                self.counts["batches"] += 1
                self.counts["records"] += len(records)
                self.counts["deleted"] += len(succeeded)
                self.counts["failed"] += len(records) - len(succeeded)
                self.lag_ms.extend(
                    invoked_at_ms - int(record["attributes"]["SentTimestamp"])
                    for record in records
                    if record["attributes"].get("ApproximateReceiveCount") == "1"
                )
        except Exception:
            log.exception("SQS batch for %s failed", self.source.function)
        finally:
            self.slots.release()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            lag = sorted(self.lag_ms)
            summary = {"p50": nearest_rank(lag, 50), "max": lag[-1], "count": len(lag)} if lag else None
            return {**self.counts, "queue_lag_ms": summary}

    def stop(self) -> None:
        self.stopping.set()
        self.slots.release()
        self.thread.join(timeout=self.wait_time_s + 5)
        self.executor.shutdown(wait=False, cancel_futures=True)


class SqsPoller:
    """Every SQS event source of the model, each polled with 1 s long polls."""

    def __init__(self, model: StackModel, runtime: LambdaRuntime, aws_endpoint_url: str):
        self.pollers = [
            _SourcePoller(source, model.queues[source.queue], runtime, aws.client("sqs", aws_endpoint_url))
            for source in model.sqs_sources
        ]

    def start(self) -> None:
        for poller in self.pollers:
            poller.thread.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per event source: batches, records, deleted, failed, and send-to-invoke lag of first receives."""
        return {poller.source.name: poller.stats() for poller in self.pollers}
