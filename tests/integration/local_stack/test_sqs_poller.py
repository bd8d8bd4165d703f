"""The SQS event source: real SQS events, partial batch failures, redrive to the dead-letter queue."""

import pytest

from local import aws
from local.sqs_poller import succeeded_records
from tests.waiting import eventually


def wait_for(condition, timeout_s=10.0):
    return eventually(condition, within=timeout_s)


def deliveries(stack) -> dict[str, list[dict]]:
    """Every delivery the batch function recorded, by body."""
    table = aws.client("dynamodb", stack.aws_endpoint_url)
    items = table.scan(TableName=stack.model.tables["RecordsTable"].name)["Items"]
    by_body: dict[str, list[dict]] = {}
    for item in items:
        by_body.setdefault(item["body"]["S"], []).append(item)
    return by_body


def queue_depth(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_partial_batch_failure_keeps_only_failed_records_until_they_go_to_the_dead_letter_queue(
    fixture_stack,
):
    sqs = aws.client("sqs", fixture_stack.aws_endpoint_url)
    queue = fixture_stack.model.queues["JobsQueue"]
    dead_letters = fixture_stack.model.queues["JobsDeadLetterQueue"]
    sqs.send_message_batch(
        QueueUrl=queue.url,
        Entries=[
            {"Id": "1", "MessageBody": "ok-1"},
            {"Id": "2", "MessageBody": "fail-1"},
            {
                "Id": "3",
                "MessageBody": "ok-2",
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "x"}},
            },
        ],
    )

    moved = wait_for(
        lambda: sqs.receive_message(QueueUrl=dead_letters.url, WaitTimeSeconds=1).get("Messages"),
        timeout_s=15,
    )

    assert [message["Body"] for message in moved] == ["fail-1"]
    assert queue_depth(sqs, queue.url) == 0
    # SQS moves the message on the receive after the last failed delivery, which happens once that
    # delivery is visible again (3 s here): on a busy machine its invocation may still be running.
    wait_for(lambda: fixture_stack.poller.stats()["Jobs"]["failed"] >= 2)
    seen = deliveries(fixture_stack)
    assert len(seen["ok-1"]) == len(seen["ok-2"]) == 1
    # Received maxReceiveCount times, then moved by SQS on the next receive.
    assert sorted(item["pk"]["S"].split("#")[1] for item in seen["fail-1"]) == ["1", "2"]
    stats = fixture_stack.poller.stats()["Jobs"]
    assert stats["deleted"] == 2 and stats["failed"] == 2
    assert stats["queue_lag_ms"]["p50"] < 1000


def test_a_sent_message_reaches_the_function_once_and_is_deleted(fixture_stack):
    sqs = aws.client("sqs", fixture_stack.aws_endpoint_url)
    queue = fixture_stack.model.queues["JobsQueue"]
    sent = sqs.send_message(QueueUrl=queue.url, MessageBody="shape")
    wait_for(lambda: "shape" in deliveries(fixture_stack))
    wait_for(lambda: queue_depth(sqs, queue.url) == 0)

    records = [r for r in fixture_stack.runtime.invocations() if r["function"] == "BatchFunction"]
    assert records and all(r["error"] is None for r in records)
    item = deliveries(fixture_stack)["shape"][0]
    assert item["pk"]["S"] == f"{sent['MessageId']}#1"


def test_poller_builds_lambda_sqs_records():
    from local.sqs_poller import sqs_record

    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": "hi",
        "MD5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDA",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "MessageAttributes": {"kind": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q")
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": "hi",
        "attributes": message["Attributes"],
        "messageAttributes": {
            "kind": {
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            }
        },
        "md5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


RECORDS = [{"messageId": "a"}, {"messageId": "b"}, {"messageId": "c"}]


@pytest.mark.parametrize(
    ("ok", "result", "report", "deleted"),
    [
        (True, None, True, ["a", "b", "c"]),
        (True, {"batchItemFailures": []}, True, ["a", "b", "c"]),
        (True, {"batchItemFailures": [{"itemIdentifier": "b"}]}, True, ["a", "c"]),
        (True, {"batchItemFailures": [{"itemIdentifier": "zzz"}]}, True, []),
        (True, {"batchItemFailures": [{"itemIdentifier": ""}]}, True, []),
        (True, "not a response", True, []),
        (True, {"batchItemFailures": [{"itemIdentifier": "b"}]}, False, ["a", "b", "c"]),
        (False, None, True, []),
        (False, None, False, []),
    ],
)
def test_which_records_are_deleted(ok, result, report, deleted):
    assert [r["messageId"] for r in succeeded_records(RECORDS, ok, result, report)] == deleted
