"""DynamoDB Streams as an event source, end to end with moto: the record shape, filters on `dynamodb`, and
OnFailure records with DDBStreamBatchInfo.
"""

from __future__ import annotations

import json
import time

from support import REGION
from stream_peers import (  # noqa: F401 (fixtures are found by name)
    moto, stream_server, sqs, kinesis, lam, results, function,
    aws, make_queue, batches,
)


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
