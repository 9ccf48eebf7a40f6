"""`lambdabox server`'s options for functions' network and identities: parsed and checked into Settings fields."""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any

from lambdabox.model.vpc import NETWORK_NAME, subnet_id
from lambdabox.sandbox.identities import DEFAULT_COUNT, DEFAULT_FIRST


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--function-network",
        choices=["egress", "none", "host"],
        default="egress",
        help="egress: each environment has a network namespace of its own that reaches the internet (NATed) but "
        "not this host, its loopback, private ranges or other environments; none: loopback only; host: this "
        "host's network, shared by every function (unsafe with tenants) (default: %(default)s)",
    )
    command.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="NAME=CIDR[,CIDR...]",
        help="a private network that functions attach to with VpcConfig SubnetIds ['subnet-NAME']; only their "
        "environments reach its CIDRs; repeatable",
    )
    command.add_argument(
        "--allow-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="an IPv4 range every environment may reach in egress mode, though private or the host's; repeatable",
    )
    command.add_argument(
        "--function-subnet",
        default="10.254.0.0/16",
        metavar="CIDR",
        help="IPv4 range of environments' addresses in egress mode; each server on the host takes a /24 of it "
        "per 128 environments (default: %(default)s)",
    )
    command.add_argument(
        "--network-pool",
        type=int,
        default=32,
        metavar="N",
        help="network namespaces kept prepared ahead of cold starts (default: %(default)s)",
    )
    command.add_argument(
        "--uid-range",
        default=f"{DEFAULT_FIRST}-{DEFAULT_FIRST + DEFAULT_COUNT - 1}",
        metavar="FIRST-LAST",
        help="host uids and gids environments run as, one each; no account of this host may use them; servers "
        "on one host share the range (default: %(default)s)",
    )


def _cidr(text: str, option: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text.strip())
    except ValueError as error:
        raise SystemExit(f"lambdabox server: {option} takes IPv4 CIDRs such as 10.77.0.0/24, not {text!r} ({error})")


def _uid_range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    if not (first.isdigit() and last.isdigit() and len(first) <= 10 and len(last) <= 10):
        raise SystemExit(f"lambdabox server: --uid-range takes FIRST-LAST, such as 1000000000-1001048575, not {text!r}")
    start, end = int(first), int(last)
    if not 0 < start <= end < 4_294_967_295:
        raise SystemExit(f"lambdabox server: --uid-range {text} must lie within 1-4294967294, lowest first")
    return start, end - start + 1


def settings(arguments: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields of these options; exits with a message on a malformed or conflicting one."""
    subnet = _cidr(arguments.function_subnet, "--function-subnet")
    if subnet.prefixlen > 30:
        raise SystemExit(f"lambdabox server: --function-subnet {subnet} is too small; it needs at least a /30")
    networks: dict[str, tuple[str, ...]] = {}
    for definition in arguments.network:
        name, _, cidrs = definition.partition("=")
        if not NETWORK_NAME.fullmatch(name):
            raise SystemExit(
                f"lambdabox server: --network takes NAME=CIDR[,CIDR...] with a NAME of lowercase letters and digits "
                f"(functions attach with SubnetIds ['{subnet_id('NAME')}']), not {definition!r}"
            )
        if name in networks:
            raise SystemExit(f"lambdabox server: network {name} is defined twice")
        ranges = [_cidr(cidr, "--network") for cidr in cidrs.split(",") if cidr.strip()]
        if not ranges:
            raise SystemExit(f"lambdabox server: --network {name} names no CIDR")
        for cidr in ranges:
            if cidr.overlaps(subnet):
                raise SystemExit(f"lambdabox server: network {name}'s {cidr} overlaps --function-subnet {subnet}")
        networks[name] = tuple(str(cidr) for cidr in ranges)
    allow = tuple(str(_cidr(cidr, "--allow-network")) for cidr in arguments.allow_network)
    if arguments.network_pool < 0:
        raise SystemExit(f"lambdabox server: --network-pool must be 0 or more, not {arguments.network_pool}")
    return {
        "network_pool": arguments.network_pool,
        "uid_range": _uid_range(arguments.uid_range),
        "function_network": arguments.function_network,
        "networks": networks,
        "allow_networks": allow,
        "function_subnet": str(subnet),
    }
