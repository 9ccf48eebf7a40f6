"""Fixtures that start a real Lambdabox server and drive it as AWS tooling does."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import Invoked, Server, make_zip

#: Why a test marked `needs_root` does not run as another user: sandboxes need namespaces and cgroups,
#: and a server that is not root runs functions as plain processes, without the isolation such tests check.
NOT_ROOT = "needs root: namespaces and cgroups"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a `needs_root` test when not root, with the reason; in CI, which runs as root, fail it instead."""
    if item.get_closest_marker("needs_root") is None or os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{NOT_ROOT}: CI runs the tests as root, and this run is not")
    pytest.skip(NOT_ROOT)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by the session's tests; tests use unique names to stay apart. Its streamed responses
    are not paced (the 200 MB limit tests would take minutes at Lambda's 2 MiB/s); test_stream_bandwidth.py
    tests the cap on a server of its own."""
    running = Server(tmp_path_factory.mktemp("lambdabox") / "data", extra_args=["--stream-bandwidth", "0"]).start()
    yield running
    running.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own, for tests that count or restart."""
    running = Server(tmp_path / "data").start()
    yield running
    running.stop()


@pytest.fixture
def lam(server: Server):
    return server.client("lambda")


@pytest.fixture
def iam(server: Server):
    return server.client("iam")


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A name no other test uses: unique('fn') -> 'fn-1a2b3c4d'."""
    return lambda prefix: f"{prefix}-{os.urandom(4).hex()}"


@pytest.fixture
def role(iam, unique) -> str:
    """The ARN of a fresh execution role that Lambda can assume."""
    created = iam.create_role(
        RoleName=unique("role"),
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )
    return created["Role"]["Arn"]


@pytest.fixture
def create_function(lam, role, unique):
    """Create a hello-world Python function (overrides as keyword arguments) and wait until it is Active."""

    def create(**overrides):
        arguments = {
            "FunctionName": unique("fn"),
            "Runtime": "python3.12",
            "Role": role,
            "Handler": "app.handler",
            "Code": {"ZipFile": make_zip()},
        }
        arguments.update(overrides)
        created = lam.create_function(**arguments)
        lam.get_waiter("function_active_v2").wait(FunctionName=arguments["FunctionName"])
        return created

    return create


@pytest.fixture
def deploy(lam, role, unique):
    """Create a function from `files` and wait until it is Active; returns its name."""

    def create(files: dict[str, str | bytes], runtime: str = "python3.12", handler: str = "app.handler", **config) -> str:
        name = config.pop("FunctionName", None) or unique("fn")
        lam.create_function(
            FunctionName=name, Runtime=runtime, Role=role, Handler=handler, Code={"ZipFile": make_zip(files)}, **config
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        return name

    return create


@pytest.fixture
def invoke(lam):
    """Invoke synchronously and return status, headers and raw payload."""

    def call(name: str, payload: object = None, **options) -> Invoked:
        import json

        if payload is not None:
            options["Payload"] = json.dumps(payload).encode()
        response = lam.invoke(FunctionName=name, **options)
        return Invoked(response["StatusCode"], response["ResponseMetadata"]["HTTPHeaders"], response["Payload"].read())

    return call


@pytest.fixture
def raw_lam(server):
    """A Lambda client that skips boto3's own parameter checks, so the server's are what is tested."""
    from botocore.config import Config

    return server.client("lambda", config=Config(parameter_validation=False))
