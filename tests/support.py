"""What the tests share besides fixtures: a real server process, packages, invoke results."""

from __future__ import annotations

import contextlib
import functools
import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "000000000000"
#: The trust policy of an execution role: Lambda may assume it.
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def lambda_role(server: "Server", name: str) -> str:
    """The ARN of a new execution role on `server`."""
    return server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server(account: str | None = None) -> Iterator[str]:
    """moto's server on a free loopback port (its resources in `account`, else moto's default); its URL.

    Raises RuntimeError, for the test to fail, if it does not answer within 30 seconds.
    """
    port = free_port()
    environment = {"PATH": "/usr/bin:/bin", **({"MOTO_ACCOUNT_ID": account} if account else {})}
    process = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's server did not come up at {url} (exit status {process.poll()})") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Server:
    """A `lambdabox server` process on a free loopback port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    #: Variables added to the server's environment (the tests' own environment is the rest).
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log: Path | None = None
    #: Root credentials by account, as the server wrote them to DATA_DIR/credentials.
    roots: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        self.log = self.data_dir.parent / f"server-{self.port}.log"
        command = [sys.executable, "-m", "lambdabox", "server", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        self.process = subprocess.Popen(
            [*command, *self.extra_args], stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            env={**os.environ, **self.extra_env},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_lambdabox/health", timeout=1):
                    self._read_credentials()
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials"

    def _read_credentials(self) -> None:
        import configparser

        profiles = configparser.ConfigParser()
        profiles.read(self.credentials_file)
        self.roots = {
            name: (section["aws_access_key_id"], section["aws_secret_access_key"])
            for name, section in profiles.items()
            if name.isdigit()
        }

    def root(self, account: str = ACCOUNT) -> tuple[str, str]:
        """The root access key and secret of `account`, made with `lambdabox accounts create` if it is new."""
        if account not in self.roots:
            subprocess.run(
                [sys.executable, "-m", "lambdabox", "accounts", "create", "--id", account, "--data-dir", str(self.data_dir)],
                check=True, capture_output=True,
            )
            self._read_credentials()
        return self.roots[account]

    def client(self, service: str = "lambda", account: str = ACCOUNT, region: str = REGION, *,
               credentials: tuple[str, str] | tuple[str, str, str] | None = None, config: Config | None = None):
        """A boto3 client signed as `account`'s root, or with `credentials` (key, secret[, session token]);
        `config` is merged over the tests' defaults (one attempt, short connect timeout)."""
        key, secret, *token = credentials or self.root(account)
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token[0] if token else None,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=60
            ).merge(config or Config()),
        )

    def signed(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
               service: str = "lambda", account: str = ACCOUNT, region: str = REGION) -> dict[str, str]:
        """`headers` with a SigV4 signature of the request added, as `account`'s root signs it."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest(method=method, url=f"{self.url}{path}", data=body, headers=dict(headers or {}))
        SigV4Auth(Credentials(*self.root(account)), service, region).add_auth(request)
        return dict(request.headers.items())

    def cli(self, *arguments: str, check: bool = False) -> subprocess.CompletedProcess:
        """`lambdabox ARGUMENTS --endpoint-url URL`, with this server's credentials file as an operator would use it."""
        environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        environment["AWS_SHARED_CREDENTIALS_FILE"] = str(self.credentials_file)
        return subprocess.run(
            [sys.executable, "-m", "lambdabox", *arguments, "--endpoint-url", self.url],
            capture_output=True, text=True, timeout=30, env=environment, check=check,
        )

    def get_json(self, path: str, account: str = ACCOUNT):
        """GET one of the server's own routes (/_lambdabox/...), signed; the parsed JSON answer."""
        import json

        request = urllib.request.Request(f"{self.url}{path}", headers=self.signed("GET", path, account=account))
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)


def make_zip(files: dict[str, str | bytes] | None = None) -> bytes:
    """A deployment package holding `files` (default: a hello-world Python handler)."""
    import io
    import zipfile

    files = files if files is not None else {"app.py": "def handler(event, context):\n    return {'hello': event}\n"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@dataclass
class Invoked:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self):
        import json

        return json.loads(self.raw) if self.raw else None

    @property
    def error(self) -> str | None:
        return self.headers.get("x-amz-function-error")

    @property
    def log(self) -> str:
        import base64

        return base64.b64decode(self.headers.get("x-amz-log-result", "")).decode()


REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


def arn(name: str, qualifier: str | None = None) -> str:
    """A function's ARN in the tests' account and region."""
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def aws_error(call, **arguments) -> tuple[int, str, str]:
    """Make a call that must fail; return its HTTP status, error type and message."""
    import pytest
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        call(**arguments)
    return error_of(caught)


def error_of(raised) -> tuple[int, str, str]:
    """HTTP status, error type and message of a caught ClientError (a pytest.ExceptionInfo)."""
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def sandbox_processes(server_pid: int) -> list[str]:
    """Host processes in the sandbox cgroups of one server (one runtime process per idle environment)."""
    found = []
    marker = f"/lambdabox/{server_pid}-"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cgroup").read_text():
                    found.append(entry.name)
            except OSError:
                continue
    return found


def wait_provisioned(lam, name: str, qualifier: str, timeout_s: float = 30) -> None:
    """Return once a provisioned concurrency config is READY."""
    deadline = time.monotonic() + timeout_s
    while lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)["Status"] != "READY":
        assert time.monotonic() < deadline, f"{name}:{qualifier} not READY in {timeout_s} s"
        time.sleep(0.1)


@dataclass
class Answer:
    """A raw HTTP answer: what boto3 would otherwise parse."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        import json

        return json.loads(self.body)


@functools.cache
def boto3_layer(*services: str) -> bytes:
    """A layer with boto3 and what it needs, botocore's models cut down to `services`' (it wins over the runtime's own)."""
    import importlib.util
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"):
            origin = Path(importlib.util.find_spec(module).origin)
            if origin.name != "__init__.py":
                archive.write(origin, f"python/{origin.name}")
                continue
            root = origin.parent
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root.parent)
                parts = relative.parts
                if not path.is_file() or "__pycache__" in parts:
                    continue
                if parts[:2] == ("botocore", "data") and len(parts) > 3 and parts[2] not in services:
                    continue
                archive.write(path, f"python/{relative.as_posix()}")
    return buffer.getvalue()
