"""Per-user kernel state is never shared between tenants: each environment is a host identity of its own.

All environments once ran as one uid, so a key put in the user keyring by one account was read
by another account's function, and one tenant could take every inotify instance the uid may have.
"""

from __future__ import annotations

import json

import pytest

from hostile import deploy

#: These check sandboxes (namespaces, cgroups, host uids), which only root can make.
pytestmark = pytest.mark.needs_root

KEYRING = """
import ctypes, errno, json, os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL = 248, 250          # x86_64
KEY_SPEC_USER_KEYRING, KEYCTL_SEARCH, KEYCTL_READ = -4, 10, 11

def call(*args):
    result = libc.syscall(*args)
    return result, errno.errorcode.get(ctypes.get_errno(), "") if result < 0 else ""

def handler(event, context):
    if event["do"] == "put":
        payload = b"tenant A's database password"
        return call(ADD_KEY, b"user", b"shared-secret", payload, len(payload), KEY_SPEC_USER_KEYRING)
    key, error = call(KEYCTL, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, b"user", b"shared-secret", 0)
    if key < 0:
        return {"found": False, "errno": error}
    buffer = ctypes.create_string_buffer(256)
    size, error = call(KEYCTL, KEYCTL_READ, key, buffer, 256)
    return {"found": True, "value": buffer.raw[:max(size, 0)].decode(errors="replace")}
"""

INOTIFY = """
import os, ctypes, errno

libc = ctypes.CDLL(None, use_errno=True)
held = []

def handler(event, context):
    if event["do"] == "hoard":
        while len(held) < 1000:
            fd = libc.inotify_init1(0)
            if fd < 0:
                return {"held": len(held), "errno": errno.errorcode.get(ctypes.get_errno())}
            held.append(fd)
        return {"held": len(held), "errno": None}
    fd = libc.inotify_init1(0)
    if fd < 0:
        return {"ok": False, "errno": errno.errorcode.get(ctypes.get_errno())}
    os.close(fd)
    return {"ok": True}
"""


def call(slam, name: str, payload: dict):
    response = slam.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return json.loads(response["Payload"].read())


def test_a_key_one_tenant_puts_in_its_keyring_is_not_anothers(slam, srole, secret_server):
    attacker_side = deploy(slam, srole, {"app.py": KEYRING})
    victim_side = deploy(slam, srole, {"app.py": KEYRING})
    put = call(slam, attacker_side, {"do": "put"})
    # The key either can't be made at all (the syscall filter denies keyctl and add_key) ...
    assert put[0] < 0 and put[1] == "EPERM", put
    # ... and another tenant's function, in either case, finds nothing.
    found = call(slam, victim_side, {"do": "read"})
    assert found["found"] is False, found


def test_one_tenant_holding_every_inotify_instance_leaves_others_theirs(slam, srole):
    limit = int(open("/proc/sys/fs/inotify/max_user_instances").read())
    hoarder = deploy(slam, srole, {"app.py": INOTIFY})
    neighbour = deploy(slam, srole, {"app.py": INOTIFY})
    hoarded = call(slam, hoarder, {"do": "hoard"})
    # The hoarder hits the per-user limit: it is real, and it is the hoarder's own.
    assert hoarded == {"held": limit, "errno": "EMFILE"}, hoarded
    assert call(slam, neighbour, {"do": "one"}) == {"ok": True}
    # The hoarder's environment still holds them (it is warm and frozen, not gone).
    assert call(slam, hoarder, {"do": "hoard"}) == {"held": limit, "errno": "EMFILE"}
