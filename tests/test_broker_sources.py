"""Broker ARNs and settings (model/broker_sources.py) and the records built from broker messages
(sources/broker_records.py): pure functions, checked against the shapes the README documents."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone

import botocore.session
import pytest

from lambdabox.model.broker_sources import MqBroker, NatsStream, check_settings, names_broker, parse_broker
from lambdabox.model.errors import InvalidParameterValue
from lambdabox.sources.broker_records import nats_failure_record, nats_record, rmq_event, rmq_message

ACCOUNT = "123456789012"
BROKER_ID = "b-9bcfa592-423a-4942-879d-eb284b418fc8"


def _arn_pattern() -> re.Pattern:
    model = botocore.session.get_session().get_service_model("lambda")
    shape = model.operation_model("CreateEventSourceMapping").input_shape.members["EventSourceArn"]
    return re.compile(shape.metadata["pattern"])


@pytest.mark.parametrize("arn, stream, subject", [
    (f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/ORDERS", "ORDERS", None),
    (f"arn:aws:nats:eu-west-2:{ACCOUNT}:stream/orders_2-b/orders.*.new", "orders_2-b", "orders.*.new"),
    (f"arn:aws:nats:us-gov-west-1:{ACCOUNT}:stream/S/a.>", "S", "a.>"),
])
def test_nats_arns_parse_and_pass_botocores_arn_pattern(arn, stream, subject):
    assert names_broker(arn) and _arn_pattern().fullmatch(arn)
    parsed = parse_broker(arn)
    assert isinstance(parsed, NatsStream)
    assert (parsed.stream, parsed.subject, parsed.scope.account) == (stream, subject, ACCOUNT)


@pytest.mark.parametrize("arn", [
    f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/",
    f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/a.b",
    f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/S/a.>.b",
    f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/S/a..b",
    f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/S/a*",
    f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/S/a b",
    f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/{'S' * 65}",
    f"arn:aws:nats:us-east-1:12345:stream/S",
    f"arn:aws:nats:useast1:{ACCOUNT}:stream/S",
    f"arn:aws:mq:us-east-1:{ACCOUNT}:broker:name",
    f"arn:aws:mq:us-east-1:{ACCOUNT}:broker:name:b-not-a-uuid",
    f"arn:aws:mq:us-east-1:{ACCOUNT}:broker:{'n' * 51}:{BROKER_ID}",
])
def test_malformed_broker_arns_are_refused(arn):
    with pytest.raises(InvalidParameterValue, match="Unrecognized event source"):
        parse_broker(arn)


def test_an_amazon_mq_arn_parses():
    parsed = parse_broker(f"arn:aws:mq:us-west-2:{ACCOUNT}:broker:pizzaBroker:{BROKER_ID}")
    assert isinstance(parsed, MqBroker) and (parsed.name, parsed.scope.region) == ("pizzaBroker", "us-west-2")
    assert not names_broker(f"arn:aws:sqs:us-east-1:{ACCOUNT}:q") and not names_broker(None)


def test_each_broker_refuses_the_others_settings():
    nats = parse_broker(f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/S")
    mq = parse_broker(f"arn:aws:mq:us-east-1:{ACCOUNT}:broker:b:{BROKER_ID}")
    auth = {"SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": "arn"}]}
    check_settings({"StartingPosition": "LATEST", "ParallelizationFactor": 3}, nats, creating=True)
    check_settings({"Queues": ["q"], **auth}, mq, creating=True)
    for request, source in [({"Queues": ["q"]}, nats), ({"StartingPosition": "LATEST", "Queues": ["q"], **auth}, mq),
                            ({"ScalingConfig": {"MaximumConcurrency": 2}}, nats), ({"StartingPosition": "SOMETIME"}, nats),
                            ({"StartingPosition": "AT_TIMESTAMP"}, nats), ({"FunctionResponseTypes": ["Other"]}, nats),
                            ({"Queues": []}, mq), ({"Queues": ["q"], "SourceAccessConfigurations": []}, mq)]:
        with pytest.raises(InvalidParameterValue):
            check_settings(request, source, creating=True)


def test_a_nats_record_and_its_failure_record():
    record = nats_record("S", "S.in", 7, 3, 2, b"hi", {"k": ["v"]}, 1733551200.1234, "arn:aws:nats:x", "us-east-1")
    assert record["nats"]["data"] == base64.b64encode(b"hi").decode()
    assert (record["eventID"], record["nats"]["approximateArrivalTimestamp"]) == ("S:7", 1733551200.123)
    failure = nats_failure_record([record], "arn:aws:lambda:us-east-1:1:function:f", "RetryAttemptsExhausted", 3,
                                  "Unhandled", "id", "arn:aws:nats:x")
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert failure["NatsBatchInfo"]["approximateArrivalOfFirstRecord"] == "2024-12-07T06:00:00.123Z"
    assert (failure["NatsBatchInfo"]["startSequenceNumber"], failure["NatsBatchInfo"]["batchSize"]) == ("7", 1)


def test_an_rmq_message_shows_headers_and_times_as_amazon_mq_does():
    message = rmq_message({"headers": {"s": "ab", "n": 10, "b": b"\x01"}, "delivery_mode": 2,
                           "timestamp": datetime(1970, 1, 1, 0, 33, 41, tzinfo=timezone.utc)}, True, b"body")
    properties = message["basicProperties"]
    assert properties["headers"] == {"s": {"bytes": [97, 98]}, "n": 10, "b": {"bytes": [1]}}
    assert (properties["timestamp"], properties["bodySize"], properties["deliveryMode"]) == ("Jan 1, 1970, 12:33:41 AM", 4, 2)
    assert rmq_event("arn", "q", "/", [message])["rmqMessagesByQueue"] == {"q::/": [message]}


def test_batches_are_cut_to_fit_the_6_mb_payload():
    from lambdabox.sources.broker_records import MAX_PAYLOAD_BYTES, within_payload

    pairs = [(number, {"data": "x" * (1024 * 1024)}) for number in range(14)]
    runs = list(within_payload(pairs))
    assert [item for run in runs for item, _ in run] == list(range(14))
    assert all(sum(len(str(record["data"])) for _, record in run) < MAX_PAYLOAD_BYTES for run in runs)
    assert [len(run) for run in runs] == [5, 5, 4]
    assert list(within_payload([])) == []
