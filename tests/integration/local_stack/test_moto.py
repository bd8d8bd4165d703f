"""The local stack's moto: its own port from the start, and DynamoDB writes applied one at a time."""

from concurrent.futures import ThreadPoolExecutor

from local import aws

WRITERS, WRITES = 10, 30


def test_stacks_started_side_by_side_each_get_their_own_moto(tmp_path):
    servers = [aws.MotoServer(tmp_path / f"moto-{n}.log") for n in range(3)]
    with ThreadPoolExecutor(len(servers)) as pool:
        urls = list(pool.map(lambda server: server.start(), servers))
    try:
        assert len(set(urls)) == len(servers)
        for number, url in enumerate(urls):
            aws.client("sqs", url).create_queue(QueueName=f"only-in-{number}")
        for number, url in enumerate(urls):
            listed = aws.client("sqs", url).list_queues().get("QueueUrls", [])
            assert [queue.rsplit("/", 1)[1] for queue in listed] == [f"only-in-{number}"]
    finally:
        for server in servers:
            server.stop()


def test_concurrent_updates_of_one_item_are_each_applied_as_dynamodb_does(tmp_path):
    """moto's own server loses some of these (its DynamoDB is not thread-safe); DynamoDB does not."""
    server = aws.MotoServer(tmp_path / "moto.log")
    url = server.start()
    try:
        dynamodb = aws.client("dynamodb", url)
        dynamodb.create_table(
            TableName="counts",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        def write(writer):
            client = aws.client("dynamodb", url)
            for n in range(WRITES):
                client.update_item(
                    TableName="counts",
                    Key={"pk": {"S": "one"}},
                    UpdateExpression=f"SET w{writer}_{n % 5} = :text ADD applied :one",
                    ExpressionAttributeValues={":text": {"S": "x" * 50}, ":one": {"N": "1"}},
                )

        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(write, range(WRITERS)))

        item = dynamodb.get_item(TableName="counts", Key={"pk": {"S": "one"}})["Item"]
        assert item["applied"] == {"N": str(WRITERS * WRITES)}
    finally:
        server.stop()
