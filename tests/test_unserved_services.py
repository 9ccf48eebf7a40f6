"""Requests for services Lambdabox does not serve: a readable error in the service's own protocol."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from support import Server


def not_served(call, **arguments) -> dict:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return raised.value.response


@pytest.mark.parametrize(
    ("service", "name", "variable", "call", "arguments"),
    [
        ("cloudformation", "CloudFormation", "AWS_ENDPOINT_URL_CLOUDFORMATION", "describe_stacks", {}),  # query
        ("s3", "S3", "AWS_ENDPOINT_URL_S3", "list_buckets", {}),  # rest-xml
        ("dynamodb", "DynamoDB", "AWS_ENDPOINT_URL_DYNAMODB", "list_tables", {}),  # json
        ("ec2", "EC2", "AWS_ENDPOINT_URL_EC2", "describe_instances", {}),  # ec2
        ("apigateway", "API Gateway", "AWS_ENDPOINT_URL_API_GATEWAY", "get_rest_apis", {}),  # rest-json
        ("kinesis", "Kinesis", "AWS_ENDPOINT_URL_KINESIS", "list_streams", {}),  # json
    ],
)
def test_a_client_of_an_unserved_service_hears_so_in_its_protocol(server: Server, service, name, variable, call,
                                                                    arguments):
    client = server.client(service)
    response = not_served(getattr(client, call), **arguments)
    assert response["Error"]["Code"] == "ServiceNotServed"
    assert response["Error"]["Message"] == (
        f"Lambdabox does not serve {name}; point this client at the real service or another endpoint, "
        f"e.g. with {variable}."
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_service_signing_under_another_name_is_named_by_its_own(server: Server):
    # CloudWatch signs as "monitoring" and Step Functions as "states".
    for service, name in (("cloudwatch", "CloudWatch"), ("stepfunctions", "SFN")):
        response = not_served(getattr(server.client(service), "list_dashboards" if service == "cloudwatch"
                                      else "list_state_machines"))
        assert response["Error"]["Message"].startswith(f"Lambdabox does not serve {name};")


def test_a_forged_signature_is_refused_before_anything_is_said(server: Server):
    key, _ = server.root()
    forged = server.client("cloudformation", credentials=(key, "not-the-secret"))
    response = not_served(forged.describe_stacks)
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("SignatureDoesNotMatch", 403)
    forged = server.client("dynamodb", credentials=(key, "not-the-secret"))
    response = not_served(forged.list_tables)
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "InvalidSignatureException", 403)


def test_an_unknown_signing_name_is_answered_in_json(server: Server):
    headers = server.signed("GET", "/", service="nosuchservice")
    request = urllib.request.Request(f"{server.url}/", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 400
    assert raised.value.headers["x-amzn-ErrorType"] == "ServiceNotServed"
    assert b"Lambdabox does not serve nosuchservice;" in raised.value.read()


def test_lambda_iam_sts_and_logs_are_still_served(server: Server):
    assert "Functions" in server.client("lambda").list_functions()
    assert "logGroups" in server.client("logs").describe_log_groups()
    assert "Roles" in server.client("iam").list_roles()
    assert server.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_names_made_up_by_the_thousand_are_not_all_remembered():
    """A hostile client can sign for any service name it likes, before any key is checked: the catalog of
    services answers each, and remembers a bounded number of them."""
    from lambdabox.api.unserved import MAX_REMEMBERED, ServiceCatalog

    catalog = ServiceCatalog()
    for number in range(MAX_REMEMBERED + 500):
        assert catalog.find(f"made-up-{number}").name
    assert catalog.remembered == MAX_REMEMBERED
