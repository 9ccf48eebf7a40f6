"""The CloudWatch Logs API at Lambdabox's endpoint: boto3's `logs` client and the AWS CLI v2, unmodified."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, Server, error_of

#: The messages the filter-pattern table searches, by index.
MESSAGES = [
    "ERROR disk full on /dev/sda",
    "INFO started request 42",
    "WARN slow request took 900 ms",
    "error: lowercase only",
    json.dumps({"level": "ERROR", "status": 500, "user": {"id": 7, "name": "ann"}, "items": [{"sku": "A1"}],
                "ok": False, "gone": None}),
    json.dumps({"level": "INFO", "status": 200, "user": {"id": 8, "name": "bob"}, "items": [], "ok": True,
                "latency": 12.5}),
    json.dumps({"level": "WARN", "status": 404, "message": "Not Found /api/v1"}),
    "127.0.0.1 frank GET /index.html 503 1200",
    "10.0.0.2 - POST /login 200 15",
]
EVERYTHING = set(range(len(MESSAGES)))

PATTERNS = [
    ("", EVERYTHING),
    ("ERROR", {0, 4}),
    ("ERROR disk", {0}),
    ('"disk full"', {0}),
    ('"full disk"', set()),
    ("?WARN ?INFO", {1, 2, 5, 6}),
    ("request -slow", {1}),
    ("-ERROR", EVERYTHING - {0, 4}),
    ("error", {3}),
    ('{ $.level = "ERROR" }', {4}),
    ('{ $.level != "ERROR" }', {5, 6}),
    ("{ $.level = INFO }", {5}),
    ("{ $.status >= 400 }", {4, 6}),
    ("{ $.status = 200 }", {5}),
    ("{ $.latency < 20 }", {5}),
    ('{ $.user.name = "a*" }', {4}),
    ('{ $.message = "*Found*" }', {6}),
    ('{ $.level = "ERROR" && $.status = 500 }', {4}),
    ('{ $.level = "WARN" || $.status = 200 }', {5, 6}),
    ('{ ($.status = 500 || $.status = 404) && $.level != "WARN" }', {4}),
    ("{ $.gone IS NULL }", {4}),
    ("{ $.latency NOT EXISTS }", {4, 6}),
    ("{ $.ok IS TRUE }", {5}),
    ("{ $.ok IS FALSE }", {4}),
    ('{ $.items[0].sku = "A1" }', {4}),
    ("{ $.user.id > 7.5 }", {5}),
    ("[ip, user, method, path, status=5*, bytes]", {7}),
    ("[ip, ..., status=2*, bytes<100]", {8}),
]

INVALID = [
    ('{ $.level = "ERROR"', "If a filter pattern starts with '{' it must end with '}'"),
    ("{ $.level = }", "Invalid filter pattern"),
    ('"unterminated', "Invalid filter pattern"),
    ('{ $.status < "abc" }', "Invalid filter pattern"),
    ('{ level = "x" }', "Invalid filter pattern"),
    ("[a, b", "Invalid filter pattern"),
    ("{ $.a[x] = 1 }", "Invalid filter pattern"),
    ("{ " + "(" * 200 + "$.a = 1" + ")" * 200 + " }", "Invalid filter pattern"),
]


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


@pytest.fixture(scope="module")
def searched(server, logs) -> str:
    """A group with one stream holding MESSAGES, a millisecond apart."""
    group = f"/test/patterns-{os.urandom(3).hex()}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="only")
    now = int(time.time() * 1000) - 10_000
    logs.put_log_events(logGroupName=group, logStreamName="only",
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(MESSAGES)])
    return group


def new_group(logs, unique, events: int = 0, stream: str = "s", start: int | None = None) -> str:
    group = "/test/" + unique("g")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    if events:
        start = start if start is not None else int(time.time() * 1000) - 60_000
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": start + i, "message": f"event {i}"} for i in range(events)])
    return group


@pytest.mark.parametrize(("pattern", "expected"), PATTERNS, ids=[p or "empty" for p, _ in PATTERNS])
def test_filter_patterns(logs, searched, pattern, expected):
    found = logs.filter_log_events(logGroupName=searched, filterPattern=pattern)["events"]
    assert {MESSAGES.index(event["message"]) for event in found} == expected
    assert all(event["logStreamName"] == "only" and event["eventId"] for event in found)


@pytest.mark.parametrize(("pattern", "message"), INVALID, ids=[p[:30] for p, _ in INVALID])
def test_invalid_filter_patterns_are_invalid_parameters(logs, searched, pattern, message):
    with pytest.raises(ClientError) as raised:
        logs.filter_log_events(logGroupName=searched, filterPattern=pattern)
    assert error_of(raised) == (400, "InvalidParameterException", message)


def test_a_10000_character_pattern_is_refused_quickly(logs, searched):
    started = time.monotonic()
    with pytest.raises(ClientError) as raised:
        logs.filter_log_events(logGroupName=searched, filterPattern="{ $.a = \"" + "*a" * 5000 + "\" }")
    assert error_of(raised)[:2] == (400, "InvalidParameterException")
    assert error_of(raised)[2].startswith("1 validation error detected: Value '{ $.a = ")
    assert error_of(raised)[2].endswith(
        "at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024")
    # The longest allowed pattern of wildcards, against a long message, answers quickly.
    logs.put_log_events(logGroupName=searched, logStreamName="only", logEvents=[
        {"timestamp": int(time.time() * 1000), "message": json.dumps({"a": "ab" * 100_000})}])
    found = logs.filter_log_events(logGroupName=searched, filterPattern="{ $.a = \"" + "*b" * 505 + "c\" }")
    assert found["events"] == []
    deep = "[" * 100_000 + "]" * 100_000
    logs.put_log_events(logGroupName=searched, logStreamName="only",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "{\"x\":" + deep + "}"}])
    assert logs.filter_log_events(logGroupName=searched, filterPattern="{ $.x IS NULL }")["events"] == []
    assert time.monotonic() - started < 10


def test_filter_pages_round_trip_through_next_token(logs, unique):
    group = "/test/" + unique("paged")
    logs.create_log_group(logGroupName=group)
    start = int(time.time() * 1000) - 60_000
    for stream in ("a", "b"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        # Three events share each millisecond in each stream: pages end inside a millisecond.
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": start + i // 3, "message": f"{stream}{i}"} for i in range(12)])
    seen, token, pages = [], None, 0
    while True:
        page = logs.filter_log_events(logGroupName=group, limit=5, **({"nextToken": token} if token else {}))
        seen += [(event["timestamp"], event["message"]) for event in page["events"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert pages == 5
    assert sorted(message for _, message in seen) == sorted(f"{s}{i}" for s in "ab" for i in range(12))
    assert [t for t, _ in seen] == sorted(t for t, _ in seen)
    assert len({event["eventId"] for event in logs.filter_log_events(logGroupName=group)["events"]}) == 24
    only_b = logs.filter_log_events(logGroupName=group, logStreamNames=["b"], startTime=start + 1, endTime=start + 2)
    assert [event["message"] for event in only_b["events"]] == ["b3", "b4", "b5", "b6", "b7", "b8"]
    assert [s["logStreamName"] for s in only_b["searchedLogStreams"]] == ["b"]
    prefixed = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="a", filterPattern="a1")
    assert [event["message"] for event in prefixed["events"]] == ["a1", "a10", "a11"]
    # The paginator of boto3 ends, as the AWS CLI's does.
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, PaginationConfig={"PageSize": 7})
    assert sum(len(page["events"]) for page in pages) == 24


def test_describe_groups_and_streams_page(logs, unique):
    prefix = "/test/" + unique("described")
    for i in range(5):
        logs.create_log_group(logGroupName=f"{prefix}/{i}", tags={"n": str(i)})
    names, token = [], None
    while True:
        page = logs.describe_log_groups(logGroupNamePrefix=prefix, limit=2, **({"nextToken": token} if token else {}))
        names += [group["logGroupName"] for group in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == [f"{prefix}/{i}" for i in range(5)]
    described = logs.describe_log_groups(logGroupNamePattern=prefix.upper()[6:] + "/3")["logGroups"]
    assert [group["logGroupName"] for group in described] == [f"{prefix}/3"]
    group = described[0]
    assert group["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{prefix}/3:*"
    assert group["logGroupArn"] == group["arn"][:-2] and "retentionInDays" not in group
    assert {"creationTime", "metricFilterCount", "storedBytes", "logGroupClass"} <= group.keys()

    base = int(time.time() * 1000) - 60_000
    for i, name in enumerate(["c", "a", "b", "e", "d"]):
        logs.create_log_stream(logGroupName=f"{prefix}/0", logStreamName=name)
        logs.put_log_events(logGroupName=f"{prefix}/0", logStreamName=name,
                            logEvents=[{"timestamp": base + i, "message": "first"}, {"timestamp": base + 100 + i, "message": "last"}])
    streams, token = [], None
    while True:
        page = logs.describe_log_streams(logGroupName=f"{prefix}/0", limit=2, **({"nextToken": token} if token else {}))
        streams += page["logStreams"]
        token = page.get("nextToken")
        if not token:
            break
    assert [s["logStreamName"] for s in streams] == ["a", "b", "c", "d", "e"]
    assert streams[2]["firstEventTimestamp"] == base and streams[2]["lastEventTimestamp"] == base + 100
    assert streams[2]["arn"].endswith(f":log-group:{prefix}/0:log-stream:c")
    newest = logs.describe_log_streams(logGroupName=f"{prefix}/0", orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in newest["logStreams"]] == ["d", "e", "b", "a", "c"]
    assert [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName=f"{prefix}/0", logStreamNamePrefix="d")["logStreams"]] == ["d"]


def test_get_log_events_pages_forward_and_backward(logs, unique):
    group = new_group(logs, unique, events=7)
    head = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, limit=3)
    assert [e["message"] for e in head["events"]] == ["event 0", "event 1", "event 2"]
    assert head["nextForwardToken"].startswith("f/") and head["nextBackwardToken"].startswith("b/")
    messages, token = [], head["nextForwardToken"]
    while True:
        page = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=token, limit=3)
        messages += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break  # the end: AWS gives back the token it was given
        token = page["nextForwardToken"]
    assert messages == [f"event {i}" for i in range(3, 7)]
    tail = logs.get_log_events(logGroupName=group, logStreamName="s", limit=2)
    assert [e["message"] for e in tail["events"]] == ["event 5", "event 6"]
    before = logs.get_log_events(logGroupName=group, logStreamName="s", limit=4, nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in before["events"]] == ["event 1", "event 2", "event 3", "event 4"]
    first = logs.get_log_events(logGroupName=group, logStreamName="s", limit=4, nextToken=before["nextBackwardToken"])
    assert [e["message"] for e in first["events"]] == ["event 0"]
    with pytest.raises(ClientError) as raised:
        logs.get_log_events(logGroupName=group, logStreamName="nope")
    assert error_of(raised) == (400, "ResourceNotFoundException", "The specified log stream does not exist.")


def test_create_delete_and_retention(logs, unique):
    group = new_group(logs, unique, events=3)
    with pytest.raises(ClientError) as raised:
        logs.create_log_group(logGroupName=group)
    assert error_of(raised) == (400, "ResourceAlreadyExistsException", "The specified log group already exists")
    logs.put_retention_policy(logGroupName=group, retentionInDays=14)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 14
    with pytest.raises(ClientError) as raised:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert error_of(raised)[:2] == (400, "InvalidParameterException")
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    logs.delete_log_group(logGroupName=group)
    for call in (lambda: logs.delete_log_group(logGroupName=group),
                 lambda: logs.filter_log_events(logGroupName=group),
                 lambda: logs.put_retention_policy(logGroupName=group, retentionInDays=1)):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised) == (400, "ResourceNotFoundException", "The specified log group does not exist.")
    logs.create_log_group(logGroupName=group)
    assert logs.filter_log_events(logGroupName=group)["events"] == []


def test_tags_old_and_new_operations(logs, unique):
    group = "/test/" + unique("tagged")
    logs.create_log_group(logGroupName=group, tags={"team": "red"})
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    logs.tag_resource(resourceArn=arn, tags={"env": "dev"})
    logs.tag_log_group(logGroupName=group, tags={"cost": "1"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "red", "env": "dev", "cost": "1"}
    logs.untag_resource(resourceArn=arn, tagKeys=["team"])
    logs.untag_log_group(logGroupName=group, tags=["cost"])
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"env": "dev"}


def test_retention_deletes_old_events(fresh_server_with_quick_sweeps):
    from lambdabox.observe.logs import LogStore

    server = fresh_server_with_quick_sweeps
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/test/kept")
    now = int(time.time() * 1000)
    day = 86_400_000
    # Events stamped in the past, written through the store as an environment writes them.
    store = LogStore(server.data_dir / "logs")
    mixed = store.open_stream(f"{ACCOUNT}:{REGION}", "/test/kept", "mixed")
    mixed.write_events([(now - 3 * day, "three days old"), (now - 2 * day, "two days old"), (now - 1000, "new")])
    mixed.close()
    old = store.open_stream(f"{ACCOUNT}:{REGION}", "/test/kept", "old")
    old.write_events([(now - 5 * day, "five days old")])
    old.close()
    time.sleep(1.0)  # sweeps run; with no retention, nothing goes
    assert len(logs.filter_log_events(logGroupName="/test/kept")["events"]) == 4
    logs.put_retention_policy(logGroupName="/test/kept", retentionInDays=3)
    deadline = time.monotonic() + 10
    while len(logs.filter_log_events(logGroupName="/test/kept")["events"]) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [e["message"] for e in logs.filter_log_events(logGroupName="/test/kept")["events"]] == ["two days old", "new"]
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/test/kept")["logStreams"]] == ["mixed"]
    logs.put_retention_policy(logGroupName="/test/kept", retentionInDays=1)
    deadline = time.monotonic() + 10
    while len(logs.filter_log_events(logGroupName="/test/kept")["events"]) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [e["message"] for e in logs.filter_log_events(logGroupName="/test/kept")["events"]] == ["new"]


@pytest.fixture
def fresh_server_with_quick_sweeps(tmp_path: Path):
    server = Server(tmp_path / "data", extra_args=["--log-sweep-interval", "0.2"]).start()
    try:
        yield server
    finally:
        server.stop()


def test_another_account_cannot_see_or_change_your_groups(server, logs, unique):
    group = new_group(logs, unique, events=2)
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    theirs = server.client("logs", account="222222222222")
    assert group not in [g["logGroupName"] for g in theirs.describe_log_groups(logGroupNamePrefix="/test/")["logGroups"]]
    for call in (lambda: theirs.filter_log_events(logGroupName=group),
                 lambda: theirs.delete_log_group(logGroupName=group),
                 lambda: theirs.get_log_events(logGroupName=group, logStreamName="s")):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised)[:2] == (400, "ResourceNotFoundException")
    for call in (lambda: theirs.filter_log_events(logGroupIdentifier=arn),
                 lambda: theirs.describe_log_streams(logGroupIdentifier=arn),
                 lambda: theirs.tag_resource(resourceArn=arn, tags={"mine": "now"}),
                 lambda: theirs.list_tags_for_resource(resourceArn=arn)):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised)[:2] == (400, "AccessDeniedException")
    assert len(logs.filter_log_events(logGroupName=group)["events"]) == 2
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {}
    # Their own group of the same name is theirs alone.
    theirs.create_log_group(logGroupName=group)
    assert theirs.filter_log_events(logGroupName=group)["events"] == []
    assert len(logs.filter_log_events(logGroupName=group)["events"]) == 2


@pytest.mark.parametrize(("call", "code"), [
    (lambda logs, g: logs.filter_log_events(logGroupName=g, nextToken="not-a-token"), "InvalidParameterException"),
    (lambda logs, g: logs.filter_log_events(logGroupName=g, nextToken="eyJrIjoiZmlsdGVyIiwidCI6LTF9"),
     "InvalidParameterException"),
    (lambda logs, g: logs.describe_log_groups(nextToken="%%%"), "InvalidParameterException"),
    (lambda logs, g: logs.describe_log_streams(logGroupName=g, nextToken="eyJrIjoiZ3JvdXBzIn0="),
     "InvalidParameterException"),
    (lambda logs, g: logs.get_log_events(logGroupName=g, logStreamName="s", nextToken="f/12x"),
     "InvalidParameterException"),
    (lambda logs, g: logs.get_log_events(logGroupName=g, logStreamName="s", nextToken="b/" + "9" * 100),
     "InvalidParameterException"),
    (lambda logs, g: logs.create_log_group(logGroupName="/x" * 300), "InvalidParameterException"),
    (lambda logs, g: logs.create_log_group(logGroupName="bad name!"), "InvalidParameterException"),
    (lambda logs, g: logs.create_log_group(logGroupName="AWS/mine"), "InvalidParameterException"),
    (lambda logs, g: logs.filter_log_events(logGroupName=g, logGroupIdentifier=g), "InvalidParameterException"),
    (lambda logs, g: logs.filter_log_events(logGroupName=g, logStreamNames=["s"], logStreamNamePrefix="s"),
     "InvalidParameterException"),
    (lambda logs, g: logs.put_log_events(logGroupName=g, logStreamName="s", logEvents=[
        {"timestamp": int(time.time() * 1000), "message": "b"}, {"timestamp": int(time.time() * 1000) - 5, "message": "a"}]),
     "InvalidParameterException"),
    (lambda logs, g: logs.tag_resource(resourceArn="arn:aws:logs:us-east-1:000000000000:destination:x", tags={"a": "b"}),
     "ResourceNotFoundException"),
], ids=["garbage-token", "negative-token", "bad-base64", "wrong-kind", "bad-forward", "huge-backward", "huge-name",
        "bad-name", "reserved-name", "name-and-identifier", "names-and-prefix", "out-of-order", "not-a-group"])
def test_hostile_inputs_get_aws_shaped_errors(logs, unique, call, code):
    group = new_group(logs, unique, events=1)
    with pytest.raises(ClientError) as raised:
        call(logs, group)
    assert error_of(raised)[:2] == (400, code)
    assert [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]] == ["event 0"]


def test_raw_requests_malformed_json_unknown_targets_and_unsigned(server):
    def post(body: bytes, target: str, signed: bool = True) -> tuple[int, dict]:
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
        if signed:
            headers = server.signed("POST", "/", body, headers, service="logs")
        request = urllib.request.Request(server.url + "/", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    assert post(b"{not json", "Logs_20140328.DescribeLogGroups")[1]["__type"] == "SerializationException"
    assert post(b'{"limit": "ten"}', "Logs_20140328.DescribeLogGroups")[1]["__type"] == "SerializationException"
    assert post(b'{"surprise": 1}', "Logs_20140328.DescribeLogGroups")[1]["__type"] == "SerializationException"
    assert post(b"[" * 100_000, "Logs_20140328.DescribeLogGroups")[1]["__type"] == "SerializationException"
    status, body = post(b"{}", "Logs_20140328.PutMetricFilter")
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = post(b"{}", "Logs_20140328.DescribeLogGroups")
    assert status == 200 and "logGroups" in body


def test_users_need_logs_permissions(server, iam, unique):
    group = new_group(server.client("logs"), unique, events=1)
    other = new_group(server.client("logs"), unique, events=1)
    name = unique("reader")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    reader = server.client("logs", credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    with pytest.raises(ClientError) as raised:
        reader.filter_log_events(logGroupName=group)
    assert error_of(raised)[:2] == (400, "AccessDeniedException")
    assert f"logs:FilterLogEvents on resource: arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*" in error_of(raised)[2]
    iam.put_user_policy(UserName=name, PolicyName="read-one", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:FilterLogEvents", "logs:GetLogEvents"],
                                                "Resource": f"arn:aws:logs:*:*:log-group:{group}:*"}]}))
    assert len(reader.filter_log_events(logGroupName=group)["events"]) == 1
    for call in (lambda: reader.filter_log_events(logGroupName=other),
                 lambda: reader.delete_log_group(logGroupName=group),
                 lambda: reader.describe_log_groups()):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised)[:2] == (400, "AccessDeniedException")
    writer_name = unique("writer")
    iam.create_user(UserName=writer_name)
    iam.attach_user_policy(UserName=writer_name,
                           PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    key = iam.create_access_key(UserName=writer_name)["AccessKey"]
    writer = server.client("logs", credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    writer.create_log_stream(logGroupName=group, logStreamName="from-writer")
    writer.put_log_events(logGroupName=group, logStreamName="from-writer",
                          logEvents=[{"timestamp": int(time.time() * 1000), "message": "written"}])
    with pytest.raises(ClientError) as raised:
        writer.filter_log_events(logGroupName=group)
    assert error_of(raised)[:2] == (400, "AccessDeniedException")
    assert "written" in [e["message"] for e in reader.filter_log_events(logGroupName=group)["events"]]


def test_a_functions_log_group_through_the_api(server, deploy, invoke, logs):
    name = deploy({"app.py": "def handler(event, context):\n    print('hello from', event['who'])\n    return 1\n"})
    invoke(name, {"who": "api"})
    group = f"/aws/lambda/{name}"
    deadline = time.monotonic() + 10
    found = []
    while not found and time.monotonic() < deadline:
        found = logs.filter_log_events(logGroupName=group, filterPattern='"hello from api"')["events"]
        time.sleep(0.1)
    # Lambda's stream names: the date, the version in brackets, 32 hex digits.
    assert found and re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", found[0]["logStreamName"]), found
    # The group's own name as the prefix: a shared server holds more groups than one page.
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]] == [group]
    reports = logs.filter_log_events(logGroupName=group, filterPattern="REPORT RequestId")["events"]
    assert reports and all(e["message"].startswith("REPORT RequestId") for e in reports)


def aws_v2() -> str | None:
    """The AWS CLI v2 (`aws logs tail` is v2's), or None. The venv's `aws` is PyPI's v1; Debian's awscli is v2."""
    for candidate in ("/usr/bin/aws", "/usr/local/bin/aws"):
        if os.access(candidate, os.X_OK):
            done = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30)
            if done.stdout.startswith("aws-cli/2."):
                return candidate
    return None


def cli_environment(server) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(
        AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file), AWS_PROFILE="default", AWS_DEFAULT_REGION=REGION,
        AWS_PAGER="", AWS_CONFIG_FILE="/dev/null",
    )
    return environment


@pytest.fixture
def aws2() -> str:
    found = aws_v2()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("the AWS CLI v2 (Debian's awscli, installed by scripts/setup.sh) is missing")
        pytest.skip("no AWS CLI v2 here (scripts/setup.sh installs Debian's awscli)")
    return found


def test_aws_cli_filter_log_events(server, aws2, logs, searched):
    done = subprocess.run(
        [aws2, "logs", "filter-log-events", "--log-group-name", searched, "--filter-pattern", '{ $.status >= 400 }',
         "--endpoint-url", server.url, "--output", "json"],
        capture_output=True, text=True, env=cli_environment(server), timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(event["message"])["status"] for event in json.loads(done.stdout)["events"]] == [500, 404]


def test_aws_logs_tail_follow_shows_an_invoke_within_2_seconds(server, aws2, deploy, invoke):
    name = deploy({"app.py": "def handler(event, context):\n    print('marker', event['n'])\n    return 1\n"})
    invoke(name, {"n": "first"})
    tail = subprocess.Popen(
        [aws2, "logs", "tail", f"/aws/lambda/{name}", "--follow", "--format", "short", "--endpoint-url", server.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_environment(server),
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        for line in tail.stdout:
            lines.append((time.monotonic(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def shown(marker: str, since: float, within: float) -> float:
        deadline = since + within
        while time.monotonic() < deadline:
            for at, line in list(lines):
                if marker in line and at >= since - 0.001:
                    return at - since
            time.sleep(0.02)
        raise AssertionError(f"{marker!r} not shown within {within} s: {lines} {tail.stderr.read() if tail.poll() is not None else ''}")

    try:
        shown("marker first", time.monotonic() - 1, 20)
        # The CLI sleeps 5 s after its first answer, then asks from the newest event it has: from then on
        # Lambdabox holds its requests until new events arrive.
        time.sleep(7)
        for n in ("second", "third", "fourth"):
            started = time.monotonic()
            invoke(name, {"n": n})
            latency = shown(f"marker {n}", started, 2.0)
            print(f"tail showed {n} {latency:.2f} s after the invoke began")
    finally:
        tail.terminate()
        tail.wait(timeout=10)
    assert sum("marker first" in line for _, line in lines) == 1  # nothing printed twice


def test_lambdabox_logs_follow_reads_the_logs_api(server, deploy, invoke):
    import sys

    name = deploy({"app.py": "def handler(event, context):\n    print('cli marker', event['n'])\n    return 1\n"})
    never = server.cli("logs", name)
    assert (never.returncode, never.stdout) == (0, "")  # not invoked yet: no group, an empty log
    invoke(name, {"n": "one"})
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment["AWS_SHARED_CREDENTIALS_FILE"] = str(server.credentials_file)
    follower = subprocess.Popen(
        [sys.executable, "-m", "lambdabox", "logs", name, "--follow", "--endpoint-url", server.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: [lines.append((time.monotonic(), line)) for line in follower.stdout],
                              daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while not any("cli marker one" in line for _, line in lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any("cli marker one" in line for _, line in lines)
        time.sleep(2.5)  # its first wait, then it asks from the newest event and is held
        started = time.monotonic()
        invoke(name, {"n": "two"})
        deadline = started + 2
        while not any("cli marker two" in line for _, line in lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any("cli marker two" in line for _, line in lines), lines
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert sum("cli marker one" in line for _, line in lines) == 1
    assert sum("cli marker two" in line for _, line in lines) == 1


def test_a_forged_or_missing_signature_is_refused_in_json(server):
    key, _ = server.root()
    forged = server.client("logs", credentials=(key, "not-the-secret"))
    with pytest.raises(ClientError) as raised:
        forged.describe_log_groups()
    assert error_of(raised)[:2] == (400, "InvalidSignatureException")
    unknown = server.client("logs", credentials=("AKIAUNKNOWNUNKNOWN00", "secret"))
    with pytest.raises(ClientError) as raised:
        unknown.describe_log_groups()
    assert error_of(raised)[:2] == (400, "UnrecognizedClientException")


def test_events_older_than_the_stream_holds_are_still_found(logs, unique):
    group = new_group(logs, unique)
    now = int(time.time() * 1000)
    batches = [[now - 1000, now - 900], [now - 50_000, now - 40_000], [now - 500]]
    for batch in batches:
        logs.put_log_events(logGroupName=group, logStreamName="s",
                            logEvents=[{"timestamp": t, "message": f"at {now - t}"} for t in batch])
    window = logs.filter_log_events(logGroupName=group, startTime=now - 45_000, endTime=now - 800)["events"]
    assert [e["message"] for e in window] == ["at 40000", "at 1000", "at 900"]
    ranged = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, startTime=now - 60_000,
                                 endTime=now - 950)["events"]
    assert sorted(e["message"] for e in ranged) == ["at 1000", "at 40000", "at 50000"]
    assert len(logs.filter_log_events(logGroupName=group, startTime=now - 600)["events"]) == 1


def test_an_unsigned_logs_request_is_refused_in_json(server):
    request = urllib.request.Request(server.url + "/", data=b"{}", method="POST", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.DescribeLogGroups"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 400
    assert json.loads(raised.value.read())["__type"] == "MissingAuthenticationTokenException"


def test_one_account_cannot_run_every_search_at_once(server, unique):
    """A tenant's parallel searches past a few at once are throttled, as past AWS's rate; another account's are not."""
    import concurrent.futures

    from lambdabox.observe.logs import LogStore

    account = "333333333333"
    logs = server.client("logs", account=account, config=Config(max_pool_connections=32))
    group = "/test/" + unique("big")
    logs.create_log_group(logGroupName=group)
    store = LogStore(server.data_dir / "logs")
    now = int(time.time() * 1000) - 100_000
    for n in range(4):
        stream = store.open_stream(f"{account}:{REGION}", group, f"s{n}")
        stream.write_events([(now + i, "x" * 200) for i in range(20_000)])
        stream.close()

    def search(_: int) -> str:
        try:
            logs.filter_log_events(logGroupName=group, filterPattern="never-there")
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "ok"

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        outcomes = Counter(pool.map(search, range(24)))
    assert outcomes["ThrottlingException"] > 0 and outcomes["ok"] > 0, outcomes
    assert set(outcomes) <= {"ok", "ThrottlingException"}
    assert server.client("logs").describe_log_groups(limit=1)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_the_longest_names_and_odd_stream_names_work(logs, unique):
    group = ("/test/" + unique("long") + "/" + "x" * 600)[:512]
    logs.create_log_group(logGroupName=group)
    stream = ("../" + "é" * 300 + "/..")[:512]
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "deep"}])
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group[:40])["logGroups"]] == [group]
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]] == [stream]
    found = logs.filter_log_events(logGroupName=group)["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [(stream, "deep")]
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group[:40])["logGroups"] == []
