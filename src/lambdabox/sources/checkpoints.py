"""Where each shard of a stream mapping stands, kept in the store so that a restarted server resumes there.

Records: kind ``esm-checkpoint``, namespace "ACCOUNT:REGION", key "UUID/SHARD"; the body holds
``sequence`` (the last sequence number the mapping is done with: invoked successfully, filtered
out, or handed to the OnFailure destination) and ``since`` (epoch seconds at which the shard was
first read from LATEST or a timestamp, so that a restart before any record still starts there).

A checkpoint is written after each settled batch, in its own transaction: a kill -9 repeats at
most the batches in flight. Deleting a mapping deletes its checkpoints.
"""

from __future__ import annotations

from typing import Any

from lambdabox.model.arns import Scope
from lambdabox.store.records import RecordStore

CHECKPOINT = "esm-checkpoint"


class Checkpoints:
    """The checkpoints of one mapping's shards. Blocking: call from a worker thread."""

    def __init__(self, store: RecordStore, scope: Scope, mapping_uuid: str) -> None:
        self._store = store
        self._space = f"{scope.account}:{scope.region}"
        self._uuid = mapping_uuid

    def get(self, shard_id: str) -> dict[str, Any]:
        with self._store.reading() as records:
            return records.get(CHECKPOINT, self._space, f"{self._uuid}/{shard_id}") or {}

    def put(self, shard_id: str, **fields: Any) -> None:
        with self._store.transaction() as records:
            key = f"{self._uuid}/{shard_id}"
            body = records.get(CHECKPOINT, self._space, key) or {}
            body.update(fields)
            records.put(CHECKPOINT, self._space, key, body)

    def forget(self) -> None:
        """Delete every checkpoint of the mapping (it was deleted)."""
        with self._store.transaction() as records:
            records.delete_prefix(CHECKPOINT, self._space, f"{self._uuid}/")
