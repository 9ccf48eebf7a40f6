"""The Amazon MQ for RabbitMQ event source, end to end: a real server reading the machine's RabbitMQ.

Functions report each event they get to a moto SQS queue (`results`); the broker's queue depth
shows what was acked (a disabled mapping's unacked messages go back to the queue).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from datetime import datetime, timezone

import pytest

from support import ACCOUNT, REGION, Server, aws_error, lambda_role, make_zip
from test_sqs_source import HOST_NETWORK, batches, drain, moto, sqs, wait_for  # noqa: F401 (fixtures)

AMQP_URL = os.environ.get("LAMBDABOX_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
BROKER = f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:tests:b-{uuid.UUID(int=1)}"
OTHER_ACCOUNT = "111122223333"
THEIR_BROKER = f"arn:aws:mq:{REGION}:{OTHER_ACCOUNT}:broker:theirs:b-{uuid.UUID(int=2)}"
AUTH = [{"Type": "BASIC_AUTH", "URI": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:mq-AbCdEf"}]

#: Reports each event to RESULTS; raises when a message's data starts with "fail" (always) or
#: "flaky" (unless redelivered).
REPORTER = """
import base64, json, os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(event))
    for messages in event["rmqMessagesByQueue"].values():
        for message in messages:
            text = base64.b64decode(message["data"]).decode()
            if text.startswith("fail") or (text.startswith("flaky") and not message["redelivered"]):
                raise RuntimeError("poison message")
    return {}
"""


def _amqp(coroutine_function, *arguments):
    import aio_pika

    async def run():
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
        try:
            return await coroutine_function(await connection.channel(), *arguments)
        finally:
            await connection.close()

    return asyncio.run(run())


def publish(queue: str, texts: list[str], **properties) -> None:
    import aio_pika

    async def send(channel):
        for text in texts:
            await channel.default_exchange.publish(aio_pika.Message(text.encode(), **properties), routing_key=queue)
    _amqp(send)


def depth(queue: str) -> int:
    async def count(channel):
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count
    return _amqp(count)


def messages(found) -> list[dict]:
    """The messages of every reported event, in order."""
    return [message for event in found for batch in event["rmqMessagesByQueue"].values() for message in batch]


def texts(found) -> list[str]:
    return [base64.b64decode(message["data"]).decode() for message in messages(found)]


@pytest.fixture(scope="module")
def rmq_server(tmp_path_factory, moto):
    try:
        _amqp(lambda channel: asyncio.sleep(0))
    except Exception as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no RabbitMQ at {AMQP_URL}: {error}")
    running = Server(tmp_path_factory.mktemp("rabbitmq-source") / "data", extra_args=[
        "--sqs-endpoint-url", moto, "--rabbitmq-broker", f"{BROKER}={AMQP_URL}",
        "--rabbitmq-broker", f"{THEIR_BROKER}={AMQP_URL}", *HOST_NETWORK,
    ]).start()
    yield running
    running.stop()


@pytest.fixture
def lam(rmq_server):
    return rmq_server.client("lambda")


@pytest.fixture
def results(sqs, unique):
    return sqs.create_queue(QueueName=unique("results"))["QueueUrl"]


@pytest.fixture
def queue(unique):
    name = unique("rmq")

    async def declare(channel):
        await channel.declare_queue(name, durable=True)
    _amqp(declare)
    yield name

    async def delete(channel):
        await channel.queue_delete(name)
    _amqp(delete)


@pytest.fixture
def function(rmq_server, lam, moto, results, unique):
    name = unique("rmq-worker")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=lambda_role(rmq_server, unique("role")),
                        Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip({"app.py": REPORTER})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    return name


def map_queue(lam, function: str, queue: str, **settings) -> dict:
    return lam.create_event_source_mapping(EventSourceArn=BROKER, FunctionName=function, Queues=[queue],
                                           SourceAccessConfigurations=AUTH, **settings)


def disable(lam, mapping: dict) -> None:
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    time.sleep(2)  # The poller stops between batches and closes its connection: unacked messages return.


def test_the_event_is_amazon_mqs_and_messages_are_acked_after_success(sqs, lam, function, results, queue):
    stamp = datetime(2024, 1, 2, 15, 4, 5, tzinfo=timezone.utc)
    publish(queue, ["one"], content_type="text/plain", headers={"who": "me", "n": 10}, priority=3,
            message_id="m-1", timestamp=stamp, correlation_id="c-1")
    publish(queue, ["two", "three"])
    mapping = map_queue(lam, function, queue, MaximumBatchingWindowInSeconds=1)
    assert (mapping["State"], mapping["BatchSize"], mapping["Queues"]) == ("Creating", 100, [queue])
    assert mapping["SourceAccessConfigurations"] == AUTH
    found = batches(sqs, results, lambda found: len(texts(found)) >= 3)
    event = found[0]
    assert list(event) == ["eventSource", "eventSourceArn", "rmqMessagesByQueue"]
    assert (event["eventSource"], event["eventSourceArn"], list(event["rmqMessagesByQueue"])) == (
        "aws:rmq", BROKER, [f"{queue}::/"])
    first = messages(found)[0]
    assert list(first) == ["basicProperties", "redelivered", "data"]
    properties = first["basicProperties"]
    assert (properties["contentType"], properties["priority"], properties["messageId"], properties["correlationId"]) == (
        "text/plain", 3, "m-1", "c-1")
    assert properties["headers"] == {"who": {"bytes": list(b"me")}, "n": 10}
    assert properties["timestamp"] == "Jan 2, 2024, 3:04:05 PM"
    assert properties["bodySize"] == 3 and first["redelivered"] is False
    assert texts(found) == ["one", "two", "three"]
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"]).get("LastProcessingResult") == "OK")
    disable(lam, mapping)
    assert depth(queue) == 0


def test_a_failed_batch_is_requeued_and_nothing_is_acked_before_success(sqs, lam, function, results, queue, rmq_server):
    publish(queue, ["flaky-1"])
    mapping = map_queue(lam, function, queue)
    found = batches(sqs, results, lambda found: len(texts(found)) >= 2)
    assert texts(found) == ["flaky-1", "flaky-1"]
    assert [message["redelivered"] for message in messages(found)] == [False, True]
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"]).get("LastProcessingResult") == "OK")
    # One failed delivery, then one processed; RabbitMQ tells no message's age, so no lag.
    wait_for(lambda: rmq_server.get_json("/_lambdabox/event-source-mappings")["EventSourceMappings"][mapping["UUID"]]
             == {"RecordsProcessed": 1, "RecordsFailed": 1, "LagMillis": None, "Backlog": None}, what="the figures")
    publish(queue, ["fail-2"])
    batches(sqs, results, lambda found: len(texts(found)) >= 2)  # Tried, failed, tried again...
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "PROBLEM: Function call failed"
    disable(lam, mapping)
    assert depth(queue) == 1  # ...and never acked.


def test_filters_ack_and_drop_messages_that_match_none(sqs, lam, function, results, queue):
    publish(queue, ['{"kind": "keep"}', '{"kind": "skip"}', "plain", "hello"])
    mapping = map_queue(lam, function, queue, MaximumBatchingWindowInSeconds=1, FilterCriteria={"Filters": [
        {"Pattern": json.dumps({"data": {"kind": ["keep"]}})}, {"Pattern": json.dumps({"data": ["hello"]})},
    ]})
    found = batches(sqs, results, lambda found: len(texts(found)) >= 2)
    assert texts(found + drain(sqs, results, 1.5)) == ['{"kind": "keep"}', "hello"]
    disable(lam, mapping)
    assert depth(queue) == 0


def test_disable_and_delete_stop_consumption_and_a_restart_resumes(sqs, lam, function, results, queue, rmq_server):
    mapping = map_queue(lam, function, queue)
    publish(queue, ["a"])
    batches(sqs, results, lambda found: len(texts(found)) >= 1)
    disable(lam, mapping)
    publish(queue, ["b"])
    assert drain(sqs, results, 2) == [] and depth(queue) == 1
    rmq_server.stop()
    rmq_server.start()
    assert drain(sqs, results, 2) == []  # Still disabled after the restart.
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    assert texts(batches(sqs, results, lambda found: len(texts(found)) >= 1)) == ["b"]
    rmq_server.stop()
    publish(queue, ["c"])
    rmq_server.start()
    assert texts(batches(sqs, results, lambda found: len(texts(found)) >= 1)) == ["c"]
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    time.sleep(2)
    publish(queue, ["d"])
    assert drain(sqs, results, 2) == [] and depth(queue) == 1


# -- what a tenant may not do ---------------------------------------------------------------------


def test_unconfigured_or_foreign_brokers_and_bad_settings_are_refused(lam, function, queue):
    unknown = f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:elsewhere:b-{uuid.UUID(int=3)}"
    refused = [
        dict(EventSourceArn=unknown, Queues=[queue], SourceAccessConfigurations=AUTH),
        dict(EventSourceArn=THEIR_BROKER, Queues=[queue], SourceAccessConfigurations=AUTH),
        dict(EventSourceArn=f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:tests", Queues=[queue], SourceAccessConfigurations=AUTH),
        dict(EventSourceArn=BROKER, SourceAccessConfigurations=AUTH),
        dict(EventSourceArn=BROKER, Queues=[queue]),
        dict(EventSourceArn=BROKER, Queues=[queue], SourceAccessConfigurations=[{"Type": "SASL_SCRAM_512_AUTH", "URI": "x"}]),
        dict(EventSourceArn=BROKER, Queues=[queue], SourceAccessConfigurations=AUTH, StartingPosition="LATEST"),
        dict(EventSourceArn=BROKER, Queues=[queue], SourceAccessConfigurations=AUTH, MaximumRetryAttempts=1),
    ]
    for arguments in refused:
        status, code, _ = aws_error(lam.create_event_source_mapping, FunctionName=function, **arguments)
        assert (status, code) == (400, "InvalidParameterValueException"), arguments
    for invalid in (dict(Queues=[queue], BatchSize=10_001), dict(Queues=[queue, "second"]), dict(Queues=["x" * 1001])):
        status, code, _ = aws_error(lam.create_event_source_mapping, FunctionName=function, EventSourceArn=BROKER,
                                    SourceAccessConfigurations=AUTH, **invalid)
        assert (status, code) == (400, "ValidationException"), invalid
    assert lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"] == []


def test_kill_9_mid_stream_loses_nothing(sqs, lam, function, results, queue, rmq_server):
    import signal

    total = 300
    publish(queue, [f"m-{number}" for number in range(total)])
    map_queue(lam, function, queue, BatchSize=10)
    before = batches(sqs, results, lambda found: len(texts(found)) >= 50)
    os.kill(rmq_server.pid, signal.SIGKILL)
    rmq_server.process.wait()
    rmq_server.process = None
    before += drain(sqs, results, 1)
    rmq_server.start()
    after = batches(sqs, results, lambda found: len(set(texts(before + found))) >= total, timeout=120)
    seen = texts(before + after + drain(sqs, results, 2))
    assert set(seen) == {f"m-{number}" for number in range(total)}
    # The broker requeues what was unacked when the connection dropped: at most the batches in flight (and prefetched).
    assert len(seen) - total <= 2 * 10, len(seen) - total
    assert depth(queue) == 0
