"""Checking a zipped deployment package before anything of it is stored.

A package is refused with InvalidParameterValueException, with nothing stored, when:
1. it is not a zip, or holds more than `MAX_PACKAGE_ENTRIES` entries;
2. it unpacks to more than the unzipped limit, counted while really decompressing, so
   a zip bomb that lies in its directory is caught too;
3. an entry would land outside the package (an absolute path, a `..` component) or has
   a path Linux could not hold (components over NAME_MAX, paths over PATH_MAX, deeper
   than `MAX_PACKAGE_DEPTH`);
4. its entries cannot make a tree safely (`model.package_tree`, contract 1): an entry
   under a symlink or a file of the package, one path named as two kinds;
5. a symlink has an empty, over-long, NUL-holding or non-UTF-8 target, or really leads
   out of the package once resolved through the package's other links, or loops.
Checks run in that order; the first failure is the one reported.

`tree_of` gives the tree of a stored archive, so that a function's layers can be checked
together (`control.layers`): links that stay inside each layer may leave /opt once the
layers are merged over each other.
"""

from __future__ import annotations

import hashlib
import base64
import io
import zipfile
from dataclasses import dataclass

from lambdabox.model.errors import InvalidParameterValue, shortened
from lambdabox.model.limits import (
    MAX_ENTRY_PATH_BYTES,
    MAX_LINK_TARGET_BYTES,
    MAX_NAME_BYTES,
    MAX_PACKAGE_DEPTH,
    MAX_PACKAGE_ENTRIES,
    MAX_UNZIPPED_BYTES,
)
from lambdabox.model.package_tree import BadLink, Conflict, Kind, Tree, kind_of, parts_of

#: Chunk size while test-decompressing entries, in bytes.
_CHUNK = 1024 * 1024

#: Longest entry name quoted in an error message, in characters.
_SHOWN_NAME = 200

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
        if len(entries) > MAX_PACKAGE_ENTRIES:
            raise InvalidParameterValue(
                f"{_UNZIP_FAILED} The package has {len(entries)} entries; "
                f"Lambdabox unpacks at most {MAX_PACKAGE_ENTRIES}."
            )
        declared = sum(entry.file_size for entry in entries)
        if declared > limit:
            raise InvalidParameterValue(f"Unzipped size must be smaller than {limit} bytes")
        tree = tree_of(archive)
        unzipped = 0
        for entry in entries:
            unzipped += _read_entry(archive, entry, limit - unzipped)
        problem = tree.bad_link()
        if problem is not None:
            raise InvalidParameterValue(f"{_UNZIP_FAILED} {describe(problem)}")
    key, code_sha256 = digest(data)
    return PackageInfo(key, code_sha256, len(data), unzipped)


def tree_of(archive: zipfile.ZipFile, origin: int = 0) -> Tree:
    """The tree an archive unpacks to (its links not yet judged), or InvalidParameterValueException
    for a path or link target it must not have, or entries that conflict (points 3 to 5 above)."""
    entries = []
    for entry in archive.infolist():
        _check_path(entry.filename)
        kind = kind_of(entry)
        entries.append((entry.filename, kind, _link_target(archive, entry) if kind is Kind.SYMLINK else None))
    try:
        return Tree.of(entries, origin)
    except Conflict as conflict:
        raise InvalidParameterValue(f"{_UNZIP_FAILED} {conflict}") from None


def describe(problem: BadLink, whose: str = "", where: str = "the package") -> str:
    """Say in words why a symlink is refused: `The symlink 'x'{whose} points outside {where}.`"""
    if problem.loops:
        return f"The symlink '{_shown(problem.path)}'{whose} leads through too many levels of symbolic links."
    return f"The symlink '{_shown(problem.path)}'{whose} points outside {where}."


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


def _link_target(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> str:
    """A symlink entry's target, read no further than the longest target Linux allows."""
    try:
        with archive.open(entry) as stream:
            raw = stream.read(MAX_LINK_TARGET_BYTES + 1)
        target = raw.decode("utf-8")
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError):
        raise InvalidParameterValue(_UNZIP_FAILED) from None
    except UnicodeDecodeError:
        target = ""
    if not target or len(raw) > MAX_LINK_TARGET_BYTES or "\x00" in target:
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The symlink '{_shown(entry.filename)}' has an invalid target.")
    return target


def _check_path(name: str) -> None:
    shown = _shown(name)
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The entry '{shown}' has an absolute path.")
    if ".." in name.replace("\\", "/").split("/"):
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The entry '{shown}' points outside the package.")
    if "\x00" in name:
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The entry name contains a NUL character.")
    parts = parts_of(name)
    if len(parts) > MAX_PACKAGE_DEPTH:
        raise InvalidParameterValue(
            f"{_UNZIP_FAILED} The entry '{shown}' is nested deeper than {MAX_PACKAGE_DEPTH} levels."
        )
    if any(len(part.encode()) > MAX_NAME_BYTES for part in parts) or len(name.encode()) > MAX_ENTRY_PATH_BYTES:
        raise InvalidParameterValue(f"{_UNZIP_FAILED} The entry '{shown}' has a name too long for Linux.")


def _shown(name: str) -> str:
    return shortened(name, _SHOWN_NAME)
