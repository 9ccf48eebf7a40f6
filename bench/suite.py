"""What every benchmark case is given, and what it gives back for the table and the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Profile:
    """How much of each benchmark to run: `SMOKE` for CI (well under a minute), `FULL` otherwise."""

    name: str
    cold_runs: int
    warm_runs: int
    async_events: int
    #: Warm throughput: concurrent connections, seconds per measured round, rounds.
    connections: int
    window_s: float
    rounds: int
    #: Density: idle environments to create.
    density: int
    #: Scale-out: concurrent invokes in the burst.
    burst: int


SMOKE = Profile("smoke", cold_runs=3, warm_runs=20, async_events=64, connections=32, window_s=2.0,
                rounds=1, density=5, burst=20)
FULL = Profile("full", cold_runs=20, warm_runs=300, async_events=1000, connections=32, window_s=5.0,
               rounds=3, density=50, burst=200)


@dataclass(frozen=True)
class Context:
    """A running server and what a case needs to use it."""

    server: Any  # tests/support.Server
    lam: Any  # a boto3 Lambda client of that server
    role: str  # the execution role's ARN
    profile: Profile


@dataclass(frozen=True)
class Row:
    """One line of the printed table; p99 and n are left out where they mean nothing."""

    name: str
    unit: str
    median: float
    p99: float | None = None
    n: int | None = None


@dataclass
class Outcome:
    """A case's figures: `results` go to the JSON under the case's keys, `rows` and `notes` to the terminal."""

    results: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
