"""Stream event sources (Amazon Kinesis, DynamoDB Streams), end to end: a real server reading moto's server.

The functions report every batch they get (failed attempts too) to a moto SQS queue (`results`),
so what they saw, and in which order, is observed outside the sandbox.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from support import ACCOUNT, REGION, Server, aws_error, free_port, lambda_role, make_zip

#: Functions reach moto on the host's loopback, which private networks (rightly) refuse.
HOST_NETWORK = ["--function-network", "host"]

#: Reports each batch to RESULTS; raises when a record's data (Kinesis) or item `kind` (DynamoDB) is "poison".
REPORTER = """
import base64, json, os, time, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name=os.environ["AWS_REGION"],
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    records = event["Records"]
    time.sleep(float(os.environ.get("SLEEP", "0")))
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(records))
    for record in records:
        if "kinesis" in record and base64.b64decode(record["kinesis"]["data"]) == b"poison":
            raise RuntimeError("poison record")
        if record.get("dynamodb", {}).get("NewImage", {}).get("kind", {}).get("S") == "poison":
            raise RuntimeError("poison item")
"""


@pytest.fixture(scope="module")
def moto():
    port = free_port()
    executable = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen([str(executable), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={"MOTO_ACCOUNT_ID": ACCOUNT, "PATH": "/usr/bin:/bin"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


def server_args(moto: str) -> list[str]:
    return ["--sqs-endpoint-url", moto, "--kinesis-endpoint-url", moto, "--dynamodb-endpoint-url", moto, *HOST_NETWORK]


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory, moto):
    running = Server(tmp_path_factory.mktemp("streams") / "data", extra_args=server_args(moto)).start()
    yield running
    running.stop()


def aws(moto: str, service: str):
    import boto3

    return boto3.client(service, endpoint_url=moto, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def sqs(moto):
    return aws(moto, "sqs")


@pytest.fixture
def kinesis(moto):
    return aws(moto, "kinesis")


@pytest.fixture
def lam(stream_server):
    return stream_server.client("lambda")


def stream_role(server: Server, name: str) -> str:
    """An execution role that may read streams and send to queues, as a stream mapping's role must."""
    arn = lambda_role(server, name)
    server.client("iam").put_role_policy(RoleName=name, PolicyName="streams", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kinesis:*", "dynamodb:*", "sqs:*"], "Resource": "*"}],
    }))
    return arn


def make_function(server: Server, moto: str, results: str, name: str, **variables: str) -> str:
    lam = server.client("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=stream_role(server, name + "-role"),
                        Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip({"app.py": REPORTER})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results, **variables}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    return name


def make_queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


@pytest.fixture
def results(sqs, unique):
    return make_queue(sqs, unique("results"))[0]


@pytest.fixture
def function(stream_server, moto, results, unique):
    return make_function(stream_server, moto, results, unique("worker"))


def make_stream(kinesis, name: str, shards: int = 1) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]


def batches(sqs, queue: str, until, timeout: float = 40) -> list:
    """The messages (JSON) that arrived on `queue`, in order, once `until(found)` holds."""
    found: list = []
    deadline = time.monotonic() + timeout
    while not until(found):
        assert time.monotonic() < deadline, f"gave up waiting; so far: {found}"
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return found


def data_of(batch: list[dict]) -> list[str]:
    return [base64.b64decode(record["kinesis"]["data"]).decode() for record in batch]


def delivered(found: list[list[dict]]) -> list[str]:
    return [value for batch in found for value in data_of(batch)]


# -- the API ---------------------------------------------------------------------------------------


def test_a_kinesis_mapping_has_aws_defaults(lam, kinesis, function, unique):
    arn = make_stream(kinesis, unique("defaults"))
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="LATEST")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    expected = {
        "BatchSize": 100, "MaximumBatchingWindowInSeconds": 0, "ParallelizationFactor": 1, "StartingPosition": "LATEST",
        "BisectBatchOnFunctionError": False, "MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": -1,
        "TumblingWindowInSeconds": 0, "DestinationConfig": {"OnFailure": {}}, "FunctionResponseTypes": [],
        "LastProcessingResult": "No records processed", "StateTransitionReason": "User action", "State": "Creating",
        "EventSourceArn": arn,
    }
    assert {key: created[key] for key in expected} == expected
    assert "ScalingConfig" not in created and "Queues" not in created
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    assert got["State"] == "Enabled" and got["StartingPosition"] == "LATEST"
    updated = lam.update_event_source_mapping(UUID=created["UUID"], BatchSize=500, ParallelizationFactor=4,
                                              MaximumRetryAttempts=3, MaximumRecordAgeInSeconds=60,
                                              BisectBatchOnFunctionError=True, Enabled=False)
    assert updated["State"] == "Updating"
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    assert (got["BatchSize"], got["ParallelizationFactor"], got["MaximumRetryAttempts"], got["MaximumRecordAgeInSeconds"],
            got["BisectBatchOnFunctionError"], got["State"]) == (500, 4, 3, 60, True, "Disabled")
    status, code, message = aws_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=function,
                                      StartingPosition="LATEST")
    assert (status, code) == (409, "ResourceConflictException")
    assert message == (f'The event source arn (" {arn} ") and function (" {function} ") provided mapping already exists. '
                       f"Please update or delete the existing mapping with UUID {created['UUID']}")
    lam.delete_event_source_mapping(UUID=created["UUID"])


def test_stream_settings_are_checked_with_aws_messages(lam, kinesis, function, unique):
    arn = make_stream(kinesis, unique("checked"))
    table_stream = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/some-table/stream/2024-01-01T00:00:00.000"
    cases = [
        (dict(EventSourceArn=arn), 400, "InvalidParameterValueException",
         "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null."),
        (dict(EventSourceArn=table_stream, StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1700000000), 400,
         "InvalidParameterValueException", f"Unsupported starting position for arn type: {table_stream}"),
        (dict(EventSourceArn=arn, StartingPosition="LATEST", MaximumRecordAgeInSeconds=30), 400,
         "InvalidParameterValueException", None),
        (dict(EventSourceArn=arn, StartingPosition="LATEST", ParallelizationFactor=11), 400, "ValidationException", None),
        (dict(EventSourceArn=arn, StartingPosition="LATEST", BatchSize=10_001), 400, "ValidationException", None),
        (dict(EventSourceArn=arn, StartingPosition="LATEST", ScalingConfig={"MaximumConcurrency": 5}), 400,
         "InvalidParameterValueException", "Unsupported ScalingConfig parameter for given event source mapping type."),
        (dict(EventSourceArn=arn, StartingPosition="LATEST",
              DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::bucket"}}), 400, None, None),
    ]
    for arguments, status, code, message in cases:
        got = aws_error(lam.create_event_source_mapping, FunctionName=function, **arguments)
        assert got[0] == status, (arguments, got)
        if code is not None:
            assert got[1] == code, (arguments, got)
        if message is not None:
            assert got[2] == message, (arguments, got)
    assert lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"] == []
    for missing in (arn + "-gone", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/no-table/stream/2024-01-01T00:00:00.000"):
        assert aws_error(lam.create_event_source_mapping, FunctionName=function, EventSourceArn=missing,
                         StartingPosition="LATEST") == (400, "InvalidParameterValueException", f"Stream not found: {missing}")


def test_a_tenant_cannot_map_a_stream_it_is_not_granted(stream_server, lam, kinesis, function, unique):
    arn = make_stream(kinesis, unique("guarded"))
    message = (f"Cannot access stream {{}}. Please ensure the role can perform the GetRecords, GetShardIterator, "
               "DescribeStream, and ListStreams Actions on your stream in IAM.")
    # Another account's stream: the server would read it with its own credentials.
    foreign = arn.replace(f":{ACCOUNT}:", ":999999999999:")
    assert aws_error(lam.create_event_source_mapping, EventSourceArn=foreign, FunctionName=function,
                     StartingPosition="LATEST") == (400, "InvalidParameterValueException", message.format(foreign))
    # A role without stream permissions.
    bare = unique("bare")
    lam.create_function(FunctionName=bare, Runtime="python3.12", Role=lambda_role(stream_server, bare + "-role"),
                        Handler="app.handler", Code={"ZipFile": make_zip()})
    assert aws_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=bare,
                     StartingPosition="LATEST") == (400, "InvalidParameterValueException", message.format(arn))
    # An OnFailure destination in another account.
    other_queue = f"arn:aws:sqs:{REGION}:999999999999:theirs"
    status, code, _ = aws_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=function,
                                StartingPosition="LATEST", DestinationConfig={"OnFailure": {"Destination": other_queue}})
    assert (status, code) == (400, "InvalidParameterValueException")
    assert lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"] == []


# -- Kinesis ---------------------------------------------------------------------------------------


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


# -- DynamoDB Streams --------------------------------------------------------------------------------


def test_dynamodb_stream_records_have_aws_shape_and_filters_apply(lam, sqs, moto, function, results, unique):
    dynamodb = aws(moto, "dynamodb")
    table = unique("table")
    described = dynamodb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    arn = described["LatestStreamArn"]
    created = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON",
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"dynamodb": {"NewImage": {"kind": {"S": ["keep"]}}}})}]},
    )
    assert created["StartingPosition"] == "TRIM_HORIZON" and created["BatchSize"] == 100
    for number, kind in enumerate(("drop", "keep", "drop", "keep")):
        dynamodb.put_item(TableName=table, Item={"id": {"S": f"item-{number}"}, "kind": {"S": kind},
                                                 "blob": {"B": b"\x00\x01"}})
    found = batches(sqs, results, lambda found: sum(len(batch) for batch in found) >= 2)
    records = [record for batch in found for record in batch]
    assert [record["dynamodb"]["Keys"]["id"]["S"] for record in records] == ["item-1", "item-3"]
    first = records[0]
    assert list(first) == ["eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb", "eventSourceARN"]
    assert (first["eventName"], first["eventSource"], first["awsRegion"], first["eventSourceARN"]) == (
        "INSERT", "aws:dynamodb", REGION, arn)
    block = first["dynamodb"]
    assert block["Keys"] == {"id": {"S": "item-1"}}
    assert block["NewImage"] == {"id": {"S": "item-1"}, "kind": {"S": "keep"}, "blob": {"B": "AAE="}}
    assert block["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(block["ApproximateCreationDateTime"], (int, float)) and block["SequenceNumber"]
    assert isinstance(block["SizeBytes"], int)


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


def test_a_dynamodb_batch_that_keeps_failing_goes_to_the_on_failure_queue(lam, sqs, moto, function, results, unique):
    dynamodb = aws(moto, "dynamodb")
    table = unique("failing")
    arn = dynamodb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    failures_url, failures_arn = make_queue(sqs, unique("failures"))
    dynamodb.put_item(TableName=table, Item={"id": {"S": "bad"}, "kind": {"S": "poison"}})
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON",
                                    MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": failures_arn}})
    record = batches(sqs, failures_url, lambda found: len(found) >= 1)[0]
    assert set(record) == {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
    assert record["requestContext"]["approximateInvokeCount"] == 2
    info = record["DDBStreamBatchInfo"]
    assert (info["batchSize"], info["streamArn"], info["startSequenceNumber"] == info["endSequenceNumber"]) == (1, arn, True)
    assert time.strptime(info["approximateArrivalOfFirstRecord"], "%Y-%m-%dT%H:%M:%SZ")
    dynamodb.put_item(TableName=table, Item={"id": {"S": "good"}, "kind": {"S": "fine"}})
    found = batches(sqs, results, lambda found: any(r["dynamodb"]["Keys"]["id"]["S"] == "good" for b in found for r in b))
    assert [[r["dynamodb"]["Keys"]["id"]["S"] for r in batch] for batch in found] == [["bad"], ["bad"], ["good"]]


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


#: Counts records in the tumbling window's state; reports each invocation (window fields, state, records) to RESULTS.
COUNTER = """
import base64, json, os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name=os.environ["AWS_REGION"],
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    seen = {key: event[key] for key in ("window", "state", "shardId", "eventSourceARN", "isFinalInvokeForWindow",
                                        "isWindowTerminatedEarly")}
    seen["data"] = [base64.b64decode(record["kinesis"]["data"]).decode() for record in event["Records"]]
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(seen))
    return {"state": {"count": event["state"].get("count", 0) + len(event["Records"])}}
"""


def test_tumbling_windows_pass_state_between_invocations(stream_server, lam, sqs, kinesis, moto, results, unique):
    name = unique("windowed")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=stream_role(stream_server, name + "-role"),
                        Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip({"app.py": COUNTER})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    arn = make_stream(kinesis, unique("windowed"))
    sent = [f"w{number}" for number in range(10)]
    for value in sent:
        kinesis.put_record(StreamARN=arn, Data=value.encode(), PartitionKey="k")
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON",
                                              BatchSize=3, TumblingWindowInSeconds=5)
    assert created["TumblingWindowInSeconds"] == 5
    invoked = batches(sqs, results, lambda found: sum(len(seen["data"]) for seen in found) >= 10
                      and found[-1]["isFinalInvokeForWindow"], timeout=60)
    assert [value for seen in invoked for value in seen["data"]] == sent
    finals = [seen for seen in invoked if seen["isFinalInvokeForWindow"]]
    assert sum(seen["state"]["count"] for seen in finals) == 10 and all(seen["data"] == [] for seen in finals)
    count = 0
    for seen in invoked:
        assert seen["shardId"] == "shardId-000000000000" and seen["eventSourceARN"] == arn
        assert seen["isWindowTerminatedEarly"] is False
        start = time.mktime(time.strptime(seen["window"]["start"], "%Y-%m-%dT%H:%M:%SZ"))
        end = time.mktime(time.strptime(seen["window"]["end"], "%Y-%m-%dT%H:%M:%SZ"))
        assert end - start == 5 and start % 5 == 0
        assert seen["state"].get("count", 0) == count  # The state the last invocation of the window answered.
        count = 0 if seen["isFinalInvokeForWindow"] else count + len(seen["data"])


def test_a_windowed_function_that_answers_no_state_failed(lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("stateless"))
    failures_url, failures_arn = make_queue(sqs, unique("failures"))
    kinesis.put_record(StreamARN=arn, Data=b"one", PartitionKey="k")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON",
                                    TumblingWindowInSeconds=30, MaximumRetryAttempts=1,
                                    DestinationConfig={"OnFailure": {"Destination": failures_arn}})
    record = batches(sqs, failures_url, lambda found: len(found) >= 1)[0]
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert "functionError" not in record["responseContext"]
