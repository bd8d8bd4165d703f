"""The local stack's moto keeps each host's service (local/moto_routing.py): every request still
reaches its own service, the first of each and the ones routed from what was kept."""

from local import aws


def test_each_service_answers_its_own_requests_when_routes_are_kept(tmp_path):
    server = aws.MotoServer(tmp_path / "moto.log")
    url = server.start()
    try:
        for _ in range(2):  # the second round is routed from what the first kept
            aws.client("sqs", url).create_queue(QueueName="jobs")
            aws.client("s3", url).create_bucket(Bucket="samples")
            queues = aws.client("sqs", url).list_queues()["QueueUrls"]
            assert [queue.rsplit("/", 1)[1] for queue in queues] == ["jobs"]
            assert [b["Name"] for b in aws.client("s3", url).list_buckets()["Buckets"]] == ["samples"]
            assert aws.client("dynamodb", url).list_tables()["TableNames"] == []
    finally:
        server.stop()
