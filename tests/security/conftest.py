"""Fixtures of the hostile-tenant tests: a server whose environment holds a secret no function may see."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hostile import CANARY
from support import Server


@pytest.fixture(scope="module")
def secret_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module's own, started with CANARY in its environment (as an operator's secrets are)."""
    data = tmp_path_factory.mktemp("secret") / "data"
    running = Server(data, extra_env={"LAMBDABOX_OPERATOR_SECRET": CANARY, "DATABASE_PASSWORD": CANARY}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def slam(secret_server: Server):
    return secret_server.client("lambda")


@pytest.fixture(scope="module")
def srole(secret_server: Server) -> str:
    iam = secret_server.client("iam")
    return iam.create_role(
        RoleName="hostile-tests",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )["Role"]["Arn"]
