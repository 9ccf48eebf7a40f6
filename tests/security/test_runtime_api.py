"""No environment can take or answer another's invocations through its Runtime API.

Every Runtime API once listened on the host's loopback: a tenant could watch /proc/net/tcp,
call GET /next on a new environment's port before its runtime did, get another account's
event, and answer it, and the caller got the attacker's reply with status 200.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator

import pytest

from hostile import deploy

#: These check sandboxes (namespaces, cgroups, host uids), which only root can make.
pytestmark = pytest.mark.needs_root
from support import Server, lambda_role

#: Scans the loopback listeners it can see and tries to take an invocation from each, for `seconds`.
THIEF = r"""
import http.client, json, socket, time

def listeners():
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, state = fields[1], fields[3]
            if state == "0A":  # LISTEN
                found.add(int(address.split(":")[1], 16))
    return found

def handler(event, context):
    stolen, tried, refused = [], set(), 0
    until = time.time() + event["seconds"]
    while time.time() < until:
        for port in listeners():
            tried.add(port)
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.3)
                connection.request("GET", "/2018-06-01/runtime/invocation/next")
                response = connection.getresponse()
                body = response.read()
                request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
                if response.status == 200 and request_id and request_id != context.aws_request_id:
                    stolen.append(body.decode(errors="replace"))
                    connection.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", b'"pwned"')
                    connection.getresponse().read()
            except (OSError, http.client.HTTPException):
                refused += 1
        time.sleep(0.01)
    return {"stolen": stolen, "tried": sorted(tried), "refused": refused}
"""

VICTIM = "import time\ndef handler(event, context):\n    time.sleep(0.2)\n    return {'mine': event['n']}\n"


@pytest.fixture(scope="module", params=["egress", "host"])
def network_server(request, tmp_path_factory) -> Iterator[Server]:
    """A server per network mode: private networks (the default) and the host's shared one."""
    data = tmp_path_factory.mktemp(f"runtime-api-{request.param}") / "data"
    running = Server(data, extra_args=["--function-network", request.param]).start()
    yield running
    running.stop()


def test_a_neighbour_cannot_take_or_answer_invocations(network_server):
    lam = network_server.client("lambda")
    role = lambda_role(network_server, "thief-tests")
    thief = deploy(lam, role, {"app.py": THIEF})
    victim = deploy(lam, role, {"app.py": VICTIM})
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        stealing = pool.submit(lambda: json.loads(
            lam.invoke(FunctionName=thief, Payload=json.dumps({"seconds": 4}).encode())["Payload"].read()))
        time.sleep(0.5)
        # Victims: new environments (cold starts, whose runtime has yet to ask for work) and warm ones.
        results = list(pool.map(
            lambda n: json.loads(lam.invoke(FunctionName=victim, Payload=json.dumps({"n": n}).encode())["Payload"].read()),
            range(12),
        ))
        loot = stealing.result()
    assert results == [{"mine": n} for n in range(12)]
    assert loot["stolen"] == [], loot
