"""VpcConfig through a real server: attaching functions to the operator's private networks.

The server defines `--network db=10.77.0.0/24` and `--network cache=10.78.0.0/24,10.79.0.0/24`;
functions attach with SubnetIds `subnet-db`, `subnet-cache`. Which environments then reach which
addresses is tested in tests/sandbox/test_network.py and tests/security/test_network.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Server, aws_error, lambda_role, make_zip

NETWORK_ARGS = ["--network", "db=10.77.0.0/24", "--network", "cache=10.78.0.0/24,10.79.0.0/24"]
ATTACHED = {"SubnetIds": ["subnet-db"], "SecurityGroupIds": ["sg-0123abc"]}


@pytest.fixture(scope="module")
def vpc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("vpc") / "data", extra_args=NETWORK_ARGS).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def vpc_lam(vpc_server: Server):
    return vpc_server.client("lambda")


@pytest.fixture(scope="module")
def vpc_role(vpc_server: Server) -> str:
    return lambda_role(vpc_server, "vpc-role")


@pytest.fixture
def make(vpc_lam, vpc_role, unique):
    def create(**overrides):
        arguments = {
            "FunctionName": unique("vpc"),
            "Runtime": "python3.12",
            "Role": vpc_role,
            "Handler": "app.handler",
            "Code": {"ZipFile": make_zip()},
        }
        arguments.update(overrides)
        created = vpc_lam.create_function(**arguments)
        vpc_lam.get_waiter("function_active_v2").wait(FunctionName=arguments["FunctionName"])
        return created

    return create


def test_a_function_without_vpc_shows_none(vpc_lam, make):
    created = make()
    assert "VpcConfig" not in created
    assert "VpcConfig" not in vpc_lam.get_function_configuration(FunctionName=created["FunctionName"])


def test_attach_to_a_defined_network(vpc_lam, make):
    created = make(VpcConfig=ATTACHED)
    expected = {
        "SubnetIds": ["subnet-db"],
        "SecurityGroupIds": ["sg-0123abc"],
        "VpcId": "vpc-lambdabox",
        "Ipv6AllowedForDualStack": False,
    }
    assert created["VpcConfig"] == expected
    assert vpc_lam.get_function_configuration(FunctionName=created["FunctionName"])["VpcConfig"] == expected
    assert vpc_lam.get_function(FunctionName=created["FunctionName"])["Configuration"]["VpcConfig"] == expected


def test_attach_to_several_networks(vpc_lam, make):
    created = make(VpcConfig={"SubnetIds": ["subnet-db", "subnet-cache"], "SecurityGroupIds": ["sg-1", "sg-2"]})
    assert created["VpcConfig"]["SubnetIds"] == ["subnet-db", "subnet-cache"]
    assert created["VpcConfig"]["SecurityGroupIds"] == ["sg-1", "sg-2"]


def test_an_unknown_subnet_is_refused_and_nothing_is_created(vpc_lam, make, unique):
    name = unique("vpc")
    status, code, message = aws_error(
        make, FunctionName=name, VpcConfig={"SubnetIds": ["subnet-db", "subnet-nope"], "SecurityGroupIds": ["sg-1"]}
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message == (
        "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. "
        "EC2 Error Message: The subnet ID 'subnet-nope' does not exist"
    )
    status, code, _ = aws_error(vpc_lam.get_function, FunctionName=name)
    assert (status, code) == (404, "ResourceNotFoundException")


@pytest.mark.parametrize(
    "vpc",
    [
        {"SubnetIds": ["subnet-db"]},
        {"SubnetIds": ["subnet-db"], "SecurityGroupIds": []},
        {"SecurityGroupIds": ["sg-1"]},
    ],
)
def test_subnets_and_security_groups_come_together(make, vpc):
    status, code, message = aws_error(make, VpcConfig=vpc)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message == "SubnetIds and SecurityIds must coexist or be both empty list."


def test_limits_of_16_subnets_and_5_security_groups(make):
    status, code, message = aws_error(
        make, VpcConfig={"SubnetIds": ["subnet-db"] * 17, "SecurityGroupIds": ["sg-1"]}
    )
    assert (status, code) == (400, "ValidationException")
    assert "vpcConfig.subnetIds" in message and "Member must have length less than or equal to 16" in message
    status, code, message = aws_error(
        make, VpcConfig={"SubnetIds": ["subnet-db"], "SecurityGroupIds": [f"sg-{i}" for i in range(6)]}
    )
    assert (status, code) == (400, "ValidationException")
    assert "vpcConfig.securityGroupIds" in message and "Member must have length less than or equal to 5" in message


def test_ids_must_look_like_aws_ids(make):
    status, code, message = aws_error(make, VpcConfig={"SubnetIds": ["db"], "SecurityGroupIds": ["sg-1"]})
    assert (status, code) == (400, "ValidationException")
    assert "subnet-[0-9a-z]*" in message


def test_dual_stack_is_refused(make):
    status, code, message = aws_error(make, VpcConfig={**ATTACHED, "Ipv6AllowedForDualStack": True})
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "IPv4 only" in message


def test_update_attaches_and_detaches(vpc_lam, make):
    name = make()["FunctionName"]
    attached = vpc_lam.update_function_configuration(FunctionName=name, VpcConfig=ATTACHED)
    assert attached["VpcConfig"]["SubnetIds"] == ["subnet-db"]
    vpc_lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    # A change of something else keeps the attachment.
    vpc_lam.update_function_configuration(FunctionName=name, Timeout=5)
    vpc_lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert vpc_lam.get_function_configuration(FunctionName=name)["VpcConfig"]["SubnetIds"] == ["subnet-db"]
    detached = vpc_lam.update_function_configuration(
        FunctionName=name, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []}
    )
    empty = {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "", "Ipv6AllowedForDualStack": False}
    assert detached["VpcConfig"] == empty
    vpc_lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert vpc_lam.get_function_configuration(FunctionName=name)["VpcConfig"] == empty


def test_a_refused_update_changes_nothing(vpc_lam, make):
    name = make(VpcConfig=ATTACHED)["FunctionName"]
    before = vpc_lam.get_function_configuration(FunctionName=name)
    aws_error(
        vpc_lam.update_function_configuration,
        FunctionName=name,
        VpcConfig={"SubnetIds": ["subnet-elsewhere"], "SecurityGroupIds": ["sg-1"]},
    )
    after = vpc_lam.get_function_configuration(FunctionName=name)
    assert after["VpcConfig"] == before["VpcConfig"] and after["RevisionId"] == before["RevisionId"]


def test_published_versions_keep_their_attachment(vpc_lam, make):
    name = make(VpcConfig=ATTACHED)["FunctionName"]
    version = vpc_lam.publish_version(FunctionName=name)
    assert version["VpcConfig"]["SubnetIds"] == ["subnet-db"]
    vpc_lam.update_function_configuration(FunctionName=name, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
    vpc_lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    kept = vpc_lam.get_function_configuration(FunctionName=name, Qualifier=version["Version"])
    assert kept["VpcConfig"]["SubnetIds"] == ["subnet-db"]


def test_a_server_without_networks_knows_no_subnet(make_on_default_server):
    status, code, message = aws_error(make_on_default_server, VpcConfig=ATTACHED)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "The subnet ID 'subnet-db' does not exist" in message


@pytest.fixture
def make_on_default_server(lam, role, unique):
    def create(**overrides):
        return lam.create_function(
            FunctionName=unique("vpc"), Runtime="python3.12", Role=role, Handler="app.handler",
            Code={"ZipFile": make_zip()}, **overrides,
        )

    return create


@pytest.mark.needs_root
def test_the_attachment_survives_a_restart(tmp_path: Path):
    first = Server(tmp_path / "data", extra_args=NETWORK_ARGS).start()
    try:
        lam = first.client("lambda")
        role = lambda_role(first, "r")
        lam.create_function(
            FunctionName="kept", Runtime="python3.12", Role=role, Handler="app.handler",
            Code={"ZipFile": make_zip()}, VpcConfig=ATTACHED,
        )
    finally:
        first.stop()
    second = Server(tmp_path / "data", extra_args=NETWORK_ARGS).start()
    try:
        shown = second.client("lambda").get_function_configuration(FunctionName="kept")["VpcConfig"]
        assert shown["SubnetIds"] == ["subnet-db"] and shown["VpcId"] == "vpc-lambdabox"
    finally:
        second.stop()
    # The operator removes the network: invokes get AWS's error for a bad subnet, not an internal error.
    third = Server(tmp_path / "data").start()
    try:
        lam = third.client("lambda")
        lam.get_waiter("function_active_v2").wait(FunctionName="kept", WaiterConfig={"Delay": 0.2})
        status, code, message = aws_error(lam.invoke, FunctionName="kept", Payload=b"{}")
        assert (status, code) == (502, "InvalidSubnetIDException")
        assert "no network named db" in message
    finally:
        third.stop()
    assert "Traceback" not in third.log.read_text()


@pytest.mark.parametrize(
    "arguments, complaint",
    [
        (["--network", "DB=10.77.0.0/24"], "lowercase letters and digits"),
        (["--network", "db=10.77.0.1/24"], "IPv4 CIDRs"),
        (["--network", "db=10.77.0.0/24", "--network", "db=10.78.0.0/24"], "defined twice"),
        (["--network", "db=10.254.3.0/24"], "overlaps --function-subnet"),
        (["--network", "db=fd00::/64"], "IPv4 CIDRs"),
        (["--allow-network", "nonsense"], "IPv4 CIDRs"),
        (["--function-subnet", "10.254.0.0/31"], "too small"),
    ],
)
def test_bad_network_options_stop_the_server_with_a_reason(tmp_path, arguments, complaint):
    done = subprocess.run(
        [sys.executable, "-m", "lambdabox", "server", "--data-dir", str(tmp_path / "d"), *arguments],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert complaint in done.stderr
