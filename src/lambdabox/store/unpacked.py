"""Unpacked copies of stored archives: the trees that become /var/task and /opt.

Contract:
1. `tree(key)` returns a directory holding the archive's files, unpacking it on first use.
   `layered(keys)` returns one holding several archives' trees merged in order (/opt).
2. A tree appears whole or not at all: it is filled in a temporary directory that is
   renamed into place last; on any error the temporary directory is removed and the
   error raised.
3. Every file operation on a tree's contents goes through `store.beneath`: nothing is
   ever opened, created, linked, chmod'ed or removed through a symlink of the tree, so
   no archive, however it was made, gets a byte written outside its tree. Packages were
   checked by `model.package` on upload too, but nothing here relies on it.
4. Unpacking makes only directories (0755), regular files (0644, or 0755 when the
   archive marks them executable) and symlinks (stored, never resolved), links last.
   Device, FIFO and socket entries become regular files; setuid, setgid and sticky
   bits are dropped. A later entry of the same name as an earlier file replaces it.
5. Merging lays each tree over the ones before: a later entry replaces what stands at
   its path; where a later tree needs a directory and an earlier one left a file or a
   symlink there, the directory replaces it (the symlink is never written through).
6. Trees are read-only for functions; the sandbox mounts them read-only.
"""

from __future__ import annotations

import errno
import logging
import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from lambdabox.model.limits import MAX_LINK_TARGET_BYTES, MAX_PACKAGE_DEPTH
from lambdabox.model.package_tree import Kind, kind_of, parts_of
from lambdabox.store import beneath
from lambdabox.store.blobs import BlobStore

log = logging.getLogger(__name__)


class UnpackedStore:
    def __init__(self, blobs: BlobStore, root: Path) -> None:
        self._blobs = blobs
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self._root / key

    def tree(self, key: str) -> Path:
        return self._build(key, lambda staging: _unpack(self._blobs.read(key), staging))

    def layered(self, keys: list[str]) -> Path:
        """One tree holding the archives `keys` unpacked in order, later ones over earlier ones: /opt.

        Files are hard links into the single-archive trees, so a merged tree costs no copy.
        """

        def merge(staging: int) -> None:
            for key in keys:
                _overlay(self.tree(key), staging)

        return self._build("layers-" + hashlib.sha256("\n".join(keys).encode()).hexdigest(), merge)

    def _build(self, name: str, fill: Callable[[int], None]) -> Path:
        """The tree `name`, filled by `fill` (given an fd on a staging directory) and renamed into place whole."""
        target = self.path(name)
        if target.is_dir():
            return target
        staging = Path(tempfile.mkdtemp(dir=self._root, prefix=".unpacking-"))
        try:
            with beneath.open_directory(staging) as fd:
                fill(fd)
                os.fchmod(fd, 0o755)
            try:
                os.rename(staging, target)
            except OSError:
                # Another thread built the same tree first; it is identical.
                if not target.is_dir():
                    raise
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            # rmtree removes links themselves, never what they point to.
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def sweep(self, referenced: set[str]) -> None:
        """Remove trees of archives no record needs, and staging left by a crash."""
        # What is left behind costs disk, not safety: a failure is logged, and the server still starts.
        try:
            with beneath.open_directory(self._root) as root:
                for name, _ in beneath.entries(root):
                    if name.startswith(".unpacking-") or name not in referenced:
                        try:
                            beneath.remove(root, name)
                        except OSError as error:
                            log.warning("could not remove unpacked tree %s: %s", name, error)
        except OSError as error:
            log.warning("could not sweep the unpacked trees in %s: %s", self._root, error)


def _overlay(source: Path, destination: int) -> None:
    """Lay the tree at `source` over the directory `destination`, per contract 5: files as hard links."""
    with beneath.open_directory(source) as top:
        _merge(top, destination, 0)


def _merge(source: int, destination: int, depth: int) -> None:
    if depth > MAX_PACKAGE_DEPTH:
        raise beneath.NotBeneath(errno.EINVAL, f"a tree deeper than {MAX_PACKAGE_DEPTH} levels")
    for name, kind in beneath.entries(source):
        if kind is not Kind.DIRECTORY:
            # Whatever an earlier tree has at this name, a directory included, is replaced.
            beneath.remove(destination, name)
            beneath.copy_entry(source, name, destination)
            continue
        if not beneath.is_directory(destination, name):
            # An earlier tree's file or symlink stands where this one has a directory: it goes.
            beneath.remove(destination, name)
        with beneath.directory(source, (name,)) as inner, beneath.directory(destination, (name,), create=True) as below:
            _merge(inner, below, depth + 1)


def _unpack(data: bytes, root: int) -> None:
    """Unpack a zip into the directory `root`, per contracts 3 and 4."""
    links: list[tuple[tuple[str, ...], str]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in archive.infolist():
            parts = parts_of(entry.filename)
            if len(parts) > MAX_PACKAGE_DEPTH:
                raise beneath.NotBeneath(errno.EINVAL, f"deeper than {MAX_PACKAGE_DEPTH} levels", entry.filename)
            kind = kind_of(entry)
            if kind is Kind.SYMLINK:
                with archive.open(entry) as stream:
                    links.append((parts, stream.read(MAX_LINK_TARGET_BYTES + 1).decode()))
            elif kind is Kind.DIRECTORY:
                with beneath.directory(root, parts, create=True):
                    pass
            elif parts:
                mode = entry.external_attr >> 16 if entry.create_system == 3 else 0
                with beneath.directory(root, parts[:-1], create=True) as parent, archive.open(entry) as source:
                    # Lambda keeps the executable bits (a custom runtime's bootstrap needs them) and makes all readable.
                    beneath.write_file(parent, parts[-1], source, executable=bool(mode & 0o111))
    # Links last: no entry of the archive is ever unpacked through one of its own links.
    for parts, target in links:
        if not parts:
            raise beneath.NotBeneath(errno.EINVAL, "a symlink with no name")
        with beneath.directory(root, parts[:-1], create=True) as parent:
            beneath.symlink(parent, parts[-1], target)
