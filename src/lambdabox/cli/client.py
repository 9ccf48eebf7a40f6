"""The AWS clients the CLI talks to a Lambdabox server with."""

from __future__ import annotations

import argparse
import os

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


def client(service: str, arguments: argparse.Namespace):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=arguments.endpoint_url,
        region_name=arguments.region,
        # Any key works against Lambdabox; a 12-digit one names the account to act in.
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "lambdabox"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "lambdabox"),
        config=Config(retries={"max_attempts": 2}),
    )
