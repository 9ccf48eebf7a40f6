"""The event source mapping API: shapes, defaults, validation, errors, tags, listing, restart.

AWS's messages and shapes are those recorded from real AWS (LocalStack's snapshot of
TestLambdaEventSourceMappings and TestLambdaTag[event_source_mapping]). The queues named here
need not exist: the API does not reach SQS (tests/test_sqs_source.py does).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from botocore.config import Config

from support import ACCOUNT, REGION, Server, aws_error, lambda_role, make_zip

#: What an SQS mapping's execution role needs, as on AWS.
SQS_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], "Resource": "*",
}]})
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NOT_FOUND = "The resource you requested does not exist."


def queue(unique, suffix: str = "") -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{unique('q')}{suffix}"


def settled(lam, mapping_uuid: str) -> dict:
    """The mapping once it left Creating/Updating."""
    deadline = time.monotonic() + 10
    while True:
        got = lam.get_event_source_mapping(UUID=mapping_uuid)
        if got["State"] not in ("Creating", "Updating", "Enabling", "Disabling"):
            return got
        assert time.monotonic() < deadline
        time.sleep(0.05)


def may_read_queues(iam, role_arn: str, policy: str = SQS_POLICY) -> None:
    iam.put_role_policy(RoleName=role_arn.rsplit("/", 1)[-1], PolicyName="sqs", PolicyDocument=policy)


@pytest.fixture
def function(create_function, iam, role) -> str:
    """A function whose role may read queues (every function create_function makes in this test shares it)."""
    may_read_queues(iam, role)
    return create_function()["FunctionName"]


def test_create_answers_202_with_aws_shape_and_defaults(lam, function, unique):
    source = queue(unique)
    created = lam.create_event_source_mapping(EventSourceArn=source, FunctionName=function, Enabled=False)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    mapping_uuid = created["UUID"]
    assert UUID.match(mapping_uuid)
    shown = {key: value for key, value in created.items() if key not in ("ResponseMetadata", "LastModified")}
    assert shown == {
        "UUID": mapping_uuid,
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "EventSourceArn": source,
        "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}",
        "State": "Creating",
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{mapping_uuid}",
    }
    assert abs(created["LastModified"].timestamp() - time.time()) < 60
    got = settled(lam, mapping_uuid)
    assert got["State"] == "Disabled"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_settings_are_kept_and_shown(lam, function, unique):
    criteria = {"Filters": [{"Pattern": '{"body": {"kind": ["a"]}}'}]}
    created = lam.create_event_source_mapping(
        EventSourceArn=queue(unique), FunctionName=function, Enabled=False, BatchSize=500,
        MaximumBatchingWindowInSeconds=30, FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": 5}, FilterCriteria=criteria,
    )
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    assert got["BatchSize"] == 500 and got["MaximumBatchingWindowInSeconds"] == 30
    assert got["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert got["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert got["FilterCriteria"] == criteria


def test_function_name_variations_give_the_function_arn_as_named(lam, function, unique):
    version = lam.publish_version(FunctionName=function)["Version"]
    lam.create_alias(FunctionName=function, Name="live", FunctionVersion=version)
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    for named, expected in [
        (f"{ACCOUNT}:function:{function}:$LATEST", f"{base}:$LATEST"),
        (f"{function}:{version}", f"{base}:{version}"),
        (f"{base}:live", f"{base}:live"),
        (base, base),
    ]:
        created = lam.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=named, Enabled=False)
        assert created["FunctionArn"] == expected


def test_errors_are_aws_errors(lam, raw_lam, function, unique):
    missing = "00000000-0000-0000-0000-000000000000"
    assert aws_error(lam.get_event_source_mapping, UUID=missing) == (404, "ResourceNotFoundException", NOT_FOUND)
    assert aws_error(lam.delete_event_source_mapping, UUID=missing) == (404, "ResourceNotFoundException", NOT_FOUND)
    assert aws_error(lam.update_event_source_mapping, UUID=missing, BatchSize=2) == (
        404, "ResourceNotFoundException", NOT_FOUND
    )
    assert aws_error(lam.create_event_source_mapping, FunctionName=function) == (
        400, "InvalidParameterValueException", "Unrecognized event source."
    )
    assert aws_error(lam.create_event_source_mapping, FunctionName="doesnotexist", EventSourceArn=queue(unique)) == (
        400, "InvalidParameterValueException", "Function does not exist"
    )
    assert aws_error(lam.create_event_source_mapping, FunctionName=f"{function}:9", EventSourceArn=queue(unique)) == (
        400, "InvalidParameterValueException", "Function does not exist"
    )
    assert aws_error(
        lam.create_event_source_mapping, FunctionName=function, EventSourceArn=queue(unique),
        DestinationConfig={"OnFailure": {"Destination": queue(unique)}},
    ) == (400, "InvalidParameterValueException", "Unsupported DestinationConfig parameter for given event source mapping type.")
    source = queue(unique)
    assert aws_error(
        lam.create_event_source_mapping, FunctionName=function, EventSourceArn=source, StartingPosition="LATEST"
    ) == (400, "InvalidParameterValueException", f"Unsupported starting position for arn type: {source}")
    assert aws_error(lam.create_event_source_mapping, FunctionName=function, EventSourceArn=source, BatchSize=11) == (
        400, "InvalidParameterValueException",
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
    )
    status, code, _ = aws_error(
        raw_lam.create_event_source_mapping, FunctionName=function, EventSourceArn=source, BatchSize=10001,
        MaximumBatchingWindowInSeconds=1,
    )
    assert (status, code) == (400, "ValidationException")
    status, code, _ = aws_error(
        raw_lam.create_event_source_mapping, FunctionName=function, EventSourceArn=source, ScalingConfig={"MaximumConcurrency": 1}
    )
    assert (status, code) == (400, "ValidationException")
    status, code, _ = aws_error(
        raw_lam.create_event_source_mapping, FunctionName=function, EventSourceArn=source, MaximumBatchingWindowInSeconds=301
    )
    assert (status, code) == (400, "ValidationException")
    fifo = queue(unique, ".fifo")
    status, code, _ = aws_error(
        lam.create_event_source_mapping, FunctionName=function, EventSourceArn=fifo, BatchSize=20, MaximumBatchingWindowInSeconds=1
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    status, code, message = aws_error(
        lam.create_event_source_mapping, FunctionName=function,
        EventSourceArn=f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s", StartingPosition="LATEST",
    )
    # Streams are served (tests/test_stream_sources.py), but this function's role may not read them.
    assert (status, code) == (400, "InvalidParameterValueException") and message.startswith("Cannot access stream")
    # Nothing above left a mapping behind.
    assert lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"] == []


def test_a_second_mapping_of_the_same_queue_and_function_conflicts(lam, function, unique):
    source = queue(unique)
    first = lam.create_event_source_mapping(EventSourceArn=source, FunctionName=function, Enabled=False)
    assert aws_error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName=function) == (
        409, "ResourceConflictException",
        f'An event source mapping with SQS arn (" {source} ") and function (" {function} ") already exists. '
        f"Please update or delete the existing mapping with UUID {first['UUID']}",
    )


def test_update_changes_settings_and_state(lam, function, create_function, unique):
    created = lam.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=function, Enabled=False)
    other = create_function()["FunctionName"]
    updated = lam.update_event_source_mapping(
        UUID=created["UUID"], BatchSize=100, MaximumBatchingWindowInSeconds=5, FunctionName=other,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert updated["State"] == "Updating"
    got = settled(lam, created["UUID"])
    assert got["State"] == "Disabled"
    assert (got["BatchSize"], got["MaximumBatchingWindowInSeconds"]) == (100, 5)
    assert got["FunctionArn"].endswith(f":function:{other}")
    assert got["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Dropping the window while the batch is large is refused, and changes nothing.
    assert aws_error(lam.update_event_source_mapping, UUID=created["UUID"], MaximumBatchingWindowInSeconds=0)[1] == (
        "InvalidParameterValueException"
    )
    assert lam.get_event_source_mapping(UUID=created["UUID"])["MaximumBatchingWindowInSeconds"] == 5
    assert aws_error(lam.update_event_source_mapping, UUID=created["UUID"], FunctionName="doesnotexist")[2] == (
        "Function does not exist"
    )


def test_delete_answers_deleting_then_the_mapping_is_gone(lam, function, unique):
    created = lam.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=function, Enabled=False)
    deleted = lam.delete_event_source_mapping(UUID=created["UUID"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["State"] == "Deleting" and deleted["UUID"] == created["UUID"]
    assert aws_error(lam.get_event_source_mapping, UUID=created["UUID"])[0] == 404


def test_list_filters_and_pages(lam, function, create_function, unique):
    other = create_function()["FunctionName"]
    source = queue(unique)
    mine = {lam.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=function, Enabled=False)["UUID"]
            for _ in range(4)}
    mine.add(lam.create_event_source_mapping(EventSourceArn=source, FunctionName=function, Enabled=False)["UUID"])
    theirs = lam.create_event_source_mapping(EventSourceArn=source, FunctionName=other, Enabled=False)["UUID"]
    listed = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert {m["UUID"] for m in listed} == mine
    by_source = lam.list_event_source_mappings(EventSourceArn=source)["EventSourceMappings"]
    assert len(by_source) == 2 and theirs in {m["UUID"] for m in by_source}
    seen, marker, pages = [], None, 0
    while True:
        page = lam.list_event_source_mappings(FunctionName=function, MaxItems=2, **({"Marker": marker} if marker else {}))
        pages += 1
        assert len(page["EventSourceMappings"]) <= 2
        seen += [m["UUID"] for m in page["EventSourceMappings"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert pages == 3 and sorted(seen) == sorted(mine) and len(seen) == len(set(seen))
    both = lam.list_event_source_mappings(FunctionName=other, EventSourceArn=source)["EventSourceMappings"]
    assert [m["UUID"] for m in both] == [theirs]


def test_tags_on_mapping_arns(lam, function, unique):
    created = lam.create_event_source_mapping(
        EventSourceArn=queue(unique), FunctionName=function, Enabled=False, Tags={"A": "tag-a"}
    )
    arn = created["EventSourceMappingArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"A": "tag-a"}
    lam.tag_resource(Resource=arn, Tags={"B": "tag-b", "C": "tag-c"})
    lam.tag_resource(Resource=arn, Tags={"C": "tag-c-newsuffix", "D": "tag-d"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"A": "tag-a", "B": "tag-b", "C": "tag-c-newsuffix", "D": "tag-d"}
    lam.untag_resource(Resource=arn, TagKeys=["A", "B", "C", "nonexisting"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"D": "tag-d"}
    # The function's own tags are apart.
    assert lam.list_tags(Resource=created["FunctionArn"])["Tags"] == {}
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:00000000-0000-0000-0000-000000000000"
    expected = (404, "ResourceNotFoundException", f"Event source mapping not found: {missing}")
    assert aws_error(lam.tag_resource, Resource=missing, Tags={"A": "a"}) == expected
    assert aws_error(lam.untag_resource, Resource=missing, TagKeys=["A"]) == expected
    assert aws_error(lam.list_tags, Resource=missing) == expected


def test_tags_refuse_aliased_mapping_arns(raw_lam, function, unique, lam):
    created = lam.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=function, Enabled=False)
    status, code, message = aws_error(raw_lam.list_tags, Resource=created["EventSourceMappingArn"] + ":alias")
    assert (status, code) == (400, "ValidationException") and "at 'resource' failed to satisfy constraint" in message


def test_the_execution_role_must_be_allowed_to_read_the_queue(server, lam, iam, unique):
    from support import lambda_role

    bare_role = lambda_role(server, unique("bare"))
    name = unique("fn")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=bare_role, Handler="app.handler",
                        Code={"ZipFile": make_zip()})
    source = queue(unique)
    assert aws_error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName=name) == (
        400, "InvalidParameterValueException", "The provided execution role does not have permissions to call ReceiveMessage on SQS"
    )
    # Receive alone is not enough; a grant on another queue is no grant on this one.
    may_read_queues(iam, bare_role, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": source},
        {"Effect": "Allow", "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes"], "Resource": queue(unique)},
    ]}))
    assert aws_error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName=name)[2] == (
        "The provided execution role does not have permissions to call DeleteMessage on SQS"
    )
    may_read_queues(iam, bare_role, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:*", "Resource": source},
    ]}))
    created = lam.create_event_source_mapping(EventSourceArn=source, FunctionName=name, Enabled=False)
    # Moving the mapping to a function whose role may not read the queue is refused too, and changes nothing.
    other = unique("fn")
    lam.create_function(FunctionName=other, Runtime="python3.12", Role=lambda_role(server, unique("bare")),
                        Handler="app.handler", Code={"ZipFile": make_zip()})
    assert aws_error(lam.update_event_source_mapping, UUID=created["UUID"], FunctionName=other)[2] == (
        "The provided execution role does not have permissions to call ReceiveMessage on SQS"
    )
    assert lam.get_event_source_mapping(UUID=created["UUID"])["FunctionArn"].endswith(f":function:{name}")


# -- hostile tenants --------------------------------------------------------------------------


def test_another_accounts_queue_or_function_is_refused(server, lam, function, unique):
    other_queue = f"arn:aws:sqs:{REGION}:111122223333:{unique('q')}"
    status, code, message = aws_error(lam.create_event_source_mapping, EventSourceArn=other_queue, FunctionName=function)
    assert (status, code) == (400, "InvalidParameterValueException") and "ReceiveMessage" in message
    # Account B maps its own queue to A's function: refused, and nothing is made anywhere.
    other = server.client("lambda", account="444455556666")
    theirs = f"arn:aws:sqs:{REGION}:444455556666:{unique('q')}"
    a_function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    status, code, _ = aws_error(other.create_event_source_mapping, EventSourceArn=theirs, FunctionName=a_function)
    assert status in (400, 403)
    assert lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"] == []
    assert other.list_event_source_mappings()["EventSourceMappings"] == []


def test_another_account_cannot_see_or_touch_a_mapping(server, lam, function, unique):
    created = lam.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=function, Enabled=False)
    other = server.client("lambda", account="444455556666")
    for call in (other.get_event_source_mapping, other.delete_event_source_mapping):
        assert aws_error(call, UUID=created["UUID"])[0] == 404
    assert aws_error(other.update_event_source_mapping, UUID=created["UUID"], Enabled=True)[0] == 404
    assert created["UUID"] not in {m["UUID"] for m in other.list_event_source_mappings()["EventSourceMappings"]}
    status, _, _ = aws_error(other.tag_resource, Resource=created["EventSourceMappingArn"], Tags={"x": "y"})
    assert status in (403, 404)
    assert lam.get_event_source_mapping(UUID=created["UUID"])["State"] == "Disabled"
    assert lam.list_tags(Resource=created["EventSourceMappingArn"])["Tags"] == {}


@pytest.mark.parametrize("source", [
    "arn:aws:sqs:us-east-1:123:short-account",
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:",
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:bad/name",
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:" + "q" * 81,
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:" + "q" * 76 + ".fifo",
    f"arn:aws:s3:::{'b' * 20}",
    "arn:aws:sqs:" + "x" * 5000,
])
def test_malformed_source_arns_are_refused(raw_lam, lam, function, source):
    status, code, _ = aws_error(raw_lam.create_event_source_mapping, EventSourceArn=source, FunctionName=function)
    assert status == 400 and code in ("InvalidParameterValueException", "ValidationException")
    assert lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"] == []


def test_huge_inputs_are_refused(raw_lam, lam, function, unique):
    for arguments in (
        {"BatchSize": 10**12, "MaximumBatchingWindowInSeconds": 1},
        {"BatchSize": -1},
        {"FilterCriteria": {"Filters": [{"Pattern": "x" * 5000}]}},
        {"Tags": {f"k{number}": "v" for number in range(51)}},
    ):
        status, code, _ = aws_error(
            raw_lam.create_event_source_mapping, EventSourceArn=queue(unique), FunctionName=function, **arguments
        )
        assert status == 400, arguments
    assert lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"] == []
    status, _, _ = aws_error(raw_lam.list_event_source_mappings, MaxItems=10**9)
    assert status == 400


def test_mappings_survive_a_restart(tmp_path):
    first = Server(tmp_path / "data").start()
    try:
        lam = first.client("lambda")
        role = lambda_role(first, "esm-restart")
        may_read_queues(first.client("iam"), role)
        lam.create_function(FunctionName="kept", Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip()})
        source = f"arn:aws:sqs:{REGION}:{ACCOUNT}:kept-queue"
        created = lam.create_event_source_mapping(
            EventSourceArn=source, FunctionName="kept", Enabled=False, BatchSize=7, Tags={"team": "a"}
        )
        before = lam.get_event_source_mapping(UUID=created["UUID"])
    finally:
        first.stop()
    second = Server(tmp_path / "data", port=first.port).start()
    try:
        lam = second.client("lambda", config=Config(retries={"max_attempts": 1}))
        after = lam.get_event_source_mapping(UUID=created["UUID"])
        strip = lambda shown: {k: v for k, v in shown.items() if k != "ResponseMetadata"}  # noqa: E731
        assert strip(after) == strip(before)
        assert lam.list_tags(Resource=created["EventSourceMappingArn"])["Tags"] == {"team": "a"}
        assert aws_error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName="kept")[0] == 409
    finally:
        second.stop()


def test_identity_policies_decide_on_mapping_arns_and_the_function_named(server, lam, function, create_function, unique):
    other_function = create_function()["FunctionName"]
    mine = lam.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=function, Enabled=False)
    theirs = lam.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=other_function, Enabled=False)
    iam = server.client("iam")
    name = unique("esm-user")
    iam.create_user(UserName=name)
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    iam.put_user_policy(UserName=name, PolicyName="esm", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["lambda:GetEventSourceMapping", "lambda:DeleteEventSourceMapping"],
             "Resource": mine["EventSourceMappingArn"]},
            {"Effect": "Allow", "Action": "lambda:CreateEventSourceMapping", "Resource": "*",
             "Condition": {"StringEquals": {"lambda:FunctionArn": function_arn}}},
        ],
    }))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user = server.client("lambda", credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    deadline = time.monotonic() + 10
    while True:  # IAM changes reach the gate at once here; the loop only guards against a slow first read.
        try:
            assert user.get_event_source_mapping(UUID=mine["UUID"])["UUID"] == mine["UUID"]
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert aws_error(user.get_event_source_mapping, UUID=theirs["UUID"])[:2] == (403, "AccessDeniedException")
    assert aws_error(user.delete_event_source_mapping, UUID=theirs["UUID"])[:2] == (403, "AccessDeniedException")
    assert aws_error(user.update_event_source_mapping, UUID=mine["UUID"], BatchSize=3)[:2] == (403, "AccessDeniedException")
    assert aws_error(
        user.create_event_source_mapping, EventSourceArn=queue(unique), FunctionName=other_function
    )[:2] == (403, "AccessDeniedException")
    made = user.create_event_source_mapping(EventSourceArn=queue(unique), FunctionName=function_arn, Enabled=False)
    assert made["FunctionArn"] == function_arn
    user.delete_event_source_mapping(UUID=mine["UUID"])
    assert lam.get_event_source_mapping(UUID=theirs["UUID"])["BatchSize"] == 10


def test_the_mappings_command_lists_them(server, lam, function, unique):
    source = queue(unique)
    created = lam.create_event_source_mapping(EventSourceArn=source, FunctionName=function, Enabled=False, BatchSize=3)
    shown = server.cli("mappings", "--function", function, check=True).stdout.splitlines()
    assert shown[0].split() == ["UUID", "FUNCTION", "SOURCE", "STATE", "BATCH", "WINDOW", "PROCESSED", "FAILED", "LAG",
                                "LAST", "RESULT"]
    # A mapping that never polled has no figures yet.
    assert shown[1].split() == [created["UUID"], function, source, "Disabled", "3", "0", "s", "-", "-", "-", "-"]
    assert len(shown) == 2
