"""A function's VpcConfig: which of the operator's private networks it is attached to.

The operator defines networks (`--network NAME=CIDR[,CIDR...]`); a function attaches to network
NAME by naming the subnet `subnet-NAME` in `VpcConfig.SubnetIds` (the service model wants subnet
IDs to match `subnet-[0-9a-z]*`, so NAME is lowercase letters and digits). All networks belong to
one VPC, `vpc-lambdabox`. Security groups are required with subnets, as on AWS, and shown back,
but they carry no rules here: a network's members reach all of its CIDRs.

The configuration keeps VpcConfig in the shape GetFunctionConfiguration shows: absent if no
request ever sent one; `SubnetIds`, `SecurityGroupIds`, `VpcId` and `Ipv6AllowedForDualStack`
otherwise, with an empty `VpcId` once detached.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from lambdabox.model.errors import InvalidParameterValue

#: Subnet IDs are this prefix and a network's name.
SUBNET_PREFIX = "subnet-"

#: The one VPC all of a server's networks belong to.
VPC_ID = "vpc-lambdabox"

#: What a network's name may be: what the service model allows after "subnet-", not empty.
NETWORK_NAME = re.compile(r"[0-9a-z]+")


def subnet_id(network: str) -> str:
    return SUBNET_PREFIX + network


def check(vpc: dict[str, Any], networks: Collection[str]) -> None:
    """Refuse a VpcConfig AWS would refuse, or that names a network the operator has not defined.

    List lengths (16 subnets, 5 security groups) and ID patterns are the service model's, checked
    before this.
    """
    subnets, groups = vpc.get("SubnetIds", []), vpc.get("SecurityGroupIds", [])
    if bool(subnets) != bool(groups):
        raise InvalidParameterValue("SubnetIds and SecurityIds must coexist or be both empty list.")
    for subnet in subnets:
        if subnet.removeprefix(SUBNET_PREFIX) not in networks or not subnet.startswith(SUBNET_PREFIX):
            raise InvalidParameterValue(
                "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. "
                f"EC2 Error Message: The subnet ID '{subnet}' does not exist"
            )
    if vpc.get("Ipv6AllowedForDualStack") and subnets:
        raise InvalidParameterValue("Lambdabox networks are IPv4 only: Ipv6AllowedForDualStack must be false.")


def shown(vpc: dict[str, Any]) -> dict[str, Any]:
    """The VpcConfig GetFunctionConfiguration shows for a request's VpcConfig (already checked)."""
    subnets = list(dict.fromkeys(vpc.get("SubnetIds", [])))
    return {
        "SubnetIds": subnets,
        "SecurityGroupIds": list(dict.fromkeys(vpc.get("SecurityGroupIds", []))),
        "VpcId": VPC_ID if subnets else "",
        "Ipv6AllowedForDualStack": bool(vpc.get("Ipv6AllowedForDualStack", False)) if subnets else False,
    }


def attached_networks(configuration: dict[str, Any]) -> tuple[str, ...]:
    """Names of the networks a function configuration attaches to, for `FunctionNetworks.take()`."""
    subnets = configuration.get("VpcConfig", {}).get("SubnetIds", [])
    return tuple(subnet.removeprefix(SUBNET_PREFIX) for subnet in subnets)
