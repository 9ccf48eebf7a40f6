"""How the CLI reaches a Lambdabox server: signed, with a profile's credentials, like any AWS client.

Credentials come from, in order: --profile; the AWS environment (AWS_ACCESS_KEY_ID,
AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE); else the profile 'default' of the credentials
file the server wrote in its data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from typing import Any

from lambdabox.settings import default_data_dir

#: Where the CLI finds the server unless --endpoint-url or LAMBDABOX_ENDPOINT says otherwise.
DEFAULT_ENDPOINT = "http://127.0.0.1:9000"


def add_endpoint_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--endpoint-url",
        default=os.environ.get("LAMBDABOX_ENDPOINT", DEFAULT_ENDPOINT),
        help="the Lambdabox server (default: $LAMBDABOX_ENDPOINT, else %(default)s)",
    )
    command.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="region to act in (default: $AWS_REGION, else us-east-1)",
    )
    command.add_argument(
        "--profile",
        default=None,
        help="credentials profile (default: $AWS_PROFILE, else 'default' of $AWS_SHARED_CREDENTIALS_FILE, else of "
        "the server's DATA_DIR/credentials)",
    )


def session(arguments: argparse.Namespace):
    import boto3
    import botocore.session

    core = botocore.session.Session()
    from_environment = any(
        name in os.environ for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE")
    )
    if not from_environment:
        core.set_config_variable("credentials_file", str(default_data_dir() / "credentials"))
    if arguments.profile:
        core.set_config_variable("profile", arguments.profile)
    return boto3.Session(botocore_session=core, region_name=arguments.region)


def client(service: str, arguments: argparse.Namespace, *, read_timeout_s: int = 60, attempts: int = 2):
    """A boto3 client for `service` at --endpoint-url; `read_timeout_s` bounds the wait for an answer, and a
    call is made at most `attempts` times."""
    from botocore.config import Config

    return session(arguments).client(
        service, endpoint_url=arguments.endpoint_url,
        config=Config(retries={"total_max_attempts": attempts}, read_timeout=read_timeout_s),
    )


def get_json(arguments: argparse.Namespace, path: str) -> Any:
    """GET one of the server's own routes, signed as a Lambda request; raises urllib's HTTPError."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = session(arguments).get_credentials()
    if credentials is None:
        raise SystemExit("lambdabox: no credentials; see --profile")
    request = AWSRequest(method="GET", url=f"{arguments.endpoint_url.rstrip('/')}{path}")
    SigV4Auth(credentials.get_frozen_credentials(), "lambda", arguments.region).add_auth(request)
    prepared = request.prepare()
    with urllib.request.urlopen(
        urllib.request.Request(prepared.url, headers=dict(prepared.headers), method="GET"), timeout=30
    ) as response:
        return json.load(response)
