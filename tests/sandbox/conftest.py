"""Fixtures for sandbox tests: a real factory, and a helper that runs one program to its end."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from specs import wait

from lambdabox.sandbox.api import SandboxFactory, SandboxSpec


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxFactory]:
    from lambdabox.sandbox.factory import LinuxSandboxFactory

    made = LinuxSandboxFactory(tmp_path_factory.mktemp("sandboxes"))
    yield made
    made.close()


@pytest.fixture
def run(factory: SandboxFactory) -> Callable[[SandboxSpec], tuple[int, str]]:
    """Run a spec to its end; return its exit code and what it printed."""

    def run_(template: SandboxSpec) -> tuple[int, str]:
        read_end, write_end = os.pipe()
        try:
            sandbox = factory.create(replace(template, output_fd=write_end))
        finally:
            os.close(write_end)
        try:
            code = wait(sandbox)
            with os.fdopen(read_end, "rb") as output:
                return code, output.read().decode()
        finally:
            sandbox.destroy()

    return run_
