"""Checking a zipped deployment package before anything of it is stored.

A package is refused, with nothing stored, when it is not a zip, when it unpacks to
more than the unzipped limit (counted while really decompressing, so a zip bomb that
lies in its directory is caught too), or when an entry would land outside the package:
an absolute path, a `..` component, or a symlink pointing out of it.
"""

from __future__ import annotations

import hashlib
import base64
import io
import posixpath
import stat
import zipfile
from dataclasses import dataclass

from lambdabox.model.errors import InvalidParameterValue
from lambdabox.model.limits import MAX_UNZIPPED_BYTES

#: Chunk size while test-decompressing entries, in bytes.
_CHUNK = 1024 * 1024

_UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."


@dataclass(frozen=True)
class PackageInfo:
    #: Hex SHA-256 of the zip: its key in the blob store.
    key: str
    #: Base64 SHA-256 of the zip, as Lambda reports CodeSha256.
    code_sha256: str
    #: Size of the zip in bytes (CodeSize).
    size: int
    #: Total size of its files once unzipped, in bytes.
    unzipped_size: int


def digest(data: bytes) -> tuple[str, str]:
    """The hex and base64 forms of a package's SHA-256."""
    raw = hashlib.sha256(data).digest()
    return raw.hex(), base64.b64encode(raw).decode()


def inspect(data: bytes, limit: int = MAX_UNZIPPED_BYTES) -> PackageInfo:
    """Return the facts about a zip, or raise InvalidParameterValueException saying what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise InvalidParameterValue(_UNZIP_FAILED) from None
    with archive:
        entries = archive.infolist()
        declared = sum(entry.file_size for entry in entries)
        if declared > limit:
            raise InvalidParameterValue(f"Unzipped size must be smaller than {limit} bytes")
        for entry in entries:
            _check_path(entry.filename)
        unzipped = 0
        for entry in entries:
            unzipped += _read_entry(archive, entry, limit - unzipped)
            if _is_symlink(entry):
                _check_link(entry.filename, archive.read(entry).decode("utf-8", "replace"))
    key, code_sha256 = digest(data)
    return PackageInfo(key, code_sha256, len(data), unzipped)


def _read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: int) -> int:
    """Decompress one entry for real, counting bytes; stop as soon as the budget is spent."""
    total = 0
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > budget:
                    raise InvalidParameterValue(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError):
        raise InvalidParameterValue(_UNZIP_FAILED) from None
    return total


def _is_symlink(entry: zipfile.ZipInfo) -> bool:
    return entry.create_system == 3 and stat.S_ISLNK(entry.external_attr >> 16)


def _check_path(name: str) -> None:
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The entry '{name}' has an absolute path.")
    if ".." in name.replace("\\", "/").split("/"):
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The entry '{name}' points outside the package.")
    if "\x00" in name:
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The entry name contains a NUL character.")


def _check_link(name: str, target: str) -> None:
    """A symlink may point anywhere inside the package, nowhere outside it."""
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name.rstrip("/")), target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The symlink '{name}' points outside the package.")
