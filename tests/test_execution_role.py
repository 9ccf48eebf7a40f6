"""A function's role must exist and trust Lambda, as on AWS."""

from __future__ import annotations

import json

import pytest

from support import aws_error, make_zip

CANNOT_ASSUME = "The role defined for the function cannot be assumed by Lambda."


def trust(service: str, effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


@pytest.mark.parametrize(
    "document",
    [
        trust("ec2.amazonaws.com"),
        trust("lambda.amazonaws.com", effect="Deny"),
        json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}]}),
        json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:TagSession"}]}),
    ],
    ids=["another-service", "denied", "an-account", "another-action"],
)
def test_a_role_that_does_not_trust_lambda_is_refused(iam, lam, unique, document):
    role = iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=document)["Role"]["Arn"]
    name = unique("fn")
    assert aws_error(
        lam.create_function, FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": make_zip()},
    ) == (400, "InvalidParameterValueException", CANNOT_ASSUME)


def test_changing_to_an_untrusting_role_is_refused_and_changes_nothing(iam, lam, create_function, unique):
    created = create_function()
    untrusting = iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=trust("ec2.amazonaws.com"))
    assert aws_error(
        lam.update_function_configuration, FunctionName=created["FunctionName"], Role=untrusting["Role"]["Arn"]
    ) == (400, "InvalidParameterValueException", CANNOT_ASSUME)
    assert lam.get_function_configuration(FunctionName=created["FunctionName"])["Role"] == created["Role"]


def test_a_trust_policy_listing_lambda_among_others_is_accepted(iam, lam, unique):
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]},
        "Action": ["sts:AssumeRole"]}]})
    role = iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=document)["Role"]["Arn"]
    name = unique("fn")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip()})
    assert lam.get_function_configuration(FunctionName=name)["Role"] == role
