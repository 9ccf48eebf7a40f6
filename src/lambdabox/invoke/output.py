"""Capturing what a sandbox prints, line by line, into its log stream.

The sandbox's stdout and stderr share one pipe. Lines are written to the environment's
log stream as they arrive and kept for the current invocation's `LogType: Tail`. `drain()`
reads whatever is already in the pipe, so everything the function printed before it
answered is in the log before the END line.
"""

from __future__ import annotations

import asyncio
import os

from lambdabox.observe.logs import LogStream

#: Bytes read from the pipe at a time.
_CHUNK = 65536


class OutputCapture:
    def __init__(self, stream: LogStream) -> None:
        self._stream = stream
        self._read_fd, self.write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._partial = b""
        #: Lines of the current invocation, START to REPORT.
        self.invocation_lines: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading; call once the sandbox holds its copy of the write end."""
        os.close(self.write_fd)
        self.write_fd = -1
        self._loop = loop
        loop.add_reader(self._read_fd, self.drain)

    def line(self, message: str) -> None:
        """A line of the platform's own (START, END, REPORT)."""
        self._stream.write(message)
        self.invocation_lines.append(message)

    def drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._read_fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._flush_partial()
                if self._loop is not None:
                    self._loop.remove_reader(self._read_fd)
                    self._loop = None
                return
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            for raw in lines:
                text = raw.decode("utf-8", "replace").rstrip("\r")
                self._stream.write(text)
                self.invocation_lines.append(text)

    def _flush_partial(self) -> None:
        if self._partial:
            text = self._partial.decode("utf-8", "replace")
            self._partial = b""
            self._stream.write(text)
            self.invocation_lines.append(text)

    def close(self) -> None:
        self.drain()
        self._flush_partial()
        if self._loop is not None:
            self._loop.remove_reader(self._read_fd)
            self._loop = None
        for fd in (self._read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self._read_fd = self.write_fd = -1
        self._stream.close()
