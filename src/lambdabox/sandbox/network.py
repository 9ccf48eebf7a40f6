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
   this server's table. It then starts the preparer and reaper threads and makes the first slot.
2. Namespaces are made only by the preparer thread: it unshares a new network namespace,
   configures it and setns()es back to the host's. No other thread of the server ever changes
   namespace. It keeps `pool_size` slots ready; urgent work (a take() that found the pool empty,
   attach_pid) goes before refilling the pool. Teardown is the reaper thread's, so that urgent
   work never waits behind it. The egress links themselves are `egress.EgressLinks`'.
3. `take(attach)` is thread-safe and returns a slot no one else holds: a pooled one at once, else
   one the preparer makes while the caller waits. The VPC memberships of `attach` (names of
   networks) are in place before it returns; an unknown name raises `ValueError`. In `none` and
   `host` modes `attach` is ignored (nothing is reachable, or everything is).
4. `attach_pid(pid, attach)` gives the network namespace of process `pid` (a SnapStart clone that
   made its own) the egress veth, address, route and memberships, and returns a Slot whose
   sockets are None; in `none` and `host` modes it changes nothing.
5. `release(slot)` is idempotent. At once: the sockets are closed and the memberships removed.
   Then, in the reaper thread: the veth is deleted (cutting off any process still inside), the
   namespace fd closed, the conntrack entries of the address's connections deleted, and the
   address given back (the least recently freed address is handed out first). Call it once the
   environment's processes are gone or being killed. A slot's `netns_fd` belongs to this object:
   never close it yourself.
6. `close()`: 1. stop taking; 2. release every slot, pooled or taken, and wait (bounded) for the
   teardown; 3. remove this server's table; 4. remove its address claims. take() then raises.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabox.sandbox import linux
from lambdabox.sandbox.addresses import DEFAULT_STATE_DIR, AddressBlocks, is_alive, process_identity
from lambdabox.sandbox.egress import EgressLinks, Link, host_resolvers
from lambdabox.sandbox.firewall import (
    TABLE_PREFIX,
    Firewall,
    delete_table,
    nft_available,
    table_names,
)

log = logging.getLogger(__name__)

MODES = ("egress", "none", "host")

#: Seconds close() waits for the preparer and the reaper to tear everything down (deleting a veth takes ~20-40 ms).
CLOSE_TIMEOUT_S = 30.0

#: Seconds a caller waits for the preparer to make its slot (a few ms; far more means the host is stuck).
URGENT_TIMEOUT_S = 30.0

#: Seconds the preparer pauses after failing to fill the pool, so that a broken host is not hammered.
REFILL_BACKOFF_S = 1.0

class NetworkUnavailable(Exception):
    """The host cannot give environments the configured network mode; the message says why."""


def _prepare_inside(loopback: bool) -> None:
    """In the namespace the calling thread is in: IPv6 off (no IPv6 rules exist), then `lo` up if asked.

    IPv6 goes first, so that `lo` never gets ::1.
    """
    _write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1")
    _write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")
    if loopback:
        linux.bring_up_loopback()


def _write_sysctl(path: str, value: str) -> None:
    """Write a /proc/sys file; /proc/sys/net/... is the one of the calling thread's namespace."""
    with open(path, "w") as file:
        file.write(value)


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
    _link: Link | None = field(default=None, repr=False)
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
        runtime_port: int = linux.RUNTIME_API_PORT,
        api_port: int = linux.API_PORT,
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
        self._egress = EgressLinks(self._addresses, self._firewall)
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
                self._sweep_tables()
                self._egress.sweep()
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
            if slot._link is not None:
                for network in members:
                    self._firewall.add_member(network, slot._link.inside)
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
        if slot._link is not None:
            for network in slot._members:
                self._firewall.remove_member(network, slot._link.inside)
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
        linux.unshare(linux.CLONE_NEWNET)
        try:
            netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            runtime_socket = api_socket = None
            try:
                _prepare_inside(loopback=True)
                runtime_socket = linux.listen_on_loopback(self.runtime_port)
                api_socket = linux.listen_on_loopback(self.api_port)
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
            linux.setns(self._host_netns, linux.CLONE_NEWNET)

    def _connect_pid(self, pid: int) -> Slot:
        """The egress link for process `pid`'s namespace (preparer thread only)."""
        assert self._host_netns is not None
        netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        slot = Slot(netns_fd=netns, runtime_socket=None, api_socket=None, address=None)
        try:
            linux.setns(netns, linux.CLONE_NEWNET)
            try:
                _prepare_inside(loopback=False)  # the clone brought its loopback up itself
                self._connect(slot)
            finally:
                linux.setns(self._host_netns, linux.CLONE_NEWNET)
        except BaseException:
            os.close(netns)
            raise
        return slot

    def _connect(self, slot: Slot) -> None:
        """The egress link of the namespace the preparer is in (`slot`'s)."""
        assert slot.netns_fd is not None
        slot._link = self._egress.connect(self._iproute, slot.netns_fd)
        slot.address = str(slot._link.inside)

    def _tear_down(self, slot: Slot, iproute: Any) -> None:
        """Take the link down and give its address back, close the namespace (reaper thread only)."""
        try:
            if slot._link is not None and not slot._pristine:
                self._egress.disconnect(iproute, slot._link)
            elif slot._link is not None:
                # Never entered: closing the namespace takes its veth along, and no flow used the address.
                self._addresses.give_back(slot._link.host_end)
        finally:
            if slot.netns_fd is not None:
                os.close(slot.netns_fd)

    def _sweep_tables(self) -> None:
        """Remove the nftables tables of servers that are gone."""
        for table in table_names():
            owner = " ".join(table[len(TABLE_PREFIX):].split("_")[:2])
            if not is_alive(owner):
                log.info("removing nftables table %s of a Lambdabox server that is gone", table)
                delete_table(table)
