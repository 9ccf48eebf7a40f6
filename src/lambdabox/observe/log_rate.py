"""How much output one execution environment may log: a token bucket in bytes.

Each environment has its own bucket. It holds at most `burst_bytes`, starts full and
refills continuously at `bytes_per_s`. A log event costs its message's bytes plus
EVENT_OVERHEAD_BYTES (CloudWatch Logs counts 26 bytes per event against its batch size;
we count it too, so a flood of empty lines is not free).

Contract:
1. `take(cost)` spends `cost` tokens and answers True when the bucket holds at least
   that many; otherwise it spends nothing and answers False.
2. Once a take has failed, the bucket is *dropping*: every take fails, whatever it
   costs, until the bucket has refilled to `resume_bytes` (one second of rate, at most
   the burst). A flood is therefore dropped in episodes of about a second, not line by
   line, and the drop marker is written once per episode.
3. Runs on the event loop only: no locks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

#: What one log event costs beyond its message, in bytes (CloudWatch Logs' per-event overhead).
EVENT_OVERHEAD_BYTES = 26


@dataclass(frozen=True)
class LogRate:
    """At most `bytes_per_s` of output per environment, with bursts of up to `burst_bytes`."""

    #: Sustained rate, in bytes per second: 2 MiB/s is far above what real functions print
    #: (a busy function logs kilobytes per invocation), and low enough that one flooding
    #: environment costs the server's event loop a small part of one core.
    bytes_per_s: int = 2 * 1024 * 1024
    #: Largest burst, in bytes: a function may print 4 MiB at once (a big dump, a stack of
    #: errors) before the rate applies.
    burst_bytes: int = 4 * 1024 * 1024

    @property
    def resume_bytes(self) -> float:
        """Tokens a dropping bucket needs before it takes again: one second of rate, at most the burst."""
        return float(min(self.bytes_per_s, self.burst_bytes))


class ByteBucket:
    def __init__(self, rate: LogRate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = float(rate.burst_bytes)
        self._counted = clock()
        #: Whether a take has failed and the bucket has not yet refilled to `resume_bytes`.
        self.dropping = False

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(float(self.rate.burst_bytes), self._tokens + (now - self._counted) * self.rate.bytes_per_s)
        self._counted = now
        if self.dropping and self._tokens >= self.rate.resume_bytes:
            self.dropping = False
        return self._tokens

    def open(self) -> bool:
        """Whether a take could succeed now (refills first); False while dropping."""
        self._refill()
        return not self.dropping

    def take(self, cost: int) -> bool:
        """Spend `cost` tokens if the bucket is not dropping and holds them; no refill: call `open()`
        first (once per chunk, for all its lines)."""
        if self.dropping or self._tokens < cost:
            self.dropping = True
            return False
        self._tokens -= cost
        return True
