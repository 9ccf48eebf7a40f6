"""Network namespaces per environment, attacked from inside with real sockets.

Every probe runs in a forked child that setns()es into a slot's namespace and drops to an
unprivileged uid, as a function would. Only addresses this file creates are ever contacted: the
host's own (loopback and its own address), a fake "internet" host (198.51.100.2, TEST-NET-2) and a
"database" (10.77.0.2) in network namespaces made here, and the environments themselves.
"""

from __future__ import annotations

import ctypes
import encodings.idna  # noqa: F401 - loaded before probes drop to a uid that cannot read the stdlib
import errno
import ipaddress
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from peers import DATABASE, INTERNET, Peer, ip

from lambdabox.sandbox.addresses import AddressBlocks, process_identity
from lambdabox.sandbox.firewall import table_names
from lambdabox.sandbox.egress import veth_name
from lambdabox.sandbox.linux import CLONE_NEWNET
from lambdabox.sandbox.network import FunctionNetworks, Slot
from lambdabox.sandbox.peer_owner import peer_uid

pytestmark = pytest.mark.needs_root

#: An unprivileged uid for probes (what functions run as).
TENANT_UID = 993

#: Seconds a probe waits for a connection that a firewall drops silently.
PROBE_TIMEOUT_S = 1.0

#: Seconds to wait for a connection that should succeed (a lost SYN is resent after 1 s).
REACH_TIMEOUT_S = 5.0

_libc = ctypes.CDLL(None, use_errno=True)


@pytest.fixture(scope="module")
def internet() -> Iterator[Peer]:
    peer = Peer("inet", *INTERNET, port=8080)
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def database() -> Iterator[Peer]:
    peer = Peer("db", *DATABASE, port=5432)
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def egress(internet: Peer, database: Peer) -> Iterator[FunctionNetworks]:
    networks = FunctionNetworks("egress", {"db": ["10.77.0.0/24"]}, [], "10.254.0.0/16", pool_size=4)
    networks.start()
    yield networks
    networks.close()


@pytest.fixture(scope="module")
def isolated() -> Iterator[FunctionNetworks]:
    networks = FunctionNetworks("none", {"db": ["10.77.0.0/24"]}, [], "10.254.0.0/16", pool_size=2)
    networks.start()
    yield networks
    networks.close()


def _in_namespace(slot: Slot, action, uid: int | None = TENANT_UID) -> str:
    """Run `action()` (returning a str) in a child inside `slot`'s namespace, as `uid`; return what it returned."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            if _libc.setns(slot.netns_fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            result = action()
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            result = f"error:{error!r}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read().decode()
    os.waitpid(pid, 0)
    return output


def _connect(
    host: str, port: int, bind: str | None = None, timeout: float = PROBE_TIMEOUT_S, transparent: bool = False
) -> str:
    """'connected:<what the server said>', or why not: 'refused', 'timeout', 'unreachable'."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        if bind is not None:
            # IP_TRANSPARENT (CAP_NET_ADMIN) sends from any address; IP_FREEBIND needs no privilege.
            client.setsockopt(socket.SOL_IP, 19 if transparent else 15, 1)
            client.bind((bind, 0))
        client.connect((host, port))
        try:
            said = client.recv(100).decode(errors="replace")
        except OSError:
            said = ""
        return f"connected:{said}"
    except ConnectionRefusedError:
        return "refused"
    except (TimeoutError, socket.timeout):
        return "timeout"
    except OSError as error:
        if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "unreachable"
        return f"oserror:{error.errno}"
    finally:
        client.close()


def probe(slot: Slot, host: str, port: int, bind: str | None = None) -> str:
    """Try to connect from inside `slot`; a silently dropped attempt is given PROBE_TIMEOUT_S."""
    return _in_namespace(slot, lambda: _connect(host, port, bind))


def reach(slot: Slot, host: str, port: int) -> str:
    """As probe(), for a connection that should succeed: time for a retransmitted SYN on a busy host."""
    return _in_namespace(slot, lambda: _connect(host, port, timeout=REACH_TIMEOUT_S))


def _host_address() -> str:
    """This host's first global IPv4 address (its own, so contacting it is fine)."""
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    for line in shown.stdout.splitlines():
        address = line.split()[3].split("/")[0]
        if not address.startswith(("198.51.100.", "10.77.0.", "10.254.")):
            return address
    pytest.skip("this host has no global IPv4 address of its own")


@pytest.fixture
def host_listener() -> Iterator[tuple[socket.socket, int]]:
    """A listener on every address of the host (loopback included), on a free port."""
    listener = socket.create_server(("0.0.0.0", 0))
    listener.settimeout(0.2)
    yield listener, listener.getsockname()[1]
    listener.close()


def _nobody_connected(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except (TimeoutError, socket.timeout):
        return True
    conn.close()
    return False


# ---- both private modes ----


@pytest.mark.parametrize("mode", ["none", "egress"])
def test_runtime_port_inside_is_the_slots_own_socket(mode, request):
    networks = request.getfixturevalue("isolated" if mode == "none" else "egress")
    slot = networks.take()
    try:
        def call_runtime_api() -> str:
            with socket.create_connection(("127.0.0.1", 9001), timeout=2) as client:
                client.sendall(b"GET /2018-06-01/runtime/invocation/next")
            with socket.create_connection(("127.0.0.1", 9000), timeout=2) as client:
                client.sendall(b"api")
            return "sent"

        assert _in_namespace(slot, call_runtime_api) == "sent"
        slot.runtime_socket.settimeout(2)
        conn, _ = slot.runtime_socket.accept()
        assert conn.recv(100) == b"GET /2018-06-01/runtime/invocation/next"
        conn.close()
        slot.api_socket.settimeout(2)
        conn, _ = slot.api_socket.accept()
        assert conn.recv(100) == b"api"
        conn.close()
    finally:
        networks.release(slot)


@pytest.mark.parametrize("mode", ["none", "egress"])
def test_host_loopback_services_are_unreachable(mode, request, host_listener):
    networks = request.getfixturevalue("isolated" if mode == "none" else "egress")
    listener, port = host_listener
    slot = networks.take()
    try:
        assert probe(slot, "127.0.0.1", port) == "refused"  # the namespace's own loopback: nothing there
        assert _nobody_connected(listener)
        # The services really running on this host's loopback (PostgreSQL, Redis, NATS, MariaDB, MQTT).
        for service in (5432, 6379, 4222, 3306, 1883):
            assert probe(slot, "127.0.0.1", service) == "refused"
        # The host's loopback by another name is the namespace's own too.
        assert probe(slot, "127.1.2.3", port) == "refused"
    finally:
        networks.release(slot)


@pytest.mark.parametrize("mode", ["none", "egress"])
def test_the_hosts_own_address_is_unreachable(mode, request, host_listener):
    networks = request.getfixturevalue("isolated" if mode == "none" else "egress")
    listener, port = host_listener
    address = _host_address()
    slot = networks.take()
    try:
        assert not probe(slot, address, port).startswith("connected")
        assert _nobody_connected(listener)
        if slot.address is not None:  # the host end of the environment's own link, its gateway
            gateway = str(ipaddress.IPv4Address(slot.address) - 1)
            assert probe(slot, gateway, port) == "timeout"
            assert _nobody_connected(listener)
    finally:
        networks.release(slot)


@pytest.mark.parametrize("mode", ["none", "egress"])
def test_ipv6_is_off_inside(mode, request):
    networks = request.getfixturevalue("isolated" if mode == "none" else "egress")
    slot = networks.take()
    try:
        def look() -> str:
            with open("/proc/sys/net/ipv6/conf/all/disable_ipv6") as file:
                disabled = file.read().strip()
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as client:
                    client.settimeout(PROBE_TIMEOUT_S)
                    client.connect(("::1", 9001))
                return f"{disabled}:connected"
            except OSError as error:
                return f"{disabled}:{error.errno}"

        disabled, outcome = _in_namespace(slot, look).split(":")
        assert disabled == "1"
        assert outcome != "connected"
    finally:
        networks.release(slot)


@pytest.mark.parametrize("mode", ["none", "egress"])
def test_abstract_unix_sockets_of_the_host_and_neighbours_are_out_of_reach(mode, request):
    """Abstract Unix socket names belong to a network namespace: another namespace's are not there."""
    networks = request.getfixturevalue("isolated" if mode == "none" else "egress")
    name = f"\0lambdabox-test-{os.getpid()}"
    host_side = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    host_side.bind(name)
    host_side.listen(1)
    first, second = networks.take(), networks.take()

    def listen_then_dial_from(other: Slot) -> str:
        # In `first`: bind the name there, then see whether a process in `other` can reach it.
        inside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        inside.bind(name + "-first")
        inside.listen(1)
        return _dial(name + "-first") + "," + _in_namespace(other, lambda: _dial(name + "-first"))

    try:
        assert _dial(name) == "connected"  # the host itself reaches it: the test is sound
        assert _in_namespace(first, lambda: _dial(name)) == "refused"
        assert _in_namespace(first, lambda: listen_then_dial_from(second), uid=None) == "connected,refused"
    finally:
        host_side.close()
        networks.release(first)
        networks.release(second)


def _dial(name: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        try:
            client.connect(name)
            return "connected"
        except ConnectionRefusedError:
            return "refused"


def test_none_mode_reaches_no_internet(isolated, internet):
    slot = isolated.take()
    try:
        assert slot.address is None
        assert probe(slot, internet.address, internet.port) == "unreachable"
    finally:
        isolated.release(slot)


# ---- egress ----


def test_the_internet_is_reachable_through_nat(egress, internet):
    slot = egress.take()
    try:
        # The fake internet host sees the host's address on its link, not the environment's.
        assert reach(slot, internet.address, internet.port) == f"connected:{INTERNET[0]}"
    finally:
        egress.release(slot)


def test_release_forgets_the_connections_of_the_address(egress, internet):
    """A reused address must not inherit its previous holder's flows (their replies would pass as established)."""

    def flows(address: str) -> int:
        listed = subprocess.run(["cat", "/proc/net/nf_conntrack"], capture_output=True, text=True).stdout
        if not listed:  # no procfs view of conntrack here: ask pyroute2
            from pyroute2 import Conntrack
            from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

            with Conntrack() as conntrack:
                return len(list(conntrack.dump_entries(tuple_orig=NFCTAttrTuple(family=socket.AF_INET, saddr=address))))
        return sum(f"src={address} " in line for line in listed.splitlines())

    slot = egress.take()
    address = slot.address
    for _ in range(3):
        assert reach(slot, internet.address, internet.port).startswith("connected:")
    assert flows(address) >= 3
    egress.release(slot)
    for _ in range(100):
        if flows(address) == 0:
            break
        time.sleep(0.05)
    assert flows(address) == 0


def test_neighbours_are_unreachable(egress, internet):
    first, second = egress.take(), egress.take()
    ready_read, ready_write = os.pipe()

    def serve() -> str:
        listener = socket.create_server(("0.0.0.0", 7000))
        os.write(ready_write, b"x")
        listener.settimeout(PROBE_TIMEOUT_S * 4)
        try:
            conn, _ = listener.accept()
            conn.close()
            return "accepted"
        except (TimeoutError, socket.timeout):
            return "nobody"

    server_pid = os.fork()
    if server_pid == 0:
        os.close(ready_read)
        os._exit(0 if _in_namespace(first, serve) == "nobody" else 1)
    try:
        os.close(ready_write)
        assert select.select([ready_read], [], [], 5)[0]
        # From a neighbour, from the host, and from outside (the internet namespace): nothing gets in.
        assert probe(second, first.address, 7000) == "timeout"
        assert _connect(first.address, 7000) == "timeout"
        outside = subprocess.run(
            ["ip", "netns", "exec", internet.name, sys.executable, "-c",
             f"import socket; s=socket.socket(); s.settimeout(1)\n"
             f"try:\n s.connect(('{first.address}', 7000)); print('connected')\n"
             f"except OSError as e: print('blocked')"],
            capture_output=True, text=True,
        )
        assert outside.stdout.strip() == "blocked"
        _, status = os.waitpid(server_pid, 0)
        assert os.WEXITSTATUS(status) == 0, "the environment's listener accepted a connection"
    finally:
        os.close(ready_read)
        egress.release(first)
        egress.release(second)


def test_environments_of_another_server_are_unreachable(egress):
    other = FunctionNetworks("egress", {}, [], "10.254.0.0/16", pool_size=1)
    other.start()
    try:
        mine, theirs = egress.take(), other.take()
        assert mine.address != theirs.address
        links = {veth_name(ipaddress.IPv4Address(slot.address) - 1) for slot in (mine, theirs)}
        assert len(links) == 2
        try:
            assert probe(mine, theirs.address, 9001) == "timeout"
            assert probe(theirs, mine.address, 9001) == "timeout"
        finally:
            egress.release(mine)
            other.release(theirs)
    finally:
        other.close()


def test_a_private_network_is_reachable_only_by_its_members(egress, database):
    member, stranger = egress.take(("db",)), egress.take()
    try:
        assert reach(member, database.address, database.port).startswith("connected:")
        assert probe(stranger, database.address, database.port) == "timeout"
        # The stranger borrows the member's address (IP_FREEBIND needs no privilege): its own kernel refuses.
        assert not probe(stranger, database.address, database.port, bind=member.address).startswith("connected")
        # With raw powers (IP_TRANSPARENT, root inside), the forged SYN leaves; the host drops it.
        before = database.syns()
        forged = _in_namespace(
            stranger, lambda: _connect(database.address, database.port, bind=member.address, transparent=True), uid=None
        )
        assert forged == "timeout"
        assert database.syns() == before
        assert reach(member, database.address, database.port).startswith("connected:")
        assert database.syns() > before  # the counter does count
    finally:
        egress.release(member)
        egress.release(stranger)


def test_a_released_members_address_loses_the_membership(database):
    # A subnet of four links, so that addresses come back soon.
    small = FunctionNetworks("egress", {"db": ["10.77.0.0/24"]}, [], "10.252.0.0/29", pool_size=1)
    small.start()
    try:
        member = small.take(("db",))
        address = member.address
        assert reach(member, database.address, database.port).startswith("connected:")
        small.release(member)
        for _ in range(8):
            slot = small.take()
            try:
                if slot.address == address:
                    assert probe(slot, database.address, database.port) == "timeout"
                    return
            finally:
                small.release(slot)
            time.sleep(0.1)  # let the teardown give addresses back
        raise AssertionError("the released address never came back")
    finally:
        small.close()


def test_unknown_networks_are_refused(egress):
    with pytest.raises(ValueError, match="cache"):
        egress.take(("db", "cache"))


def test_allow_list_opens_a_refused_range(database):
    allowing = FunctionNetworks("egress", {}, ["10.77.0.2/32"], "10.254.0.0/16", pool_size=1)
    allowing.start()
    try:
        slot = allowing.take()
        try:
            assert reach(slot, database.address, database.port).startswith("connected:")
        finally:
            allowing.release(slot)
    finally:
        allowing.close()


def test_the_resolvers_port_53_is_open_though_private():
    resolver = Peer("dns", "10.78.0.1", "10.78.0.2", 24, port=53)
    resolving = FunctionNetworks("egress", {}, [], "10.254.0.0/16", pool_size=1, resolvers=[resolver.address])
    try:
        resolving.start()
        slot = resolving.take()
        try:
            assert reach(slot, resolver.address, 53).startswith("connected:")
            # Any other port of it is dropped (nothing listens there: unfenced, it would answer "refused").
            assert probe(slot, resolver.address, 54) == "timeout"
        finally:
            resolving.release(slot)
    finally:
        resolving.close()
        resolver.close()


def test_attach_pid_connects_a_namespace_of_its_own(egress, database, internet):
    """A SnapStart clone's case: the process made its own namespace; attach_pid gives it egress."""
    go_read, go_write = os.pipe()
    out_read, out_write = os.pipe()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_write), os.close(out_read), os.close(ready_read)
        _libc.unshare(CLONE_NEWNET)
        os.write(ready_write, b"x")
        os.read(go_read, 1)
        os.setgid(TENANT_UID), os.setuid(TENANT_UID)
        result = " ".join(
            _connect(peer.address, peer.port, timeout=REACH_TIMEOUT_S) for peer in (database, internet)
        )
        os.write(out_write, result.encode())
        os._exit(0)
    os.close(go_read), os.close(out_write), os.close(ready_write)
    slot = None
    try:
        assert os.read(ready_read, 1) == b"x"
        slot = egress.attach_pid(pid, ("db",))
        assert slot.runtime_socket is None and slot.api_socket is None and slot.address
        os.write(go_write, b"x")
        with os.fdopen(out_read, "rb") as output:
            db, inet = output.read().decode().split()
        assert db.startswith("connected:")
        assert inet == f"connected:{INTERNET[0]}"
    finally:
        os.waitpid(pid, 0)
        if slot is not None:
            egress.release(slot)


def test_take_from_the_pool_is_quick_and_a_slot_is_made_when_it_is_empty(egress):
    time.sleep(0.5)  # let the pool fill
    started = time.perf_counter()
    slot = egress.take()
    pooled_ms = (time.perf_counter() - started) * 1000
    taken = [slot]
    try:
        for _ in range(egress.pool_size + 2):  # beyond the pool: made inline
            taken.append(egress.take())
        addresses = [slot.address for slot in taken]
        assert len(set(addresses)) == len(addresses)
        print(f"take from pool: {pooled_ms:.2f} ms")
        assert pooled_ms < 20
    finally:
        for slot in taken:
            egress.release(slot)


def test_take_is_thread_safe_and_works_on_an_event_loop(egress):
    import asyncio
    import concurrent.futures

    async def from_a_loop() -> Slot:
        return egress.take(("db",))

    with concurrent.futures.ThreadPoolExecutor(8) as threads:
        taken = list(threads.map(lambda _: egress.take(("db",) if _ % 2 else ()), range(24)))
    taken.append(asyncio.run(from_a_loop()))
    try:
        assert len({slot.address for slot in taken}) == len(taken)
        assert len({slot.netns_fd for slot in taken}) == len(taken)
        assert all(slot.runtime_socket.getsockname() == ("127.0.0.1", 9001) for slot in taken)
    finally:
        with concurrent.futures.ThreadPoolExecutor(8) as threads:
            list(threads.map(egress.release, taken))


def test_release_is_idempotent_and_removes_the_veth(egress):
    slot = egress.take()
    index = Path(f"/sys/class/net/{veth_name(ipaddress.IPv4Address(slot.address) - 1)}/ifindex")
    before = index.read_text()

    def gone() -> bool:  # the name may come back later for a new link, with a new index
        try:
            return index.read_text() != before
        except FileNotFoundError:
            return True
        except OSError:
            # Read while the kernel unregisters the link (EINVAL): not gone yet; look again.
            return False

    egress.release(slot)
    egress.release(slot)
    for _ in range(100):
        if gone():
            break
        time.sleep(0.05)
    assert gone()


def test_close_removes_the_table_the_veths_and_the_claims():
    networks = FunctionNetworks("egress", {}, [], "10.254.0.0/16", pool_size=2)
    networks.start()
    slot = networks.take()
    table = networks._firewall.name
    blocks = networks._addresses.blocks()
    names = [veth_name(ipaddress.IPv4Address(slot.address) - 1)]
    assert table in table_names()
    networks.close()
    assert table not in table_names()
    for block in blocks:
        assert not (networks._addresses.state_dir / f"{block.network_address}-{block.prefixlen}").exists()
    for _ in range(100):
        if not any(Path(f"/sys/class/net/{name}").exists() for name in names):
            break
        time.sleep(0.05)
    assert not any(Path(f"/sys/class/net/{name}").exists() for name in names)
    with pytest.raises(RuntimeError):
        networks.take()


def test_start_sweeps_what_a_dead_server_left(tmp_path):
    """A claim, a veth and a table of a server that died are removed; a live server's are kept."""
    dead = "999999 1"  # no process has pid 999999 with start time 1
    state = tmp_path / "state"
    blocks = AddressBlocks("10.253.0.0/16", state)
    block = next(iter(blocks._all_blocks()))
    state.mkdir()
    (state / f"{block.network_address}-{block.prefixlen}").write_text(dead + "\n")
    leftover = veth_name(block.network_address)
    ip("link", "add", leftover, "type", "veth", "peer", "name", f"{leftover}p")
    subprocess.run(
        ["nft", "-f", "-"], input="table inet lambdabox_999999_1_abcdef { }\n", text=True, check=True
    )
    live = process_identity(os.getpid()).replace(" ", "_")
    subprocess.run(["nft", "-f", "-"], input=f"table inet lambdabox_{live}_keepme {{ }}\n", text=True, check=True)
    networks = FunctionNetworks("egress", {}, [], "10.253.0.0/16", pool_size=1, state_dir=state)
    try:
        networks.start()
        assert "lambdabox_999999_1_abcdef" not in table_names()
        assert f"lambdabox_{live}_keepme" in table_names()
        assert not Path(f"/sys/class/net/{leftover}p").exists()  # the leftover pair is gone (the name is reused)
        # The swept block is free again, and this server now holds it.
        assert networks._addresses.blocks() == [block]
        claim = state / f"{block.network_address}-{block.prefixlen}"
        assert claim.read_text().strip() == networks._addresses.identity
    finally:
        networks.close()
        subprocess.run(["nft", "delete", "table", "inet", f"lambdabox_{live}_keepme"], capture_output=True)
        subprocess.run(["ip", "link", "del", leftover], capture_output=True)


def _start_in_child(mode: str, uid: int | None = None, path: str | None = None) -> str:
    """Start FunctionNetworks(mode) in a forked child (as `uid`, with PATH=`path`); what start() said."""
    import pyroute2  # noqa: F401 - imported before dropping to a uid that cannot read it

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            if path is not None:
                os.environ["PATH"] = path
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            networks = FunctionNetworks(mode, {}, [], "10.254.0.0/16", pool_size=0, resolvers=[])
            try:
                networks.start()
                said = "started"
            except Exception as error:
                said = f"{type(error).__name__}: {error}"
            networks.close()
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            said = f"child failed: {error!r}"
        os.write(write_end, said.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    os.waitpid(pid, 0)
    return said


def test_a_host_that_cannot_do_egress_fails_at_start_saying_why():
    not_root = _start_in_child("egress", uid=TENANT_UID)
    assert not_root.startswith("NetworkUnavailable: --function-network egress: egress mode needs root")
    assert "apt-get install nftables" in _start_in_child("egress", path="/nonexistent")
    refused = _start_in_child("none", uid=TENANT_UID)
    assert refused.startswith("NetworkUnavailable: --function-network none: could not make a network namespace")
    assert "Operation not permitted" in refused


def test_a_stale_link_of_the_same_name_is_replaced(tmp_path):
    """A namespace the kernel is still destroying may hold the name of a link about to be made."""
    stale = veth_name(ipaddress.IPv4Address("10.251.0.0"))
    ip("link", "add", stale, "type", "veth", "peer", "name", f"{stale}p")
    networks = FunctionNetworks("egress", {}, [], "10.251.0.0/29", pool_size=1, state_dir=tmp_path, resolvers=[])
    try:
        networks.start()
        slot = networks.take()
        assert slot.address == "10.251.0.1"
        assert not Path(f"/sys/class/net/{stale}p").exists()
        assert Path(f"/sys/class/net/{stale}").exists()
        networks.release(slot)
    finally:
        networks.close()
        subprocess.run(["ip", "link", "del", stale], capture_output=True)


def test_host_mode_changes_nothing():
    networks = FunctionNetworks("host", {"db": ["10.77.0.0/24"]}, [], "10.254.0.0/16")
    networks.start()
    slot = networks.take(("db",))
    assert (slot.netns_fd, slot.runtime_socket, slot.api_socket, slot.address) == (None, None, None, None)
    networks.release(slot)
    networks.close()


def test_peer_uid_names_the_connecting_user():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        os.setgid(54321), os.setuid(54321)
        client = socket.create_connection(("127.0.0.1", port))
        os.read(os.open("/dev/null", os.O_RDONLY), 1)
        signal.pause()
        os._exit(0)
    try:
        listener.settimeout(5)
        conn, _ = listener.accept()
        assert peer_uid(conn) == 54321
        conn.close()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        listener.close()
