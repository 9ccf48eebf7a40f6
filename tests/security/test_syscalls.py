"""A hostile function tries, through a real server, every system call the seccomp profile denies.

The function is syscall_probe.py (the same code tests/sandbox/test_seccomp.py runs under
the compiled filter): each call in a child of its own, returned as a JSON map probe -> errno
(0 for success, minus a signal for a killed child). Every denied call must fail with EPERM
(ENOSYS for clone3; another ABI's call kills with SIGSYS), and the allowed ones must work.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: These check sandboxes (namespaces, cgroups, host uids), which only root can make.
pytestmark = pytest.mark.needs_root

PROBE_SOURCE = (Path(__file__).parent / "syscall_probe.py").read_text()
FILES = {"syscall_probe.py": PROBE_SOURCE}
HANDLER = "syscall_probe.handler"
#: Roughly a hundred forks, each a few milliseconds; generous for a loaded machine, in seconds.
TIMEOUT_S = 120
#: The probe records INIT's outcomes too, for SnapStart, where INIT runs in the template.
SNAPPED_FILES = {
    "syscall_probe.py": PROBE_SOURCE,
    "snapped.py": (
        "import syscall_probe\n"
        "AT_INIT = syscall_probe.run()\n"
        "def handler(event, context):\n"
        "    return {'init': AT_INIT, 'invoke': syscall_probe.run()}\n"
    ),
}


def expected() -> dict[str, int]:
    namespace: dict[str, object] = {}
    exec(compile(PROBE_SOURCE, "syscall_probe.py", "exec"), namespace)
    return {probe.name: probe.expect for probe in namespace["probes"]()}


def wrong_outcomes(outcomes: dict[str, int], *, template_allows: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Probes whose outcome is not the expected one, as probe -> (got, expected)."""
    wanted = expected()
    return {
        name: (outcome, wanted[name])
        for name, outcome in outcomes.items()
        if outcome != wanted[name] and name not in template_allows
    }


def probe_outcomes(invoked) -> dict:
    assert invoked.status == 200
    assert invoked.error is None, invoked.raw
    return invoked.body


def test_a_function_cannot_make_any_denied_call(deploy, invoke):
    name = deploy(FILES, handler=HANDLER, Timeout=TIMEOUT_S, MemorySize=256)
    outcomes = probe_outcomes(invoke(name))
    assert "unshare:NEWUSER" in outcomes and "allowed:fork" in outcomes
    assert not wrong_outcomes(outcomes), "(got, expected): " + repr(wrong_outcomes(outcomes))


def test_a_snapstart_clone_cannot_make_any_denied_call_and_its_init_could_not_either(deploy, lam, invoke):
    name = deploy(
        SNAPPED_FILES, handler="snapped.handler", SnapStart={"ApplyOn": "PublishedVersions"}, Timeout=TIMEOUT_S, MemorySize=256
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
    result = probe_outcomes(invoke(name, Qualifier=version))
    # INIT ran in the template, whose profile leaves mount to the cloning code (the kernel
    # then fails it for want of a capability or, here, a path); everything else is denied.
    assert not wrong_outcomes(result["init"], template_allows=("mount",)), repr(wrong_outcomes(result["init"], template_allows=("mount",)))
    assert result["init"]["mount"] != 0
    # The clone runs the function profile on top: nothing is left.
    assert not wrong_outcomes(result["invoke"]), "(got, expected): " + repr(wrong_outcomes(result["invoke"]))
