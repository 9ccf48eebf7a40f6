"""The embedded event queue: one SQLite file, written with group commit.

Every write goes through one writer thread. It takes all the writes waiting at that
moment and commits them in one transaction (WAL with synchronous=FULL, so the commit is
fsync'd), then wakes their callers. Under load many events share one fsync; alone, an
event pays one.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambdabox.queue.api import DELIVERY, EVENT, QUEUED, RETRYING, RUNNING, QueueItem

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    received_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before_ms INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    lineage TEXT,
    target TEXT,
    parent TEXT,
    history TEXT NOT NULL DEFAULT '[]',
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ready ON items (status, not_before_ms);
CREATE INDEX IF NOT EXISTS by_function ON items (account, region, function, received_ms);
CREATE INDEX IF NOT EXISTS by_parent ON items (parent);
"""

_COLUMNS = (
    "id, kind, account, region, function, qualifier, payload, received_ms, attempts, "
    "not_before_ms, status, lineage, target, parent, history"
)

#: Most writes committed in one transaction.
_BATCH = 512

Write = Callable[[sqlite3.Connection], Any]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk (the WAL fsync'd) before it returns.
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


def _item(row: tuple) -> QueueItem:
    (id_, kind, account, region, function, qualifier, payload, received, attempts, not_before, status, lineage,
     target, parent, history) = row
    return QueueItem(
        id=id_, kind=kind, account=account, region=region, function=function, qualifier=qualifier,
        payload=bytes(payload), received_ms=received, attempts=attempts, not_before_ms=not_before, status=status,
        lineage=lineage, target=target, parent=parent, history=json.loads(history),
    )


class SqliteEventQueue:
    def __init__(self, path: Path) -> None:
        self._writer_db = _connect(path)
        self._writer_db.executescript(_SCHEMA)
        self._reader_db = _connect(path)
        self._reader_lock = threading.Lock()
        self._writes: queue.Queue[tuple[Write, asyncio.Future, asyncio.AbstractEventLoop] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._write_loop, name="lambdabox-event-queue", daemon=True)
        self._thread.start()

    # -- the writer thread ---------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            first = self._writes.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < _BATCH:
                try:
                    following = self._writes.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    self._writes.put(None)
                    break
                batch.append(following)
            results: list[tuple[bool, Any]] = []
            try:
                self._writer_db.execute("BEGIN IMMEDIATE")
                for write, _, _ in batch:
                    results.append((True, write(self._writer_db)))
                self._writer_db.execute("COMMIT")
            except Exception as error:  # the whole batch failed: tell every caller
                if self._writer_db.in_transaction:
                    self._writer_db.execute("ROLLBACK")
                results = [(False, error)] * len(batch)
            for (_, future, loop), (ok, value) in zip(batch, results):
                loop.call_soon_threadsafe(_resolve, future, ok, value)

    async def _write(self, write: Write) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._writes.put((write, future, loop))
        return await future

    # -- the interface -------------------------------------------------------------------

    async def put(self, item: QueueItem) -> None:
        values = (
            item.id, item.kind, item.account, item.region, item.function, item.qualifier, item.payload,
            item.received_ms, item.attempts, item.not_before_ms, item.status, item.lineage, item.target,
            item.parent, json.dumps(item.history), _now_ms(),
        )
        await self._write(lambda db: db.execute(f"INSERT INTO items ({_COLUMNS}, updated_ms) VALUES ({','.join('?' * 16)})", values))

    async def claim(self, limit: int, now_ms: int) -> list[QueueItem]:
        def take(db: sqlite3.Connection) -> list[QueueItem]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE status IN (?, ?) AND not_before_ms <= ? "
                "ORDER BY not_before_ms, received_ms LIMIT ?",
                (QUEUED, RETRYING, now_ms, limit),
            ).fetchall()
            items = [_item(row) for row in rows]
            db.executemany(
                "UPDATE items SET status = ?, updated_ms = ? WHERE id = ?", [(RUNNING, now_ms, item.id) for item in items]
            )
            for item in items:
                item.status = RUNNING
            return items

        return await self._write(take)

    async def settle(
        self, item: QueueItem, status: str, entry: dict[str, Any] | None = None, not_before_ms: int = 0
    ) -> None:
        if entry is not None:
            item.history.append(entry)
        item.status, item.not_before_ms = status, not_before_ms
        values = (status, item.attempts, not_before_ms, json.dumps(item.history), _now_ms(), item.id)
        await self._write(
            lambda db: db.execute(
                "UPDATE items SET status = ?, attempts = ?, not_before_ms = ?, history = ?, updated_ms = ? WHERE id = ?",
                values,
            )
        )

    def get(self, item_id: str) -> dict[str, Any] | None:
        with self._reader_lock:
            row = self._reader_db.execute(f"SELECT {_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                return None
            deliveries = self._reader_db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE parent = ? AND kind = ? ORDER BY received_ms", (item_id, DELIVERY)
            ).fetchall()
        record = _public(_item(row))
        record["deliveries"] = [_public(_item(delivery)) for delivery in deliveries]
        return record

    def recent(self, account: str, region: str, function: str, limit: int) -> list[dict[str, Any]]:
        with self._reader_lock:
            rows = self._reader_db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE account = ? AND region = ? AND function = ? AND kind = ? "
                "ORDER BY received_ms DESC LIMIT ?",
                (account, region, function, EVENT, limit),
            ).fetchall()
        return [_public(_item(row)) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._reader_lock:
            return dict(self._reader_db.execute("SELECT status, COUNT(*) FROM items GROUP BY status").fetchall())

    def recover(self) -> int:
        cursor = self._writer_db.execute(
            "UPDATE items SET status = ?, updated_ms = ? WHERE status = ?", (QUEUED, _now_ms(), RUNNING)
        )
        return cursor.rowcount

    def close(self) -> None:
        self._writes.put(None)
        self._thread.join(timeout=30)
        self._writer_db.close()
        self._reader_db.close()


def _resolve(future: asyncio.Future, ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _public(item: QueueItem) -> dict[str, Any]:
    """An item as the lookup API and CLI show it."""
    record: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind,
        "function": item.function,
        "qualifier": item.qualifier,
        "account": item.account,
        "region": item.region,
        "status": item.status,
        "attempts": item.attempts,
        "receivedAt": item.received_ms,
        "history": item.history,
    }
    if item.kind == DELIVERY:
        record["target"] = item.target
    return record
