"""File operations on trees whose names and links are hostile, that never follow a symlink.

The server runs as root and unpacks, merges and removes trees that tenants fill: any
name may be a symlink to anywhere. Every operation here starts from a directory the
caller has open and moves one path component at a time, so no symlink of the tree is
ever followed, wherever it stands and wherever it points.

Contract:
1. Paths are tuples of components relative to an open directory fd. A component that is
   empty, `.` or `..`, or holds `/` or NUL, raises ValueError before any system call.
2. No operation follows a symlink. Where a directory is needed and a symlink, a file or
   anything else stands, `directory` raises `NotBeneath` (an OSError) and creates nothing
   past that point; callers that may replace what stands there `remove` it first.
3. Directories are opened with O_DIRECTORY|O_NOFOLLOW one component at a time, or in one
   openat2(2) call with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|
   RESOLVE_NO_XDEV where the kernel has it (Linux 5.6, x86_64 and aarch64); both refuse
   the same paths, and an unavailable openat2 (ENOSYS, or EPERM from a seccomp filter)
   falls back to the walk.
4. Files are created with O_CREAT|O_EXCL|O_NOFOLLOW: never through a link, never into a
   file that is already there. Modes are set with fchmod on the open fd, never by name,
   so neither a link nor the umask plays a part: files get 0644 or 0755, directories
   this module creates 0755, and nothing gets setuid, setgid or sticky bits.
5. Every fd opened here is O_CLOEXEC and is closed when its `with` block ends, error or
   not. Callers never see an fd they must close.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from lambdabox.model.package_tree import Kind

#: How directories are opened: never through a symlink in the last component.
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: How files are created: a new file only, never through a link.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: openat2's number, where we know it (the same on both: the asm-generic table).
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}
#: RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH (linux/openat2.h).
_RESOLVE_STRICTLY_BENEATH = 0x01 | 0x02 | 0x04 | 0x08
#: What openat2 answers for a path it will not resolve: a symlink on the way (ELOOP), a
#: climb out or a mount crossed (EXDEV), a file where a directory should be (ENOTDIR).
_REFUSED = (errno.ELOOP, errno.EXDEV, errno.ENOTDIR)
#: Bytes copied per write while filling a file.
_CHUNK = 1024 * 1024


class NotBeneath(OSError):
    """A path met a symlink, a file or something else where it needed a directory."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


@contextmanager
def open_directory(path: Path) -> Iterator[int]:
    """An fd on a directory the server made itself (a staging or store directory).

    Only its last component is refused if it is a symlink: the ones above belong to the server."""
    fd = os.open(path, _DIRECTORY_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def directory(parent: int, parts: tuple[str, ...], create: bool = False, openat2: bool = True) -> Iterator[int]:
    """An fd on the directory `parts` under `parent`, made (0755) where missing if `create`.

    NotBeneath if a symlink or non-directory stands on the way; FileNotFoundError if a part
    is missing and not `create`. `openat2=False` forces the component walk (for tests)."""
    for part in parts:
        _check_name(part)
    fd = _open_beneath(parent, parts, create, openat2)
    try:
        yield fd
    finally:
        os.close(fd)


def entries(parent: int) -> list[tuple[str, Kind]]:
    """The names in a directory with their kinds, not following links; NotBeneath for a
    device, FIFO or socket, which no tree of ours holds."""
    found = []
    with os.scandir(parent) as listing:
        for entry in listing:
            if entry.is_symlink():
                found.append((entry.name, Kind.SYMLINK))
            elif entry.is_dir(follow_symlinks=False):
                found.append((entry.name, Kind.DIRECTORY))
            elif entry.is_file(follow_symlinks=False):
                found.append((entry.name, Kind.FILE))
            else:
                raise NotBeneath(errno.EINVAL, "neither a file, a directory nor a symlink", entry.name)
    return found


def is_directory(parent: int, name: str) -> bool:
    """Whether `name` is a real directory (not a link to one)."""
    _check_name(name)
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def write_file(parent: int, name: str, source: BinaryIO, executable: bool) -> None:
    """A new regular file `name` holding `source`'s bytes, 0755 if `executable` else 0644.

    Whatever non-directory stands at `name` (an earlier entry of the same name, a link) is
    unlinked first, never written through; IsADirectoryError if a directory stands there."""
    _check_name(name)
    _unlink_unless_directory(parent, name)
    fd = os.open(name, _CREATE_FLAGS, 0o600, dir_fd=parent)
    try:
        # The mode by fd: no umask, no link, and no setuid/setgid/sticky bit from the archive.
        os.fchmod(fd, 0o755 if executable else 0o644)
        while chunk := source.read(_CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def symlink(parent: int, name: str, target: str) -> None:
    """A new symlink `name` -> `target` (which is stored, never resolved); FileExistsError if
    anything stands at `name`."""
    _check_name(name)
    os.symlink(target, name, dir_fd=parent)


def copy_entry(source: int, name: str, destination: int) -> None:
    """Put the file or symlink `name` of `source` into `destination` under the same name, which
    must be free (FileExistsError otherwise; `remove` it first): a file as a hard link, a symlink
    as a new symlink with the same target. Neither is followed."""
    _check_name(name)
    mode = os.stat(name, dir_fd=source, follow_symlinks=False).st_mode
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(name, dir_fd=source), name, dir_fd=destination)
    elif stat.S_ISREG(mode):
        # linkat(2) without AT_SYMLINK_FOLLOW: links the entry itself.
        os.link(name, name, src_dir_fd=source, dst_dir_fd=destination, follow_symlinks=False)
    else:
        raise NotBeneath(errno.EINVAL, "neither a file nor a symlink", name)


def remove(parent: int, name: str) -> None:
    """Remove `name` from `parent`, whatever it is; a directory with all it holds. A symlink is
    removed itself, never what it points to. Nothing there is no error."""
    _check_name(name)
    if is_directory(parent, name):
        # rmtree with dir_fd walks by fds and checks each directory it opens is the one it
        # listed, so it neither follows nor can be raced into following a link.
        shutil.rmtree(name, dir_fd=parent)
        return
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def _unlink_unless_directory(parent: int, name: str) -> None:
    if is_directory(parent, name):
        raise IsADirectoryError(errno.EISDIR, "a directory stands where a file goes", name)
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def _check_name(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\x00" in name:
        raise ValueError(f"not a single path component: {name!r}")


def _open_beneath(parent: int, parts: tuple[str, ...], create: bool, openat2: bool) -> int:
    """Open `parts` under `parent` as a directory: openat2 when it can, else the walk."""
    if not parts:
        # "." is the directory itself, never a link: a second fd the caller may close.
        return os.open(".", _DIRECTORY_FLAGS, dir_fd=parent)
    if not openat2:
        return _walk(parent, parts, create)
    try:
        fd = _openat2(parent, "/".join(parts))
    except FileNotFoundError:
        if not create:
            raise
        fd = None
    if fd is not None:
        return fd
    return _walk(parent, parts, create)


def _openat2(parent: int, relative: str) -> int | None:
    """The directory fd, or None where openat2 is unavailable; NotBeneath or the open's error."""
    call = _syscall()
    number = _SYS_OPENAT2.get(platform.machine())
    if call is None or number is None:
        return None
    how = _OpenHow(_DIRECTORY_FLAGS, 0, _RESOLVE_STRICTLY_BENEATH)
    fd = call(
        ctypes.c_long(number), ctypes.c_int(parent), ctypes.c_char_p(os.fsencode(relative)), ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd >= 0:
        return fd
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EPERM):
        return None
    if code in _REFUSED:
        raise NotBeneath(code, "a symlink or a non-directory stands on the way", relative)
    raise OSError(code, os.strerror(code), relative)


def _walk(parent: int, parts: tuple[str, ...], create: bool) -> int:
    """Open `parts` one component at a time, each with O_NOFOLLOW, making missing ones if `create`."""
    fd = os.open(".", _DIRECTORY_FLAGS, dir_fd=parent)
    try:
        for part in parts:
            child = _open_child(fd, part, create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child(parent: int, name: str, create: bool) -> int:
    try:
        return _open_directory_at(parent, name)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
        made = True
    except FileExistsError:
        # Made since we looked; open it as it now is (and refuse it if it is not a directory).
        made = False
    child = _open_directory_at(parent, name)
    if made:
        os.fchmod(child, 0o755)
    return child


def _open_directory_at(parent: int, name: str) -> int:
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)
    except OSError as error:
        # O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR (ELOOP without O_DIRECTORY).
        if error.errno in (errno.ENOTDIR, errno.ELOOP):
            raise NotBeneath(error.errno, "a symlink or a non-directory stands on the way", name) from None
        raise


@functools.cache
def _syscall() -> Callable[..., int] | None:
    """libc's syscall(2), or None where there is no libc to call it through."""
    try:
        call = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    call.restype = ctypes.c_long
    return call
