"""Log groups and streams, as Lambda writes them to CloudWatch Logs.

Each function logs to the group /aws/lambda/NAME; each execution environment writes one
stream, named as Lambda names them: 2024/05/01/[$LATEST]<32 hex digits>. Events are kept
as JSON lines, one file per stream, under the data dir:
    logs/<namespace>/<group>/group.json         {"logGroupName": name, "retentionInDays": days or null}
    logs/<namespace>/<group>/<stream>.jsonl     first line {"stream": name}, then {"t": epoch ms, "m": message}
where each <...> is `file_name()` of a name the tenant chose (account:region, group, stream).

Guarantees:
1. A file name made from tenant input is never empty, ".", "..", never holds "/", never
   starts with "." and is at most 203 bytes long: a name that would be longer is replaced by
   "#" and its SHA-256, and the real name is kept inside (group.json, the stream's first line).
2. Writes append whole lines, one write call per batch, so a reader never sees half an
   event. A failed write (disk full) drops that batch and never raises to the caller.
3. Files are opened without following links (O_NOFOLLOW), and walks skip anything that is
   not a plain directory or file.
4. A stream file deleted while open (retention, the size cap) is started afresh by the
   next write, so a deleted stream never keeps growing on disk unseen.
5. A stream's events are in time order, which reading relies on (a binary search for a time,
   stopping at the end of a range), unless a write added older events than the stream held: the
   writer then marks the stream unordered (an empty `<stream>.jsonl.unordered` beside it) and
   readers read all of it.
6. Reading is bounded: `page` returns at most `limit` events and about `max_bytes` of
   messages, holding no more than that in memory, whatever the size of the group.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote

from lambdabox.observe.log_rate import LogRate

log = logging.getLogger(__name__)

#: Largest message of one log event, in bytes: CloudWatch Logs takes events of at most 256 KB
#: (262,144 bytes) counting 26 bytes of overhead per event. Lambda splits a longer line of a
#: function's output into several events of this size.
MAX_EVENT_BYTES = 262_144 - 26
#: The retention periods CloudWatch Logs accepts (PutRetentionPolicy's retentionInDays), in days.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
#: Longest quoted name used as a file name as is, in bytes (Linux allows 255 per name).
_MAX_NAME_BYTES = 200
#: Events one page of a group returns at most (GetLogEvents' 10,000).
PAGE_EVENTS = 10_000
#: Message bytes one page returns at most (GetLogEvents' 1 MB); a page always holds at least one event.
PAGE_BYTES = 1_048_576
#: Bytes of a stream file read line by line once a binary search for a time has narrowed it down.
_SEARCH_WINDOW_BYTES = 65536
#: The group's own record, beside its streams.
_GROUP_FILE = "group.json"
_STREAM_SUFFIX = ".jsonl"
#: Beside a stream file, marks its events as not in time order (see guarantee 5).
_UNORDERED_SUFFIX = ".unordered"
#: How far a file's modification time may lag the timestamps written into it, in ms (the kernel
#: stamps files from a coarse clock, a few ms behind time.time()).
_MTIME_SLACK_MS = 1000
#: Milliseconds in a day.
_DAY_MS = 86_400_000


def group_name(function: str) -> str:
    return f"/aws/lambda/{function}"


def new_stream_name(version: str) -> str:
    return f"{datetime.now(timezone.utc):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


def file_name(name: str) -> str:
    """A safe file name for a tenant's name (see guarantee 1): percent-quoted, or "#" + SHA-256."""
    raw = name.encode("utf-8", "surrogatepass")
    # ":" stays as it is, so a namespace (ACCOUNT:REGION) keeps the directory name it always had.
    quoted = quote(raw, safe=":")
    if quoted.startswith("."):
        # quote() leaves dots alone: ".", ".." and hidden names get their first dot encoded.
        quoted = "%2E" + quoted[1:]
    if not quoted or len(quoted) > _MAX_NAME_BYTES:
        # quote() encodes "#", so a hashed name never equals a quoted one.
        return "#" + hashlib.sha256(raw).hexdigest()
    return quoted


@dataclass(frozen=True)
class LogEvent:
    timestamp: int
    message: str
    stream: str


@dataclass(frozen=True)
class LogPage:
    #: Events, oldest first.
    events: list[LogEvent]
    #: Whether events at or after the last one's timestamp were left out for the page's limits.
    truncated: bool


class LogStream:
    """One stream, open for appending."""

    def __init__(self, path: Path, name: str, store: LogStore | None = None, group: tuple[str, str] | None = None) -> None:
        self.name = name
        #: (namespace, group name), so that a stream whose group was deleted while open starts the group afresh.
        self._group = group
        self._path = path
        self._store = store
        self._encode = json.JSONEncoder(ensure_ascii=False).encode
        self._fd = -1
        #: Batches lost to failed writes (disk full, I/O errors).
        self.failed_writes = 0
        self._open()

    def _open(self) -> None:
        """Open the file for appending, creating it with its header line if it is new."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        if self._store is not None and self._group is not None and not self._path.parent.exists():
            self._store.ensure_group(*self._group)  # deleted (DeleteLogGroup) while this stream was open
        try:
            self._fd = os.open(self._path, flags | os.O_EXCL, 0o600)
        except FileExistsError:
            self._fd = os.open(self._path, flags, 0o600)
            return
        self._append_raw(_utf8(self._encode({"stream": self.name, "created": int(time.time() * 1000)}) + "\n"))

    def write(self, message: str, timestamp: int | None = None) -> None:
        self.write_many([message], timestamp)

    def write_many(self, messages: list[str], timestamp: int | None = None) -> None:
        """Append events with one write call (all stamped `timestamp`, default now)."""
        if not messages or self._fd < 0:
            return
        stamp = timestamp or int(time.time() * 1000)
        self.write_events([(stamp, message) for message in messages])

    def write_events(self, events: list[tuple[int, str]]) -> None:
        """Append (timestamp, message) events, oldest first, with one write call."""
        if not events or self._fd < 0:
            return
        encode = self._encode
        data = _utf8("".join([f'{{"t":{int(stamp)},"m":{encode(message)}}}\n' for stamp, message in events]))
        try:
            if os.fstat(self._fd).st_nlink == 0:
                # Deleted by retention or the size cap while open: start the stream afresh.
                os.close(self._fd)
                self._fd = -1
                self._open()
        except OSError:
            self._note_failure()
            return
        self._append_raw(data)

    def _append_raw(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            self._note_failure()
            return
        if self._store is not None:
            self._store.count_written(len(data))

    def _note_failure(self) -> None:
        self.failed_writes += 1
        if self.failed_writes == 1:
            log.warning("could not write to log stream %s; its output is being dropped", self._path)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LogStore:
    """Groups and streams under one directory, with retention and a size cap.

    `rate` is the output rate each execution environment may log (the capture enforces it);
    `max_bytes` caps the whole directory (None: no cap); `default_retention_days` applies
    to groups that set none (None: never expire, as on AWS).
    """

    def __init__(
        self,
        root: Path,
        rate: LogRate = LogRate(),
        max_bytes: int | None = None,
        default_retention_days: int | None = None,
    ) -> None:
        self._root = root
        self.rate = rate
        self.max_bytes = max_bytes
        self.default_retention_days = default_retention_days
        #: Bytes appended since the last sweep (the sweeper sweeps early when this grows large).
        self.written_since_sweep = 0
        #: Held while a group's record is read and written back (tags, retention).
        self._records = threading.Lock()

    def count_written(self, size: int) -> None:
        self.written_since_sweep += size

    def _namespace_dir(self, namespace: str) -> Path:
        return self._root / file_name(namespace)

    def _group_dir(self, namespace: str, group: str) -> Path:
        return self._namespace_dir(namespace) / file_name(group)

    def open_stream(self, namespace: str, group: str, stream: str) -> LogStream:
        self.ensure_group(namespace, group)
        return LogStream(self.stream_path(namespace, group, stream), stream, self, (namespace, group))

    def mark_unordered(self, namespace: str, group: str, stream: str) -> None:
        """Say that the stream's events are no longer in time order (see guarantee 5)."""
        path = self.stream_path(namespace, group, stream)
        marker = path.with_name(path.name + _UNORDERED_SUFFIX)
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        except OSError:
            log.warning("could not mark log stream %s unordered; reads by time may miss its older events", path)

    def stream_path(self, namespace: str, group: str, stream: str) -> Path:
        return self._group_dir(namespace, group) / (file_name(stream) + _STREAM_SUFFIX)

    def group_dir(self, namespace: str, group: str) -> Path:
        return self._group_dir(namespace, group)

    def namespace_dir(self, namespace: str) -> Path:
        return self._namespace_dir(namespace)

    # Groups ------------------------------------------------------------------------------

    def ensure_group(self, namespace: str, group: str) -> Path:
        """The group's directory, made with its record if the group is new."""
        directory = self._group_dir(namespace, group)
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / _GROUP_FILE).exists():
            self._write_group(directory, _new_group(group, None), replace=False)
        return directory

    def create_group(self, namespace: str, group: str, tags: dict[str, str]) -> bool:
        """Make a new group; False (and nothing changed) if it exists."""
        directory = self._group_dir(namespace, group)
        directory.mkdir(parents=True, exist_ok=True)
        return self._write_group(directory, {**_new_group(group, None), "tags": tags}, replace=False)

    def group_record(self, namespace: str, group: str) -> dict | None:
        """The group's record (logGroupName, retentionInDays, creationTime, tags), or None if there is no such group."""
        record = read_group(self._group_dir(namespace, group))
        return record or None

    def update_group(self, namespace: str, group: str, change: Callable[[dict], dict]) -> bool:
        """Replace the group's record with `change(record)`; False if there is no such group."""
        directory = self._group_dir(namespace, group)
        with self._records:
            record = read_group(directory)
            if not record:
                return False
            self._write_group(directory, change(record), replace=True)
        return True

    def delete_group(self, namespace: str, group: str) -> bool:
        """Delete the group and all its events; False if there is no such group."""
        directory = self._group_dir(namespace, group)
        if not read_group(directory):
            return False
        # The directory is renamed away first, so a half-deleted group is never seen; rmtree never follows links.
        doomed = directory.with_name(f".deleted-{uuid.uuid4().hex}")
        try:
            os.rename(directory, doomed)
        except FileNotFoundError:
            return False
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    # Retention ---------------------------------------------------------------------------

    def set_retention(self, namespace: str, group: str, days: int | None) -> None:
        """Keep the group's events `days` days (one of RETENTION_DAYS); None: keep them forever.

        Raises ValueError for any other number of days, and changes nothing then.
        """
        if days is not None and (type(days) is not int or days not in RETENTION_DAYS):
            raise ValueError(f"retentionInDays must be one of {', '.join(map(str, RETENTION_DAYS))}, not {days!r}")
        self.ensure_group(namespace, group)
        self.update_group(namespace, group, lambda record: {**record, "retentionInDays": days})

    def get_retention(self, namespace: str, group: str) -> int | None:
        """The group's own retention in days, or None when it set none."""
        return read_group(self._group_dir(namespace, group)).get("retentionInDays")

    def _write_group(self, directory: Path, record: dict, replace: bool) -> bool:
        """Write group.json whole: through a temporary file, renamed (or linked, when not replacing) into place.
        Returns False if it was not replaced because it exists."""
        temporary = directory / f".group-{uuid.uuid4().hex}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps(record).encode())
        finally:
            os.close(fd)
        try:
            if replace:
                os.replace(temporary, directory / _GROUP_FILE)
            else:
                os.link(temporary, directory / _GROUP_FILE)
        except FileExistsError:
            return False
        finally:
            if not replace or temporary.exists():
                temporary.unlink(missing_ok=True)
        return True

    def expire(self, now_ms: int | None = None) -> int:
        """Delete the events older than their group's retention; returns how many streams were deleted whole.

        A stream whose file was last written before the retention began is deleted whole (each
        event is written as it happens, so its last event is no newer). A newer stream whose first
        event is older (events written with their own, older timestamps) is rewritten without its
        old events, and deleted if none is left; an event appended while it is rewritten may be lost.
        """
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        removed = 0
        for group_dir in self._group_dirs():
            days = read_group(group_dir).get("retentionInDays") or self.default_retention_days
            if not days:
                continue
            oldest_ms = now_ms - days * _DAY_MS
            for path, stat in stream_files(group_dir):
                if stat.st_mtime_ns // 1_000_000 < oldest_ms:
                    removed += _unlink(path)
                else:
                    removed += _drop_older(path, oldest_ms)
        return removed

    def trim(self) -> int:
        """Under the size cap, delete the least recently written streams until the directory holds at
        most 90% of `max_bytes` (room before the next sweep); returns how many were deleted."""
        if self.max_bytes is None:
            return 0
        streams = [(stat.st_mtime_ns, stat.st_size, path) for group in self._group_dirs() for path, stat in stream_files(group)]
        total = sum(size for _, size, _ in streams)
        if total <= self.max_bytes:
            return 0
        removed = 0
        for _, size, path in sorted(streams, key=lambda stream: stream[0]):
            if total <= self.max_bytes * 9 // 10:
                break
            removed += _unlink(path)
            total -= size
        return removed

    def sweep(self, now_ms: int | None = None) -> tuple[int, int]:
        """Retention, then the size cap: (streams expired, streams deleted for room)."""
        self.written_since_sweep = 0
        return self.expire(now_ms), self.trim()

    def _group_dirs(self) -> Iterator[Path]:
        for namespace in entries(self._root, directories=True):
            yield from entries(namespace, directories=True)

    # Reading ----------------------------------------------------------------------------

    def events(self, namespace: str, group: str, since: int = 0) -> list[LogEvent]:
        """The oldest events of the group at or after `since` (epoch ms), within one page's limits."""
        return self.page(namespace, group, since).events

    def page(
        self, namespace: str, group: str, since: int = 0, limit: int = PAGE_EVENTS, max_bytes: int = PAGE_BYTES,
        skip: int = 0, until: int | None = None, streams: Callable[[str], bool] | None = None,
        match: Callable[[str], bool] | None = None,
    ) -> LogPage:
        """The oldest events of the group at or after `since`: at most `limit` events and `max_bytes`
        of messages (at least one event), oldest first, reading one stream file at a time.

        Events of one millisecond are in a fixed order (streams by name, each in its own order);
        `skip` leaves out the first so many events at `since`, those an earlier page returned, so
        that a page can follow one that ended among more events of its last millisecond than fit.

        Only events up to `until` (epoch ms, inclusive), of the streams `streams` takes (by name)
        and whose messages `match` takes count, and `skip` counts only those."""
        directory = self._group_dir(namespace, group)
        # A max-heap (by negated timestamp and order read) of the oldest events seen so far.
        kept: list[tuple[int, int, str, str]] = []
        size = 0
        truncated = False
        order = 0
        skipped = 0
        for path, stat in stream_files(directory):
            if stat.st_mtime_ns // 1_000_000 < since - _MTIME_SLACK_MS:
                continue  # last written before `since`: nothing in it is new
            ordered = in_order(path)
            for timestamp, message, stream in read_stream(path, since):
                if timestamp < since:
                    continue
                if until is not None and timestamp > until:
                    if ordered:
                        break  # so are all the stream's later events
                    continue
                if streams is not None and not streams(stream):
                    break
                if match is not None and not match(message):
                    continue
                if timestamp == since and skipped < skip:
                    skipped += 1
                    continue
                order += 1
                # Full: at a limit, or past one before (events were let go; what is kept stays just under it).
                full = len(kept) >= limit or size >= max_bytes or truncated
                if kept and full and (-timestamp, -order) < kept[0][:2]:
                    truncated = True  # newer than everything kept, and the page is full: so is the rest of this stream
                    if ordered:
                        break
                    continue
                heapq.heappush(kept, (-timestamp, -order, message, stream))
                size += len(message)
                while len(kept) > limit or (size > max_bytes and len(kept) > 1):
                    size -= len(heapq.heappop(kept)[2])
                    truncated = True
        events = [LogEvent(-t, message, stream) for t, _, message, stream in sorted(kept, reverse=True)]
        return LogPage(events, truncated)


def _new_group(name: str, days: int | None) -> dict:
    return {"logGroupName": name, "retentionInDays": days, "creationTime": int(time.time() * 1000), "tags": {}}


def _drop_older(path: Path, oldest_ms: int) -> int:
    """Rewrite a stream file without its events older than `oldest_ms` (when its first one is);
    unlink it if none is left. Returns 1 if the stream was deleted, else 0."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0
    with open(fd, "rb") as lines:
        header = lines.readline()
        start = lines.tell()
        if in_order(path):
            first = parse_line(lines.readline())
            if first is None or not isinstance(first.get("t"), int) or first["t"] >= oldest_ms:
                return 0  # its oldest event is its first
        elif not any(_older(line, oldest_ms) for line in lines):
            return 0  # unordered: rewritten only when some event is old
        lines.seek(start)
        kept = 0
        temporary = path.with_name(f".rewrite-{uuid.uuid4().hex}")
        out_fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(out_fd, "wb") as out:
            out.write(header)
            for line in lines:
                event = parse_line(line)
                if event is not None and isinstance(event.get("t"), int) and event["t"] >= oldest_ms:
                    out.write(line)
                    kept += 1
    if not kept:
        temporary.unlink(missing_ok=True)
        return _unlink(path)
    os.replace(temporary, path)
    return 0


def _older(line: bytes, oldest_ms: int) -> bool:
    event = parse_line(line)
    return event is not None and isinstance(event.get("t"), int) and event["t"] < oldest_ms


def _utf8(json_text: str) -> bytes:
    """JSON text as UTF-8; a lone surrogate (which UTF-8 cannot hold) becomes its JSON escape, \\uXXXX."""
    return json_text.encode("utf-8", "backslashreplace")


def entries(directory: Path, directories: bool) -> Iterator[Path]:
    """Plain directories (or plain files) in `directory`, links never followed; nothing if it is missing."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    plain = entry.is_dir(follow_symlinks=False) if directories else entry.is_file(follow_symlinks=False)
                except OSError:
                    continue
                if plain:
                    yield Path(entry.path)
    except (FileNotFoundError, NotADirectoryError):
        return


def stream_files(directory: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """The stream files of a group directory, by name (the order `page` relies on)."""
    for path in sorted(entries(directory, directories=False)):
        if path.name.endswith(_STREAM_SUFFIX):
            try:
                yield path, path.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted meanwhile


def read_stream(path: Path, since: int) -> Iterator[tuple[int, str, str]]:
    """(timestamp, message, stream name) of each whole event line of a stream file, from about `since` on.

    A stream's events are in time order, so the reading starts where a binary search over the
    file's lines finds the last event before `since` (within SEARCH_WINDOW_BYTES): a page costs
    a few reads of a large file, not a parse of all of it.
    """
    name = unquote(path.name.removesuffix(_STREAM_SUFFIX))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    with open(fd, "rb") as lines:
        first = parse_line(lines.readline())
        if first is not None and "stream" in first:
            name = str(first["stream"])
        lines.seek(_search(lines, os.fstat(fd).st_size, since) if since > 0 and in_order(path) else 0)
        for line in lines:
            event = parse_line(line)
            if event is not None and isinstance(event.get("t"), int) and isinstance(event.get("m"), str):
                yield event["t"], event["m"], name


def in_order(path: Path) -> bool:
    """Whether a stream file's events are in time order (no unordered marker beside it)."""
    return not os.path.lexists(path.with_name(path.name + _UNORDERED_SUFFIX))


def _search(lines, size: int, since: int) -> int:
    """Offset of a line start before which every event is older than `since` (0 at worst)."""
    low, high = 0, size
    while high - low > _SEARCH_WINDOW_BYTES:
        middle = (low + high) // 2
        lines.seek(middle)
        lines.readline()  # to the start of the next line
        start = lines.tell()
        event = parse_line(lines.readline())
        if event is not None and isinstance(event.get("t"), int) and event["t"] < since:
            low = start
        else:
            high = middle
    return low


def parse_line(line: bytes) -> dict | None:
    """A whole JSON line as a dict; None for anything else (a half-written last line, garbage)."""
    if not line.endswith(b"\n"):
        return None
    try:
        found = json.loads(line)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def read_group(directory: Path) -> dict:
    try:
        fd = os.open(directory / _GROUP_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    with open(fd, encoding="utf-8") as record:
        try:
            found = json.load(record)
        except ValueError:
            return {}
    return found if isinstance(found, dict) else {}


def _unlink(path: Path) -> int:
    """Delete a stream file (and its unordered marker); 1 if it was there."""
    path.with_name(path.name + _UNORDERED_SUFFIX).unlink(missing_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
