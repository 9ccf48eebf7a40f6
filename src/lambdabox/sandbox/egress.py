"""An environment's link out, in `egress` mode: a veth pair to the host, its addresses and route.

`EgressLinks` does the netlink work for `network.FunctionNetworks`, from whichever of its
threads calls it, with that thread's own pyroute2 `IPRoute` of the host's namespace:
1. `connect(iproute, netns_fd)` runs while the calling thread is inside the namespace. It
   claims a /31 (`addresses`), makes the pair with the inner end (`eth0`) moved straight into
   the namespace, tells the firewall the host end before it carries a packet, addresses both
   ends and routes the namespace's default through the host end. On failure it leaves nothing.
2. `disconnect(iproute, link)` deletes the veth (cutting off any process still inside), forgets
   the conntrack entries of the address's connections, and gives the address back. If the veth
   could not be deleted the address is kept out of use rather than handed out twice.
3. `sweep()` removes the veths and address claims of servers that are gone.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any

from lambdabox.sandbox.addresses import AddressBlocks
from lambdabox.sandbox.firewall import Firewall

log = logging.getLogger(__name__)

#: Prefix of the host ends of this module's veths; the rest is the host address in hex (11 of IFNAMSIZ's 15).
VETH_PREFIX = "lbx"
#: Tries at creating a veth whose name a dying namespace's link still holds (deleting it in between).
VETH_ATTEMPTS = 3
#: Name of the environment's end, inside its namespace.
INSIDE_IFNAME = "eth0"
#: Netlink errors: the name exists; no such device (already gone with its namespace).
EEXIST, ENODEV = 17, 19


def veth_name(host_end: ipaddress.IPv4Address) -> str:
    """The host end's name: unique on the host because the address is (claims make it so)."""
    return f"{VETH_PREFIX}{int(host_end):08x}"


@dataclass(frozen=True)
class Link:
    """One environment's veth: its host end's name and address, and the environment's address."""

    veth: str
    host_end: ipaddress.IPv4Address
    inside: ipaddress.IPv4Address


class EgressLinks:
    def __init__(self, addresses: AddressBlocks, firewall: Firewall) -> None:
        self._addresses = addresses
        self._firewall = firewall

    def connect(self, iproute: Any, netns_fd: int) -> Link:
        """Give the namespace the calling thread is in (`netns_fd`) a veth to the host, addressed and routed."""
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        host_end, inside = self._addresses.take()
        name = veth_name(host_end)
        try:
            # 1. The pair, its inner end moved straight into the namespace. A leftover of the same
            #    name (a namespace the kernel is still destroying) is deleted first.
            for attempt in range(VETH_ATTEMPTS):
                try:
                    iproute.link("add", ifname=name, kind="veth", peer={"ifname": INSIDE_IFNAME, "net_ns_fd": netns_fd})
                    break
                except NetlinkError as error:
                    if error.code != EEXIST or attempt == VETH_ATTEMPTS - 1:
                        raise
                    delete_veth(iproute, name)
            # 2. The firewall knows the host end before it carries any packet.
            self._firewall.add_veth(name)
            # 3. The host end: its address (which routes the /31 to the veth) and up.
            index = iproute.link_lookup(ifname=name)[0]
            iproute.addr("add", index=index, address=str(host_end), prefixlen=31)
            iproute.link("set", index=index, state="up")
            # 4. The inner end, through a netlink socket made inside: address, up, default route.
            with IPRoute() as inner:
                inner_index = inner.link_lookup(ifname=INSIDE_IFNAME)[0]
                inner.addr("add", index=inner_index, address=str(inside), prefixlen=31)
                inner.link("set", index=inner_index, state="up")
                inner.route("add", dst="0.0.0.0/0", gateway=str(host_end))
        except BaseException:
            delete_veth(iproute, name)
            self._addresses.give_back(host_end)
            raise
        return Link(name, host_end, inside)

    def disconnect(self, iproute: Any, link: Link) -> None:
        """Delete the veth, forget the address's connections, give the address back."""
        try:
            delete_veth(iproute, link.veth)
        except Exception as error:
            log.warning("could not delete veth %s: %s", link.veth, error)
            return  # keep the address out of use rather than hand it out twice
        forget_flows(str(link.inside))
        self._addresses.give_back(link.host_end)

    def sweep(self) -> None:
        """Remove the veths and address claims of servers that are gone."""
        from pyroute2 import IPRoute

        with IPRoute() as iproute:
            names = {link.get_attr("IFLA_IFNAME") for link in iproute.get_links()}

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


def delete_veth(iproute: Any, name: str) -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        iproute.link("del", ifname=name)
    except NetlinkError as error:
        if error.code != ENODEV:
            raise


def forget_flows(address: str) -> None:
    """Delete the conntrack entries of connections `address` opened.

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


def host_resolvers(path: str = "/etc/resolv.conf") -> list[str]:
    """The IPv4 nameservers of `path` that an environment can reach through its veth.

    One on loopback (systemd-resolved's 127.0.0.53) is the namespace's own loopback inside, where
    nothing answers: it is left out, with a warning.
    """
    try:
        with open(path) as file:
            lines = file.read().splitlines()
    except OSError:
        return []
    found = []
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
