"""Unpacked copies of stored archives: the trees that become /var/task and /opt.

Contract:
1. `tree(key)` returns a directory holding the archive's files, unpacking it on first use.
2. A tree appears whole or not at all: it is unpacked into a temporary directory that is
   renamed into place last.
3. Unpacking never writes outside the tree: regular files first, symlinks last, and no
   file is opened through a symlink. Packages were checked by `model.package` on upload.
4. Trees are read-only for functions; the sandbox mounts them read-only.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from lambdabox.store.blobs import BlobStore


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

        def merge(staging: Path) -> None:
            for key in keys:
                _overlay(self.tree(key), staging)

        return self._build("layers-" + hashlib.sha256("\n".join(keys).encode()).hexdigest(), merge)

    def _build(self, name: str, fill: Callable[[Path], None]) -> Path:
        """The tree `name`, filled by `fill` in a staging directory and renamed into place whole."""
        target = self.path(name)
        if target.is_dir():
            return target
        staging = Path(tempfile.mkdtemp(dir=self._root, prefix=".unpacking-"))
        try:
            fill(staging)
            os.chmod(staging, 0o755)
            try:
                os.rename(staging, target)
            except OSError:
                # Another thread built the same tree first; it is identical.
                if not target.is_dir():
                    raise
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def sweep(self, referenced: set[str]) -> None:
        """Remove trees of archives no record needs, and staging left by a crash."""
        for entry in self._root.iterdir():
            if entry.name.startswith(".unpacking-") or entry.name not in referenced:
                shutil.rmtree(entry, ignore_errors=True)


def _overlay(source: Path, destination: Path) -> None:
    """Put `source`'s files into `destination`, replacing what is there, as hard links."""
    for directory, folders, files in os.walk(source):
        relative = Path(directory).relative_to(source)
        (destination / relative).mkdir(mode=0o755, exist_ok=True)
        for name in files + [folder for folder in folders if (Path(directory) / folder).is_symlink()]:
            origin, copy = Path(directory) / name, destination / relative / name
            if copy.is_symlink() or copy.is_file():
                copy.unlink()
            elif copy.is_dir():
                shutil.rmtree(copy)
            if origin.is_symlink():
                copy.symlink_to(os.readlink(origin))
            else:
                os.link(origin, copy)


def _unpack(data: bytes, root: Path) -> None:
    links: list[tuple[Path, str]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in archive.infolist():
            destination = root / entry.filename
            mode = entry.external_attr >> 16 if entry.create_system == 3 else 0
            if stat.S_ISLNK(mode):
                links.append((destination, archive.read(entry).decode()))
                continue
            if entry.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: never write through a link, whatever the archive holds.
            fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out, archive.open(entry) as source:
                shutil.copyfileobj(source, out)
            # Lambda keeps the executable bits (a custom runtime's bootstrap needs them) and makes all readable.
            os.chmod(destination, 0o755 if mode & 0o111 else 0o644)
    for destination, target in links:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.symlink_to(target)
    for directory, _, _ in os.walk(root):
        os.chmod(directory, 0o755)
