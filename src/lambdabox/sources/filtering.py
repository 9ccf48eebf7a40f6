"""Where a mapping's FilterCriteria meets its records: the one place the pattern engine plugs in.

`record_filter(criteria)` gives the predicate a poller applies to each record before a batch is
sent: records it refuses are dropped as AWS drops them (deleted from SQS, never invoked).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdabox.model.event_patterns import parse_filter_criteria

#: True: the record goes to the function; False: it is dropped.
RecordFilter = Callable[[dict[str, Any]], bool]


def record_filter(criteria: dict[str, Any] | None, source: str = "sqs") -> RecordFilter | None:
    """The predicate of a mapping's FilterCriteria for records of `source`; None when every record goes through.

    The criteria were validated when the mapping was made or updated (model/event_patterns.py), so
    parsing them again cannot fail on input a tenant sent.
    """
    filters = parse_filter_criteria(criteria, source=source)
    if not filters:
        return None
    return lambda record: filters.matches(record, source)
