"""Control-plane records in SQL, behind one small interface.

Every record is a JSON document filed under (kind, namespace, key). The namespace is
the account and region a Lambda resource lives in (or the account alone, for IAM);
keys are chosen by the control layer so that a prefix scan in key order lists what it
needs (a function's versions, its aliases, a layer's versions).

Contract:
1. Everything done inside one `transaction()` commits together or not at all.
2. Write transactions are serialised: two of them never interleave, so a
   read-check-write inside one is safe.
3. A transaction that raises is rolled back and the exception propagates unchanged.
4. Records carry the blob keys they need; `referenced_blobs` is what the blob store
   must keep.

The same code serves SQLite (the embedded default) and PostgreSQL (cluster mode); only
the URL differs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Column,
    bindparam,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

_metadata = MetaData()

records_table = Table(
    "records",
    _metadata,
    Column("kind", String(32), primary_key=True),
    Column("namespace", String(64), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("body", Text, nullable=False),
    # Space-separated blob keys this record needs kept.
    Column("blobs", Text, nullable=False, default=""),
)


#: Statements built once: building SQLAlchemy expressions costs more than running them.
_GET = select(records_table.c.body).where(
    records_table.c.kind == bindparam("kind"),
    records_table.c.namespace == bindparam("namespace"),
    records_table.c.key == bindparam("key"),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; FULL makes every commit durable.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Deleted and overwritten records are zeroed, so a copied database file holds no old secret.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


class StoreUnavailable(RuntimeError):
    """The database cannot be opened: an unknown URL or driver, or a server that does not answer."""


def connect(url: str) -> Engine:
    """An engine on `url` with the records table made; StoreUnavailable, saying why, if it cannot be."""
    try:
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        _metadata.create_all(engine)
    except (ArgumentError, NoSuchModuleError, OperationalError, ImportError) as error:
        shown = _shown(url)
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise StoreUnavailable(f"cannot open the database {shown}: {reason}") from None
    return engine


def _shown(url: str) -> str:
    """`url` with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


class Records:
    """One open transaction over the records table."""

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def get(self, kind: str, namespace: str, key: str) -> dict[str, Any] | None:
        row = self._db.execute(_GET, {"kind": kind, "namespace": namespace, "key": key}).first()
        return json.loads(row.body) if row else None

    def put(self, kind: str, namespace: str, key: str, body: dict[str, Any], blobs: list[str] = ()) -> None:
        """Insert or replace a record."""
        values = {"body": json.dumps(body, sort_keys=True), "blobs": " ".join(blobs)}
        where = and_(records_table.c.kind == kind, records_table.c.namespace == namespace, records_table.c.key == key)
        changed = self._db.execute(update(records_table).where(where).values(**values)).rowcount
        if not changed:
            self._db.execute(insert(records_table).values(kind=kind, namespace=namespace, key=key, **values))

    def delete(self, kind: str, namespace: str, key: str) -> bool:
        return bool(
            self._db.execute(
                delete(records_table).where(
                    records_table.c.kind == kind, records_table.c.namespace == namespace, records_table.c.key == key
                )
            ).rowcount
        )

    def scan(
        self, kind: str, namespace: str, prefix: str = "", after: str | None = None, limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Records of a kind in one namespace in key order, under a prefix and past a key."""
        query = select(records_table.c.key, records_table.c.body).where(
            records_table.c.kind == kind, records_table.c.namespace == namespace
        )
        if prefix:
            query = query.where(records_table.c.key >= prefix, records_table.c.key < prefix + "\U0010ffff")
        if after is not None:
            query = query.where(records_table.c.key > after)
        query = query.order_by(records_table.c.key)
        if limit is not None:
            query = query.limit(limit)
        return [(row.key, json.loads(row.body)) for row in self._db.execute(query)]

    def scan_everywhere(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """Every record of a kind, in every namespace: (namespace, key, body)."""
        query = select(records_table.c.namespace, records_table.c.key, records_table.c.body).where(
            records_table.c.kind == kind
        )
        return [(row.namespace, row.key, json.loads(row.body)) for row in self._db.execute(query)]

    def delete_prefix(self, kind: str, namespace: str, prefix: str) -> int:
        return self._db.execute(
            delete(records_table).where(
                records_table.c.kind == kind,
                records_table.c.namespace == namespace,
                records_table.c.key >= prefix,
                records_table.c.key < prefix + "\U0010ffff",
            )
        ).rowcount

    def referenced_blobs(self) -> set[str]:
        keys: set[str] = set()
        for row in self._db.execute(select(records_table.c.blobs).where(records_table.c.blobs != "")):
            keys.update(row.blobs.split())
        return keys


class RecordStore:
    """Opens transactions on the records of one database."""

    def __init__(self, url: str) -> None:
        self._engine = connect(url)
        self._write_lock = threading.Lock()
        #: Goes up after every committed write transaction of this process: a cache of records is
        #: current while the generation it was read at is. (In a cluster, other nodes' writes would
        #: have to reach it too, through the database's notifications.)
        self.generation = 0

    @contextmanager
    def transaction(self) -> Iterator[Records]:
        """A serialised read-write transaction: commits on success, rolls back on any exception."""
        with self._write_lock:
            with self._engine.begin() as connection:
                yield Records(connection)
            self.generation += 1

    @contextmanager
    def reading(self) -> Iterator[Records]:
        """A read-only view; never holds the write lock."""
        with self._engine.connect() as connection:
            yield Records(connection)

    def close(self) -> None:
        self._engine.dispose()
