"""Unit tests of the FilterCriteria engine (model/event_patterns.py, pattern_rules.py, wildcards.py).

The module is pure (no I/O), so these call it directly; the mapping API and the pollers test
it end to end through the server. Doc references:
  [L]   Lambda "Control which events Lambda sends to your function" (invocation-eventfiltering):
        the comparison-operator table, the filtering examples, the SQS and streams tables.
  [SQS] Lambda "Using event filtering with an Amazon SQS event source" (with-sqs-filtering).
  [KIN] Lambda "Using event filtering with a Kinesis event source" (with-kinesis-filtering).
  [MQ]  Lambda "Filter events from an Amazon MQ event source" (with-mq-filtering).
  [EB]  EventBridge "Comparison operators for use in event patterns" (eb-create-pattern-operators).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from lambdabox.model.errors import InvalidParameterValue, ValidationError
from lambdabox.model.event_patterns import MAX_FILTERS, Filters, parse_filter_criteria, record_view
from lambdabox.model.wildcards import parse_wildcard


def sqs(body: str, **attributes: str) -> dict[str, Any]:
    return {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183", **attributes},
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-west-2:123456789012:my-queue",
        "awsRegion": "us-west-2",
    }


def body(**fields: Any) -> dict[str, Any]:
    return sqs(json.dumps(fields))


def kinesis(data: bytes, partition_key: str = "1") -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
        "eventName": "aws:kinesis:record",
    }


def dynamodb(event_name: str, keys_n: str) -> dict[str, Any]:
    return {
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"Id": {"N": keys_n}},
            "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": keys_n}},
            "SequenceNumber": "111",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def criteria(*patterns: Any) -> dict[str, Any]:
    return {"Filters": [{"Pattern": p if isinstance(p, str) else json.dumps(p)} for p in patterns]}


# (pattern, record, source, whether Lambda sends the record to the function)
CASES: list[tuple[str, Any, dict[str, Any], str, bool]] = [
    # [L] table "Null": "UserID": [ null ]
    ("null", {"body": {"UserID": [None]}}, body(UserID=None), "sqs", True),
    ("null-vs-missing", {"body": {"UserID": [None]}}, body(Other=1), "sqs", False),
    ("null-vs-string", {"body": {"UserID": [None]}}, body(UserID="null"), "sqs", False),
    # [L] table "Empty": "LastName": [""]
    ("empty", {"body": {"LastName": [""]}}, body(LastName=""), "sqs", True),
    ("empty-vs-text", {"body": {"LastName": [""]}}, body(LastName="Doe"), "sqs", False),
    # [L] table "Equals": "Name": [ "Alice" ]; matching is exact, without case folding
    ("equals", {"body": {"Name": ["Alice"]}}, body(Name="Alice"), "sqs", True),
    ("equals-case", {"body": {"Name": ["Alice"]}}, body(Name="alice"), "sqs", False),
    # [L] table "And": "Location": [ "New York" ], "Day": ["Monday"]
    ("and", {"body": {"Location": ["New York"], "Day": ["Monday"]}}, body(Location="New York", Day="Monday"), "sqs", True),
    ("and-one-fails", {"body": {"Location": ["New York"], "Day": ["Monday"]}}, body(Location="New York", Day="Sunday"), "sqs", False),
    # [L] table "Or": "PaymentType": [ "Credit", "Debit"]
    ("or-values", {"body": {"PaymentType": ["Credit", "Debit"]}}, body(PaymentType="Debit"), "sqs", True),
    # [L] table "Not": "Weather": [ { "anything-but": [ "Raining" ] } ]
    ("anything-but", {"body": {"Weather": [{"anything-but": ["Raining"]}]}}, body(Weather="Sunny"), "sqs", True),
    ("anything-but-listed", {"body": {"Weather": [{"anything-but": ["Raining"]}]}}, body(Weather="Raining"), "sqs", False),
    ("anything-but-missing", {"body": {"Weather": [{"anything-but": ["Raining"]}]}}, body(Other="x"), "sqs", False),
    ("anything-but-number", {"body": {"Code": [{"anything-but": [100, 200]}]}}, body(Code=300), "sqs", True),
    ("anything-but-number-listed", {"body": {"Code": [{"anything-but": [100, 200]}]}}, body(Code=200), "sqs", False),
    # [L] table "Numeric (equals)": "Price": [ { "numeric": [ "=", 100 ] } ]; numeric compares values
    ("numeric-equals", {"body": {"Price": [{"numeric": ["=", 100]}]}}, body(Price=100), "sqs", True),
    ("numeric-equals-float", {"body": {"Price": [{"numeric": ["=", 100]}]}}, sqs('{"Price": 100.0}'), "sqs", True),
    ("numeric-vs-string", {"body": {"Price": [{"numeric": ["=", 100]}]}}, body(Price="100"), "sqs", False),
    # A number listed as a value matches its text and, between -5e9 and 5e9, its value: event-ruler's
    # JsonRuleCompiler adds both an exact and a numeric-equals matcher (the 2022 Lambda doc's note that
    # "300, 300.0 and 3.0e2 are not considered equal" predates it). Beyond 5e9 only the text matches.
    ("exact-number", {"body": {"n": [300]}}, sqs('{"n": 300}'), "sqs", True),
    ("exact-number-value", {"body": {"n": [300]}}, sqs('{"n": 300.0}'), "sqs", True),
    ("exact-number-exponent", {"body": {"n": [300]}}, sqs('{"n": 3.0e2}'), "sqs", True),
    ("exact-number-other", {"body": {"n": [300]}}, sqs('{"n": 300.5}'), "sqs", False),
    ("exact-number-beyond-range-text", {"body": {"n": [123456789012]}}, sqs('{"n": 123456789012}'), "sqs", True),
    ("exact-number-beyond-range-value", {"body": {"n": [123456789012]}}, sqs('{"n": 123456789012.0}'), "sqs", False),
    # [L] table "Numeric (range)": "Price": [ { "numeric": [ ">", 10, "<=", 20 ] } ]
    ("range-inside", {"body": {"Price": [{"numeric": [">", 10, "<=", 20]}]}}, body(Price=20), "sqs", True),
    ("range-low-edge", {"body": {"Price": [{"numeric": [">", 10, "<=", 20]}]}}, body(Price=10), "sqs", False),
    ("range-above", {"body": {"Price": [{"numeric": [">", 10, "<=", 20]}]}}, body(Price=20.5), "sqs", False),
    ("range-lower-only", {"body": {"Price": [{"numeric": [">=", 0]}]}}, body(Price=0), "sqs", True),
    ("range-upper-only", {"body": {"Price": [{"numeric": ["<", 0]}]}}, body(Price=-0.5), "sqs", True),
    # [L] table "Exists" / "Does not exist": "ProductName": [ { "exists": true|false } ]
    ("exists", {"body": {"ProductName": [{"exists": True}]}}, body(ProductName="x"), "sqs", True),
    ("exists-absent", {"body": {"ProductName": [{"exists": True}]}}, body(Other="x"), "sqs", False),
    ("not-exists", {"body": {"ProductName": [{"exists": False}]}}, body(Other="x"), "sqs", True),
    ("not-exists-present", {"body": {"ProductName": [{"exists": False}]}}, body(ProductName="x"), "sqs", False),
    ("exists-object-is-no-value", {"body": {"a": [{"exists": True}]}}, body(a={"b": 1}), "sqs", False),
    # [L] table "Begins with": "Region": [ {"prefix": "us-" } ]
    ("prefix", {"body": {"Region": [{"prefix": "us-"}]}}, body(Region="us-east-1"), "sqs", True),
    ("prefix-no", {"body": {"Region": [{"prefix": "us-"}]}}, body(Region="eu-west-1"), "sqs", False),
    # [EB] "Begins with (ignore case)": {"prefix": {"equals-ignore-case": "eventb"}}
    ("prefix-ignore-case", {"body": {"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}}, body(service="EventBridge"), "sqs", True),
    # [EB] "Ends with": "FileName": [ { "suffix": ".png" } ]; "Ends with (ignore case)": "tbridge"
    ("suffix", {"body": {"FileName": [{"suffix": ".png"}]}}, body(FileName="image.png"), "sqs", True),
    ("suffix-no", {"body": {"FileName": [{"suffix": ".png"}]}}, body(FileName="image.PNG"), "sqs", False),
    ("suffix-ignore-case", {"body": {"service": [{"suffix": {"equals-ignore-case": "tbridge"}}]}}, body(service="EVENTBRIDGE"), "sqs", True),
    # [EB] "Equals (ignore case)": "Name": [ { "equals-ignore-case": "alice" } ]
    ("equals-ignore-case", {"body": {"Name": [{"equals-ignore-case": "alice"}]}}, body(Name="ALICE"), "sqs", True),
    ("equals-ignore-case-no", {"body": {"Name": [{"equals-ignore-case": "alice"}]}}, body(Name="alicia"), "sqs", False),
    # [EB] "Anything-but (begins with)": "Region": [ { "anything-but": {"prefix": "us-" } } ]
    ("anything-but-prefix", {"body": {"Region": [{"anything-but": {"prefix": "us-"}}]}}, body(Region="eu-west-1"), "sqs", True),
    ("anything-but-prefix-no", {"body": {"Region": [{"anything-but": {"prefix": "us-"}}]}}, body(Region="us-east-1"), "sqs", False),
    # [EB] "Anything-but (ends with)": "FileName": [ { "anything-but": { "suffix": ".png" } } ]
    ("anything-but-suffix", {"body": {"FileName": [{"anything-but": {"suffix": ".png"}}]}}, body(FileName="a.png"), "sqs", False),
    # [EB] "Anything-but (ignore case)": "state": [{ "anything-but": { "equals-ignore-case": "initializing" }}]
    ("anything-but-ignore-case", {"body": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}}, body(state="INITIALIZING"), "sqs", False),
    ("anything-but-ignore-case-other", {"body": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}}, body(state="running"), "sqs", True),
    # [EB] "Anything-but using a wildcard": "FilePath": [{ "anything-but": { "wildcard": "*/lib/*" }}]
    ("anything-but-wildcard", {"body": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}, body(FilePath="/usr/lib/x"), "sqs", False),
    ("anything-but-wildcard-other", {"body": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}, body(FilePath="/usr/bin/x"), "sqs", True),
    # [EB] "Wildcard": "EventBusArn": [ { "wildcard": "arn:aws:events:us-east-1:*:event-bus/*" } ]
    ("wildcard", {"body": {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}},
     body(EventBusArn="arn:aws:events:us-east-1:123456789012:event-bus/default"), "sqs", True),
    ("wildcard-no", {"body": {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}},
     body(EventBusArn="arn:aws:events:us-west-2:123456789012:event-bus/default"), "sqs", False),
    ("wildcard-escaped-star", {"body": {"k": [{"wildcard": "a\\*b"}]}}, body(k="a*b"), "sqs", True),
    ("wildcard-escaped-star-literal", {"body": {"k": [{"wildcard": "a\\*b"}]}}, body(k="axxb"), "sqs", False),
    # [EB] "IP address matching": "sourceIPAddress": [ { "cidr": "10.0.0.0/24" } ]
    ("cidr", {"body": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, body(sourceIPAddress="10.0.0.255"), "sqs", True),
    ("cidr-no", {"body": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, body(sourceIPAddress="10.0.1.1"), "sqs", False),
    # event-ruler reads a listed value that is a CIDR block as a range too
    ("cidr-as-value", {"body": {"ip": ["10.0.0.0/24"]}}, body(ip="10.0.0.7"), "sqs", True),
    # [EB] "Or" with $or: "$or": [ { "c": ["x"] }, { "d": ["y"] } ]
    ("$or-second", {"body": {"$or": [{"c": ["x"]}, {"d": ["y"]}]}}, body(c="no", d="y"), "sqs", True),
    ("$or-none", {"body": {"$or": [{"c": ["x"]}, {"d": ["y"]}]}}, body(c="no", d="no"), "sqs", False),
    ("reserved-name-outside-or", {"body": {"prefix": ["x"]}}, body(prefix="x"), "sqs", True),
    ("$or-top-level", {"$or": [{"messageId": ["nope"]}, {"body": {"a": [1]}}]}, body(a=1), "sqs", True),
    # [EB] arrays: a value in an array matches when any element does
    ("array-any", {"body": {"tags": ["b"]}}, body(tags=["a", "b"]), "sqs", True),
    ("array-none", {"body": {"tags": ["c"]}}, body(tags=["a", "b"]), "sqs", False),
    ("array-of-objects", {"body": {"items": {"sku": ["B"]}}}, body(items=[{"sku": "A"}, {"sku": "B"}]), "sqs", True),
    ("array-same-element", {"body": {"items": {"sku": ["A"], "n": [2]}}}, body(items=[{"sku": "A", "n": 1}, {"sku": "B", "n": 2}]), "sqs", False),
    ("boolean", {"body": {"ok": [True]}}, body(ok=True), "sqs", True),
    ("boolean-vs-string", {"body": {"ok": [True]}}, body(ok="true"), "sqs", False),
    # [SQS] {"body": {"RequestCode": ["BBBB"]}} against the doc's example messages
    ("sqs-doc-example", {"body": {"RequestCode": ["BBBB"]}}, body(RecordNumber=1234, RequestCode="BBBB"), "sqs", True),
    ("sqs-doc-example-other", {"body": {"RequestCode": ["BBBB"]}}, body(RecordNumber=1234, RequestCode="AAAA"), "sqs", False),
    # [L] SQS table: plain body + plain pattern filters; plain body + JSON pattern drops;
    # JSON body + plain pattern drops; no pattern on body filters on metadata only
    ("sqs-plain-plain", {"body": ["hello"]}, sqs("hello"), "sqs", True),
    ("sqs-plain-prefix", {"body": [{"prefix": "hel"}]}, sqs("hello"), "sqs", True),
    ("sqs-plain-json-pattern", {"body": {"a": [{"exists": False}]}}, sqs("hello"), "sqs", False),
    ("sqs-json-plain-pattern", {"body": [{"prefix": "{"}]}, sqs('{"a": 1}'), "sqs", False),
    ("sqs-metadata-only", {"attributes": {"ApproximateReceiveCount": ["1"]}}, sqs("not json"), "sqs", True),
    # [L] "Filtering examples": Kinesis partitionKey (metadata) and data.Location
    ("kinesis-doc-example", {"partitionKey": ["1"], "data": {"Location": ["Los Angeles"]}},
     kinesis(b'{"Location": "Los Angeles"}'), "kinesis", True),
    ("kinesis-doc-example-key", {"partitionKey": ["1"], "data": {"Location": ["Los Angeles"]}},
     kinesis(b'{"Location": "Los Angeles"}', partition_key="2"), "kinesis", False),
    # [L] "Temperature greater than 50 but less than or equal to 60"
    ("kinesis-temperature", {"data": {"Temperature": [{"numeric": [">", 50, "<=", 60]}]}}, kinesis(b'{"Temperature": 55}'), "kinesis", True),
    # [KIN] {"data": {"order": {"type": ["buy"]}}}
    ("kinesis-nested", {"data": {"order": {"type": ["buy"]}}}, kinesis(b'{"record": 12345, "order": {"type": "buy"}}'), "kinesis", True),
    # [L] streams table: non-JSON data with a JSON pattern drops; no data pattern filters metadata
    ("kinesis-not-json", {"data": {"a": [{"exists": False}]}}, kinesis(b"plain text"), "kinesis", False),
    ("kinesis-metadata-only", {"partitionKey": ["1"]}, kinesis(b"plain text"), "kinesis", True),
    # [L] "Multi-level filtering": { "dynamodb": { "Keys": { "Id": { "N": [ "101" ] } } } }
    ("dynamodb-doc-example", {"dynamodb": {"Keys": {"Id": {"N": ["101"]}}}}, dynamodb("INSERT", "101"), "dynamodb", True),
    ("dynamodb-doc-example-other", {"dynamodb": {"Keys": {"Id": {"N": ["101"]}}}}, dynamodb("INSERT", "102"), "dynamodb", False),
    ("dynamodb-event-name", {"eventName": ["INSERT"]}, dynamodb("MODIFY", "101"), "dynamodb", False),
    # [MQ] plain-text data filtered with a prefix on data ("QUJDOkFBQUE=" is "ABC:AAAA")
    ("rabbitmq-plain-prefix", {"data": [{"prefix": "ABC"}]}, {"data": "QUJDOkFBQUE=", "basicProperties": {}}, "rabbitmq", True),
    ("nats-data", {"data": {"kind": ["order"]}}, {"nats": {"subject": "s", "data": base64.b64encode(b'{"kind":"order"}').decode()}}, "nats", True),
]


@pytest.mark.parametrize(("pattern", "record", "source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pattern_table(pattern: Any, record: dict[str, Any], source: str, expected: bool) -> None:
    snapshot = json.dumps(record)
    filters = parse_filter_criteria(criteria(pattern), source=source)
    assert filters.matches(record, source) is expected
    assert json.dumps(record) == snapshot  # matching never changes the record


def test_table_size_and_operators() -> None:
    assert len(CASES) >= 30
    text = json.dumps([c[1] for c in CASES])
    for operator in ("prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "$or", "cidr"):
        assert any(operator in json.dumps(c[1]) and c[4] for c in CASES), operator
        assert any(operator in json.dumps(c[1]) and not c[4] for c in CASES), operator
        assert f'"{operator}"' in text


def test_any_filter_passes_the_record() -> None:
    # [L] "Your filters are logically ORed together"
    filters = parse_filter_criteria(criteria({"body": {"a": [1]}}, {"body": {"b": [2]}}))
    assert filters.matches(body(b=2), "sqs")
    assert not filters.matches(body(a=2, b=1), "sqs")


def test_no_filters_pass_everything_and_criteria_echo() -> None:
    for empty in (None, {}, {"Filters": []}):
        filters = parse_filter_criteria(empty)
        assert not filters and filters.matches(sqs("x"), "sqs") and filters == Filters()
    given = criteria({"body": {"a": [1]}})
    assert parse_filter_criteria(given).criteria() == given


INVALID = [
    ("not-json", "{ \"a\" : [ 1, 2 ]"),
    ("empty-text", ""),
    ("not-an-object", "[1, 2]"),
    ("scalar-leaf", {"a": "x"}),
    ("number-leaf", {"a": 1}),
    ("empty-list", {"a": []}),
    ("empty-nested", {"a": {}}),
    ("unknown-operator", {"a": [{"contains": "x"}]}),
    ("two-operators", {"a": [{"prefix": "x", "suffix": "y"}]}),
    ("prefix-number", {"a": [{"prefix": 1}]}),
    ("exists-string", {"a": [{"exists": "true"}]}),
    ("numeric-bad-op", {"a": [{"numeric": ["!=", 1]}]}),
    ("numeric-odd", {"a": [{"numeric": [">", 1, "<"]}]}),
    ("numeric-string", {"a": [{"numeric": [">", "1"]}]}),
    ("numeric-operator-list", {"a": [{"numeric": [[">"], 1]}]}),
    ("numeric-equals-and-range", {"a": [{"numeric": ["=", 1, "<", 5]}]}),
    ("numeric-empty-range", {"a": [{"numeric": [">", 5, "<", 1]}]}),
    ("numeric-two-lows", {"a": [{"numeric": [">", 1, ">=", 2]}]}),
    ("anything-but-empty", {"a": [{"anything-but": []}]}),
    ("anything-but-null", {"a": [{"anything-but": [None]}]}),
    ("anything-but-numeric", {"a": [{"anything-but": {"numeric": [">", 1]}}]}),
    ("wildcard-double-star", {"a": [{"wildcard": "a**b"}]}),
    ("wildcard-bad-escape", {"a": [{"wildcard": "a\\b"}]}),
    ("cidr-bad", {"a": [{"cidr": "10.0.0.0/33"}]}),
    ("or-not-list", {"$or": {"a": ["x"]}}),
    ("nan", '{"a": [NaN]}'),
    ("too-deep", "{\"a\":" * 40 + "[1]" + "}" * 40),
    ("empty-object", {}),
    ("empty-or", {"$or": []}),
    ("single-or", {"$or": [{"a": ["x"]}]}),
    ("nested-list-value", {"a": [["x"]]}),
    ("numeric-upper-then-lower", {"a": [{"numeric": ["<", 5, ">", 1]}]}),
    ("numeric-beyond-5e9", {"a": [{"numeric": [">", 5.1e9]}]}),
    ("anything-but-mixed", {"a": [{"anything-but": ["x", 1]}]}),
    ("anything-but-empty-prefix", {"a": [{"anything-but": {"prefix": ""}}]}),
    ("anything-but-bool", {"a": [{"anything-but": True}]}),
    ("equals-ignore-case-list", {"a": [{"equals-ignore-case": ["x"]}]}),
    ("wildcard-list", {"a": [{"wildcard": ["x*"]}]}),
    ("reserved-name-in-or", {"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}),
    ("very-deep", "{\"a\":" * 680 + "[1]" + "}" * 680),
]


@pytest.mark.parametrize("pattern", [c[1] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_patterns_are_refused_with_aws_error(pattern: Any) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        parse_filter_criteria(criteria(pattern))
    assert caught.value.code == "InvalidParameterValueException"
    assert caught.value.body() == {"Type": "User", "message": "Invalid filter pattern definition."}


@pytest.mark.parametrize(
    "given",
    [[], "x", {"Filters": "x"}, {"Filters": [{}]}, {"Filters": [{"Pattern": 1}]}, {"Filters": ["{}"]}],
    ids=["list", "string", "filters-string", "no-pattern", "pattern-number", "filter-string"],
)
def test_malformed_criteria_are_refused(given: Any) -> None:
    with pytest.raises(InvalidParameterValue, match=r"^Invalid filter pattern definition\.$"):
        parse_filter_criteria(given)


def test_stream_data_key_needs_an_object_pattern() -> None:
    # [L] streams table: a non-JSON pattern for the data properties is refused at create/update
    for source, key in (("kinesis", "data"), ("dynamodb", "dynamodb")):
        with pytest.raises(InvalidParameterValue, match="Invalid filter pattern definition."):
            parse_filter_criteria(criteria({key: ["plain"]}), source=source)
    with pytest.raises(InvalidParameterValue):
        parse_filter_criteria(criteria({"$or": [{"partitionKey": ["1"]}, {"data": ["plain"]}]}), source="kinesis")
    assert parse_filter_criteria(criteria({"body": ["plain"]}), source="sqs")
    assert parse_filter_criteria(criteria({"data": ["plain"]}), source="rabbitmq")


def test_filter_quota() -> None:
    # [L] "By default, you can define up to five different filters ... up to 10 filters" on request
    five = criteria(*[{"body": {"n": [i]}} for i in range(MAX_FILTERS)])
    assert len(parse_filter_criteria(five).filters) == 5
    six = criteria(*[{"body": {"n": [i]}} for i in range(6)])
    with pytest.raises(InvalidParameterValue):
        parse_filter_criteria(six)
    assert len(parse_filter_criteria(six, max_filters=10).filters) == 6


def test_pattern_length_limit_is_the_api_models() -> None:
    longest = json.dumps({"body": {"k": ["x" * (4096 - 21)]}})
    assert len(longest) == 4096
    parse_filter_criteria({"Filters": [{"Pattern": longest}]})
    too_long = json.dumps({"body": {"k": ["x" * 4096]}})
    with pytest.raises(ValidationError) as caught:
        parse_filter_criteria({"Filters": [{"Pattern": "{}"}, {"Pattern": too_long}]})
    assert caught.value.message == (
        f"1 validation error detected: Value '{too_long}' at 'filterCriteria.filters.2.member.pattern' "
        "failed to satisfy constraint: Member must have length less than or equal to 4096"
    )


def test_record_views() -> None:
    record = body(a=1)
    view = record_view(record, "sqs")
    assert view["body"] == {"a": 1} and view["messageId"] == record["messageId"]
    assert record_view(sqs("plain"), "sqs")["body"] == "plain"
    assert record_view(kinesis(b'{"x": [1]}'), "kinesis") == {**kinesis(b"")["kinesis"], "data": {"x": [1]}}
    assert record_view(kinesis(b"\xff\xfe"), "kinesis")["data"] == base64.b64encode(b"\xff\xfe").decode()
    ddb = dynamodb("INSERT", "1")
    assert record_view(ddb, "dynamodb") is ddb
    with pytest.raises(ValueError):
        record_view(record, "kafka")


# Hostile input: patterns and records are the tenant's.

#: 1 MB of "a": the text a catastrophic wildcard would backtrack over.
MEGABYTE = "a" * 1_000_000


def test_pathological_wildcard_on_a_megabyte_is_linear() -> None:
    stars = "*a" * 1900 + "*b"
    pattern = {"body": {"k": [{"wildcard": stars}]}}
    assert len(json.dumps(pattern)) <= 4096
    filters = parse_filter_criteria(criteria(pattern))
    record = sqs(json.dumps({"k": MEGABYTE}))
    started = time.monotonic()
    assert not filters.matches(record, "sqs")
    assert filters.matches(sqs(json.dumps({"k": MEGABYTE + "b"})), "sqs")
    assert time.monotonic() - started < 5  # generous: it takes milliseconds; a backtracking regex never ends


def test_wildcard_scans_each_piece_once_moving_forward() -> None:
    wildcard = parse_wildcard("*a" * 1900 + "*b")
    assert wildcard is not None
    scans: list[tuple[int, int]] = []
    assert not wildcard.scan(MEGABYTE, lambda start, end: scans.append((start, end)))
    # The suffix "b" fails before any search: nothing is scanned at all.
    assert scans == []
    middle = parse_wildcard("*" + "*".join(["ab"] * 1000) + "*c")
    assert middle is not None
    text = "ab" * 500_000 + "c"
    assert middle.scan(text, lambda start, end: scans.append((start, end)))
    # One search per piece between the stars, each starting where the previous match ended:
    # the text is read once, not once per piece or per backtracking step.
    assert len(scans) == 1000
    assert [start for start, _ in scans] == [2 * i for i in range(1000)]
    assert not middle.scan("ab" * 999 + "c", None)


def test_wildcard_semantics() -> None:
    cases = [("*", "", True), ("a*", "a", True), ("*a*", "bab", True), ("a*a", "a", False), ("a*b*c", "abxbc", True),
             ("a*b*c", "acb", False), ("x", "x", True), ("", "", True), ("\\\\*", "\\zz", True)]
    for pattern, text, expected in cases:
        wildcard = parse_wildcard(pattern)
        assert wildcard is not None and wildcard.matches(text) is expected, (pattern, text)


def test_deeply_nested_body_is_not_json_and_does_not_crash() -> None:
    filters = parse_filter_criteria(criteria({"body": {"a": [{"exists": False}]}}))
    assert not filters.matches(sqs("[" * 200_000 + "]" * 200_000), "sqs")
    assert not filters.matches(sqs('{"a": NaN}'), "sqs")
    big_number = parse_filter_criteria(criteria({"body": {"a": [{"numeric": [">", 0]}]}}))
    assert not big_number.matches(sqs('{"a": ' + "9" * 5000 + "}"), "sqs")
    # numeric compares values between -5e9 and 5e9 only, as EventBridge does
    assert not big_number.matches(sqs('{"a": ' + "9" * 300 + "}"), "sqs")
    assert big_number.matches(sqs('{"a": 4999999999.5}'), "sqs")


def test_matching_a_huge_array_is_bounded() -> None:
    array = json.dumps({"items": [{"k": i} for i in range(100_000)]})
    # 40 alternatives each walk the 100,000 objects: the step budget stops it, as no match.
    alternatives = [{"items": {"k": [-1 - i]}} for i in range(40)]
    costly = parse_filter_criteria(criteria({"body": {"$or": alternatives}}))
    started = time.monotonic()
    assert not costly.matches(sqs(array), "sqs")
    assert time.monotonic() - started < 10
    cheap = parse_filter_criteria(criteria({"body": {"items": {"k": [99_999]}}}))
    assert cheap.matches(sqs(array), "sqs")


def test_filters_not_reading_the_body_leave_it_unparsed() -> None:
    record = sqs("{" * 10 + MEGABYTE)
    view = record_view(record, "sqs", parse_data=False)
    assert view is record
    filters = parse_filter_criteria(criteria({"attributes": {"ApproximateReceiveCount": ["1"]}}))
    assert filters.matches(record, "sqs")


def _random_json(rng: Any, depth: int) -> Any:
    """A random JSON value built from the pieces patterns and records are made of."""
    scalars = ["", "x", "us-east", "10.0.0.0/24", "a*b", "*", "\\", 0, -1, 1.5, 5e9, 6e9, True, False, None]
    keys = ["a", "b", "body", "$or", "prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case",
            "wildcard", "cidr", "=", "<", ">=", "data"]
    kind = rng.random()
    if depth > 4 or kind < 0.4:
        return rng.choice(scalars)
    if kind < 0.7:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_random_patterns_and_records_raise_only_aws_errors() -> None:
    import random

    rng = random.Random(12)
    accepted = 0
    for _ in range(20_000):
        pattern = _random_json(rng, 0)
        try:
            filters = parse_filter_criteria(criteria(pattern), source=rng.choice(["sqs", "kinesis", "dynamodb"]))
        except InvalidParameterValue as error:
            assert error.message == "Invalid filter pattern definition."
            continue
        accepted += 1
        for _ in range(5):
            record = {"body": json.dumps(_random_json(rng, 0)), "a": _random_json(rng, 0), "b": _random_json(rng, 0)}
            assert filters.matches(record, "sqs") in (True, False)
    assert accepted > 50
