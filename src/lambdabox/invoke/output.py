"""Capturing what a sandbox prints, line by line, into its log stream.

The sandbox's stdout and stderr share one pipe, which the server reads on its event loop.
What a tenant prints is hostile; the capture holds these guarantees:
1. Bounded work per wake-up: each reader callback reads at most READ_BUDGET_BYTES (or, while
   output is being dropped, which costs no work per line, one read of DROPPING_READ_BYTES),
   writes what it kept with one write call, and returns, so other callbacks (other tenants'
   invokes) run between two slices of a flood.
2. Bounded events: a line longer than MAX_EVENT_BYTES is split into events of at most that
   size, at character boundaries, as Lambda splits it; invalid UTF-8 becomes U+FFFD. Lines are
   assembled in a bytearray, in time linear in what was read.
3. Bounded rate: each environment may log `LogRate` bytes per second (each event costing its
   bytes and EVENT_OVERHEAD_BYTES), with bursts. Output beyond it is read and discarded (the
   function never blocks on a full pipe: on Lambda, printing does not wait for CloudWatch),
   and one line per drop episode says how much was dropped and why, written when output is
   kept again, before END, or at shutdown. A line whose head was dropped is dropped whole.
4. Bounded memory: only the current invocation's tail is kept (enough lines for the last
   TAIL_BYTES of `LogType: Tail`), plus at most one partial event.
5. `drain()` delivers everything the function printed before it was called: it reads the
   bytes the pipe held at that moment (FIONREAD; at most the pipe's size), in budgeted slices,
   yielding to the loop between them, and never chases a function that keeps printing.
6. With a JSON `LogFormat`, a line below the function's ApplicationLogLevel is read and discarded
   (observe/log_format.py says how a line's level is found), before the rate counts it; platform
   lines and the drop marker are written in the format's own form, or left out by its SystemLogLevel.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios
from collections import deque
from collections.abc import Iterator

from lambdabox.observe.log_format import LogFormat
from lambdabox.observe.log_rate import EVENT_OVERHEAD_BYTES, ByteBucket, LogRate
from lambdabox.observe.logs import MAX_EVENT_BYTES, LogStream

#: Bytes of log returned by LogType=Tail (Lambda's 4 KB).
TAIL_BYTES = 4096
#: Bytes read from the pipe per reader callback (and per slice of a drain): at most ~16k tiny lines,
#: a few milliseconds of work, before the loop serves others.
READ_BUDGET_BYTES = 16384
#: Bytes read per reader callback while output is being dropped (no work per line then).
DROPPING_READ_BYTES = 65536


class Tail:
    """The last lines of one invocation: as few as hold its last `size` bytes of log."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lines: deque[str] = deque()
        #: Characters in `_lines`, a newline each included (a character is at least one byte).
        self._chars = 0

    def append(self, line: str) -> None:
        line = line[-self._size :]
        self._lines.append(line)
        self._chars += len(line) + 1
        while self._chars - len(self._lines[0]) - 1 >= self._size:
            self._chars -= len(self._lines.popleft()) + 1

    def clear(self) -> None:
        self._lines.clear()
        self._chars = 0

    def lines(self) -> list[str]:
        return list(self._lines)


class OutputCapture:
    def __init__(self, stream: LogStream, rate: LogRate = LogRate(), log_format: LogFormat = LogFormat()) -> None:
        self._stream = stream
        self.format = log_format
        self._read_fd, self.write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._bucket = ByteBucket(rate)
        #: The line being assembled (at most MAX_EVENT_BYTES).
        self._partial = bytearray()
        #: Whether the rest of the current line is being discarded (its head was dropped).
        self._skipping = False
        #: Bytes dropped in the current drop episode (0: none).
        self._dropped = 0
        self._tail = Tail(TAIL_BYTES)
        #: Bytes read from the pipe so far.
        self._read_total = 0
        self._eof = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading; call once the sandbox holds its copy of the write end."""
        os.close(self.write_fd)
        self.write_fd = -1
        self._loop = loop
        loop.add_reader(self._read_fd, self._read, READ_BUDGET_BYTES)

    @property
    def stream_name(self) -> str:
        return self._stream.name

    def begin_invocation(self) -> None:
        """Forget the previous invocation's tail."""
        self._tail.clear()

    def tail_lines(self) -> list[str]:
        """Lines of the current invocation, START to REPORT, as many as its last TAIL_BYTES need."""
        return self._tail.lines()

    def line(self, message: str | None) -> None:
        """A line of the platform's own (START, END, REPORT, the drop marker): never rate limited. None (a
        line the format leaves out) writes nothing."""
        if message is None:
            return
        self._stream.write(message)
        self._tail.append(message)

    async def drain(self) -> None:
        """Deliver what the function printed before this call (see guarantee 5), then any drop marker."""
        for _ in self._what_is_pending(READ_BUDGET_BYTES):
            await asyncio.sleep(0)  # other callbacks run between slices
        self._mark_drops()

    def _what_is_pending(self, slice_bytes: int | None) -> Iterator[None]:
        """Read what is in the pipe now, and no more (a function that keeps printing is not chased),
        in reads of at most `slice_bytes` (None: any size), yielding after each."""
        if self._read_fd < 0 or self._eof:
            return
        target = self._read_total + _pending(self._read_fd)
        while self._read_total < target and not self._eof:
            left = target - self._read_total
            if self._read(left if slice_bytes is None else min(slice_bytes, left)) == 0:
                return
            yield

    def _read(self, budget: int) -> int:
        """Read up to `budget` bytes, log what the rate allows with one write; returns the bytes read."""
        kept: list[str] = []
        got = 0
        while got < budget and not self._eof:
            # Output being dropped costs no work per line: it is read in bigger slices, one per callback.
            dropping = not self._bucket.open()
            size = DROPPING_READ_BYTES if dropping else budget - got
            try:
                chunk = os.read(self._read_fd, size)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._at_eof(kept)
                break
            got += len(chunk)
            self._take(chunk, kept, dropping)
            if dropping:
                break
        self._read_total += got
        self._stream.write_many(kept)
        return got

    def _take(self, chunk: bytes, kept: list[str], dropping: bool) -> None:
        """Split a chunk into events, keeping those the rate allows (appended to `kept`); `dropping`: the
        bucket said so for this chunk."""
        if dropping:
            # Dropping: the whole chunk goes, with no work per line.
            self._drop(len(chunk) + len(self._partial), chunk)
            return
        start, size = 0, len(chunk)
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                self._dropped += size
                return
            self._dropped += newline + 1
            start, self._skipping = newline + 1, False
        if self._dropped:
            marker = self._marker()
            if marker is not None:
                self._emit(marker, kept)
            self._dropped = 0
        partial = self._partial
        while start < size:
            newline = chunk.find(b"\n", start)
            stop = size if newline < 0 else newline
            room = MAX_EVENT_BYTES - len(partial)
            if stop - start > room:
                # Longer than one event: cut an event at a character boundary, keep the rest.
                partial += chunk[start : start + room]
                start += room
                cut = _complete_prefix(partial)
                event = bytes(partial[:cut])
                del partial[:cut]
            elif newline < 0:
                partial += chunk[start:stop]
                return
            else:
                if partial:
                    partial += chunk[start:stop]
                    event = bytes(partial)
                    partial.clear()
                else:
                    event = chunk[start:stop]
                start = newline + 1
            if not self._keep(event, kept):
                self._drop(len(event) + len(partial) + size - start, chunk)
                return

    def _keep(self, event: bytes, kept: list[str]) -> bool:
        """Log one event if the rate allows it; False (and nothing logged) if not. An event below the
        format's application level is consumed (True) without being logged or counted."""
        text = event.decode("utf-8", "replace").rstrip("\r")
        if not self.format.keeps(text):
            return True
        if not self._bucket.take(len(event) + EVENT_OVERHEAD_BYTES):
            return False
        if len(text) * 3 > MAX_EVENT_BYTES and "\ufffd" in text:
            # Replacement characters take 3 bytes where the invalid byte took 1: re-split if needed.
            for piece in _split_text(text):
                self._emit(piece, kept)
        else:
            self._emit(text, kept)
        return True

    def _emit(self, text: str, kept: list[str]) -> None:
        kept.append(text)
        self._tail.append(text)

    def _drop(self, size: int, chunk: bytes) -> None:
        """Drop `size` bytes: the rest of `chunk` and the line in progress."""
        self._dropped += size
        self._partial.clear()
        self._skipping = not chunk.endswith(b"\n")

    def _marker(self) -> str | None:
        rate = self._bucket.rate
        return self.format.logs_dropped(self._dropped, rate.bytes_per_s, rate.burst_bytes)

    def _mark_drops(self) -> None:
        """End the drop episode with its marker line, if one is open."""
        if self._dropped:
            self.line(self._marker())
            self._dropped = 0

    def _at_eof(self, kept: list[str]) -> None:
        self._eof = True
        if self._partial and not (self._bucket.open() and self._keep(bytes(self._partial), kept)):
            self._dropped += len(self._partial)
        self._partial.clear()
        if self._loop is not None:
            self._loop.remove_reader(self._read_fd)
            self._loop = None

    def close(self) -> None:
        """Deliver what is left in the pipe (bounded as in `drain`), a partial last line, then release."""
        if self._read_fd >= 0 and not self._eof:
            for _ in self._what_is_pending(None):
                pass
            if not self._eof:
                kept: list[str] = []
                self._at_eof(kept)
                self._stream.write_many(kept)
        self._mark_drops()
        if self._loop is not None:
            self._loop.remove_reader(self._read_fd)
            self._loop = None
        for fd in (self._read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self._read_fd = self.write_fd = -1
        self._stream.close()


def _pending(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD)."""
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def _complete_prefix(data: bytearray | bytes) -> int:
    """The length of `data` without a trailing incomplete UTF-8 sequence (which is at most 3 bytes)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # ASCII or a lead byte
            needs = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
            return len(data) - back if needs > back else len(data)
    return len(data)


def _split_text(text: str) -> list[str]:
    """`text` in pieces of at most MAX_EVENT_BYTES of UTF-8 each, cut between characters."""
    encoded = text.encode()
    pieces = []
    while len(encoded) > MAX_EVENT_BYTES:
        cut = _complete_prefix(encoded[:MAX_EVENT_BYTES])
        pieces.append(encoded[:cut].decode())
        encoded = encoded[cut:]
    pieces.append(encoded.decode())
    return pieces
