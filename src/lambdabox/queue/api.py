"""What an event queue is, and what the async worker may rely on.

An item is either an *event* (invoke a function asynchronously) or a *delivery* (send an
invocation record to a destination or dead-letter queue). Each item also is the record
of what became of it: its status and a history of attempts, for the user to look up.

Guarantees:
1. `put` returns only once the item is durable: a crash of the process or the machine
   after `put` returned cannot lose it.
2. `claim` hands out ready items (queued, or retrying and due) and marks them running;
   an item is handed to one claimer at a time.
3. `settle` records an attempt's outcome and moves the item on: to a terminal status, or
   back to retrying with a time before which it is not handed out again.
4. `recover` (at start-up) returns every item a crash left running to the queue, so
   every acknowledged item is processed at least once; the only duplicates are items
   that were running when the crash came.
5. `get` and `recent` read the records; they never block writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

#: Item kinds.
EVENT, DELIVERY = "event", "delivery"
#: Statuses. Terminal: succeeded, failed.
QUEUED, RUNNING, RETRYING, SUCCEEDED, FAILED = "queued", "running", "retrying", "succeeded", "failed"


@dataclass
class QueueItem:
    #: For an event, the request id the 202 answered with.
    id: str
    kind: str
    account: str
    region: str
    #: The function invoked (event) or whose record is delivered (delivery).
    function: str
    payload: bytes
    received_ms: int
    qualifier: str | None = None
    #: Function attempts made so far (events), or delivery attempts (deliveries).
    attempts: int = 0
    not_before_ms: int = 0
    status: str = QUEUED
    #: Recursion lineage carried from the caller's trace header, if any.
    lineage: str | None = None
    #: Delivery only: the destination ARN, and the event it reports on.
    target: str | None = None
    parent: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class EventQueue(Protocol):
    async def put(self, item: QueueItem) -> None:
        """Store a new item durably."""

    async def claim(self, limit: int, now_ms: int) -> list[QueueItem]:
        """Up to `limit` ready items, now marked running."""

    async def settle(
        self, item: QueueItem, status: str, entry: dict[str, Any] | None = None, not_before_ms: int = 0
    ) -> None:
        """Record the outcome of an attempt (`entry` is appended to the history) and set the status."""

    def get(self, item_id: str) -> dict[str, Any] | None:
        """The record of an item, with its deliveries, as the lookup API shows it."""

    def recent(self, account: str, region: str, function: str, limit: int) -> list[dict[str, Any]]:
        """The newest event records of a function."""

    def recover(self) -> int:
        """Requeue what a crash left running; return how many."""

    def close(self) -> None:
        """Finish pending writes and release the store."""
