"""The CloudWatch Logs operations on streams and events: DescribeLogStreams, GetLogEvents,
FilterLogEvents, CreateLogStream, PutLogEvents. Same contract as control/log_api.py.

Event ids (FilterLogEvents' eventId) are stable: the same event has the same id in every answer
(`aws logs tail --follow` drops the events whose ids it has printed), made from the stream, the
timestamp, the message and how many identical events came before it in the answer.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from lambdabox.control.log_api import BAD_TOKEN, LogsApi, decode_token, encode_token, namespace, token_number
from lambdabox.model.arns import Scope
from lambdabox.model.log_errors import InvalidParameter, LogStreamNotFound, ResourceAlreadyExists, Throttling
from lambdabox.observe import log_catalog
from lambdabox.observe.log_filters import InvalidPattern, compile_pattern
from lambdabox.observe.logs import MAX_EVENT_BYTES, PAGE_BYTES, PAGE_EVENTS, LogStore

#: Events PutLogEvents takes that are older than this are rejected (tooOldLogEventEndIndex), in ms: 14 days.
_TOO_OLD_MS = 14 * 86_400_000
#: ... and newer than this ahead of now (tooNewLogEventStartIndex), in ms: 2 hours.
_TOO_NEW_MS = 2 * 3_600_000
#: Largest PutLogEvents batch, in bytes, counting 26 bytes per event (AWS's 1,048,576).
_MAX_BATCH_BYTES = 1_048_576
#: Bytes PutLogEvents counts for each event besides its message.
_EVENT_OVERHEAD = 26
#: Streams one DescribeLogStreams page lists when the request names no limit.
_DESCRIBE_LIMIT = 50
#: Digits of a GetLogEvents token's number, as AWS's ("f/" and 56 digits).
_TOKEN_DIGITS = 56
#: Searches (FilterLogEvents, GetLogEvents) one account may run at once; more are ThrottlingException, as past
#: AWS's per-account rate. Each reads up to all of a group's files: one tenant cannot take every worker thread.
SEARCHES_PER_ACCOUNT = 4


class AccountSlots:
    """At most `most` calls of one account at once: `take(account)` is a `with` block that raises Throttling when full."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._lock = threading.Lock()
        self._taken: Counter[str] = Counter()

    @contextmanager
    def take(self, account: str) -> Iterator[None]:
        with self._lock:
            if self._taken[account] >= self._most:
                raise Throttling()
            self._taken[account] += 1
        try:
            yield
        finally:
            with self._lock:
                self._taken[account] -= 1
                if not self._taken[account]:
                    del self._taken[account]


class LogEventsApi:
    def __init__(self, store: LogStore, groups: LogsApi, searches_per_account: int = SEARCHES_PER_ACCOUNT) -> None:
        self._store = store
        self._groups = groups
        self._searches = AccountSlots(searches_per_account)

    def describe_log_streams(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        group = self._groups.group_named(scope, params)
        order = params.get("orderBy") or "LogStreamName"
        prefix = params.get("logStreamNamePrefix")
        if prefix is not None and order == "LastEventTime":
            raise InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        token = decode_token(params.get("nextToken"), "streams")
        offset = token_number(token, "o") if token else 0
        limit = params.get("limit") or _DESCRIBE_LIMIT
        found = [info for info in log_catalog.streams(self._store, namespace(scope), group)
                 if prefix is None or info.name.startswith(prefix)]
        if order == "LastEventTime":
            found.sort(key=lambda info: (info.last_event or 0, info.name))
        if params.get("descending"):
            found.reverse()
        page = found[offset : offset + limit]
        arn = f"arn:aws:logs:{scope.region}:{scope.account}:log-group:{group}:log-stream:"
        out: dict[str, Any] = {"logStreams": [_described(info, arn) for info in page]}
        if offset + limit < len(found):
            out["nextToken"] = encode_token({"k": "streams", "o": offset + limit})
        return out

    def get_log_events(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        group = self._groups.group_named(scope, params)
        stream = params["logStreamName"]
        if not log_catalog.stream_exists(self._store, namespace(scope), group, stream):
            raise LogStreamNotFound()
        token = params.get("nextToken")
        if token is not None:
            forward, position = _stream_token(token)
        else:
            forward, position = bool(params.get("startFromHead")), (0 if params.get("startFromHead") else -1)
        with self._searches.take(scope.account):
            events, first, after = log_catalog.stream_events(
                self._store, namespace(scope), group, stream, params.get("startTime"), params.get("endTime"),
                position, forward, params.get("limit") or PAGE_EVENTS, PAGE_BYTES,
            )
        return {
            "events": [{"timestamp": t, "message": m, "ingestionTime": t} for t, m in events],
            "nextForwardToken": f"f/{after:0{_TOKEN_DIGITS}d}",
            "nextBackwardToken": f"b/{first:0{_TOKEN_DIGITS}d}",
        }

    def filter_log_events(self, scope: Scope, params: dict[str, Any], counted: bool = True) -> dict[str, Any]:
        """FilterLogEvents; `counted=False` for the looks of a held follower (log_follow.py), which are bounded
        by the number of followers held and read only what is newer than the follower has."""
        group = self._groups.group_named(scope, params)
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise InvalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        try:
            match = compile_pattern(params.get("filterPattern"))
        except InvalidPattern as invalid:
            raise InvalidParameter(str(invalid)) from None
        token = decode_token(params.get("nextToken"), "filter")
        since = token_number(token, "t") if token else max(0, params.get("startTime") or 0)
        skip = token_number(token, "s") if token else 0
        chosen = set(names) if names is not None else None

        def streams(name: str) -> bool:
            return (chosen is None or name in chosen) and (prefix is None or name.startswith(prefix))

        with self._searches.take(scope.account) if counted else nullcontext():
            page = self._store.page(
                namespace(scope), group, since, params.get("limit") or PAGE_EVENTS, PAGE_BYTES, skip,
                until=params.get("endTime"), streams=streams, match=match,
            )
        seen: Counter[tuple[str, int, str]] = Counter()
        events = []
        for event in page.events:
            key = (event.stream, event.timestamp, event.message)
            seen[key] += 1
            events.append({
                "logStreamName": event.stream, "timestamp": event.timestamp, "message": event.message,
                "ingestionTime": event.timestamp, "eventId": _event_id(*key, seen[key]),
            })
        searched = {event.stream for event in page.events}
        out: dict[str, Any] = {
            "events": events,
            "searchedLogStreams": [{"logStreamName": name, "searchedCompletely": not page.truncated}
                                   for name in sorted(searched)],
        }
        if page.truncated and page.events:
            last = page.events[-1].timestamp
            at_last = sum(1 for event in page.events if event.timestamp == last)
            out["nextToken"] = encode_token({"k": "filter", "t": last, "s": at_last + (skip if last == since else 0)})
        return out

    def create_log_stream(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        group = self._groups.group_named(scope, params)
        stream = params["logStreamName"]
        if log_catalog.stream_exists(self._store, namespace(scope), group, stream):
            raise ResourceAlreadyExists("The specified log stream already exists")
        self._store.open_stream(namespace(scope), group, stream).close()
        return {}

    def put_log_events(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        group = self._groups.group_named(scope, params)
        stream = params["logStreamName"]
        if not log_catalog.stream_exists(self._store, namespace(scope), group, stream):
            raise LogStreamNotFound()
        events = [(event["timestamp"], event["message"]) for event in params["logEvents"]]
        if any(later[0] < earlier[0] for earlier, later in zip(events, events[1:])):
            raise InvalidParameter("Log events in a single PutLogEvents request must be in chronological order.")
        if any(len(message.encode()) > MAX_EVENT_BYTES for _, message in events):
            raise InvalidParameter("Log event too large.")
        if sum(len(message.encode()) + _EVENT_OVERHEAD for _, message in events) > _MAX_BATCH_BYTES:
            raise InvalidParameter(f"Upload too large: the batch must be at most {_MAX_BATCH_BYTES} bytes.")
        now = int(time.time() * 1000)
        retention = log_catalog.group(self._store, namespace(scope), group)
        days = retention.retention_days if retention is not None else None
        oldest = now - min(_TOO_OLD_MS, days * 86_400_000 if days else _TOO_OLD_MS)
        too_old = [index for index, (t, _) in enumerate(events) if t < oldest]
        too_new = [index for index, (t, _) in enumerate(events) if t > now + _TOO_NEW_MS]
        kept = [event for event in events if oldest <= event[0] <= now + _TOO_NEW_MS]
        held = log_catalog.stream(self._store, namespace(scope), group, stream)
        if kept and held is not None and held.last_event is not None and kept[0][0] < held.last_event:
            self._store.mark_unordered(namespace(scope), group, stream)  # older than what the stream holds
        writer = self._store.open_stream(namespace(scope), group, stream)
        try:
            writer.write_events(kept)
        finally:
            writer.close()
        out: dict[str, Any] = {"nextSequenceToken": f"{now:0{_TOKEN_DIGITS}d}"}
        rejected = {}
        if too_old:
            rejected["tooOldLogEventEndIndex"] = max(too_old) + 1
        if too_new:
            rejected["tooNewLogEventStartIndex"] = min(too_new)
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out


def _described(info: log_catalog.StreamInfo, arn_prefix: str) -> dict[str, Any]:
    described: dict[str, Any] = {
        "logStreamName": info.name,
        "creationTime": info.creation_time,
        "lastIngestionTime": info.last_ingestion,
        "uploadSequenceToken": f"{info.last_ingestion:0{_TOKEN_DIGITS}d}",
        "arn": arn_prefix + info.name,
        "storedBytes": info.stored_bytes,
    }
    if info.first_event is not None:
        described["firstEventTimestamp"] = info.first_event
        described["lastEventTimestamp"] = info.last_event
    return described


def _stream_token(token: str) -> tuple[bool, int]:
    """(forward, position) of a GetLogEvents token, "f/<digits>" or "b/<digits>"."""
    direction, _, digits = token.partition("/")
    if direction not in ("f", "b") or not digits.isdigit() or not digits.isascii() or len(digits) > _TOKEN_DIGITS:
        raise InvalidParameter(BAD_TOKEN)
    return direction == "f", int(digits)


def _event_id(stream: str, timestamp: int, message: str, occurrence: int) -> str:
    digest = hashlib.sha256(f"{stream}\0{timestamp}\0{occurrence}\0{message}".encode("utf-8", "surrogatepass"))
    return f"{timestamp:020d}{int.from_bytes(digest.digest()[:14]) % 10**36:036d}"

