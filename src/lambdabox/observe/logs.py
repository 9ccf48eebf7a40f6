"""Log groups and streams, as Lambda writes them to CloudWatch Logs.

Each function logs to the group /aws/lambda/NAME; each execution environment writes one
stream, named as Lambda names them: 2024/05/01/[$LATEST]<32 hex digits>. Events are kept
as JSON lines, one file per stream, under the data dir:
    logs/ACCOUNT:REGION/<group>/<stream>.jsonl   each line {"t": epoch ms, "m": message}

Writes append whole lines with one write call, so a reader never sees half an event.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote


def group_name(function: str) -> str:
    return f"/aws/lambda/{function}"


def new_stream_name(version: str) -> str:
    return f"{datetime.now(timezone.utc):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


@dataclass(frozen=True)
class LogEvent:
    timestamp: int
    message: str
    stream: str


class LogStream:
    """One stream, open for appending."""

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, message: str, timestamp: int | None = None) -> None:
        line = json.dumps({"t": timestamp or int(time.time() * 1000), "m": message}, ensure_ascii=False) + "\n"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LogStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _group_dir(self, namespace: str, group: str) -> Path:
        return self._root / namespace / quote(group, safe="")

    def open_stream(self, namespace: str, group: str, stream: str) -> LogStream:
        return LogStream(self._group_dir(namespace, group) / f"{quote(stream, safe='')}.jsonl", stream)

    def events(self, namespace: str, group: str, since: int = 0) -> list[LogEvent]:
        """Every event of the group at or after `since` (epoch ms), oldest first."""
        found: list[LogEvent] = []
        directory = self._group_dir(namespace, group)
        if not directory.is_dir():
            return found
        for path in directory.glob("*.jsonl"):
            stream = unquote(path.name.removesuffix(".jsonl"))
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    if not line.endswith("\n"):
                        break
                    event = json.loads(line)
                    if event["t"] >= since:
                        found.append(LogEvent(event["t"], event["m"], stream))
        found.sort(key=lambda event: event.timestamp)
        return found
