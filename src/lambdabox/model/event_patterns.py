"""Event source mapping filters: Lambda's FilterCriteria, validated and matched.

A mapping's ``FilterCriteria`` is ``{"Filters": [{"Pattern": "<JSON text>"}, ...]}``. Each
pattern uses EventBridge's event-pattern syntax; a record is sent to the function when it
matches ANY of the patterns, and dropped otherwise (deleted from a queue, skipped in a stream).
No filters (``{}``, ``{"Filters": []}``) means every record passes.

API::

    filters = parse_filter_criteria(criteria, source="sqs")  # at Create/UpdateEventSourceMapping
    filters.matches(record, "sqs")                          # per record, in the poller
    filters.criteria()                                      # the FilterCriteria to echo back
    record_view(record, "sqs")                              # what the patterns are applied to

`parse_filter_criteria` raises InvalidParameterValueException "Invalid filter pattern
definition." (AWS's type and text) for any pattern Lambda refuses, and for more filters than
`max_filters` (the quota: 5 by default, raisable to 10 on AWS; AWS's text for that case is
not recorded, so it gets the same message). A pattern longer than 4096 characters is a
ValidationException, as AWS's API model makes it (the API layer checks that first anyway). Parsing has no other
effect; `Filters` is immutable and may be shared between threads.

Sources (`source` is one of `SOURCES`) and what the patterns see (`record_view`), as AWS
documents it where AWS has the source:

- ``sqs``: the record with ``body`` parsed as JSON when it is JSON; otherwise ``body`` stays
  the plain string. So a pattern on body fields (``{"body": {"a": [...]}}``) drops a plain
  body, and a pattern on the plain value (``{"body": ["text"]}``) drops a JSON body, as in
  the doc's "plain string vs JSON" table. Metadata (``attributes``, ``messageAttributes``,
  ``messageId``...) is matched as it is.
- ``kinesis``: the record's ``kinesis`` block, with ``data`` base64-decoded and parsed as JSON
  (a record that is not JSON keeps its decoded text, which no object pattern matches), so
  ``{"data": {...}}`` and ``{"partitionKey": [...]}`` work as in AWS's examples.
- ``dynamodb``: the record as it is (``eventName``, ``dynamodb.NewImage``...).
- ``rabbitmq``: one message of ``rmqMessagesByQueue``, with ``data`` decoded as for Kinesis
  (Amazon MQ filters plain-text data too, with a pattern on the ``data`` value).
- ``nats`` (not an AWS source): follows Kinesis: the record's ``nats`` block when it has one
  (else the record itself), with ``data`` decoded as for Kinesis.

For Kinesis and DynamoDB, Lambda refuses a pattern whose data key (``data``, ``dynamodb``)
holds values instead of an object, so `parse_filter_criteria` does when given the source.

Semantics (EventBridge's, as its engine event-ruler implements them): every key of a pattern
must match (AND); the values listed for a key are alternatives (OR); ``$or`` lists two or more
alternative sub-patterns. Exact values compare strings character for character; a number
matches its own JSON text and, between -5e9 and 5e9 (to 6 decimals), any number of the same
value (300 matches 300.0); ``numeric`` compares values in that range only. A listed value that
is a CIDR block also matches the addresses in it. When the record holds an array, the key
matches when any element does (for objects in an array, all the keys within one element).
Operators: ``prefix``, ``suffix`` (each also ``{"equals-ignore-case": ...}``),
``equals-ignore-case``, ``anything-but`` (strings, or numbers, or
``{"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}``), ``numeric``, ``exists``,
``wildcard``, ``cidr``. An empty object, as a pattern or within one, is refused, as
EventBridge refuses it ("Empty objects are not allowed").

Patterns and records come from tenants. Patterns are bounded (4096 characters, nesting
depth, no NaN); wildcards match in linear time (see `wildcards`); records are never copied
beyond a shallow view, their JSON is parsed once per record and only when a pattern reads
the data key; and matching one record stops after `MAX_VISITS` steps, counting as no match.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from lambdabox.model.errors import InvalidParameterValue, constraint, validation_failure
from lambdabox.model.pattern_rules import InvalidPattern, MatchTooCostly, Node, Number, Visits, compile_pattern

#: AWS's message for every pattern it refuses.
INVALID_PATTERN = "Invalid filter pattern definition."
#: Filters per mapping: Lambda's default quota (AWS raises it to 10 on request).
MAX_FILTERS = 5
#: Longest pattern, in characters (the API model's limit on Filter.Pattern).
MAX_PATTERN_CHARS = 4096
_TOO_LONG = f"Member must have length less than or equal to {MAX_PATTERN_CHARS}"
#: Steps (record values visited) one record's matching may take, all filters together; past
#: it the record counts as matching none. A 4096-character pattern against a 1 MB record
#: stays far below it unless the pattern walks the same large array again and again.
MAX_VISITS = 1_000_000

#: Source names `Filters.matches` and `record_view` take.
SOURCES = ("sqs", "kinesis", "dynamodb", "rabbitmq", "nats")
#: Each source's data key: the field holding the payload, parsed as JSON when it is JSON.
DATA_KEYS = {"sqs": "body", "kinesis": "data", "dynamodb": "dynamodb", "rabbitmq": "data", "nats": "data"}
_DATA_KEY_NAMES = frozenset(DATA_KEYS.values())
#: Sources whose data key must be filtered with an object pattern (streams, per AWS).
_OBJECT_DATA_SOURCES = frozenset({"kinesis", "dynamodb"})


def _invalid() -> InvalidParameterValue:
    return InvalidParameterValue(INVALID_PATTERN)


@dataclass(frozen=True)
class Filter:
    """One parsed pattern: its text as given, and its compiled form."""

    pattern: str
    rule: Node
    #: Whether the pattern reads a data key (``body``, ``data``, ``dynamodb``), so records must be parsed.
    reads_data: bool


@dataclass(frozen=True)
class Filters:
    """A mapping's filters. `matches` is true when there are none or any one matches."""

    filters: tuple[Filter, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.filters)

    @property
    def reads_data(self) -> bool:
        """Whether any filter reads a record's data key."""
        return any(f.reads_data for f in self.filters)

    def criteria(self) -> dict[str, Any]:
        """The FilterCriteria as Lambda reports it back."""
        return {"Filters": [{"Pattern": f.pattern} for f in self.filters]}

    def matches(self, record: dict[str, Any], source: str) -> bool:
        """Whether Lambda sends `record` (an event record of `source`) to the function."""
        if not self.filters:
            return True
        view = record_view(record, source, parse_data=self.reads_data)
        visits = Visits(MAX_VISITS)
        try:
            return any(f.rule.matches(view, visits) for f in self.filters)
        except MatchTooCostly:
            return False


def parse_filter_criteria(criteria: Any, source: str | None = None, max_filters: int = MAX_FILTERS) -> Filters:
    """Validate a FilterCriteria as Create/UpdateEventSourceMapping does, and compile it.

    `criteria` is the request's ``FilterCriteria`` member (None or ``{}`` clears the filters).
    Given `source`, the source-specific rules apply too. Raises InvalidParameterValue or,
    for an over-long pattern, ValidationError.
    """
    if criteria is None:
        return Filters()
    if not isinstance(criteria, dict):
        raise _invalid()
    entries = criteria.get("Filters")
    if entries is None:
        return Filters()
    if not isinstance(entries, list) or len(entries) > max_filters:
        raise _invalid()
    texts = [entry.get("Pattern") if isinstance(entry, dict) else None for entry in entries]
    # The API model's length limit is checked first, for every filter, as AWS does before the syntax.
    too_long = [
        constraint(text, f"filterCriteria.filters.{index}.member.pattern", _TOO_LONG)
        for index, text in enumerate(texts, start=1)
        if isinstance(text, str) and len(text) > MAX_PATTERN_CHARS
    ]
    if too_long:
        raise validation_failure(too_long)
    parsed = []
    for text in texts:
        if not isinstance(text, str):
            raise _invalid()
        rule = _compile_text(text, source)
        parsed.append(Filter(text, rule, not rule.keys().isdisjoint(_DATA_KEY_NAMES)))
    return Filters(tuple(parsed))


def _compile_text(text: str, source: str | None) -> Node:
    try:
        document = load_json(text)
    except _NotJson:
        raise _invalid() from None
    if not isinstance(document, dict):
        raise _invalid()
    if source in _OBJECT_DATA_SOURCES and not _data_rules_are_objects(document, DATA_KEYS[source]):
        raise _invalid()
    try:
        return compile_pattern(document)
    except InvalidPattern:
        raise _invalid() from None


def _data_rules_are_objects(document: dict[str, Any], key: str) -> bool:
    """Whether `key` holds an object wherever the pattern names it at the top (`$or` included)."""
    if key in document and not isinstance(document[key], dict):
        return False
    alternatives = document.get("$or")
    if not isinstance(alternatives, list):
        return True
    return all(_data_rules_are_objects(a, key) for a in alternatives if isinstance(a, dict))


class _NotJson(Exception):
    """Text that is not strict JSON (NaN and Infinity are not JSON)."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(name)


def load_json(text: str | bytes) -> Any:
    """`text` as JSON with numbers that keep their text (`Number`); raises _NotJson otherwise.

    Deep nesting is refused (Python's parser recurses), and so are NaN and Infinity.
    """
    try:
        return json.loads(text, parse_int=Number.of, parse_float=Number.of, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, _NotJson) as error:
        raise _NotJson(str(error)[:100]) from None


def _as_json(text: str) -> Any:
    """The JSON value `text` holds, or `text` itself when it holds none."""
    try:
        return load_json(text)
    except _NotJson:
        return text


def _decoded(data: Any) -> Any:
    """A base64 `data` field decoded, then as JSON when it is JSON (else its text)."""
    if not isinstance(data, str):
        return data
    try:
        raw = base64.b64decode(data, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return data
    return _as_json(text)


def record_view(record: dict[str, Any], source: str, parse_data: bool = True) -> Any:
    """The object a pattern is applied to for `record` (see the module's docstring).

    A shallow copy at most: the record and its large fields are never copied. With
    `parse_data` false the data key is left as it is (no pattern reads it).
    """
    if source not in DATA_KEYS:
        raise ValueError(f"unknown event source {source!r}")
    if source == "dynamodb" or not isinstance(record, dict):
        return record
    if source == "kinesis":
        block = record.get("kinesis")
        view = block if isinstance(block, dict) else record
    elif source == "nats":
        block = record.get("nats")
        view = block if isinstance(block, dict) else record
    else:
        view = record
    key = DATA_KEYS[source]
    if not parse_data or key not in view:
        return view
    payload = view[key]
    parsed = _as_json(payload) if source == "sqs" and isinstance(payload, str) else _decoded(payload)
    return {**view, key: parsed}
