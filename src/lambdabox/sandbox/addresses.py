"""IPv4 link addresses for environments' veths, claimed per server in blocks of the function subnet.

Several Lambdabox servers may run on one host at once. Each claims whole blocks of the function
subnet (a /24, or the subnet itself if smaller) by creating a claim file in a shared state
directory with O_EXCL; the file records the claimant's pid and process start time, so that a
claim whose process is gone (or whose pid now names another process) is known to be dead. Within
its blocks a server hands out /31 links: the even address for the host end, the odd one for the
environment.

Guarantees:
1. No two live servers ever hold the same block: claims are created with O_EXCL, and dead claims
   are removed only under an exclusive flock of the directory's lock file, after `forget` has
   removed what the dead server left in that block.
2. `take()` returns a pair no other caller of this object holds until it is given back; it claims
   another block when the claimed ones are full, and raises `AddressesExhausted` when no block is
   free.
3. `close()` removes this server's claims; the caller must first remove what uses the addresses.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import ipaddress
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Prefix length of one server's block: 128 environments per block; a busy server claims more.
BLOCK_PREFIX = 24

#: Where servers record their claims: on tmpfs, so a reboot (which kills every server) clears it.
DEFAULT_STATE_DIR = Path("/run/lambdabox/network")


class AddressesExhausted(Exception):
    """Every block of the function subnet is claimed by a live server, or in use."""


def process_identity(pid: int) -> str | None:
    """`"PID STARTTIME"` of a live process (start time in clock ticks since boot), else None."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            stat = file.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces; count fields after it.
    fields = stat.rpartition(")")[2].split()
    return f"{pid} {fields[19]}"


def is_alive(identity: str) -> bool:
    """Whether the process a claim names still runs (same pid and same start time)."""
    pid, _, _ = identity.partition(" ")
    return pid.isdigit() and process_identity(int(pid)) == identity


class AddressBlocks:
    """/31 links out of `subnet`, claimed in blocks recorded under `state_dir`. Thread-safe."""

    def __init__(self, subnet: str, state_dir: Path = DEFAULT_STATE_DIR) -> None:
        self.subnet = ipaddress.IPv4Network(subnet)
        if self.subnet.prefixlen > 30:
            raise ValueError(f"function subnet {subnet} is too small: it needs at least a /30")
        self.state_dir = state_dir
        self.identity = process_identity(os.getpid()) or f"{os.getpid()} 0"
        self._lock = threading.Lock()
        self._blocks: list[ipaddress.IPv4Network] = []
        # Host-end addresses (as ints) of free links in claimed blocks, the longest free first: an
        # address comes back last, so that replies to its previous holder's connections die out.
        self._free: collections.deque[int] = collections.deque()

    def blocks(self) -> list[ipaddress.IPv4Network]:
        with self._lock:
            return list(self._blocks)

    def _all_blocks(self) -> Iterator[ipaddress.IPv4Network]:
        return self.subnet.subnets(new_prefix=max(BLOCK_PREFIX, self.subnet.prefixlen))

    def _claim_path(self, block: ipaddress.IPv4Network) -> Path:
        return self.state_dir / f"{block.network_address}-{block.prefixlen}"

    @contextmanager
    def _directory_locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.state_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def sweep(self, forget: Callable[[ipaddress.IPv4Network], None]) -> list[ipaddress.IPv4Network]:
        """Remove the claims of dead servers, calling `forget(block)` first for each; returns those blocks."""
        swept = []
        with self._directory_locked():
            for block in self._all_blocks():
                path = self._claim_path(block)
                try:
                    owner = path.read_text().strip()
                except FileNotFoundError:
                    continue
                if is_alive(owner):
                    continue
                forget(block)
                path.unlink(missing_ok=True)
                swept.append(block)
        return swept

    def _claim_block(self) -> ipaddress.IPv4Network:
        with self._directory_locked():
            for block in self._all_blocks():
                if block in self._blocks:
                    continue
                try:
                    descriptor = os.open(self._claim_path(block), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    continue
                with os.fdopen(descriptor, "w") as file:
                    file.write(self.identity + "\n")
                return block
        raise AddressesExhausted(
            f"every block of the function subnet {self.subnet} is claimed by a running Lambdabox server or in use; "
            "choose a larger --function-subnet"
        )

    def take(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
        """A free link: (host end, environment end)."""
        with self._lock:
            if not self._free:
                block = self._claim_block()
                self._blocks.append(block)
                first = int(block.network_address)
                self._free.extend(range(first, first + block.num_addresses, 2))
            host = self._free.popleft()
        return ipaddress.IPv4Address(host), ipaddress.IPv4Address(host + 1)

    def give_back(self, host: ipaddress.IPv4Address) -> None:
        with self._lock:
            value = int(host)
            if any(value in range(int(b.network_address), int(b.broadcast_address) + 1) for b in self._blocks):
                if value not in self._free:
                    self._free.append(value)

    def close(self) -> None:
        with self._lock:
            for block in self._blocks:
                try:
                    self._claim_path(block).unlink()
                except OSError as error:
                    if error.errno != errno.ENOENT:
                        raise
            self._blocks.clear()
            self._free.clear()
