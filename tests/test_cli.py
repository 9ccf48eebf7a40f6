"""The `lambdabox` command: deploy, functions, server --help."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import urllib.request
import io
import zipfile


def lambdabox(server, *arguments: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    # The credentials the server wrote, as an operator would use them.
    environment.update(LAMBDABOX_ENDPOINT=server.url, AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file))
    return subprocess.run(
        [sys.executable, "-m", "lambdabox", *arguments], capture_output=True, text=True, env=environment, timeout=60
    )


def test_server_help_explains_every_option():
    done = subprocess.run([sys.executable, "-m", "lambdabox", "server", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for option in ("--host", "--port", "--data-dir", "--database-url", "--region", "--auth", "--account-concurrency"):
        assert option in done.stdout
    assert "LAMBDABOX_DATA_DIR" in done.stdout


def test_deploy_creates_then_updates(server, lam, unique, tmp_path):
    name = unique("deployed")
    source = tmp_path / "src"
    (source / "lib").mkdir(parents=True)
    (source / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (source / "lib" / "helper.py").write_text("X = 1\n")
    (source / "run.sh").write_text("#!/bin/sh\n")
    (source / "run.sh").chmod(0o755)

    done = lambdabox(server, "deploy", str(source), "--name", name, "--runtime", "python3.12", "--handler", "app.handler",
                     "--memory", "256", "--env", "STAGE=test")
    assert done.returncode == 0, done.stderr
    assert f"created arn:aws:lambda:us-east-1:000000000000:function:{name}" in done.stdout
    configuration = lam.get_function_configuration(FunctionName=name)
    assert configuration["State"] == "Active"
    assert configuration["MemorySize"] == 256
    assert configuration["Environment"] == {"Variables": {"STAGE": "test"}}
    assert configuration["Role"].endswith(":role/lambdabox-execution-role")

    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(location) as response, zipfile.ZipFile(io.BytesIO(response.read())) as archive:
        assert sorted(archive.namelist()) == ["app.py", "lib/helper.py", "run.sh"]
        assert stat.S_IMODE(archive.getinfo("run.sh").external_attr >> 16) == 0o755

    (source / "app.py").write_text("def handler(event, context):\n    return 2\n")
    done = lambdabox(server, "deploy", str(source), "--name", name, "--runtime", "python3.12", "--handler", "app.handler",
                     "--timeout", "30")
    assert done.returncode == 0, done.stderr
    assert "updated" in done.stdout
    updated = lam.get_function_configuration(FunctionName=name)
    assert updated["CodeSha256"] != configuration["CodeSha256"]
    assert updated["Timeout"] == 30
    assert updated["MemorySize"] == 256


def test_deploy_reports_a_rejected_setting(server, lam, unique, tmp_path):
    name = unique("rejected")
    (tmp_path / "app.py").write_text("def handler(e, c): pass\n")
    done = lambdabox(server, "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12", "--handler", "app.handler",
                     "--memory", "99999")
    assert done.returncode == 1
    assert "ValidationException" in done.stderr
    assert name not in lambdabox(server, "functions").stdout


def test_functions_lists_a_table(server, create_function, unique):
    name = unique("listed")
    create_function(FunctionName=name, MemorySize=512)
    done = lambdabox(server, "functions")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "RUNTIME", "HANDLER"]
    row = next(row for row in rows if row.startswith(name))
    assert row.split()[1:4] == ["python3.12", "app.handler", "512"]
