"""The `lambdabox` command against a real server: deploy, invoke, functions, delete, layers, logs, errors, --help,
and the README's quick start run as written."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path


def lambdabox(server, *arguments: str, input: str | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    # The credentials the server wrote, as an operator would use them.
    environment.update(LAMBDABOX_ENDPOINT=server.url, AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file))
    return subprocess.run(
        [sys.executable, "-m", "lambdabox", *arguments], capture_output=True, text=True, env=environment, timeout=60,
        input=input,
    )


def test_server_help_explains_every_option_the_readme_lists():
    import re

    done = subprocess.run([sys.executable, "-m", "lambdabox", "server", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `--")]
    options = {option for row in rows for option in re.findall(r"`(--[a-z-]+)", row.split("|")[1])}
    variables = {name for row in rows for name in re.findall(r"`(LAMBDABOX_[A-Z_]+)`", row.split("|")[2])}
    assert len(options) >= 25 and len(variables) >= 4, (options, variables)  # the table was found and read
    assert sorted(option for option in options if option not in done.stdout) == []
    assert sorted(name for name in variables if name not in done.stdout) == []


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


ECHO = "import sys\n\ndef handler(event, context):\n    print('saw', event)\n    return {'got': event}\n"


def one_line(done: subprocess.CompletedProcess) -> str:
    """The single line a failed command printed on stderr (besides what deploy and publish zipped)."""
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("zipped ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_invoke_takes_the_payload_from_an_argument_a_file_or_stdin(server, deploy, tmp_path):
    name = deploy({"app.py": ECHO})
    done = lambdabox(server, "invoke", name, '{"from": "argument"}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"got": {"from": "argument"}}
    assert done.stderr == ""

    event = tmp_path / "event.json"
    event.write_text('{"from": "file"}')
    done = lambdabox(server, "invoke", name, "--file", str(event))
    assert (done.returncode, json.loads(done.stdout)) == (0, {"got": {"from": "file"}})

    done = lambdabox(server, "invoke", name, "--file", "-", input='{"from": "stdin"}')
    assert (done.returncode, json.loads(done.stdout)) == (0, {"got": {"from": "stdin"}})


def test_invoke_logs_prints_the_tail_to_stderr(server, deploy):
    name = deploy({"app.py": ECHO})
    done = lambdabox(server, "invoke", name, '{"n": 7}', "--logs")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"got": {"n": 7}}
    assert "saw {'n': 7}" in done.stderr
    assert "START RequestId" in done.stderr and "REPORT RequestId" in done.stderr


def test_invoke_of_a_failing_function_prints_its_error_and_exits_1(server, deploy):
    name = deploy({"app.py": "def handler(event, context):\n    raise ValueError('no')\n"})
    done = lambdabox(server, "invoke", name)
    assert done.returncode == 1
    assert json.loads(done.stdout)["errorType"] == "ValueError"
    assert one_line(done) == "lambdabox invoke: the function failed (Unhandled)"


def test_delete_removes_the_function(server, lam, create_function, unique):
    name = unique("doomed")
    create_function(FunctionName=name)
    done = lambdabox(server, "delete", name)
    assert (done.returncode, done.stdout.strip()) == (0, f"deleted {name}")
    assert name not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_layers_publish_a_directory_and_list_it(server, lam, unique, tmp_path):
    name = unique("layer")
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "shared.py").write_text("VALUE = 42\n")
    (tmp_path / "python" / "__pycache__").mkdir()
    (tmp_path / "python" / "__pycache__" / "shared.cpython-312.pyc").write_bytes(b"\0")
    done = lambdabox(server, "layers", "publish", name, str(tmp_path), "--runtime", "python3.12", "--description", "d")
    assert done.returncode == 0, done.stderr
    arn = f"arn:aws:lambda:us-east-1:000000000000:layer:{name}:1"
    assert done.stdout.startswith(f"published {arn} ")
    location = lam.get_layer_version(LayerName=name, VersionNumber=1)["Content"]["Location"]
    with urllib.request.urlopen(location) as response, zipfile.ZipFile(io.BytesIO(response.read())) as archive:
        assert archive.namelist() == ["python/shared.py"]

    listed = lambdabox(server, "layers", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(name + " "))
    assert row.split() == [name, "1", "python3.12", arn]
    versions = lambdabox(server, "layers", "list", name)
    assert versions.returncode == 0, versions.stderr
    header, only = versions.stdout.splitlines()
    assert header.split()[0] == "VERSION" and only.split()[0] == "1" and only.split()[-1] == arn


def test_deploy_leaves_out_caches_and_what_lambdaboxignore_lists(server, lam, unique, tmp_path):
    name = unique("ignoring")
    files = {
        "app.py": "def handler(event, context):\n    return 1\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".venv/lib/site.py": "",
        "__pycache__/app.cpython-312.pyc": "",
        "lib/__pycache__/x.pyc": "",
        "lib/keep.py": "",
        "node_modules/.cache/big": "",
        "node_modules/left/index.js": "",
        "notes.log": "",
        "docs/guide.md": "",
        "docs/keep.txt": "",
        "tests/test_app.py": "",
        "lib/tests": "a file, not a folder",
        "build/out.txt": "",
        "lib/build/kept.txt": "",
    }
    for path, content in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    (tmp_path / ".lambdaboxignore").write_text("# not shipped\n*.log\ndocs/*.md\ntests/\n/build/\n")
    done = lambdabox(server, "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12", "--handler", "app.handler")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    assert done.stderr.startswith("zipped 6 files")
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(location) as response, zipfile.ZipFile(io.BytesIO(response.read())) as archive:
        assert sorted(archive.namelist()) == [
            "app.py", "docs/keep.txt", "lib/build/kept.txt", "lib/keep.py", "lib/tests", "node_modules/left/index.js"
        ]


def test_deploy_on_a_terminal_shows_zipping_and_uploading_bars_and_uploads_intact(server, lam, unique, tmp_path):
    """On a terminal, bars follow the zipping and the upload (the body botocore sends is counted as it is read);
    what arrives is exactly the package zipped."""
    import hashlib
    import base64
    import pty
    import select

    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible: a 3 MB upload
    name = unique("bars")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(LAMBDABOX_ENDPOINT=server.url, AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file),
                       TERM="xterm", COLUMNS="120")
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "lambdabox", "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12",
         "--handler", "app.handler"], stdin=terminal, stdout=terminal, stderr=terminal, env=environment,
    )
    os.close(terminal)
    shown = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's last holder exited
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0, shown
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))
    # Bars, not only the summary line ("zipped 2 files (3.1 MB); uploading"): a name, the bar, the bytes so far.
    assert re.search(r"zipping ━+ [0-9.]+/[0-9.]+ MB", text), text[-2000:]
    assert re.search(r"uploading ━+ [0-9.]+/4\.[0-9] MB", text), text[-2000:]  # the JSON body: 3 MB in base64
    assert "created arn:aws:lambda:us-east-1:" in text

    function = lam.get_function(FunctionName=name)
    code = urllib.request.urlopen(function["Code"]["Location"], timeout=30).read()
    assert base64.b64encode(hashlib.sha256(code).digest()).decode() == function["Configuration"]["CodeSha256"]
    assert zipfile.ZipFile(io.BytesIO(code)).read("blob.bin") == (tmp_path / "blob.bin").read_bytes()


def test_deploy_draws_no_bars_when_output_is_not_a_terminal(server, unique, tmp_path):
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "blob.bin").write_bytes(os.urandom(1024 * 1024))
    done = lambdabox(server, "deploy", str(tmp_path), "--name", unique("plain"), "--runtime", "python3.12",
                     "--handler", "app.handler")
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stderr and "\x1b[" not in done.stdout
    assert done.stderr.startswith("zipped 2 files (")


def test_deploy_warns_when_the_handler_is_not_in_the_package(server, unique, tmp_path):
    (tmp_path / "app.py").write_text("import json\n\ndef main(event, context):\n    return 1\n")
    name = unique("misnamed")
    done = lambdabox(server, "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12", "--handler", "app.handler")
    assert done.returncode == 0, done.stderr
    assert "lambdabox deploy: warning: app.py does not define the handler's function 'handler'" in done.stderr
    done = lambdabox(server, "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12", "--handler", "main.handler")
    assert done.returncode == 0, done.stderr
    assert "lambdabox deploy: warning: the handler's module 'main' is not in the package" in done.stderr
    done = lambdabox(server, "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12", "--handler", "app.main")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr

    (tmp_path / "app.py").unlink()
    done = lambdabox(server, "deploy", str(tmp_path), "--name", unique("bare"), "--runtime", "provided.al2023",
                     "--handler", "anything")
    assert done.returncode == 0, done.stderr
    assert "lambdabox deploy: warning: there is no bootstrap at the package's root" in done.stderr


def test_the_handler_check_reads_python_and_node_sources():
    from lambdabox.cli.package import handler_problem
    from support import make_zip

    node = make_zip({
        "index.mjs": "export const handler = async (event) => event;\n",
        "lib/re.js": "module.exports = require('./x');\n",
    })
    assert handler_problem(node, "nodejs20.x", "index.handler") is None
    assert handler_problem(node, "nodejs20.x", "index.main") == "index.mjs does not define the handler's function 'main'"
    assert handler_problem(node, "nodejs20.x", "lib/re.handler") is None  # re-exported: cannot tell
    assert "is not in the package" in handler_problem(node, "nodejs20.x", "app.handler")
    python = make_zip({
        "pkg/__init__.py": "",
        "pkg/mod.py": "from .impl import handler as entry\ntry:\n    import x\nexcept ImportError:\n    pass\n",
        "plain.py": "entry = lambda event, context: 1\n",
    })
    assert handler_problem(python, "python3.12", "pkg.mod.entry") is None
    assert handler_problem(python, "python3.12", "pkg.mod.other") is None  # may be bound in the try: cannot tell
    assert handler_problem(python, "python3.12", "plain.entry") is None
    assert handler_problem(python, "python3.12", "plain.other") == "plain.py does not define the handler's function 'other'"
    assert handler_problem(python, "python3.12", "nodot") == "the handler 'nodot' is not MODULE.FUNCTION"
    assert handler_problem(python, "java21", "a.b") is None


def test_every_command_says_in_one_line_that_the_server_is_unreachable(server, tmp_path):
    from support import free_port

    (tmp_path / "app.py").write_text("def handler(e, c): pass\n")
    closed = f"http://127.0.0.1:{free_port()}"
    for command in (
        ["functions"], ["invoke", "f"], ["delete", "f"], ["logs", "f"], ["layers", "list"],
        ["layers", "publish", "l", str(tmp_path)], ["invocations", "list", "f"], ["invocations", "get", "x"],
        ["deploy", str(tmp_path), "--name", "f", "--runtime", "python3.12", "--handler", "app.handler"],
    ):
        done = lambdabox(server, *command, "--endpoint-url", closed)
        assert done.returncode == 3, (command, done.stderr)
        assert one_line(done).startswith(f"lambdabox {command[0]}: cannot reach the server at {closed}"), command


def test_an_unknown_function_is_one_line_and_exit_1(server, unique):
    name = unique("nosuch")
    for command in (["invoke", name], ["logs", name], ["delete", name]):
        done = lambdabox(server, *command)
        assert done.returncode == 1, (command, done.stderr)
        assert done.stdout == ""
        line = one_line(done)
        assert line.startswith(f"lambdabox {command[0]}: ResourceNotFoundException: Function not found: "), line
    done = lambdabox(server, "layers", "list", name)
    assert (done.returncode, one_line(done)) == (1, f"lambdabox layers: no layer {name}")


def test_an_invalid_argument_is_one_line_and_exit_2(server, create_function, unique, tmp_path):
    name = unique("args")
    create_function(FunctionName=name)
    for command, expected in (
        (["invoke", name, "{not json"], "lambdabox invoke: the payload is not JSON"),
        (["invoke", name, "{}", "--file", "-"], "lambdabox invoke: give the payload as PAYLOAD or --file, not both"),
        (["invoke", name, "--file", str(tmp_path / "missing.json")], "lambdabox invoke: cannot read"),
        (["invoke"], "lambdabox invoke: the following arguments are required: NAME"),
        (["logs", name, "--since", "soon"], "lambdabox logs: argument --since: invalid int value"),
        (["deploy", str(tmp_path / "none"), "--name", name, "--runtime", "python3.12", "--handler", "a.b"],
         "lambdabox deploy: "),
        (["deploy", str(tmp_path), "--name", name, "--runtime", "python3.12", "--handler", "a.b", "--env", "X"],
         "lambdabox deploy: --env takes KEY=VALUE"),
        (["layers", "publish", name, str(tmp_path / "none")], "lambdabox layers: "),
        (["nosuch"], "lambdabox: argument COMMAND: invalid choice"),
    ):
        done = lambdabox(server, *command)
        assert done.returncode == 2, (command, done.stderr)
        assert one_line(done).startswith(expected), (command, done.stderr)


def test_help_describes_every_command_and_option():
    from lambdabox.cli.main import parser

    def walk(command: argparse.ArgumentParser):
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                described = {choice.dest for choice in action._choices_actions}
                assert described == set(action.choices), command.prog
                assert all(choice.help for choice in action._choices_actions), command.prog
                for sub in action.choices.values():
                    assert sub.description, sub.prog
                    yield from walk(sub)
            else:
                yield command.prog, action

    undescribed = [(prog, action.dest) for prog, action in walk(parser()) if not action.help]
    assert undescribed == []
    done = subprocess.run([sys.executable, "-m", "lambdabox", "invoke", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--logs" in done.stdout and "stdin" in done.stdout


def readme_block(heading: str) -> str:
    """The first ```sh block after `heading` in the README."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "README.md").read_text()
    section = text[text.index(f"\n{heading}\n"):]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def run_readme(server, script: str, cwd) -> subprocess.CompletedProcess:
    """`script` run by bash -e as a reader would, but against `server` with its credentials file."""
    script = script.replace("http://127.0.0.1:9000", server.url)
    script = script.replace("~/.lambdabox/credentials", str(server.credentials_file))
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAMBDABOX_"))}
    environment.update(
        PATH=f"{os.path.dirname(sys.executable)}:{environment.get('PATH', '')}",
        AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file),
        LAMBDABOX_ENDPOINT=server.url,
    )
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True, env=environment,
                          timeout=120)


def test_the_readme_aws_cli_quick_start_runs_as_written(server, tmp_path):
    import shutil

    if shutil.which("zip") is None or not os.path.exists(os.path.join(os.path.dirname(sys.executable), "aws")):
        import pytest

        # Skipped on a laptop without them; in CI, where everything is installed, their absence is a failure.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs zip and the AWS CLI in the venv")
    done = run_readme(server, readme_block("## Quick start with the AWS CLI"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == {"hello": {"name": "you"}}


def test_the_readme_lambdabox_quick_start_runs_as_written(server, lam, tmp_path):
    done = run_readme(server, readme_block("## The `lambdabox` command"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert '{"greeting": "hello, you"}' in done.stdout
    assert '{"greeting": "hello, pipe"}' in done.stdout
    assert "greeting you" in done.stderr  # the log tail
    assert "deleted greeter" in done.stdout
    assert "greeter" not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def url_get(server, url: str, path: str = "/") -> tuple[int, bytes]:
    """GET `path` of a function URL at the server's address, its host name in the Host header."""
    import http.client
    from urllib.parse import urlparse

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", path, headers={"Host": urlparse(url).netloc})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


GREETER = 'def handler(event, context):\n    return {"greeting": "hello, " + event.get("name", "world")}\n'


def test_deploy_url_gives_a_url_and_public_url_opens_it(server, lam, unique, tmp_path):
    name = unique("urled")
    (tmp_path / "app.py").write_text(GREETER)
    done = lambdabox(server, "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12", "--handler",
                     "app.handler", "--url", "NONE")
    assert done.returncode == 0, done.stderr
    url = done.stdout.splitlines()[-1]
    assert url == lam.get_function_url_config(FunctionName=name)["FunctionUrl"]
    assert ".lambda-url.us-east-1.localhost:" in url
    # A NONE URL answers only once the resource policy allows both actions to everyone.
    assert url_get(server, url)[0] == 403
    done = lambdabox(server, "public-url", name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("added ") == 2
    assert url_get(server, url) == (200, b'{"greeting": "hello, world"}')
    statements = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert sorted(statement["Action"] for statement in statements) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    assert all(statement["Principal"] == "*" for statement in statements)
    # Again: nothing changes, and it says so.
    done = lambdabox(server, "public-url", name)
    assert done.returncode == 0 and done.stdout.count("already there") == 2, done.stdout + done.stderr
    assert len(json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]) == 2
    # Deployed again with AWS_IAM: the same URL, now refusing unsigned requests.
    done = lambdabox(server, "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12", "--handler",
                     "app.handler", "--url", "AWS_IAM")
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == url, done.stderr
    assert lam.get_function_url_config(FunctionName=name)["AuthType"] == "AWS_IAM"
    assert url_get(server, url)[0] == 403


def test_deploy_url_refuses_an_unknown_auth_type_and_public_url_an_unknown_function(server, unique, tmp_path):
    (tmp_path / "app.py").write_text(GREETER)
    done = lambdabox(server, "deploy", str(tmp_path), "--name", unique("x"), "--runtime", "python3.12", "--handler",
                     "app.handler", "--url", "OPEN")
    assert done.returncode == 2 and "--url" in done.stderr
    done = lambdabox(server, "public-url", unique("missing"))
    assert done.returncode == 1 and "ResourceNotFoundException" in done.stderr


def test_the_readme_function_url_quick_start_runs_as_written(server, lam, tmp_path):
    import shutil

    if shutil.which("curl") is None:
        import pytest

        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs curl")
    (tmp_path / "greeter").mkdir()
    (tmp_path / "greeter" / "app.py").write_text(GREETER)
    script = readme_block("### Function URL quick start")
    assert len([line for line in script.splitlines() if line.strip()]) == 3
    done = run_readme(server, script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert '{"greeting": "hello, world"}' in done.stdout
    assert lam.get_function_url_config(FunctionName="greeter-url")["AuthType"] == "NONE"
    lam.delete_function(FunctionName="greeter-url")
