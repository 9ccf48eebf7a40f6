"""A private network namespace per execution environment.

Modes (`--function-network`):
- `host`: environments share the host's network; this module does nothing and every Slot is empty.
- `none`: each environment has a network namespace of its own with only loopback up.
- `egress` (default): as `none`, plus one veth to the host (`eth0` inside, a /31 link out of the
  function subnet), a default route through it, and this server's nftables table (see `firewall`):
  the internet is reachable (masqueraded); the host, loopback, private and reserved ranges, other
  environments and every private network the environment is not attached to are not, unless
  allow-listed; nothing opens connections into an environment.
In `none` and `egress` the namespace has IPv6 disabled, and 127.0.0.1:9001 (the Runtime API) and
127.0.0.1:9000 (Lambdabox's API, which the server bridges to itself) listening inside it; those
two sockets, held by the server, are the only way from inside to the host.

Contract of `FunctionNetworks`:
1. `start()` runs once, before anything else. It checks that the host can do the mode and raises
   `NetworkUnavailable`, saying why, if not (no CAP_SYS_ADMIN; for egress: not root, no `nft`, no
   veth or nftables support). In egress it then, in this order: removes what dead servers left
   (their nftables tables, veths and address claims), sets net.ipv4.ip_forward=1, and installs
   this server's table. It then starts the one preparer thread and makes the first slot.
2. Namespaces are made only by the preparer thread: it unshares a new network namespace,
   configures it and setns()es back to the host's. No other thread of the server ever changes
   namespace. It keeps `pool_size` slots ready; urgent work (a take() that found the pool empty,
   attach_pid) goes before teardown, which goes before refilling the pool.
3. `take(attach)` is thread-safe and returns a slot no one else holds: a pooled one at once, else
   one the preparer makes while the caller waits. The VPC memberships of `attach` (names of
   networks) are in place before it returns; an unknown name raises `ValueError`. In `none` and
   `host` modes `attach` is ignored (nothing is reachable, or everything is).
4. `attach_pid(pid, attach)` gives the network namespace of process `pid` (a SnapStart clone that
   made its own) the egress veth, address, route and memberships, and returns a Slot whose
   sockets are None; in `none` and `host` modes it changes nothing.
5. `release(slot)` is idempotent. At once: the sockets are closed and the memberships removed.
   Then, in the preparer thread: the veth is deleted (cutting off any process still inside), the
   namespace fd closed, the conntrack entries of the address's connections deleted, and the
   address given back (the least recently freed address is handed out first). Call it once the
   environment's processes are gone or being killed. A slot's `netns_fd` belongs to this object:
   never close it yourself.
6. `close()`: 1. stop taking; 2. release every slot, pooled or taken, and wait (bounded) for the
   teardown; 3. remove this server's table; 4. remove its address claims. take() then raises.
"""

from __future__ import annotations

import collections
import ctypes
import fcntl
import ipaddress
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabox.sandbox.addresses import DEFAULT_STATE_DIR, AddressBlocks, is_alive, process_identity
from lambdabox.sandbox.firewall import (
    TABLE_PREFIX,
    Firewall,
    delete_table,
    nft_available,
    table_names,
)

log = logging.getLogger(__name__)

MODES = ("egress", "none", "host")

#: From <sched.h>: the flag of unshare(2)/setns(2) for network namespaces.
CLONE_NEWNET = 0x40000000

#: ioctl requests on a socket, from <linux/sockios.h>, and the "up" flag from <net/if.h>.
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

#: Backlog of the in-namespace listeners: one runtime client, and the function's own API calls.
LISTEN_BACKLOG = 64

#: Prefix of the host ends of this module's veths; the rest is the host address in hex (11 of IFNAMSIZ's 15).
VETH_PREFIX = "lbx"

#: Tries at creating a veth whose name a dying namespace's link still holds (deleting it in between).
VETH_ATTEMPTS = 3

#: Name of the environment's end, inside its namespace.
INSIDE_IFNAME = "eth0"

#: Seconds close() waits for the preparer to tear everything down (deleting a veth takes ~20-40 ms).
CLOSE_TIMEOUT_S = 30.0

#: Seconds a caller waits for the preparer to make its slot (a few ms; far more means the host is stuck).
URGENT_TIMEOUT_S = 30.0

#: Seconds the preparer pauses after failing to fill the pool, so that a broken host is not hammered.
REFILL_BACKOFF_S = 1.0

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


class NetworkUnavailable(Exception):
    """The host cannot give environments the configured network mode; the message says why."""


def _unshare_net() -> None:
    if _libc.unshare(CLONE_NEWNET) == -1:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare(CLONE_NEWNET): {os.strerror(error)}")


def _setns_net(descriptor: int) -> None:
    if _libc.setns(descriptor, CLONE_NEWNET) == -1:
        error = ctypes.get_errno()
        raise OSError(error, f"setns(net): {os.strerror(error)}")


def _write_sysctl(path: str, value: str) -> None:
    """Write a /proc/sys file; /proc/sys/net/... is the one of the calling thread's namespace."""
    with open(path, "w") as file:
        file.write(value)


def _loopback_up() -> None:
    """Bring `lo` of the calling thread's network namespace up (127.0.0.1 comes with it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH", b"lo", 0)
        (flags,) = struct.unpack_from("H", fcntl.ioctl(probe.fileno(), SIOCGIFFLAGS, request), 16)
        fcntl.ioctl(probe.fileno(), SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def _listen(port: int) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:`port` of the calling thread's network namespace."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(LISTEN_BACKLOG)
    except BaseException:
        listener.close()
        raise
    return listener


def veth_name(host_end: ipaddress.IPv4Address) -> str:
    """The host end's name: unique on the host because the address is (claims make it so)."""
    return f"{VETH_PREFIX}{int(host_end):08x}"


@dataclass(eq=False)
class Slot:
    """One environment's network: its namespace, and the two listeners inside it."""

    #: An fd of the namespace (/proc/.../ns/net), for setns(); None in host mode. Owned by FunctionNetworks.
    netns_fd: int | None
    #: Listening on 127.0.0.1:9001 inside the namespace (the Runtime API); None in host mode and for attach_pid.
    runtime_socket: socket.socket | None
    #: Listening on 127.0.0.1:9000 inside the namespace (bridged to Lambdabox's API); None as above.
    api_socket: socket.socket | None
    #: The environment's IPv4 address (egress), else None.
    address: str | None
    _veth: str | None = field(default=None, repr=False)
    _host_end: ipaddress.IPv4Address | None = field(default=None, repr=False)
    _members: tuple[int, ...] = field(default=(), repr=False)
    _released: bool = field(default=False, repr=False)
    #: Never handed out: no process ever entered, so closing the fd destroys the namespace and its veth.
    _pristine: bool = field(default=False, repr=False)


def _empty_slot() -> Slot:
    return Slot(netns_fd=None, runtime_socket=None, api_socket=None, address=None)


class FunctionNetworks:
    """Network namespaces for environments, prepared ahead in one thread. See the module's contract."""

    def __init__(
        self,
        mode: str,
        networks: dict[str, list[str]],
        allow: list[str],
        subnet: str,
        runtime_port: int = 9001,
        api_port: int = 9000,
        pool_size: int = 32,
        state_dir: Path = DEFAULT_STATE_DIR,
        resolvers: list[str] | None = None,
    ) -> None:
        """`resolvers`: DNS servers environments may query on port 53 though private (egress); None:
        the IPv4 nameservers of the host's /etc/resolv.conf, which environments see as theirs."""
        if mode not in MODES:
            raise ValueError(f"network mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.runtime_port = runtime_port
        self.api_port = api_port
        self.pool_size = pool_size
        self._network_index = {name: i for i, name in enumerate(networks)}
        identity = (process_identity(os.getpid()) or f"{os.getpid()} 0").replace(" ", "_")
        self._addresses = AddressBlocks(subnet, state_dir)
        # Owner's pid and start time (for sweeping), and a token: one process may hold several.
        table = f"{TABLE_PREFIX}{identity}_{os.urandom(3).hex()}"
        if resolvers is None:
            resolvers = host_resolvers()
        self._firewall = Firewall(table, [list(cidrs) for cidrs in networks.values()], list(allow), subnet, resolvers)
        self._condition = threading.Condition()
        self._pool: collections.deque[Slot] = collections.deque()
        self._urgent: collections.deque[tuple[Callable[[], Any], Future]] = collections.deque()
        self._teardown: collections.deque[Slot] = collections.deque()
        self._taken: set[Slot] = set()
        self._making = 0  # slots the preparer is making for the pool right now
        self._closing = False  # no more takes
        self._stopping = False  # the preparer exits once its queues are empty
        self._started = False
        self._thread: threading.Thread | None = None
        self._reaper: threading.Thread | None = None
        self._host_netns: int | None = None
        self._iproute: Any = None  # pyroute2 IPRoute of the host's namespace, used only by the preparer

    # ---- life cycle ----

    def start(self) -> None:
        if self._started:
            raise RuntimeError("FunctionNetworks.start() was already called")
        self._started = True
        if self.mode == "host":
            return
        if self.mode == "egress":
            problem = nft_available()
            if problem:
                raise NetworkUnavailable(f"--function-network egress: {problem}")
            try:
                self._sweep()
                # Forwarding is what lets an environment's packets out through the host; host-wide.
                _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
                self._firewall.install()
            except Exception as error:
                raise NetworkUnavailable(f"--function-network egress: could not set up the host: {error}") from error
        self._host_netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._run, name="lambdabox-netns", daemon=True)
        self._thread.start()
        # Tearing down (a veth's deletion waits tens of ms for the kernel's network lock) has a thread of its
        # own, so that a cold start's urgent work never waits behind it.
        self._reaper = threading.Thread(target=self._reap, name="lambdabox-netns-reaper", daemon=True)
        self._reaper.start()
        try:
            first = self._urgently(self._make)
        except Exception as error:
            self.close()
            raise NetworkUnavailable(
                f"--function-network {self.mode}: could not make a network namespace: {error}"
            ) from error
        with self._condition:
            self._pool.append(first)
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            if self._closing:
                return
            # 1. Stop taking.
            self._closing = True
            for slot in self._pool:
                slot._pristine = True
            leftovers = list(self._pool) + list(self._taken)
            self._pool.clear()
        # 2. Release everything; once it is all queued, the preparer tears it down, then exits.
        for slot in leftovers:
            self.release(slot)
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in (self._thread, self._reaper):
            if thread is not None:
                thread.join(CLOSE_TIMEOUT_S)
                if thread.is_alive():
                    log.warning("network namespaces were still being torn down after %.0f s", CLOSE_TIMEOUT_S)
        if self._host_netns is not None:
            os.close(self._host_netns)
            self._host_netns = None
        if self.mode == "egress" and self._started:
            # 3. This server's table; 4. its claims.
            try:
                self._firewall.remove()
            except Exception as error:
                log.warning("could not remove nftables table %s: %s", self._firewall.name, error)
            self._addresses.close()

    # ---- slots ----

    def take(self, attach: tuple[str, ...] = ()) -> Slot:
        members = self._members(attach)
        if self.mode == "host":
            return _empty_slot()
        with self._condition:
            self._require_running()
            slot = self._pool.popleft() if self._pool else None
            self._condition.notify_all()  # the preparer refills
        if slot is None:
            slot = self._urgently(self._make)
        return self._hand_out(slot, members)

    def attach_pid(self, pid: int, attach: tuple[str, ...] = ()) -> Slot:
        members = self._members(attach)
        if self.mode != "egress":
            return _empty_slot()
        with self._condition:
            self._require_running()
        return self._hand_out(self._urgently(lambda: self._connect_pid(pid)), members)

    def _require_running(self) -> None:
        if self._closing or not self._started:
            raise RuntimeError("FunctionNetworks is not running")

    def _hand_out(self, slot: Slot, members: tuple[int, ...]) -> Slot:
        """Count `slot` as taken and give it its memberships; on any failure, release it and raise."""
        try:
            with self._condition:
                self._taken.add(slot)
                self._require_running()  # close() may have begun meanwhile
            if self.mode == "egress" and slot.address is not None:
                address = ipaddress.IPv4Address(slot.address)
                for network in members:
                    self._firewall.add_member(network, address)
                    slot._members += (network,)
        except BaseException:
            self.release(slot)
            raise
        return slot

    def release(self, slot: Slot) -> None:
        with self._condition:
            if slot._released or slot.netns_fd is None:
                return
            slot._released = True
            self._taken.discard(slot)
        for listener in (slot.runtime_socket, slot.api_socket):
            if listener is not None:
                listener.close()
        if slot.address is not None:
            for network in slot._members:
                self._firewall.remove_member(network, ipaddress.IPv4Address(slot.address))
        with self._condition:
            self._teardown.append(slot)
            self._condition.notify_all()

    def unknown(self, attach: tuple[str, ...]) -> list[str]:
        """The names in `attach` that no --network defines."""
        return [name for name in attach if name not in self._network_index]

    def _members(self, attach: tuple[str, ...]) -> tuple[int, ...]:
        unknown = self.unknown(attach)
        if unknown:
            raise ValueError(f"no network named {', '.join(unknown)} is defined (--network NAME=CIDR)")
        return tuple(sorted({self._network_index[name] for name in attach}))

    # ---- the preparer thread ----

    def _urgently(self, work: Callable[[], Slot]) -> Slot:
        """Run `work` in the preparer thread before anything else it has to do; wait for its result."""
        future: Future = Future()
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                raise NetworkUnavailable("the network namespace preparer is not running")
            self._urgent.append((work, future))
            self._condition.notify_all()
        return future.result(timeout=URGENT_TIMEOUT_S)

    def _run(self) -> None:
        from pyroute2 import IPRoute

        if self.mode == "egress":
            self._iproute = IPRoute()
        try:
            while True:
                with self._condition:
                    while not (
                        self._urgent
                        or self._stopping
                        or (not self._closing and len(self._pool) + self._making < self.pool_size)
                    ):
                        self._condition.wait()
                    if self._urgent:
                        work, future = self._urgent.popleft()
                        kind = "urgent"
                    elif self._stopping:
                        return
                    else:
                        self._making += 1
                        kind = "refill"
                if kind == "urgent":
                    try:
                        future.set_result(work())
                    except BaseException as error:
                        future.set_exception(error)
                else:
                    self._refill()
        finally:
            if self._iproute is not None:
                self._iproute.close()
                self._iproute = None

    def _reap(self) -> None:
        """The reaper thread: tear released slots down, until the server stops and none is left."""
        from pyroute2 import IPRoute

        iproute = IPRoute() if self.mode == "egress" else None
        try:
            while True:
                with self._condition:
                    while not (self._teardown or self._stopping):
                        self._condition.wait()
                    if not self._teardown:
                        if self._thread is None or not self._thread.is_alive():
                            return
                        # The preparer may still queue slots it was making: look again shortly.
                        self._condition.wait(0.05)
                        continue
                    doomed = self._teardown.popleft()
                try:
                    self._tear_down(doomed, iproute)
                except Exception:  # the reaper must outlive any one slot
                    log.exception("could not tear down a network namespace")
        finally:
            if iproute is not None:
                iproute.close()

    def _refill(self) -> None:
        try:
            slot = self._make()
        except Exception as error:
            log.warning("could not prepare a network namespace: %s", error)
            with self._condition:
                self._making -= 1
                self._condition.wait(REFILL_BACKOFF_S)
            return
        with self._condition:
            self._making -= 1
            if self._closing:
                slot._released = slot._pristine = True
                self._teardown.append(slot)
            else:
                self._pool.append(slot)

    def _make(self) -> Slot:
        """A new namespace with lo up, IPv6 off and both listeners (preparer thread only)."""
        assert self._host_netns is not None
        _unshare_net()
        try:
            netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            runtime_socket = api_socket = None
            try:
                # Before lo is up, so that it never gets ::1; no IPv6 rules exist, so no IPv6 at all.
                _write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1")
                _write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")
                _loopback_up()
                runtime_socket = _listen(self.runtime_port)
                api_socket = _listen(self.api_port)
                slot = Slot(netns_fd=netns, runtime_socket=runtime_socket, api_socket=api_socket, address=None)
                if self.mode == "egress":
                    self._connect(slot)
                return slot
            except BaseException:
                for listener in (runtime_socket, api_socket):
                    if listener is not None:
                        listener.close()
                os.close(netns)
                raise
        finally:
            # Back to the host's namespace, whatever happened: the preparer's other work needs it.
            _setns_net(self._host_netns)

    def _connect_pid(self, pid: int) -> Slot:
        """The egress link for process `pid`'s namespace (preparer thread only)."""
        assert self._host_netns is not None
        netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        slot = Slot(netns_fd=netns, runtime_socket=None, api_socket=None, address=None)
        try:
            _setns_net(netns)
            try:
                _write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1")
                _write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")
                _loopback_up()
                self._connect(slot)
            finally:
                _setns_net(self._host_netns)
        except BaseException:
            os.close(netns)
            raise
        return slot

    def _connect(self, slot: Slot) -> None:
        """Give the namespace the calling thread is in a veth to the host, addressed and routed.

        Runs in the preparer thread while it is inside `slot`'s namespace; `self._iproute` is a
        netlink socket of the host's namespace (sockets keep the namespace they were made in).
        """
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        assert slot.netns_fd is not None
        host_end, inside = self._addresses.take()
        name = veth_name(host_end)
        try:
            # 1. The pair, its inner end moved straight into the namespace. A leftover of the same
            #    name (a namespace the kernel is still destroying) is deleted first.
            for attempt in range(VETH_ATTEMPTS):
                try:
                    self._iproute.link(
                        "add", ifname=name, kind="veth", peer={"ifname": INSIDE_IFNAME, "net_ns_fd": slot.netns_fd}
                    )
                    break
                except NetlinkError as error:
                    if error.code != 17 or attempt == VETH_ATTEMPTS - 1:  # EEXIST
                        raise
                    self._delete_veth(name, self._iproute)
            # 2. The firewall knows the host end before it carries any packet.
            self._firewall.add_veth(name)
            # 3. The host end: its address (which routes the /31 to the veth) and up.
            index = self._iproute.link_lookup(ifname=name)[0]
            self._iproute.addr("add", index=index, address=str(host_end), prefixlen=31)
            self._iproute.link("set", index=index, state="up")
            # 4. The inner end, through a netlink socket made inside: address, up, default route.
            with IPRoute() as inner:
                inner_index = inner.link_lookup(ifname=INSIDE_IFNAME)[0]
                inner.addr("add", index=inner_index, address=str(inside), prefixlen=31)
                inner.link("set", index=inner_index, state="up")
                inner.route("add", dst="0.0.0.0/0", gateway=str(host_end))
        except BaseException:
            self._delete_veth(name, self._iproute)
            self._addresses.give_back(host_end)
            raise
        slot.address = str(inside)
        slot._veth = name
        slot._host_end = host_end

    def _delete_veth(self, name: str, iproute: Any) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            iproute.link("del", ifname=name)
        except NetlinkError as error:
            if error.code != 19:  # ENODEV: already gone with its namespace
                raise

    def _tear_down(self, slot: Slot, iproute: Any) -> None:
        """Delete the veth, close the namespace, give the address back (reaper thread only)."""
        try:
            if slot._veth is not None and not slot._pristine:
                self._delete_veth(slot._veth, iproute)
        except Exception as error:
            log.warning("could not delete veth %s: %s", slot._veth, error)
            return  # keep the address out of use rather than hand it out twice
        finally:
            if slot.netns_fd is not None:
                os.close(slot.netns_fd)
        if slot.address is not None and not slot._pristine:
            self._forget_flows(slot.address)
        if slot._host_end is not None:
            self._addresses.give_back(slot._host_end)

    def _forget_flows(self, address: str) -> None:
        """Delete the conntrack entries of connections `address` opened (reaper thread only).

        Otherwise, when the address is handed to another environment, replies of its previous
        holder's flows (a UDP peer that keeps sending, say) would be let in as "established".
        """
        from pyroute2 import Conntrack
        from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

        try:
            with Conntrack() as conntrack:
                # Listed in full first: pyroute2 cannot delete while a dump is being read.
                flows = list(conntrack.dump_entries(tuple_orig=NFCTAttrTuple(family=socket.AF_INET, saddr=address)))
                for entry in flows:
                    try:
                        conntrack.delete(entry)
                    except Exception as error:  # gone meanwhile
                        log.debug("conntrack entry of %s: %s", address, error)
        except Exception as error:
            log.warning("could not forget the connections of %s: %s", address, error)

    # ---- leftovers of dead servers ----

    def _sweep(self) -> None:
        """Remove the tables, veths and claims of servers that are gone."""
        for table in table_names():
            owner = " ".join(table[len(TABLE_PREFIX):].split("_")[:2])
            if not is_alive(owner):
                log.info("removing nftables table %s of a Lambdabox server that is gone", table)
                delete_table(table)
        from pyroute2 import IPRoute

        with IPRoute() as iproute:
            names = [link.get_attr("IFLA_IFNAME") for link in iproute.get_links()]

            def forget(block: ipaddress.IPv4Network) -> None:
                for host in range(int(block.network_address), int(block.broadcast_address) + 1, 2):
                    name = veth_name(ipaddress.IPv4Address(host))
                    if name in names:
                        log.info("removing veth %s of a Lambdabox server that is gone", name)
                        try:
                            iproute.link("del", ifname=name)
                        except Exception as error:  # gone meanwhile with its namespace
                            log.debug("veth %s: %s", name, error)

            self._addresses.sweep(forget)


def host_resolvers(path: str = "/etc/resolv.conf") -> list[str]:
    """The IPv4 nameservers of `path` that an environment can reach through its veth.

    One on loopback (systemd-resolved's 127.0.0.53) is the namespace's own loopback inside, where
    nothing answers: it is left out, with a warning.
    """
    found = []
    try:
        with open(path) as file:
            lines = file.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        try:
            address = ipaddress.ip_address(fields[1])
        except ValueError:
            continue
        if address.version != 4:
            continue
        if address.is_loopback:
            log.warning(
                "the host's DNS resolver %s is on loopback, which environments cannot reach: functions will not "
                "resolve names unless %s names a resolver on a routable address",
                address, path,
            )
            continue
        found.append(str(address))
    return found


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
