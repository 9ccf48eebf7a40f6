"""The nftables table that fences one server's environments in `egress` mode.

Each server owns one table, `inet lambdabox_<pid>_<starttime>_<token>`, and matches only packets of its own
veths (the host ends, named in the set `veths`), so servers on one host never judge each other's
traffic. The rules, in the order a packet meets them:

- prerouting (raw priority): from a veth, IPv6 is dropped, and so is any packet whose source address
  is not routed back through the veth it came in on (`fib saddr . iif`): an environment cannot
  borrow a neighbour's address to pass for a VPC member (its own kernel already refuses an
  unprivileged IP_FREEBIND source; this holds even for one with raw-socket powers).
- input: from a veth, nothing reaches the host itself, on any of its addresses, unless allow-listed
  (or it is a DNS resolver of the host's /etc/resolv.conf, which is the environments' too: port 53).
- output: the host's own processes open no connection into an environment either.
- forward: towards a veth only replies pass (`ct state established,related`): nothing outside, no
  neighbouring environment either, opens a connection into an environment. From a veth: the
  allow-list is accepted, and port 53 of the resolvers; then each private network's CIDRs for its
  members (set `members_<i>`); then the refused ranges (private, loopback, link-local, CGNAT, multicast, reserved, this
  subnet, every private network) are dropped; the rest (the internet) is accepted.
- postrouting: what leaves through another interface is masqueraded.

The table is written once with `nft -f -` at start. Per-environment changes (set elements) are
single nfnetlink batches sent by `Firewall` itself: no process is started per environment, and
no asyncio loop is needed, so any thread may call them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import struct
import subprocess
import threading

#: Ranges no environment reaches unless allow-listed: "this network", RFC 1918, CGNAT, loopback,
#: link-local (cloud metadata lives there), IETF protocol assignments, benchmarking, multicast and
#: the reserved 240/4 (with the limited broadcast address).
REFUSED_RANGES = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
)

#: Prefix of every server's table; the rest of the name is the owner's pid, start time and a token.
TABLE_PREFIX = "lambdabox_"

#: Seconds `nft` may take to load or delete a table (it is one small transaction).
NFT_TIMEOUT_S = 10.0

#: Seconds to wait for the kernel to acknowledge a set change (it answers in microseconds).
NETLINK_TIMEOUT_S = 5.0

# nfnetlink constants, from <linux/netfilter/nfnetlink.h> and <linux/netfilter/nf_tables.h>.
_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_NFTABLES = 10
_NFNL_MSG_BATCH_BEGIN = 0x10
_NFNL_MSG_BATCH_END = 0x11
_NFT_MSG_NEWSETELEM = 12
_NFT_MSG_DELSETELEM = 14
_NFPROTO_INET = 1
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NLM_F_CREATE = 0x400
_NLMSG_ERROR = 0x2
_NLA_F_NESTED = 0x8000
_NFTA_SET_ELEM_LIST_TABLE = 1
_NFTA_SET_ELEM_LIST_SET = 2
_NFTA_SET_ELEM_LIST_ELEMENTS = 3
_NFTA_LIST_ELEM = 1
_NFTA_SET_ELEM_KEY = 1
_NFTA_DATA_VALUE = 1
#: Length of an `ifname` set key: IFNAMSIZ.
_IFNAMSIZ = 16


class FirewallError(Exception):
    """nftables refused a change; the message says which."""


def _attribute(kind: int, payload: bytes) -> bytes:
    header = struct.pack("=HH", 4 + len(payload), kind)
    return header + payload + b"\0" * (-len(payload) % 4)


def _message(kind: int, flags: int, sequence: int, family: int, resource: int, payload: bytes) -> bytes:
    body = struct.pack("=BBH", family, 0, socket.htons(resource)) + payload
    return struct.pack("=IHHII", 16 + len(body), kind, flags, sequence, 0) + body


def nft(script: str) -> None:
    """Run an nft script (`nft -f -`); raise FirewallError with nft's own words if it fails."""
    done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=NFT_TIMEOUT_S)
    if done.returncode != 0:
        raise FirewallError(f"nft refused the change: {done.stderr.strip()}")


def table_names() -> list[str]:
    """Names of the inet tables whose name starts with TABLE_PREFIX."""
    done = subprocess.run(["nft", "list", "tables", "inet"], capture_output=True, text=True, timeout=NFT_TIMEOUT_S)
    if done.returncode != 0:
        raise FirewallError(f"nft could not list tables: {done.stderr.strip()}")
    return re.findall(rf"^table inet ({TABLE_PREFIX}\w+)$", done.stdout, re.MULTILINE)


def delete_table(name: str) -> None:
    """Delete the inet table `name`, if there is one."""
    nft(f"table inet {name}\ndelete table inet {name}\n")


def nft_available() -> str | None:
    """None if this host can run the firewall, else why not."""
    if os.geteuid() != 0:
        return "egress mode needs root (it creates veths and an nftables table)"
    if shutil.which("nft") is None:
        return "egress mode needs the nft command (Debian/Ubuntu: apt-get install nftables)"
    return None


def _element_set(cidrs: list[str]) -> str:
    return "{ " + ", ".join(cidrs) + " }" if cidrs else ""


class Firewall:
    """This server's table: `install()` once, then set elements per environment, then `remove()`."""

    def __init__(
        self, name: str, networks: list[list[str]], allow: list[str], subnet: str, resolvers: list[str] = ()
    ) -> None:
        """`networks[i]` are the CIDRs of private network i (set `members_<i>` holds its members);
        `resolvers` are DNS servers environments may query (port 53 only), though private or the host."""
        self.name = name
        self.networks = networks
        self.allow = allow
        self.subnet = subnet
        self.resolvers = list(resolvers)
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._sequence = 0
        self._installed = False

    def ruleset(self) -> str:
        refused = list(REFUSED_RANGES) + [self.subnet] + [cidr for cidrs in self.networks for cidr in cidrs]
        allowed = f"elements = {_element_set(self.allow)}" if self.allow else ""
        resolvers = f"elements = {_element_set(self.resolvers)}" if self.resolvers else ""
        members = "\n".join(f"  set members_{i} {{ type ipv4_addr; }}" for i in range(len(self.networks)))
        reach = "\n".join(
            f"    ip saddr @members_{i} ip daddr {_element_set(cidrs)} accept"
            for i, cidrs in enumerate(self.networks)
            if cidrs
        )
        return f"""
table inet {self.name}
delete table inet {self.name}
table inet {self.name} {{
  set veths {{ type ifname; }}
  set allowed {{ type ipv4_addr; flags interval; auto-merge; {allowed} }}
  set refused {{ type ipv4_addr; flags interval; auto-merge; elements = {_element_set(refused)} }}
  set resolvers {{ type ipv4_addr; {resolvers} }}
{members}
  chain prerouting {{
    type filter hook prerouting priority raw; policy accept;
    iifname @veths meta nfproto ipv6 drop
    iifname @veths fib saddr . iif oif missing drop
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname @veths ip daddr @allowed accept
    iifname @veths ip daddr @resolvers meta l4proto {{ tcp, udp }} th dport 53 accept
    iifname @veths drop
  }}
  chain output {{
    type filter hook output priority filter; policy accept;
    oifname @veths ct state established,related accept
    oifname @veths drop
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    oifname @veths ct state established,related accept
    oifname @veths drop
    iifname @veths jump outbound
  }}
  chain outbound {{
    meta nfproto != ipv4 drop
    ip daddr @allowed accept
    ip daddr @resolvers meta l4proto {{ tcp, udp }} th dport 53 accept
{reach}
    ip daddr @refused drop
    accept
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    iifname @veths oifname != @veths masquerade
  }}
}}
"""

    def install(self) -> None:
        """Create the table (replacing a leftover of the same name), and open the netlink socket
        later changes go through. Call it from a thread in the host's network namespace: a socket
        belongs to the namespace it was made in, whichever thread uses it later."""
        nft(self.ruleset())
        with self._lock:
            self._installed = True
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_NETFILTER
                )
                self._socket.settimeout(NETLINK_TIMEOUT_S)
                self._socket.bind((0, 0))

    def remove(self) -> None:
        """Delete the table if install() made it; idempotent. Closes the netlink socket."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None
            installed, self._installed = self._installed, False
        if installed:
            delete_table(self.name)

    def add_veth(self, ifname: str) -> None:
        self._elements(_NFT_MSG_NEWSETELEM, "veths", [ifname.encode().ljust(_IFNAMSIZ, b"\0")])

    def add_member(self, network: int, address: ipaddress.IPv4Address) -> None:
        self._elements(_NFT_MSG_NEWSETELEM, f"members_{network}", [address.packed])

    def remove_member(self, network: int, address: ipaddress.IPv4Address) -> None:
        self._elements(_NFT_MSG_DELSETELEM, f"members_{network}", [address.packed])

    def _elements(self, command: int, set_name: str, keys: list[bytes]) -> None:
        """One batch adding or deleting `keys` in a set. Deleting a missing element is not an error."""
        elements = b"".join(
            _attribute(
                _NFTA_LIST_ELEM | _NLA_F_NESTED,
                _attribute(_NFTA_SET_ELEM_KEY | _NLA_F_NESTED, _attribute(_NFTA_DATA_VALUE, key)),
            )
            for key in keys
        )
        payload = (
            _attribute(_NFTA_SET_ELEM_LIST_TABLE, self.name.encode() + b"\0")
            + _attribute(_NFTA_SET_ELEM_LIST_SET, set_name.encode() + b"\0")
            + _attribute(_NFTA_SET_ELEM_LIST_ELEMENTS | _NLA_F_NESTED, elements)
        )
        flags = _NLM_F_REQUEST | _NLM_F_ACK | (_NLM_F_CREATE if command == _NFT_MSG_NEWSETELEM else 0)
        with self._lock:
            if self._socket is None:
                raise FirewallError(f"the nftables table {self.name} is not installed")
            self._sequence += 3
            first = self._sequence
            batch = (
                _message(_NFNL_MSG_BATCH_BEGIN, _NLM_F_REQUEST, first, 0, _NFNL_SUBSYS_NFTABLES, b"")
                + _message((_NFNL_SUBSYS_NFTABLES << 8) | command, flags, first + 1, _NFPROTO_INET, 0, payload)
                + _message(_NFNL_MSG_BATCH_END, _NLM_F_REQUEST, first + 2, 0, _NFNL_SUBSYS_NFTABLES, b"")
            )
            self._socket.sendall(batch)
            error = self._ack(first)
        if error and not (command == _NFT_MSG_DELSETELEM and error == 2):  # ENOENT: already gone
            raise FirewallError(f"nftables refused a change to set {set_name} of {self.name}: {os.strerror(error)}")

    def _ack(self, first: int) -> int:
        """Read replies to the batch numbered from `first` until its change is acknowledged or one of
        its messages fails; return the errno (0: done)."""
        assert self._socket is not None
        while True:
            data = self._socket.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, number, _ = struct.unpack_from("=IHHII", data, offset)
                if kind == _NLMSG_ERROR and first <= number <= first + 2:
                    (code,) = struct.unpack_from("=i", data, offset + 16)
                    if code or number == first + 1:
                        return -code
                offset += max(16, (length + 3) & ~3)
