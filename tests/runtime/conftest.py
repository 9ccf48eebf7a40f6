"""Fixtures for the runtime tests: interpreters to run bootstraps under, a task root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import PYTHONS, require


@pytest.fixture(params=sorted(PYTHONS))
def python(request: pytest.FixtureRequest) -> str:
    """Each interpreter the Python bootstrap must support, in turn."""
    return require(PYTHONS[request.param], f"Python {request.param}")


@pytest.fixture
def node() -> str:
    return require(shutil.which("node"), "Node.js")


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    """An empty LAMBDA_TASK_ROOT."""
    root = tmp_path / "task"
    root.mkdir()
    return root
