"""Recursion lineage: how deep a chain of asynchronous self-invocations has gone.

Lambda spots recursive loops through the trace header: each invocation's trace id carries
a Lineage field, the runtime exports it as _X_AMZN_TRACE_ID, and AWS SDKs send it back as
X-Amzn-Trace-Id on the calls the function makes. Lambdabox writes the lineage as
`Lineage=<count>:<chain>`: how many asynchronous invocations this chain has made, and a
random chain id minted where the chain began.
"""

from __future__ import annotations

import re
import time
import uuid

#: Asynchronous invocations one chain may make before Lambda stops it.
MAX_RECURSION = 16

_LINEAGE = re.compile(r"(?:^|;)\s*Lineage=(\d+):([0-9a-f]{8,32})")


def from_trace_header(header: str | None) -> str | None:
    """The lineage a caller's X-Amzn-Trace-Id carries, if any."""
    if not header:
        return None
    found = _LINEAGE.search(header)
    return f"{found[1]}:{found[2]}" if found else None


def next_hop(lineage: str | None) -> str:
    """The lineage of an invocation made from one that had `lineage` (None: a new chain)."""
    if lineage is None:
        return f"0:{uuid.uuid4().hex[:16]}"
    count, chain = lineage.split(":", 1)
    return f"{int(count) + 1}:{chain}"


def depth(lineage: str | None) -> int:
    return int(lineage.split(":", 1)[0]) if lineage else 0


def trace_id(lineage: str | None) -> str:
    """A trace header value for an invocation, carrying its lineage when it has one."""
    root = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
    return f"{root};Lineage={lineage}" if lineage else root
