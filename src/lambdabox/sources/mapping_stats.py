"""What each event source mapping has done since this server started: records processed and failed, and lag.

Kept in the server, not stored: a restart starts every count again at 0 (what was settled before it is
in the source's own state: deleted messages, checkpoints, acks). Updating a mapping keeps its counts;
deleting it drops them. Pollers write (on the event loop); the API reads a copy for one account and region.

Contract of the figures (as the API names them):
- `RecordsProcessed`: records the function succeeded with (then deleted, acked or checkpointed past);
- `RecordsFailed`: record deliveries that failed (an invocation error, a record the function reported, a batch
  that could not be invoked); a record retried three times counts three times;
- `LagMillis`: the age, now, of the oldest record the mapping has read and not yet settled, over every part of
  the source (an SQS worker's batch, a stream's shard, a NATS consumer); 0 once a read finds nothing waiting;
  None until the first read. "Age" is by the source's own clock: SQS SentTimestamp, Kinesis
  ApproximateArrivalTimestamp, DynamoDB ApproximateCreationDateTime, the NATS stream's timestamp. For a stream
  shard the record is the last one read (Lambda's IteratorAge); records a source holds that were not read yet
  do not count (SQS tells their age only to CloudWatch);
- `Backlog`: records still waiting in the source, where the source says (a NATS consumer's pending count);
  None where it does not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

#: Parts of a source (shards) whose lag one mapping keeps at most: a hostile stream with many shards costs
#: no more than this.
MAX_PARTS = 1000


@dataclass
class MappingStats:
    processed: int = 0
    failed: int = 0
    backlog: int | None = None
    #: When the oldest record each part holds unsettled was written (epoch seconds); parts holding none are absent.
    _oldest: dict[str, float] = field(default_factory=dict)
    #: Whether any read happened yet.
    _measured: bool = False

    def settled(self, processed: int = 0, failed: int = 0) -> None:
        """`processed` records succeeded and `failed` record deliveries failed."""
        self.processed += processed
        self.failed += failed

    def read(self, part: str, oldest: float | None) -> None:
        """`part` now holds records whose oldest was written at `oldest` (epoch seconds); None: it holds none."""
        self._measured = True
        if oldest is None:
            self._oldest.pop(part, None)
        elif part in self._oldest or len(self._oldest) < MAX_PARTS:
            self._oldest[part] = oldest

    def shown(self, now: float | None = None) -> dict[str, Any]:
        """The figures as the API answers them (JSON)."""
        now = time.time() if now is None else now
        lag = None
        if self._measured:
            lag = round(max([(now - oldest) * 1000 for oldest in self._oldest.values()] + [0.0]))
        return {"RecordsProcessed": self.processed, "RecordsFailed": self.failed, "LagMillis": lag,
                "Backlog": self.backlog}


class MappingStatsBook:
    """Every mapping's MappingStats, by (account, region, UUID)."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str, str], MappingStats] = {}

    def of(self, account: str, region: str, mapping_uuid: str) -> MappingStats:
        """The mapping's stats, made at 0 the first time."""
        return self._stats.setdefault((account, region, mapping_uuid), MappingStats())

    def drop(self, account: str, region: str, mapping_uuid: str) -> None:
        """The mapping was deleted."""
        self._stats.pop((account, region, mapping_uuid), None)

    def shown(self, account: str, region: str) -> dict[str, dict[str, Any]]:
        """The figures of one account's mappings in one region, by UUID; nothing of any other."""
        return {key[2]: stats.shown() for key, stats in list(self._stats.items()) if key[:2] == (account, region)}
