"""The stream poller, end to end with Kinesis in moto: order, retries, bisection, OnFailure records,
ReportBatchItemFailures, filters, ParallelizationFactor, record age, and checkpoints across restarts and kill -9.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from pathlib import Path

import pytest

from support import REGION, Server, aws_error, make_zip
from stream_peers import (  # noqa: F401 (fixtures are found by name)
    moto, stream_server, sqs, kinesis, lam, results, function,
    REPORTER, server_args, aws, stream_role, make_function, make_queue, make_stream, batches, data_of, delivered,
)


def test_kinesis_records_arrive_in_order_with_aws_shape(lam, sqs, kinesis, function, results, unique, stream_server):
    arn = make_stream(kinesis, unique("ordered"))
    sent = [f"record-{number}" for number in range(30)]
    sequences = [kinesis.put_record(StreamARN=arn, Data=value.encode(), PartitionKey=f"key-{number % 3}")["SequenceNumber"]
                 for number, value in enumerate(sent)]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON",
                                    BatchSize=7)
    found = batches(sqs, results, lambda found: len(delivered(found)) >= 30)
    assert delivered(found) == sent
    assert all(len(batch) <= 7 for batch in found)
    first = found[0][0]
    role = lam.get_function_configuration(FunctionName=function)["Role"]
    assert first == {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "key-0", "sequenceNumber": sequences[0],
                    "data": base64.b64encode(b"record-0").decode(),
                    "approximateArrivalTimestamp": first["kinesis"]["approximateArrivalTimestamp"]},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-000000000000:{sequences[0]}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": role, "awsRegion": REGION, "eventSourceARN": arn,
    }
    assert abs(first["kinesis"]["approximateArrivalTimestamp"] - time.time()) < 120


def test_bisect_isolates_the_poison_record_of_a_batch_of_100(lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("bisect"))
    failures_url, failures_arn = make_queue(sqs, unique("failures"))
    sent = ["poison" if number == 37 else f"good-{number}" for number in range(100)]
    for value in sent:
        kinesis.put_record(StreamARN=arn, Data=value.encode(), PartitionKey="one")
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON", BatchSize=100,
        MaximumBatchingWindowInSeconds=1, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    record = batches(sqs, failures_url, lambda found: len(found) >= 1)[0]
    found = batches(sqs, results, lambda found: any(data_of(batch) == ["good-99"] or data_of(batch)[-1:] == ["good-99"]
                                                     for batch in found if "poison" not in data_of(batch)))
    succeeded = [value for batch in found if "poison" not in data_of(batch) for value in data_of(batch)]
    assert succeeded == [value for value in sent if value != "poison"]  # Each good record once, in order.
    info = record["KinesisBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_retries_end_and_the_on_failure_queue_gets_aws_record(lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("retried"))
    failures_url, failures_arn = make_queue(sqs, unique("failures"))
    sequences = [kinesis.put_record(StreamARN=arn, Data=value, PartitionKey="k")["SequenceNumber"]
                 for value in (b"first", b"poison", b"third")]
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON", BatchSize=3,
        MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    record = batches(sqs, failures_url, lambda found: len(found) >= 1)[0]
    assert set(record) == {"requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"}
    request_context = record["requestContext"]
    assert set(request_context) == {"requestId", "functionArn", "condition", "approximateInvokeCount"}
    assert (request_context["functionArn"], request_context["condition"], request_context["approximateInvokeCount"]) == (
        mapping["FunctionArn"], "RetryAttemptsExhausted", 3)
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["version"] == "1.0"
    assert time.strptime(record["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    info = record["KinesisBatchInfo"]
    assert {key: info[key] for key in ("shardId", "startSequenceNumber", "endSequenceNumber", "batchSize", "streamArn")} == {
        "shardId": "shardId-000000000000", "startSequenceNumber": sequences[0], "endSequenceNumber": sequences[2],
        "batchSize": 3, "streamArn": arn,
    }
    assert time.strptime(info["approximateArrivalOfFirstRecord"], "%Y-%m-%dT%H:%M:%S.%fZ")
    # Three attempts at the batch, in order; then the shard moves on.
    kinesis.put_record(StreamARN=arn, Data=b"after", PartitionKey="k")
    found = batches(sqs, results, lambda found: ["after"] in [data_of(batch) for batch in found])
    assert [data_of(batch) for batch in found] == [["first", "poison", "third"]] * 3 + [["after"]]


def test_report_batch_item_failures_retries_from_the_lowest_reported_record(
        stream_server, lam, sqs, kinesis, moto, results, unique):
    name = unique("partial")
    code = REPORTER + """
seen = set()
_report = handler
def handler(event, context):
    _report(event, context)
    for record in event["Records"]:
        if base64.b64decode(record["kinesis"]["data"]) == b"flaky" and "flaky" not in seen:
            seen.add("flaky")
            return {"batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]}]}
    return {"batchItemFailures": []}
"""
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=stream_role(stream_server, name + "-role"),
                        Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip({"app.py": code})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    arn = make_stream(kinesis, unique("partial"))
    for value in (b"a", b"b", b"flaky", b"d"):
        kinesis.put_record(StreamARN=arn, Data=value, PartitionKey="k")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON", BatchSize=4,
                                    MaximumBatchingWindowInSeconds=1, FunctionResponseTypes=["ReportBatchItemFailures"])
    found = batches(sqs, results, lambda found: len(found) >= 2)
    assert [data_of(batch) for batch in found] == [["a", "b", "flaky", "d"], ["flaky", "d"]]


def test_a_filter_on_data_drops_records_that_do_not_match(lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("filtered"))
    for kind in ("drop", "keep", "drop", "keep"):
        kinesis.put_record(StreamARN=arn, Data=json.dumps({"kind": kind}).encode(), PartitionKey="k")
    kinesis.put_record(StreamARN=arn, Data=b"not json", PartitionKey="k")
    kinesis.put_record(StreamARN=arn, Data=json.dumps({"kind": "keep", "last": True}).encode(), PartitionKey="k")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON",
                                    FilterCriteria={"Filters": [{"Pattern": json.dumps({"data": {"kind": ["keep"]}})}]})
    found = batches(sqs, results, lambda found: any('"last"' in value for value in delivered(found)))
    assert [json.loads(value)["kind"] for value in delivered(found)] == ["keep", "keep", "keep"]


def test_a_restarted_server_resumes_from_the_checkpoint(tmp_path, moto, sqs, kinesis, results, unique):
    arn = make_stream(kinesis, unique("resumed"))
    first = Server(tmp_path / "data", extra_args=server_args(moto)).start()
    try:
        lam = first.client("lambda")
        make_function(first, moto, results, "kept")
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="kept", StartingPosition="LATEST")
        time.sleep(2)  # The shard is first read from LATEST.
        for number in range(5):
            kinesis.put_record(StreamARN=arn, Data=f"before-{number}".encode(), PartitionKey="k")
        assert delivered(batches(sqs, results, lambda found: len(delivered(found)) >= 5)) == [f"before-{n}" for n in range(5)]
        time.sleep(1)  # The checkpoint is written after the batch settles.
    finally:
        first.stop()
    for number in range(5):
        kinesis.put_record(StreamARN=arn, Data=f"down-{number}".encode(), PartitionKey="k")
    second = Server(tmp_path / "data", port=first.port, extra_args=server_args(moto)).start()
    try:
        for number in range(5):
            kinesis.put_record(StreamARN=arn, Data=f"after-{number}".encode(), PartitionKey="k")
        found = batches(sqs, results, lambda found: len(delivered(found)) >= 10)
        assert delivered(found) == [f"down-{n}" for n in range(5)] + [f"after-{n}" for n in range(5)]
    finally:
        second.stop()


def test_parallelization_keeps_the_order_of_each_partition_key(lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("parallel"))
    sent = [(f"key-{number % 4}", f"{number % 4}:{number}") for number in range(80)]
    for key, value in sent:
        kinesis.put_record(StreamARN=arn, Data=value.encode(), PartitionKey=key)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON",
                                    BatchSize=40, ParallelizationFactor=4)
    found = batches(sqs, results, lambda found: len(delivered(found)) >= 80)
    values = delivered(found)
    assert sorted(values) == sorted(value for _, value in sent)  # Each once.
    for key in range(4):
        mine = [value for value in values if value.startswith(f"{key}:")]
        assert mine == [value for _, value in sent if value.startswith(f"{key}:")]
    # Batches were split by key into lanes: no batch holds every key.
    assert all(len({value.split(":")[0] for value in data_of(batch)}) < 4 for batch in found)


def test_deleting_a_mapping_deletes_its_checkpoints_and_bad_filters_are_refused(
        stream_server, lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("forgotten"))
    for pattern in ('{"data": "plain"}', "not json", json.dumps({"dynamodb": {"Keys": 5}})):
        assert aws_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=function,
                         StartingPosition="TRIM_HORIZON", FilterCriteria={"Filters": [{"Pattern": pattern}]}) == (
            400, "InvalidParameterValueException", "Invalid filter pattern definition.")
    kinesis.put_record(StreamARN=arn, Data=b"once", PartitionKey="k")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON")
    assert delivered(batches(sqs, results, lambda found: len(found) >= 1)) == ["once"]
    time.sleep(1)
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    time.sleep(1)
    # A new mapping of the same stream starts from its own starting position, not the old checkpoint.
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON")
    assert delivered(batches(sqs, results, lambda found: len(found) >= 1)) == ["once"]
    # The old mapping's checkpoint is gone from the store; the new one's is there.
    import sqlite3

    checkpoints = []
    for database in Path(stream_server.data_dir).rglob("*"):
        if database.is_file() and database.open("rb").read(15) == b"SQLite format 3":
            with sqlite3.connect(database) as connection:
                if connection.execute("select 1 from sqlite_master where name='records'").fetchone():
                    checkpoints += [row[0] for row in connection.execute("select key from records where kind='esm-checkpoint'")]
    assert checkpoints and not any(key.startswith(mapping["UUID"]) for key in checkpoints)


def test_records_older_than_the_maximum_age_go_to_the_on_failure_queue_uninvoked(
        lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("aged"))
    failures_url, failures_arn = make_queue(sqs, unique("failures"))
    old = kinesis.put_record(StreamARN=arn, Data=b"old", PartitionKey="k")["SequenceNumber"]
    time.sleep(61)
    kinesis.put_record(StreamARN=arn, Data=b"fresh", PartitionKey="k")
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON", BatchSize=1,
        MaximumRecordAgeInSeconds=60, DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    record = batches(sqs, failures_url, lambda found: len(found) >= 1)[0]
    assert set(record) == {"requestContext", "version", "timestamp", "KinesisBatchInfo"}
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["KinesisBatchInfo"]["startSequenceNumber"] == old
    assert [data_of(batch) for batch in batches(sqs, results, lambda found: len(found) >= 1)] == [["fresh"]]


def test_a_kill_9_repeats_at_most_the_batch_in_flight(tmp_path, moto, sqs, kinesis, results, unique):
    arn = make_stream(kinesis, unique("killed"))
    sent = [f"r{number:03d}" for number in range(300)]
    for start in range(0, len(sent), 100):
        kinesis.put_records(StreamARN=arn, Records=[{"Data": value.encode(), "PartitionKey": "k"} for value in sent[start:start + 100]])
    server = Server(tmp_path / "data", extra_args=server_args(moto)).start()
    try:
        lam = server.client("lambda")
        make_function(server, moto, results, "steady", SLEEP="0.05")
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="steady", StartingPosition="TRIM_HORIZON",
                                        BatchSize=10)
        found = batches(sqs, results, lambda found: len(delivered(found)) >= 80)
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait()
        server.process = None
        server = Server(tmp_path / "data", port=server.port, extra_args=server_args(moto)).start()
        found = batches(sqs, results, lambda more: len(set(delivered(found + more))) >= 300, timeout=90) + found
    finally:
        server.stop()
    values = delivered(found)
    assert set(values) == set(sent)  # None lost.
    repeated = sorted(value for value in set(values) if values.count(value) > 1)
    assert len(repeated) <= 10 and all(values.count(value) == 2 for value in repeated), repeated


@pytest.mark.parametrize("answer", [
    '"not an object"', '{"batchItemFailures": [{"itemIdentifier": "12345"}]}',
    '{"batchItemFailures": [{"itemIdentifier": ""}]}', '{"batchItemFailures": "all"}',
])
def test_a_malformed_failure_report_fails_the_whole_batch(stream_server, lam, sqs, kinesis, moto, unique, answer):
    """A hostile function names records not in the batch or answers nonsense: the whole batch is retried, nothing skipped."""
    results = make_queue(sqs, unique("results"))[0]
    name = unique("liar")
    code = REPORTER + f"""
_report = handler
def handler(event, context):
    _report(event, context)
    return json.loads('{answer}')
"""
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=stream_role(stream_server, name + "-role"),
                        Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip({"app.py": code})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    arn = make_stream(kinesis, unique("lied"))
    for value in (b"a", b"b"):
        kinesis.put_record(StreamARN=arn, Data=value, PartitionKey="k")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON", BatchSize=2,
                                    MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=1,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])
    found = batches(sqs, results, lambda found: len(found) >= 2)
    assert [data_of(batch) for batch in found] == [["a", "b"], ["a", "b"]]


def test_the_on_failure_record_names_the_version_an_alias_ran(lam, sqs, kinesis, function, unique):
    version = lam.publish_version(FunctionName=function)["Version"]
    lam.create_alias(FunctionName=function, Name="live", FunctionVersion=version)
    arn = make_stream(kinesis, unique("aliased"))
    failures_url, failures_arn = make_queue(sqs, unique("failures"))
    kinesis.put_record(StreamARN=arn, Data=b"poison", PartitionKey="k")
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=f"{function}:live", StartingPosition="TRIM_HORIZON", MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    record = batches(sqs, failures_url, lambda found: len(found) >= 1)[0]
    assert record["requestContext"]["functionArn"] == mapping["FunctionArn"] and mapping["FunctionArn"].endswith(":live")
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": version, "functionError": "Unhandled"}


def test_a_split_stream_is_read_to_the_end_of_its_closed_parent(stream_server, lam, sqs, kinesis, moto, unique):
    """The parent shard, closed by the split, is read to its last sequence number and its children are read after
    it. (moto's server still routes records to the parent after a split, so the children's order cannot be shown.)"""
    results = make_queue(sqs, unique("results"))[0]
    name = make_function(stream_server, moto, results, unique("resharded"), SLEEP="0.2")
    arn = make_stream(kinesis, unique("resharded"))
    for number in range(15):
        kinesis.put_record(StreamARN=arn, Data=f"parent-{number}".encode(), PartitionKey="k")
    kinesis.split_shard(StreamARN=arn, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2 ** 127))
    for number in range(5):
        kinesis.put_record(StreamARN=arn, Data=f"child-{number}".encode(), PartitionKey="k")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON", BatchSize=1)
    found = batches(sqs, results, lambda found: len(delivered(found)) >= 20)
    assert delivered(found) == [f"parent-{n}" for n in range(15)] + [f"child-{n}" for n in range(5)]


def test_a_batch_that_would_pass_6_mb_is_cut(stream_server, lam, sqs, kinesis, moto, unique):
    """Eight records of 900 KB (1.2 MB each in base64) fit no single invocation: they come in batches under 6 MiB, in order."""
    results = make_queue(sqs, unique("results"))[0]
    name = unique("large")
    code = """
import base64, json, os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name=os.environ["AWS_REGION"],
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    sizes = [base64.b64decode(record["kinesis"]["data"])[:1].decode() for record in event["Records"]]
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(sizes))
"""
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=stream_role(stream_server, name + "-role"),
                        Handler="app.handler", Timeout=10, MemorySize=512, Code={"ZipFile": make_zip({"app.py": code})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    arn = make_stream(kinesis, unique("large"))
    for number in range(8):
        kinesis.put_record(StreamARN=arn, Data=str(number).encode() * 900_000, PartitionKey="k")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON",
                                    BatchSize=10, MaximumBatchingWindowInSeconds=1)
    found = batches(sqs, results, lambda found: sum(len(batch) for batch in found) >= 8, timeout=60)
    assert [value for batch in found for value in batch] == [str(number) for number in range(8)]
    assert len(found) >= 2 and all(len(batch) <= 5 for batch in found)  # 5 × 1.2 MB is under 6 MiB; 6 is not.


def test_a_disabled_mapping_resumes_from_its_checkpoint_when_enabled(lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("paused"))
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON")
    kinesis.put_record(StreamARN=arn, Data=b"first", PartitionKey="k")
    assert delivered(batches(sqs, results, lambda found: len(found) >= 1)) == ["first"]
    time.sleep(1)  # The checkpoint is written after the batch settles.
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    time.sleep(1)
    kinesis.put_record(StreamARN=arn, Data=b"while-disabled", PartitionKey="k")
    time.sleep(2)
    assert delivered(batches(sqs, results, lambda found: True)) == []
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    kinesis.put_record(StreamARN=arn, Data=b"after", PartitionKey="k")
    found = batches(sqs, results, lambda found: len(delivered(found)) >= 2)
    assert delivered(found) == ["while-disabled", "after"]


def test_at_timestamp_starts_at_the_given_time(lam, sqs, kinesis, function, results, unique):
    import datetime

    arn = make_stream(kinesis, unique("timed"))
    kinesis.put_record(StreamARN=arn, Data=b"before", PartitionKey="k")
    time.sleep(1.5)
    since = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.5)
    kinesis.put_record(StreamARN=arn, Data=b"since", PartitionKey="k")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="AT_TIMESTAMP",
                                              StartingPositionTimestamp=since)
    assert abs(mapping["StartingPositionTimestamp"].timestamp() - since.timestamp()) < 1
    assert delivered(batches(sqs, results, lambda found: len(found) >= 1)) == ["since"]


def test_an_sns_on_failure_destination_gets_the_record(lam, sqs, kinesis, moto, function, unique):
    sns = aws(moto, "sns")
    topic = sns.create_topic(Name=unique("failures"))["TopicArn"]
    inbox_url, inbox_arn = make_queue(sqs, unique("inbox"))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    arn = make_stream(kinesis, unique("to-sns"))
    kinesis.put_record(StreamARN=arn, Data=b"poison", PartitionKey="k")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON",
                                    MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": topic}})
    record = batches(sqs, inbox_url, lambda found: len(found) >= 1)[0]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["KinesisBatchInfo"]["batchSize"] == 1 and record["KinesisBatchInfo"]["streamArn"] == arn


def test_counts_and_iterator_age_match_what_the_function_did(stream_server, lam, sqs, kinesis, moto, results, unique):
    name = make_function(stream_server, moto, results, unique("counted"), SLEEP="2")
    arn = make_stream(kinesis, unique("counted"))
    for value in [f"good-{number}" for number in range(10)] + ["poison"]:
        kinesis.put_record(StreamARN=arn, Data=value.encode(), PartitionKey="k")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON",
                                              BatchSize=100, MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=1)

    def shown() -> dict:
        return stream_server.get_json("/_lambdabox/event-source-mappings")["EventSourceMappings"].get(mapping["UUID"], {})

    # The records read wait (each invocation takes 2 s): their age shows as the iterator age.
    deadline = time.monotonic() + 30
    while (shown().get("LagMillis") or 0) < 1000:
        assert time.monotonic() < deadline, shown()
        time.sleep(0.2)
    # The batch fails twice (MaximumRetryAttempts 1), then the shard moves on.
    found = batches(sqs, results, lambda found: len(found) >= 2, timeout=60)
    kinesis.put_record(StreamARN=arn, Data=b"after", PartitionKey="k")
    found += batches(sqs, results, lambda more: "after" in delivered(more), timeout=60)
    processed = sum(len(batch) for batch in found if "poison" not in data_of(batch))
    failed = sum(len(batch) for batch in found if "poison" in data_of(batch))
    assert failed >= 2 and processed >= 1, [data_of(batch) for batch in found]
    deadline = time.monotonic() + 30
    while (shown().get("RecordsProcessed"), shown().get("RecordsFailed"), shown().get("LagMillis")) != (processed, failed, 0):
        assert time.monotonic() < deadline, (shown(), processed, failed)
        time.sleep(0.2)
