"""Tumbling windows of a stream mapping (TumblingWindowInSeconds): the window each record falls in, the event's
window fields, and the state a function answers with.

Pure: no I/O. As AWS documents it ("Implementing stateful processing" for Kinesis and DynamoDB
Streams): windows are aligned on multiples of their length, by each record's arrival time; each
invocation gets `window` {start, end}, `state` (what the last invocation of the window answered),
`shardId`, `eventSourceARN`, `isFinalInvokeForWindow` and `isWindowTerminatedEarly`; the function
must answer an object with a `state` (else the invocation failed); once the window is over, one
last invocation with no records and `isFinalInvokeForWindow` true gets the final state. A state of
more than 1 MB ends the window early: the final invocation says `isWindowTerminatedEarly`, and
the window goes on with a fresh state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lambdabox.model import json_text

#: Largest state a window keeps, in bytes of JSON (AWS: 1 MB per shard).
MAX_STATE_BYTES = 1024 * 1024


@dataclass
class Window:
    """The open window of a shard: its start (epoch seconds) and the state built so far."""

    start: int
    length: int
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.start + self.length

    def stored(self) -> dict[str, Any]:
        return {"start": self.start, "state": self.state}


def window_start(arrival: float, length: int) -> int:
    """The start of the window a record that arrived at `arrival` (epoch seconds) falls in."""
    return int(arrival // length) * length


def restored(stored: dict[str, Any] | None, length: int) -> Window | None:
    """The window a checkpoint kept, or None."""
    if not stored:
        return None
    return Window(int(stored["start"]), length, dict(stored.get("state") or {}))


def window_event(window: Window, records: list[dict[str, Any]], shard_id: str, stream_arn: str, *,
                 final: bool = False, terminated_early: bool = False) -> dict[str, Any]:
    """The event of one invocation in a window."""
    return {
        "Records": records,
        "window": {"start": _iso(window.start), "end": _iso(window.end)},
        "state": window.state,
        "shardId": shard_id,
        "eventSourceARN": stream_arn,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": terminated_early,
    }


def answered_state(response: bytes) -> dict[str, Any] | None:
    """The `state` a function answered, or None when its answer has none (the invocation then failed)."""
    try:
        document = json_text.loads(response.strip() or b"null")
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("state"), dict):
        return None
    return document["state"]


def too_large(state: dict[str, Any]) -> bool:
    return len(json.dumps(state).encode()) > MAX_STATE_BYTES


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
