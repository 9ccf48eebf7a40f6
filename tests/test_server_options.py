"""Server options the README promises, each through a real server: --database-url on PostgreSQL, --host,
LAMBDABOX_DATA_DIR, and --async-concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from support import Server, free_port, make_zip

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
#: The machine's PostgreSQL (trust authentication on loopback), where each test makes a database of its own.
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture
def postgres_database():
    """A new, empty PostgreSQL database; dropped afterwards."""
    import psycopg

    name = f"lambdabox_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRES}/{name}", name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_control_plane_lives_in_postgresql(tmp_path, postgres_database):
    url, name = postgres_database
    data = tmp_path / "data"
    first = Server(data, extra_args=["--database-url", url]).start()
    try:
        lam = first.client("lambda")
        role = first.client("iam").create_role(RoleName="pg-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        lam.create_function(FunctionName="stored", Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 'from pg'\n"})},
                            Tags={"kept": "in postgres"})
        lam.get_waiter("function_active_v2").wait(FunctionName="stored")
        lam.publish_version(FunctionName="stored")
        lam.create_alias(FunctionName="stored", Name="live", FunctionVersion="1")
        assert lam.invoke(FunctionName="stored:live")["Payload"].read() == b'"from pg"'
    finally:
        first.stop()
    # The records are in PostgreSQL, not in a SQLite file in the data dir.
    assert not (data / "lambdabox.db").exists()
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", connect_timeout=5) as connection:
        tables = {row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables
        counted = sum(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables)
        assert counted > 0

    second = Server(data, extra_args=["--database-url", url]).start()
    try:
        lam = second.client("lambda")
        assert lam.get_alias(FunctionName="stored", Name="live")["FunctionVersion"] == "1"
        assert lam.get_function(FunctionName="stored")["Tags"] == {"kept": "in postgres"}
        assert lam.invoke(FunctionName="stored:live")["Payload"].read() == b'"from pg"'
    finally:
        second.stop()


def test_an_unreachable_database_url_is_said_plainly(tmp_path):
    port = free_port()  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "lambdabox", "server", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"),
         "--database-url", f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{port}/nothing"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"lambdabox server: cannot open the database postgresql+psycopg://postgres:***@127.0.0.1:{port}/nothing: "
    ), done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and "hunter2" not in done.stderr + done.stdout
    assert "listening" not in done.stdout


def start_plain(arguments: list[str], environment: dict[str, str], host: str, port: int) -> subprocess.Popen:
    """`lambdabox server ARGUMENTS` without the tests' --data-dir, answering at host:port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lambdabox", "server", "--port", str(port), *arguments],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **environment},
    )
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/_lambdabox/health", timeout=1):
                return process
        except OSError:
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.05)


def test_host_and_the_data_dir_variable(tmp_path):
    data = tmp_path / "from-the-variable"
    port = free_port()
    process = start_plain(["--host", "127.0.0.2"], {"LAMBDABOX_DATA_DIR": str(data)}, "127.0.0.2", port)
    try:
        # LAMBDABOX_DATA_DIR holds the state, the credentials file among it.
        assert (data / "credentials").is_file()
        assert (data / "lambdabox.db").is_file()
        # --host: it answers there, and only there.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_lambdabox/health", timeout=2)
    finally:
        process.terminate()
        process.wait(timeout=15)


SLEEPER = """
import time

def handler(event, context):
    began = time.time()
    time.sleep(1)
    print("ran", event["n"], began, time.time())
"""


def test_async_concurrency_bounds_the_events_run_at_once(tmp_path):
    server = Server(tmp_path / "data", extra_args=["--async-concurrency", "2"]).start()
    try:
        lam = server.client("lambda")
        role = server.client("iam").create_role(RoleName="async-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        lam.create_function(FunctionName="sleeper", Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": SLEEPER})}, Timeout=10)
        lam.get_waiter("function_active_v2").wait(FunctionName="sleeper")
        for number in range(6):
            lam.invoke(FunctionName="sleeper", InvocationType="Event", Payload=json.dumps({"n": number}).encode())
        deadline = time.monotonic() + 60
        while True:
            printed = server.cli("logs", "sleeper").stdout
            spans = [tuple(map(float, line.split()[-2:])) for line in printed.splitlines() if "\tran " in line or " ran " in line]
            if len(spans) == 6 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(spans) == 6, printed
        # At no moment were more than two running; and two did run together.
        moments = sorted(point for began, ended in spans for point in ((began, 1), (ended, -1)))
        running, most = 0, 0
        for _, step in moments:
            running += step
            most = max(most, running)
        assert most == 2, spans
    finally:
        server.stop()
