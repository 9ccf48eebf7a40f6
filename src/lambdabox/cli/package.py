"""A directory as a deployment package: what `deploy` and `layers publish` zip, and a check of the handler.

What is left out: the patterns of DEFAULT_IGNORE, then those of DIR/.lambdaboxignore, one a line
(`#` starts a comment). A pattern without a slash is matched (fnmatch) against each file's and
folder's own name at any depth, e.g. `*.log`, `tests`; one with a slash against the path from DIR,
e.g. `docs/*.md`, `node_modules/.cache`. A trailing slash matches folders only. A folder left out is
not walked. A leading slash anchors a name at DIR (`/build`); `*` also matches across slashes; there is
no `!` negation.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import os
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: The file in DIR that lists more patterns to leave out.
IGNORE_FILE = ".lambdaboxignore"
#: Left out of every package: version control, virtual environments, bytecode and build caches.
DEFAULT_IGNORE = (".git/", ".venv/", "__pycache__/", "node_modules/.cache/", IGNORE_FILE)


@dataclass(frozen=True)
class Pattern:
    glob: str
    #: Whether `glob` is matched against the whole path from DIR (it had a slash), else the last name.
    anchored: bool
    folders_only: bool

    @classmethod
    def parse(cls, line: str) -> "Pattern | None":
        line = line.strip()
        if not line or line.startswith("#"):
            return None
        folders_only = line.endswith("/")
        glob = line.rstrip("/")
        # A slash anywhere but at the end anchors the pattern at DIR, as in .gitignore: `/build` is DIR/build only.
        anchored = "/" in glob
        glob = glob.lstrip("/")
        return cls(glob, anchored, folders_only) if glob else None

    def matches(self, relative: str, is_folder: bool) -> bool:
        if self.folders_only and not is_folder:
            return False
        return fnmatch.fnmatchcase(relative if self.anchored else relative.rpartition("/")[2], self.glob)


def ignore_patterns(directory: Path) -> list[Pattern]:
    """DEFAULT_IGNORE's patterns, then those of DIR/.lambdaboxignore if it exists."""
    lines = list(DEFAULT_IGNORE)
    listed = directory / IGNORE_FILE
    if listed.is_file():
        lines += listed.read_text(errors="replace").splitlines()
    return [pattern for pattern in map(Pattern.parse, lines) if pattern is not None]


@dataclass
class Package:
    zip: bytes
    files: int
    #: Paths from DIR of what was left out (a folder counts once).
    skipped: list[str]


def package(directory: Path, progress: Callable[[int, int], None] | None = None) -> Package:
    """The directory as a zip, paths relative to it, executable bits kept, ignored paths left out.

    `progress(done, total)` is called as files are added, in bytes read of the files kept.
    """
    kept, skipped = _walk(directory)
    total = sum(size for _, _, size in kept)
    done = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, relative, size in kept:
            entry = zipfile.ZipInfo.from_file(path, relative)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = (stat.S_IMODE(path.stat().st_mode) | stat.S_IFREG) << 16
            archive.writestr(entry, path.read_bytes())
            done += size
            if progress is not None:
                progress(done, total)
    return Package(buffer.getvalue(), len(kept), skipped)


def _walk(directory: Path) -> tuple[list[tuple[Path, str, int]], list[str]]:
    """The files to package (path, path from DIR, size) and the paths left out, in a stable order."""
    patterns = ignore_patterns(directory)

    def ignored(relative: str, is_folder: bool) -> bool:
        return any(pattern.matches(relative, is_folder) for pattern in patterns)

    kept_files: list[tuple[Path, str, int]] = []
    skipped: list[str] = []
    for root, folders, names in os.walk(directory):
        base = Path(root).relative_to(directory).as_posix()
        prefix = "" if base == "." else f"{base}/"
        kept = []
        for folder in sorted(folders):
            (skipped if ignored(prefix + folder, True) else kept).append(prefix + folder)
        folders[:] = [path.rpartition("/")[2] for path in kept]
        for name in sorted(names):
            relative = prefix + name
            path = Path(root) / name
            if ignored(relative, False):
                skipped.append(relative)
            elif path.is_file():  # not a dangling link, a socket: nothing to ship
                kept_files.append((path, relative, path.stat().st_size))
    return kept_files, skipped


def handler_problem(archive: bytes, runtime: str, handler: str) -> str | None:
    """Why `handler` will not be found in the package, if it can be told without running it; else None.

    Python and Node.js handlers are looked up as MODULE.FUNCTION; an OS-only runtime (provided.*)
    needs an executable `bootstrap` at the root. Either may also come from a layer, so this is a
    warning for the caller to print, not a refusal.
    """
    with zipfile.ZipFile(io.BytesIO(archive)) as package_zip:
        names = set(package_zip.namelist())
        if runtime.startswith("provided"):
            if "bootstrap" not in names:
                return "there is no bootstrap at the package's root"
            if not (package_zip.getinfo("bootstrap").external_attr >> 16) & 0o111:
                return "the package's bootstrap is not executable"
            return None
        if not runtime.startswith(("python", "nodejs")):
            return None
        module, dot, function = handler.rpartition(".")
        if not dot or not module or not function:
            return f"the handler {handler!r} is not MODULE.FUNCTION"
        if runtime.startswith("python"):
            base = module.replace(".", "/")
            candidates = [f"{base}.py", f"{base}/__init__.py"]
        else:
            candidates = [f"{module}{suffix}" for suffix in (".js", ".mjs", ".cjs")]
        found = next((name for name in candidates if name in names), None)
        if found is None:
            return f"the handler's module {module!r} is not in the package (looked for {', '.join(candidates)})"
        source = package_zip.read(found).decode(errors="replace")
    defined = _python_defines(source, function) if runtime.startswith("python") else _node_defines(source, function)
    if defined is False:
        return f"{found} does not define the handler's function {function!r}"
    return None


def _python_defines(source: str, name: str) -> bool | None:
    """Whether the module binds `name` at its top level; None if it cannot be told (it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    uncertain = False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.partition(".")[0]) == name or alias.name == "*" for alias in node.names):
                return True
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            if any(isinstance(part, ast.Name) and part.id == name for part in ast.walk(target)):
                return True
        if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            uncertain = True  # it may be bound in there: do not guess
    return None if uncertain else False


def _node_defines(source: str, name: str) -> bool | None:
    """Whether the name appears as a word; None if absent but the module re-exports another's."""
    if re.search(rf"\b{re.escape(name)}\b", source):
        return True
    return None if re.search(r"\brequire\s*\(|\bexport\s+\*", source) else False
