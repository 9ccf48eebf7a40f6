"""Hosts of the tests' own for network tests: a network namespace joined to the host by a veth.

Network tests contact only these (and the host itself): never a real public or private address.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

#: The fake internet (TEST-NET-2) and a private database: (host end, peer's address, prefix length).
INTERNET = ("198.51.100.1", "198.51.100.2", 24)
DATABASE = ("10.77.0.1", "10.77.0.2", 24)


def ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True)


class Peer:
    """A network namespace of the test's own, joined to the host by a veth, serving TCP on `port`.

    Its server answers each connection with the address it saw the connection come from.
    """

    def __init__(self, tag: str, host_end: str, address: str, prefix: int, port: int) -> None:
        self.name = f"lbxtest-{tag}-{os.getpid()}"
        self.veth = f"lt{tag[:3]}{os.getpid() % 100000}"
        self.address, self.port = address, port
        self.process: subprocess.Popen | None = None
        try:
            self._build(host_end, prefix, port)
        except BaseException:
            self.close()
            raise

    def _build(self, host_end: str, prefix: int, port: int) -> None:
        address = self.address
        ip("netns", "add", self.name)
        ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.name)
        ip("addr", "add", f"{host_end}/{prefix}", "dev", self.veth)
        ip("link", "set", self.veth, "up")
        ip("-n", self.name, "addr", "add", f"{address}/{prefix}", "dev", "eth0")
        ip("-n", self.name, "link", "set", "eth0", "up")
        ip("-n", self.name, "link", "set", "lo", "up")
        ip("-n", self.name, "route", "add", "default", "via", host_end)
        # Counts every connection attempt that arrives, answered or not.
        counter = (
            "table inet peer {\n chain input {\n type filter hook input priority 0;\n"
            f" tcp dport {port} tcp flags & (syn | ack) == syn counter\n }}\n}}\n"
        )
        subprocess.run(["ip", "netns", "exec", self.name, "nft", "-f", "-"], input=counter, text=True, check=True)
        server = textwrap.dedent(
            f"""
            import socket, sys
            listener = socket.create_server(("0.0.0.0", {port}))
            print("ready", flush=True)
            while True:
                conn, peer = listener.accept()
                conn.sendall(peer[0].encode())
                conn.close()
            """
        )
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", server], stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == b"ready"

    def syns(self) -> int:
        """Connection attempts (SYNs) that have reached this peer so far."""
        listed = subprocess.run(
            ["ip", "netns", "exec", self.name, "nft", "list", "table", "inet", "peer"],
            capture_output=True, text=True, check=True,
        ).stdout
        return int(listed.split("counter packets ")[1].split()[0])

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
