"""The tree a zipped package unpacks to, as data, and where its symlinks really lead.

A symlink is resolved by the kernel through the symlinks before it: its target may pass
through other links of the same tree (`lib -> vendor/lib`, then `x -> lib/..`), so a
link that looks harmless alone can lead out of the tree through another one. Links are
judged here by where they really lead, never by their text alone.

The model errs towards refusing: every path of the tree that is not a symlink (a file,
a directory, a path nothing names) is taken for a directory that exists, so `nothing/..`
resolves to where `nothing` stands, as if it were there. A link leaves the tree when its
resolution climbs above the root by `..` or starts at `/`.

Contract:
1. `Tree.of(entries)` builds one package's tree and raises `Conflict` for what would
   make the unpacker write through a link or mistake one entry for another: an entry
   under a symlink entry (`d -> sub`, then `d/x`), an entry under a file entry, and one
   path named twice as different kinds, or twice as a symlink. A path named twice as a
   file is one file, the last entry's (as `unzip -o` and Python's zipfile read it); a
   path named twice as a directory is one directory.
2. `Tree.merged(trees)` lays trees over each other in order, as the store merges layers
   into /opt: a later entry replaces what the earlier trees have at its path, and a
   directory that a later entry needs replaces an earlier file or symlink there. It
   refuses nothing.
3. `Tree.bad_link()` resolves every symlink once (memoised, so cost grows with the number
   of links, not the length of chains through them) and returns the first one, in
   depth-first order, that leaves the tree, or that loops or goes through more than
   `MAX_NESTED_LINKS` levels of links (where Linux fails with ELOOP); None when every
   link stays inside. Python recursion is bounded by the same limit.
"""

from __future__ import annotations

import enum
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Union

#: Links one resolution may nest before the kernel gives up with ELOOP (Linux's MAXSYMLINKS).
MAX_NESTED_LINKS = 40


class Kind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"


def kind_of(entry: zipfile.ZipInfo) -> Kind:
    """What an entry unpacks to. Anything that is neither a symlink nor a directory (device,
    FIFO or socket modes included) unpacks to a regular file: the unpacker makes no other kind."""
    if entry.create_system == 3 and stat.S_ISLNK(entry.external_attr >> 16):
        return Kind.SYMLINK
    if entry.is_dir():
        return Kind.DIRECTORY
    return Kind.FILE


def parts_of(name: str) -> tuple[str, ...]:
    """The path components an entry name unpacks to: empty and `.` components dropped.

    The caller has refused absolute names and `..` components already (`model.package`)."""
    return tuple(part for part in name.split("/") if part not in ("", "."))


@dataclass(frozen=True)
class File:
    """A regular file of the tree; its contents do not matter here."""


@dataclass(frozen=True)
class Link:
    #: The symlink's target, as the archive stores it.
    target: str
    #: Which tree of a merge it came from, counted from 0.
    origin: int = 0


#: A directory: its entries by name.
Directory = dict[str, "Node"]
Node = Union[Directory, File, Link]

_FILE = File()


class Conflict(Exception):
    """One package's entries that cannot make a tree safely; `str()` says which and why."""


class _Refused(Exception):
    """A link that leaves the tree or loops, raised from deep in a resolution."""

    def __init__(self, problem: BadLink) -> None:
        super().__init__(problem.path)
        self.problem = problem


@dataclass(frozen=True)
class BadLink:
    #: The symlink's path in the tree, e.g. `lib/up`.
    path: str
    #: Which tree of a merge it came from.
    origin: int
    #: True when it loops or nests too deep; False when it leaves the tree.
    loops: bool


class Tree:
    def __init__(self, root: Directory) -> None:
        self._root = root

    @classmethod
    def of(cls, entries: Iterable[tuple[str, Kind, str | None]], origin: int = 0) -> Tree:
        """The tree of (name, kind, link target) entries, in archive order; `Conflict` per contract 1."""
        root: Directory = {}
        for name, kind, target in entries:
            parts = parts_of(name)
            if not parts:
                if kind is Kind.DIRECTORY:
                    continue
                raise Conflict(f"The entry '{name}' has no file name.")
            parent = _parent_for(root, parts, name)
            node: Node
            if kind is Kind.DIRECTORY:
                node = {}
            elif kind is Kind.SYMLINK:
                node = Link(target or "", origin)
            else:
                node = _FILE
            existing = parent.get(parts[-1])
            if existing is None:
                parent[parts[-1]] = node
            elif isinstance(existing, dict) and isinstance(node, dict):
                continue
            elif isinstance(existing, File) and isinstance(node, File):
                continue
            else:
                raise Conflict(f"The entry '{name}' clashes with an earlier entry of the same path.")
        return cls(root)

    @classmethod
    def merged(cls, trees: Iterable[Tree]) -> Tree:
        """The trees laid over each other in order, per contract 2."""
        root: Directory = {}
        for tree in trees:
            _lay(tree._root, root)
        return cls(root)

    def links(self) -> Iterator[tuple[tuple[str, ...], Link]]:
        """Every symlink of the tree with its path, directories in depth-first order."""
        pending: list[tuple[tuple[str, ...], Directory]] = [((), self._root)]
        while pending:
            path, directory = pending.pop()
            for name, node in directory.items():
                if isinstance(node, Link):
                    yield path + (name,), node
                elif isinstance(node, dict):
                    pending.append((path + (name,), node))

    def bad_link(self) -> BadLink | None:
        """The first symlink that leaves the tree or loops (contract 3), or None."""
        resolver = _Resolver(self._root)
        try:
            for path, link in self.links():
                resolver.resolve(path, link)
        except _Refused as refused:
            return refused.problem
        return None


def _parent_for(root: Directory, parts: tuple[str, ...], name: str) -> Directory:
    """The directory that will hold `parts`, made as needed; `Conflict` if a link or file is in the way."""
    here = root
    for depth, part in enumerate(parts[:-1]):
        child = here.get(part)
        if child is None:
            child = here[part] = {}
        elif isinstance(child, Link):
            raise Conflict(f"The entry '{name}' is inside the symlink '{'/'.join(parts[: depth + 1])}'.")
        elif isinstance(child, File):
            raise Conflict(f"The entry '{name}' is inside the file '{'/'.join(parts[: depth + 1])}'.")
        here = child
    return here


def _lay(upper: Directory, lower: Directory) -> None:
    """Put `upper`'s entries over `lower`'s, in place, as the store's merge does."""
    pending = [(upper, lower)]
    while pending:
        source, destination = pending.pop()
        for name, node in source.items():
            if isinstance(node, dict):
                below = destination.get(name)
                if not isinstance(below, dict):
                    # A directory replaces a file or link; it never reaches through the link.
                    below = destination[name] = {}
                pending.append((node, below))
            else:
                destination[name] = node


#: Where a resolution stands: the path from the root, each component with its directory
#: node, or None where the tree has no directory (the model takes it to be an empty one).
_Position = tuple[tuple[str, "Directory | None"], ...]


class _Resolver:
    """Resolves symlinks as the kernel would, through the tree's own links, each link once."""

    def __init__(self, root: Directory) -> None:
        self._root = root
        #: Where each link resolved so far leads, and how many levels of links that took.
        self._resolved: dict[tuple[str, ...], tuple[_Position, int]] = {}
        self._active: set[tuple[str, ...]] = set()

    def resolve(self, path: tuple[str, ...], link: Link, nested: int = 0) -> tuple[_Position, int]:
        """Where the link at `path` leads and through how many levels of links (itself counted);
        `_Refused` if it leaves the tree, loops or nests more than `MAX_NESTED_LINKS` levels.
        `nested` is how many resolutions are under way around this one."""
        found = self._resolved.get(path)
        if found is not None:
            return found
        if path in self._active or nested >= MAX_NESTED_LINKS:
            raise _Refused(BadLink("/".join(path), link.origin, loops=True))
        if link.target.startswith("/"):
            raise _Refused(BadLink("/".join(path), link.origin, loops=False))
        self._active.add(path)
        position, levels = self._walk(path, link, nested)
        if levels > MAX_NESTED_LINKS:
            raise _Refused(BadLink("/".join(path), link.origin, loops=True))
        self._active.discard(path)
        self._resolved[path] = position, levels
        return position, levels

    def _walk(self, path: tuple[str, ...], link: Link, nested: int) -> tuple[_Position, int]:
        """Follow the link's target from its directory, component by component."""
        position = self._position(path[:-1])
        deepest = 0
        for part in link.target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not position:
                    raise _Refused(BadLink("/".join(path), link.origin, loops=False))
                position = position[:-1]
                continue
            here = position[-1][1] if position else self._root
            child = here.get(part) if here is not None else None
            if isinstance(child, Link):
                position, levels = self.resolve(tuple(name for name, _ in position) + (part,), child, nested + 1)
                deepest = max(deepest, levels)
            else:
                position = position + ((part, child if isinstance(child, dict) else None),)
        return position, deepest + 1

    def _position(self, path: tuple[str, ...]) -> _Position:
        """The position of a directory of the tree reached without links (a link's own parent)."""
        position: _Position = ()
        here: Directory | None = self._root
        for part in path:
            child = here.get(part) if here is not None else None
            here = child if isinstance(child, dict) else None
            position = position + ((part, here),)
        return position
