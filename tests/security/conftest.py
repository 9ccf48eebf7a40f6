"""Fixtures of the hostile-tenant tests: a server whose environment holds a secret no function may see."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hostile import CANARY
from wire import log_alarms
from support import Server, lambda_role


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
    return lambda_role(secret_server, "hostile-tests")


@pytest.fixture
def quiet_log(server):
    """Fails the test if the server logs an internal error or a traceback while it runs."""
    assert server.log is not None
    start = server.log.stat().st_size
    yield
    with server.log.open("rb") as log:
        log.seek(start)
        assert log_alarms(log.read().decode("utf-8", "replace")) == []
