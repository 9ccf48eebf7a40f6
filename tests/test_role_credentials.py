"""Environments act as their function's execution role: each gets a session of its own, renewed before it expires."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import ACCOUNT, Server, boto3_layer, lambda_role, make_zip, sandbox_processes, wait_provisioned

#: Returns the environment's credentials, which environment it is, and what INIT (a SnapStart template's) saw.
PROBE = {
    "app.py": """
import os, socket, time
from snapshot_restore_py import register_after_restore

NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
AT_INIT = {name: os.environ.get(name) for name in NAMES}
AT_RESTORE = {}

@register_after_restore
def restored():
    AT_RESTORE.update({name: os.environ.get(name) for name in NAMES})

def handler(event, context):
    time.sleep(event.get("hold", 0))
    environ = dict(entry.split("=", 1) for entry in open("/proc/self/environ").read().split("\\0") if "=" in entry)
    return {
        "env": {name: os.environ.get(name) for name in NAMES},
        "proc": {name: environ.get(name) for name in NAMES},
        "init": AT_INIT, "restore": AT_RESTORE, "host": socket.gethostname(),
        "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
    }
"""
}

#: GetCallerIdentity with boto3, as the function's own credentials and AWS_ENDPOINT_URL_STS make it.
WHO_AM_I = {
    "app.py": """
import boto3

def handler(event, context):
    return boto3.client("sts").get_caller_identity()["Arn"]
"""
}


def opener(server: Server):
    """Opens the session tokens `server` issues, with its data dir's key (as only the server can)."""
    from lambdabox.access.sessions import Sessions
    from lambdabox.store.sealed import Sealer

    return Sessions(Sealer((server.data_dir / "secrets.key").read_bytes())).open


def probe(lam, name: str, qualifier: str | None = None, **payload) -> dict:
    options = {"Qualifier": qualifier} if qualifier else {}
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail", **options)
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    body["log"] = base64.b64decode(response["LogResult"]).decode()
    return body


def at_once(lam, name: str, count: int, qualifier: str | None = None) -> list[dict]:
    """`count` invokes that overlap, so that each has an environment of its own."""
    with concurrent.futures.ThreadPoolExecutor(count) as threads:
        return list(threads.map(lambda _: probe(lam, name, qualifier, hold=1.5), range(count)))


def environments_of(server: Server, name: str) -> set[str]:
    """The ids of the sandboxes `name` has on the host, from their cgroups (empty without isolation)."""
    found = set()
    for pid in sandbox_processes(server.pid):
        try:
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        marker = f"/{name}-"
        if marker in cgroup:
            found.add(cgroup.split(marker, 1)[1].split("/", 1)[0].strip())
    return found


def test_an_environment_gets_a_session_of_its_functions_role(server, deploy, lam, iam):
    name = deploy(PROBE)
    role_arn = lam.get_function_configuration(FunctionName=name)["Role"]
    body = probe(lam, name)
    env = body["env"]
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and len(env["AWS_ACCESS_KEY_ID"]) == 20
    assert len(env["AWS_SECRET_ACCESS_KEY"]) == 40 and env["AWS_SESSION_TOKEN"]
    # What /proc/self/environ shows is the same: the runtime was started with them.
    assert body["proc"] == env
    session = opener(server)(env["AWS_SESSION_TOKEN"])
    assert session is not None
    assert (session.access_key, session.secret) == (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    assert (session.account, session.role_arn, session.session_name) == (ACCOUNT, role_arn, name)
    assert session.role_id == iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]["RoleId"]
    assert session.principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[1]}/{name}"
    # Twelve hours, the server's default.
    assert abs(session.expires - (time.time() + 12 * 3600)) < 60
    # A warm invoke is the same environment, with the same credentials.
    assert probe(lam, name)["env"] == env


@pytest.mark.needs_root
def test_environments_never_share_a_session(deploy, lam):
    name = deploy(PROBE)
    first, second = at_once(lam, name, 2)
    assert first["host"] != second["host"]
    assert first["env"]["AWS_ACCESS_KEY_ID"] != second["env"]["AWS_ACCESS_KEY_ID"]
    assert first["env"]["AWS_SECRET_ACCESS_KEY"] != second["env"]["AWS_SECRET_ACCESS_KEY"]
    # Another function with the same role has sessions of its own too.
    other = probe(lam, deploy(PROBE))
    assert other["env"]["AWS_ACCESS_KEY_ID"] not in (first["env"]["AWS_ACCESS_KEY_ID"], second["env"]["AWS_ACCESS_KEY_ID"])


@pytest.mark.needs_root
def test_snapstart_clones_get_credentials_of_their_own(server, deploy, lam):
    name = deploy(PROBE, SnapStart={"ApplyOn": "PublishedVersions"}, Timeout=10)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
    first, second = at_once(lam, name, 2, version)
    assert first["type"] == "snap-start" and first["host"] != second["host"]
    # INIT ran once, in the template, with credentials no clone uses.
    assert first["init"] == second["init"] and first["init"]["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    template_key = first["init"]["AWS_ACCESS_KEY_ID"]
    keys = {body["env"]["AWS_ACCESS_KEY_ID"] for body in (first, second)}
    assert len(keys) == 2 and template_key not in keys
    for body in (first, second):
        # The after-restore hooks already see the clone's own, and so does /proc/self/environ.
        assert body["restore"] == body["env"] == body["proc"]
        session = opener(server)(body["env"]["AWS_SESSION_TOKEN"])
        assert session is not None and session.session_name == name


def test_provisioned_environments_get_credentials_of_their_own(deploy, lam):
    name = deploy(PROBE)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=2)
    wait_provisioned(lam, name, version)
    first, second = at_once(lam, name, 2, version)
    assert {first["type"], second["type"]} == {"provisioned-concurrency"}
    assert first["env"]["AWS_ACCESS_KEY_ID"] != second["env"]["AWS_ACCESS_KEY_ID"]
    assert probe(lam, name)["env"]["AWS_ACCESS_KEY_ID"] not in {first["env"]["AWS_ACCESS_KEY_ID"], second["env"]["AWS_ACCESS_KEY_ID"]}


def test_a_function_whose_role_was_deleted_still_starts(server, create_function, lam, iam, unique):
    """AWS documents nothing for this; Lambdabox starts the environment with a session of the role's ARN
    (and no role id), whose use its (absent) policies decide."""
    role_name = unique("gone")
    role_arn = lambda_role(server, role_name)
    name = create_function(Role=role_arn, Code={"ZipFile": make_zip(PROBE)})["FunctionName"]
    iam.delete_role(RoleName=role_name)
    body = probe(lam, name)
    session = opener(server)(body["env"]["AWS_SESSION_TOKEN"])
    assert session is not None and (session.role_arn, session.role_id) == (role_arn, "")


# -- from inside the function -----------------------------------------------------------------


def test_boto3_inside_the_function_is_the_assumed_role(server, deploy, lam, role):
    layer = lam.publish_layer_version(LayerName="boto3-sts", Content={"ZipFile": boto3_layer("sts")})["LayerVersionArn"]
    name = deploy(WHO_AM_I, Layers=[layer], Timeout=30, MemorySize=256)
    response = lam.invoke(FunctionName=name)
    answer = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, answer
    assert answer == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/{name}"


# -- renewal ------------------------------------------------------------------------------------

#: The shortest lifetime the server takes; its margin is a quarter of it (15 s), and provisioned
#: environments are replaced once two margins (30 s) are left.
SHORT_S = 60


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("short") / "data", extra_args=["--role-session-seconds", str(SHORT_S)]).start()
    yield running
    running.stop()


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


@pytest.mark.needs_root
def test_credentials_are_renewed_before_they_expire(short_server):
    lam = short_server.client("lambda")
    role = lambda_role(short_server, "short")

    def create(name: str) -> str:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip(PROBE)})
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        return name

    kept = create("kept")
    assert lam.publish_version(FunctionName=kept)["Version"] == "1"
    lam.put_provisioned_concurrency_config(FunctionName=kept, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_provisioned(lam, kept, "1")
    provisioned = probe(lam, kept, "1")
    on_demand = probe(lam, create("on-demand"))
    assert "Init Duration" in on_demand["log"]
    session = opener(short_server)(on_demand["env"]["AWS_SESSION_TOKEN"])
    assert session is not None and SHORT_S - 5 <= session.expires - time.time() <= SHORT_S

    # 25 s left: the on-demand environment still serves, with the same credentials. The provisioned one,
    # due since 30 s were left, has been replaced ahead: a new environment, INIT done, never cold.
    sleep_until(session.expires - 25)
    assert probe(lam, "on-demand")["env"] == on_demand["env"]
    renewed = probe(lam, kept, "1")
    assert renewed["host"] != provisioned["host"] and renewed["env"] != provisioned["env"]
    assert "Init Duration" not in renewed["log"] and renewed["type"] == "provisioned-concurrency"
    config = lam.get_provisioned_concurrency_config(FunctionName=kept, Qualifier="1")
    assert (config["Status"], config["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1)

    # Within the margin (15 s): no invoke goes to the old environment; a new one, with new credentials, serves.
    sleep_until(session.expires - 15 + 1.5)
    fresh = probe(lam, "on-demand")
    assert fresh["host"] != on_demand["host"] and "Init Duration" in fresh["log"]
    assert fresh["env"]["AWS_ACCESS_KEY_ID"] != on_demand["env"]["AWS_ACCESS_KEY_ID"]
    renewed_session = opener(short_server)(fresh["env"]["AWS_SESSION_TOKEN"])
    assert renewed_session is not None and renewed_session.expires > session.expires + 30
    if os.geteuid() == 0:
        # The old environment is gone: only the new one is left on the host.
        left = environments_of(short_server, "on-demand")
        assert len(left) == 1 and next(iter(left)).startswith(fresh["host"].removeprefix("lambdabox-")), left


def test_without_isolation_environments_get_sessions_too(tmp_path):
    unisolated = Server(tmp_path / "data", extra_args=["--isolation", "none"]).start()
    try:
        lam = unisolated.client("lambda")
        role = lambda_role(unisolated, "plain")
        lam.create_function(
            FunctionName="plain", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip(PROBE)},
            SnapStart={"ApplyOn": "PublishedVersions"},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName="plain", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        version = lam.publish_version(FunctionName="plain")["Version"]
        lam.get_waiter("function_active_v2").wait(FunctionName="plain", Qualifier=version)
        for qualifier in (None, version):
            first, second = at_once(lam, "plain", 2, qualifier)
            assert first["env"]["AWS_ACCESS_KEY_ID"] != second["env"]["AWS_ACCESS_KEY_ID"]
            for body in (first, second):
                assert body["env"] == body["proc"]
                session = opener(unisolated)(body["env"]["AWS_SESSION_TOKEN"])
                assert session is not None and (session.role_arn, session.session_name) == (role, "plain")
    finally:
        unisolated.stop()


def test_credentials_stop_working_when_they_expire(short_server):
    """What a function was given works until its expiry, then gets AWS's ExpiredToken answers."""
    from botocore.exceptions import ClientError

    from support import error_of

    lam = short_server.client("lambda")
    role = lambda_role(short_server, "expiring")
    lam.create_function(FunctionName="expiring", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip(PROBE)})
    lam.get_waiter("function_active_v2").wait(FunctionName="expiring", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    env = probe(lam, "expiring")["env"]
    given = (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"])
    session = opener(short_server)(env["AWS_SESSION_TOKEN"])
    sts = short_server.client("sts", credentials=given)
    assert sts.get_caller_identity()["Arn"].endswith(":assumed-role/expiring/expiring")
    sleep_until(session.expires + 0.5)
    for client, code in [(sts, "ExpiredToken"), (short_server.client("lambda", credentials=given), "ExpiredTokenException")]:
        with pytest.raises(ClientError) as raised:
            client.get_caller_identity() if code == "ExpiredToken" else client.list_functions()
        assert error_of(raised) == (403, code, "The security token included in the request is expired")
