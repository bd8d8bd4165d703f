"""DynamoDB's TransactWriteItems as DynamoDB runs it, in the moto every local stack and test uses.

DynamoDB applies a transaction all or nothing, isolated from other writes, and a cancelled one
changes nothing. moto 5.2.5 copies each table a transaction touches, applies the items one by one,
and on a cancellation puts the copies back in place of the tables: a write that lands meanwhile,
from another request thread, is lost. local/moto_dynamodb.py makes moto's transactions behave;
these tests run against the in-process moto of the integration tests, which has it installed.
"""

import threading

import pytest
from botocore.exceptions import ClientError

from local import aws

TABLE = "transactions"


@pytest.fixture
def dynamodb(moto_endpoint):
    client = aws.client("dynamodb", moto_endpoint)
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield client
    client.delete_table(TableName=TABLE)


def item(pk, sk="-"):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def claim(pk):
    return {"Put": {"TableName": TABLE, "Item": item(pk), "ConditionExpression": "attribute_not_exists(pk)"}}


def run_together(*targets):
    barrier = threading.Barrier(len(targets))

    def started(target):
        barrier.wait()
        target()

    threads = [threading.Thread(target=started, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_a_cancelled_transaction_loses_no_write_made_while_it_ran(dynamodb):
    # A table big enough that a transaction takes a while in moto.
    for first in range(0, 1000, 25):
        puts = [
            {"PutRequest": {"Item": {**item("filler", f"{n:05d}"), "data": {"S": "x" * 200}}}}
            for n in range(first, first + 25)
        ]
        dynamodb.batch_write_item(RequestItems={TABLE: puts})
    dynamodb.put_item(TableName=TABLE, Item=item("taken"))
    dynamodb.put_item(TableName=TABLE, Item={**item("counter"), "count": {"N": "0"}})
    cancellers_done = threading.Event()
    counted = []

    def cancelled():
        never = {"Put": {"TableName": TABLE, "Item": item("never")}}
        for _ in range(30):
            with pytest.raises(ClientError, match="TransactionCanceledException"):
                dynamodb.transact_write_items(TransactItems=[claim("taken"), never])

    def count():
        while not cancellers_done.is_set():
            dynamodb.update_item(
                TableName=TABLE,
                Key=item("counter"),
                UpdateExpression="ADD #count :one",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
            counted.append(1)

    def cancel_all():
        run_together(cancelled, cancelled)
        cancellers_done.set()

    run_together(cancel_all, count, count)

    stored = dynamodb.get_item(TableName=TABLE, Key=item("counter"))["Item"]["count"]["N"]
    assert int(stored) == len(counted) > 0
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=item("never"))


def test_of_concurrent_transactions_with_the_same_claim_exactly_one_applies(dynamodb):
    for round_ in range(10):
        won = []

        def attempt(n, round_=round_, won=won):
            try:
                dynamodb.transact_write_items(
                    TransactItems=[
                        claim(f"call-{round_}"),
                        {"Put": {"TableName": TABLE, "Item": item("by", f"{round_}-{n}")}},
                    ]
                )
            except ClientError as error:
                assert error.response["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed"
            else:
                won.append(n)

        run_together(*(lambda n=n: attempt(n) for n in range(10)))

        assert len(won) == 1
        written = dynamodb.query(
            TableName=TABLE, KeyConditionExpression="pk = :by", ExpressionAttributeValues={":by": {"S": "by"}}
        )
        assert [i["sk"]["S"] for i in written["Items"] if i["sk"]["S"].startswith(f"{round_}-")] == [
            f"{round_}-{won[0]}"
        ]
