"""Host identities for sandboxes: a uid and gid of its own for every execution environment.

Inside, every sandbox runs as the same user (uid 993, gid 990, as AWS's `sbx_user` does);
its user namespace maps that one id to a host id that no other live sandbox has. Per-user
kernel state (the user keyring, inotify instances, process counts, POSIX message queues)
is then never shared between environments.

Ids come from a range the operator gives the server (`--uid-range`), which no account of
the host may use. Several servers on one host share the range without colliding: each
claims blocks of it by holding an exclusive `flock` on a lock file per block, which the
kernel releases when the server dies, so no claim outlives its server.

Guarantees:
1. `allocate()` returns an id no other sandbox of any live server holds, or raises
   `IdentitiesExhausted` when the range has none left.
2. `release(uid)` makes the id available again; call it only once no process of that id
   is left (after the sandbox's cgroup is empty). Released ids are reused last.
3. `close()` gives every claimed block back.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections import deque
from pathlib import Path

#: Ids claimed at a time, per block.
BLOCK = 1024
#: Where servers record their claims: one lock file per block of the range.
LOCK_DIR = Path("/run/lambdabox/identities")
#: The default range: high, so no account of the host is in it (32-bit ids; 4294967295 is invalid).
DEFAULT_FIRST = 1_000_000_000
DEFAULT_COUNT = 1 << 20


class IdentitiesExhausted(Exception):
    """Every id of the range is held by a live sandbox."""


class Identities:
    def __init__(self, first: int = DEFAULT_FIRST, count: int = DEFAULT_COUNT, lock_dir: Path = LOCK_DIR) -> None:
        if first <= 0 or count < 1 or first + count > 4_294_967_295:
            raise ValueError(f"invalid id range {first}-{first + count - 1}")
        self._first = first
        self._count = count
        self._lock_dir = lock_dir
        self._lock = threading.Lock()
        self._free: deque[int] = deque()
        #: Lock file descriptors of the blocks this server holds, by block number.
        self._claims: dict[int, int] = {}

    def allocate(self) -> int:
        with self._lock:
            if not self._free:
                self._claim_block()
            return self._free.popleft()

    def release(self, uid: int) -> None:
        with self._lock:
            if (uid - self._first) // BLOCK in self._claims:
                self._free.append(uid)

    def close(self) -> None:
        with self._lock:
            for fd in self._claims.values():
                os.close(fd)
            self._claims.clear()
            self._free.clear()

    def _claim_block(self) -> None:
        self._lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        blocks = -(-self._count // BLOCK)
        for block in range(blocks):
            if block in self._claims:
                continue
            start = self._first + block * BLOCK
            fd = os.open(self._lock_dir / str(start), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._claims[block] = fd
            self._free.extend(range(start, min(start + BLOCK, self._first + self._count)))
            return
        raise IdentitiesExhausted(f"no free id left in {self._first}-{self._first + self._count - 1}")
