"""A content-addressed store of archives on disk.

Contract:
1. `put` returns only once the bytes are durable: written to a temporary file in the
   same directory, fsync'd, renamed into place, and the directory fsync'd. A crash
   leaves either the whole blob or no blob, never part of one.
2. Blobs are named by the hex SHA-256 of their bytes, so writing the same bytes twice
   stores them once.
3. `sweep` deletes every blob not in the set it is given; the caller decides what is
   referenced. Blobs a crash left behind between `put` and the database commit that
   would have referenced them are removed this way at start-up.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class BlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self._root / key[:2] / key

    def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        target = self.path(key)
        if target.exists():
            return key
        target.parent.mkdir(exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                # The bytes must be on disk before the name that promises them is.
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return key

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def keys(self) -> Iterator[str]:
        for shard in self._root.iterdir():
            if shard.is_dir():
                for blob in shard.iterdir():
                    if not blob.name.startswith("."):
                        yield blob.name

    def sweep(self, referenced: set[str]) -> list[str]:
        """Delete blobs outside `referenced`, and temporary files of interrupted writes."""
        removed = []
        for shard in self._root.iterdir():
            if not shard.is_dir():
                continue
            for blob in shard.iterdir():
                if blob.name.startswith(".incoming-") or blob.name not in referenced:
                    blob.unlink(missing_ok=True)
                    removed.append(blob.name)
        return removed


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
