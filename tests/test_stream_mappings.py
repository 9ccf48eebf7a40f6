"""Stream event source mappings (Kinesis, DynamoDB Streams) through the API: AWS's defaults, checks and messages,
and what a tenant may map.
"""

from __future__ import annotations

from support import ACCOUNT, REGION, aws_error, lambda_role, make_zip
from stream_peers import (  # noqa: F401 (fixtures are found by name)
    moto, stream_server, sqs, kinesis, lam, results, function,
    aws, make_stream,
)


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
              DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::bucket"}}), 400, "InvalidParameterValueException",
         "Lambdabox does not support Amazon S3 OnFailure destinations yet."),
        (dict(EventSourceArn=arn, StartingPosition="LATEST",
              DestinationConfig={"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:f"}}), 400,
         "InvalidParameterValueException", None),
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
    # Nor by an Update: a refused one changes nothing.
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="LATEST")
    status, code, _ = aws_error(lam.update_event_source_mapping, UUID=mapping["UUID"], BatchSize=7,
                                DestinationConfig={"OnFailure": {"Destination": other_queue}})
    assert (status, code) == (400, "InvalidParameterValueException")
    status, code, _ = aws_error(lam.update_event_source_mapping, UUID=mapping["UUID"], FunctionName=bare)
    assert (status, code) == (400, "InvalidParameterValueException")
    kept = lam.get_event_source_mapping(UUID=mapping["UUID"])
    assert (kept["BatchSize"], kept["DestinationConfig"], kept["FunctionArn"]) == (100, {"OnFailure": {}}, mapping["FunctionArn"])
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
