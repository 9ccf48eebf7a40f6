"""Who is on the other end of a loopback TCP connection, for a Runtime API on the host's shared network."""

from __future__ import annotations

import socket
import struct


def peer_uid(conn: socket.socket) -> int | None:
    """The uid owning the other end of `conn`, an accepted TCP connection over this host's loopback.

    Read from /proc/thread-self/net/tcp (or tcp6): the socket whose local address is `conn`'s peer
    and whose remote address is `conn`'s own. None if no such socket is found (it closed already,
    or the peer is not on this host's network namespace).
    """
    family = conn.family
    try:
        peer = conn.getpeername()
        local = conn.getsockname()
    except OSError:
        return None
    table = "/proc/thread-self/net/tcp6" if family == socket.AF_INET6 else "/proc/thread-self/net/tcp"
    wanted_local = _proc_endpoint(family, peer[0], peer[1])
    wanted_remote = _proc_endpoint(family, local[0], local[1])
    try:
        with open(table) as file:
            next(file)  # the header
            for line in file:
                fields = line.split()
                if fields[1] == wanted_local and fields[2] == wanted_remote:
                    return int(fields[7])
    except OSError:
        return None
    return None


def _proc_endpoint(family: int, host: str, port: int) -> str:
    """An address as /proc/net/tcp prints it: the raw 32-bit words in host byte order, in hex, then the port."""
    packed = socket.inet_pton(family, host)
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"
