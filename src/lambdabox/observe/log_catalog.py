"""What a namespace's log groups and streams hold, as DescribeLogGroups, DescribeLogStreams and
GetLogEvents report it, read from a LogStore's files.

Contract:
1. Every function here only reads, never follows links (the store's own readers), and treats a
   file deleted meanwhile as never there.
2. Memory is bounded by what is returned: `stream_events` keeps at most `limit` events and about
   `max_bytes` of messages, whatever the size of the stream.
"""

from __future__ import annotations

import os
import stat as stat_mode
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdabox.observe.logs import LogStore, entries, in_order, parse_line, read_group, read_stream, stream_files

#: Bytes read from the end of a stream file to find its last event (a longer last event is read whole).
_TAIL_BYTES = 65536


@dataclass(frozen=True)
class GroupInfo:
    name: str
    creation_time: int
    retention_days: int | None
    tags: dict[str, str]
    stored_bytes: int


@dataclass(frozen=True)
class StreamInfo:
    name: str
    creation_time: int
    first_event: int | None
    last_event: int | None
    last_ingestion: int
    stored_bytes: int


def groups(store: LogStore, namespace: str) -> list[GroupInfo]:
    """The namespace's groups, by name."""
    found = []
    for directory in entries(store.namespace_dir(namespace), directories=True):
        info = _group_info(directory)
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda info: info.name)


def group(store: LogStore, namespace: str, name: str) -> GroupInfo | None:
    return _group_info(store.group_dir(namespace, name), name)


def _group_info(directory: Path, name: str | None = None) -> GroupInfo | None:
    record = read_group(directory)
    if not isinstance(record.get("logGroupName"), str) or (name is not None and record["logGroupName"] != name):
        return None
    try:
        created = int(record.get("creationTime") or directory.stat().st_mtime * 1000)
    except OSError:
        return None
    size = sum(stat.st_size for _, stat in stream_files(directory))
    tags = record.get("tags") if isinstance(record.get("tags"), dict) else {}
    days = record.get("retentionInDays")
    return GroupInfo(record["logGroupName"], created, days if isinstance(days, int) else None, tags, size)


def streams(store: LogStore, namespace: str, group_name: str) -> list[StreamInfo]:
    """The group's streams, by name."""
    found = []
    for path, stat in stream_files(store.group_dir(namespace, group_name)):
        info = _stream_info(path, stat)
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda info: info.name)


def stream(store: LogStore, namespace: str, group_name: str, name: str) -> StreamInfo | None:
    """One stream of the group, or None if there is no such stream."""
    path = store.stream_path(namespace, group_name, name)
    try:
        found = path.lstat()
    except OSError:
        return None
    return _stream_info(path, found) if stat_mode.S_ISREG(found.st_mode) else None


def _stream_info(path: Path, stat: os.stat_result) -> StreamInfo | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with open(fd, "rb") as lines:
        header = parse_line(lines.readline()) or {}
        first = parse_line(lines.readline())
        size = os.fstat(fd).st_size
        last = None
        if first is not None:
            lines.seek(max(0, size - _TAIL_BYTES))
            tail = lines.read()
            if size > _TAIL_BYTES and tail.count(b"\n") < 2:
                lines.seek(0)
                tail = lines.read()  # one last event longer than the window: read it whole
            last = parse_line(tail[tail.rstrip(b"\n").rfind(b"\n") + 1:])
    name = header.get("stream")
    if not isinstance(name, str):
        return None
    first_time = first.get("t") if first is not None and isinstance(first.get("t"), int) else None
    last_time = last.get("t") if last is not None and isinstance(last.get("t"), int) else first_time
    written = stat.st_mtime_ns // 1_000_000
    created = header.get("created")
    if not isinstance(created, int):
        created = first_time if first_time is not None else written
    return StreamInfo(name, created, first_time, last_time, written, stat.st_size)


def stream_events(
    store: LogStore, namespace: str, group_name: str, stream: str, start: int | None, end: int | None,
    position: int, forward: bool, limit: int, max_bytes: int,
) -> tuple[list[tuple[int, str]], int, int]:
    """One page of a stream's events within [start, end) (epoch ms), counted from the first such event:
    forward, at most `limit` events from index `position`; backward, at most `limit` before index
    `position` (-1: the end). Returns (events oldest first, index of the first, index after the last)."""
    path = store.stream_path(namespace, group_name, stream)
    window: deque[tuple[int, str]] = deque()
    size = 0
    index = -1
    for index, (timestamp, message) in enumerate(_in_range(path, start, end)):
        if forward:
            if index < position:
                continue
            if len(window) >= limit or (window and size + len(message) > max_bytes):
                return list(window), position, position + len(window)
            window.append((timestamp, message))
            size += len(message)
            continue
        if position >= 0 and index >= position:
            break
        window.append((timestamp, message))
        size += len(message)
        while len(window) > limit or (size > max_bytes and len(window) > 1):
            size -= len(window.popleft()[1])
    if forward:
        return list(window), position, position + len(window)
    after = index + 1 if position < 0 else min(position, index + 1)
    first_index = after - len(window)
    return list(window), first_index, after


def _in_range(path: Path, start: int | None, end: int | None) -> Iterator[tuple[int, str]]:
    ordered = in_order(path)
    for timestamp, message, _ in read_stream(path, start or 0):
        if start is not None and timestamp < start:
            continue
        if end is not None and timestamp >= end:
            if ordered:
                break
            continue
        yield timestamp, message


def stream_exists(store: LogStore, namespace: str, group_name: str, stream: str) -> bool:
    try:
        found = store.stream_path(namespace, group_name, stream).lstat()
    except OSError:
        return False
    return stat_mode.S_ISREG(found.st_mode)
