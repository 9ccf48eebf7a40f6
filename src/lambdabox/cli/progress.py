"""Progress bars for the CLI's long steps: zipping a directory and uploading the zip.

The bars are drawn on stderr, and only when stderr is a terminal: piped or captured output gets
the plain summary lines the commands print anyway. Uploads are followed by handing botocore a
request body that counts what the HTTP connection reads from it, after signing.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn, TransferSpeedColumn

#: Upload bars are shown for bodies at least this large, in bytes; smaller ones finish before a bar could draw.
MIN_UPLOAD_BYTES = 256 * 1024


class Bars:
    """One bar per step, on stderr if it is a terminal; a no-op otherwise."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def step(self, description: str) -> Callable[[int, int], None]:
        """A callback `(done, total)` that moves a new bar named `description`."""
        if self._progress is None:
            return lambda done, total: None
        progress = self._progress
        task = progress.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return advance

    def follow_uploads(self, client: Any, description: str = "uploading") -> None:
        """Show a bar for each large request body `client` sends."""
        if self._progress is None:
            return
        progress = self._progress

        def counted(request: Any, **_: Any) -> None:
            body = request.body
            if isinstance(body, (bytes, bytearray)) and len(body) >= MIN_UPLOAD_BYTES:
                task = progress.add_task(description, total=len(body))
                request.body = CountedBody(bytes(body), lambda sent: progress.update(task, completed=sent))

        client.meta.events.register("before-send", counted)


@contextmanager
def bars(console: Console | None = None) -> Iterator[Bars]:
    """Progress bars for the duration of the block; they are cleared when it ends."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield Bars(None)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield Bars(progress)


class CountedBody(io.RawIOBase):
    """A request body read in blocks by the HTTP connection, reporting the bytes read so far.

    It can be rewound, as botocore does before a retry; its length is what Content-Length says.
    """

    def __init__(self, data: bytes, report: Callable[[int], None]) -> None:
        self._data = memoryview(data)
        self._position = 0
        self._report = report

    def __len__(self) -> int:
        return len(self._data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._data)}[whence]
        self._position = max(0, min(len(self._data), base + offset))
        return self._position

    def readinto(self, buffer: Any) -> int:
        chunk = self._data[self._position : self._position + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        self._report(self._position)
        return len(chunk)
