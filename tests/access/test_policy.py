"""The policy engine against the decisions AWS documents, one table row per policy and request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdabox.access.patterns import MAX_PATTERN_CHARS
from lambdabox.access.policy import Caller, Effect, Request, identity_effect, resource_effect

ALLOW, DENY, NONE = Effect.ALLOW, Effect.DENY, Effect.NONE

A = "111111111111"
B = "222222222222"
FN = f"arn:aws:lambda:us-east-1:{A}:function:alpha"
OTHER_FN = f"arn:aws:lambda:us-east-1:{A}:function:beta"
INVOKE = "lambda:InvokeFunction"

ROOT_A = Caller(A, f"arn:aws:iam::{A}:root")
BOB = Caller(A, f"arn:aws:iam::{A}:user/Bob")
ALICE = Caller(A, f"arn:aws:iam::{A}:user/Alice")
ROLE = f"arn:aws:iam::{A}:role/ops/deployer"
SESSION = Caller(A, f"arn:aws:sts::{A}:assumed-role/deployer/ci", role_arn=ROLE)
OTHER_SESSION = Caller(A, f"arn:aws:sts::{A}:assumed-role/deployer/laptop", role_arn=ROLE)
CAROL_B = Caller(B, f"arn:aws:iam::{B}:user/Carol")
S3 = Caller(B, "s3.amazonaws.com", service="s3.amazonaws.com")


def doc(*statements: dict, version: str | None = "2012-10-17") -> dict:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version:
        document["Version"] = version
    return document


def allow(**elements: Any) -> dict:
    """An Allow statement: InvokeFunction on any resource unless the elements say otherwise."""
    return {"Effect": "Allow", "Action": INVOKE, "Resource": "*", **elements}


def deny(**elements: Any) -> dict:
    return {"Effect": "Deny", "Action": INVOKE, "Resource": "*", **elements}


@dataclass(frozen=True)
class Case:
    name: str
    documents: list
    expected: Effect
    action: str = INVOKE
    resource: str = FN
    context: dict = field(default_factory=dict)
    #: None: identity policies; a Caller: resource policies.
    caller: Caller | None = None

    def decide(self) -> Effect:
        request = Request(self.action, self.resource, self.context)
        if self.caller is None:
            return identity_effect(self.documents, request)
        return resource_effect(self.documents, self.caller, request)


def rp(*statements: dict) -> list:
    """One resource policy of these statements."""
    return [doc(*statements)]


def ip(*statements: dict) -> list:
    """One identity policy of these statements."""
    return [doc(*statements)]


CASES = [
    # --- Policy evaluation logic: explicit deny > allow > implicit deny -------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
    Case("allow-applies", ip(allow()), ALLOW),
    Case("no-documents-implicit-deny", [], NONE),
    Case("empty-statement-list", [doc()], NONE),
    Case("deny-beats-allow-same-document", ip(allow(), deny()), DENY),
    Case("deny-beats-allow-across-documents", [doc(allow()), doc(deny())], DENY),
    Case("deny-for-other-action-leaves-allow", ip(allow(), deny(Action="lambda:DeleteFunction")), ALLOW),
    Case("allow-for-other-action-is-implicit-deny", ip(allow(Action="lambda:GetFunction")), NONE),
    Case("single-statement-object", [{"Version": "2012-10-17", "Statement": allow()}], ALLOW),
    # --- Action / NotAction: wildcards, case-insensitive ------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
    Case("action-service-wildcard", ip(allow(Action="lambda:*")), ALLOW),
    Case("action-star", ip(allow(Action="*")), ALLOW),
    Case("action-case-insensitive", ip(allow(Action="LAMBDA:invoke*")), ALLOW),
    Case("action-question-mark", ip(allow(Action="lambda:GetFunctio?")), ALLOW, action="lambda:GetFunction"),
    Case("action-question-mark-one-char", ip(allow(Action="lambda:Get?")), NONE, action="lambda:GetFunction"),
    Case("action-prefix-is-not-wildcard", ip(allow(Action="lambda:Invoke")), NONE),
    Case("action-list", ip(allow(Action=["lambda:GetFunction", "lambda:InvokeFunction"])), ALLOW),
    Case("action-other-service", ip(allow(Action="iam:*")), NONE),
    Case("notaction-allow-everything-else", ip({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), ALLOW),
    Case("notaction-excludes-listed", ip({"Effect": "Allow", "NotAction": "lambda:*", "Resource": "*"}), NONE),
    Case(
        "notaction-deny-all-but-reads",
        ip(allow(Action="*"), {"Effect": "Deny", "NotAction": "lambda:Get*", "Resource": "*"}),
        DENY,
        action="lambda:DeleteFunction",
    ),
    Case(
        "notaction-deny-spares-listed",
        ip(allow(Action="*"), {"Effect": "Deny", "NotAction": "lambda:Get*", "Resource": "*"}),
        ALLOW,
        action="lambda:GetFunction",
    ),
    # --- Resource / NotResource: case-sensitive, '*' within a segment, trailing '*' spans colons ----------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html
    Case("resource-exact", ip(allow(Resource=FN)), ALLOW),
    Case("resource-case-sensitive", ip(allow(Resource=FN.replace("alpha", "Alpha"))), NONE),
    Case("resource-wildcard-segments", ip(allow(Resource=f"arn:aws:lambda:*:{A}:function:*")), ALLOW),
    Case("resource-other-account", ip(allow(Resource=f"arn:aws:lambda:*:{B}:function:*")), NONE),
    Case("resource-question-mark", ip(allow(Resource=f"arn:aws:lambda:us-east-?:{A}:function:alpha")), ALLOW),
    Case(
        "resource-trailing-star-spans-colons",
        ip(allow(Resource=f"arn:aws:lambda:us-east-1:{A}:function:al*")),
        ALLOW,
        resource=FN + ":prod",
    ),
    Case(
        "resource-inner-star-stays-in-segment",
        ip(allow(Resource=f"arn:aws:lambda:us-east-1:{A}:function:al*d")),
        NONE,
        resource=FN + ":prod",
    ),
    Case(
        "resource-inner-star-within-segment",
        ip(allow(Resource=f"arn:aws:lambda:us-east-1:{A}:function:al*a")),
        ALLOW,
    ),
    Case("resource-list", ip(allow(Resource=[OTHER_FN, FN])), ALLOW),
    Case("resource-star-request-star", ip(allow(Resource="*")), ALLOW, resource="*"),
    Case("resource-arn-does-not-cover-star", ip(allow(Resource=FN)), NONE, resource="*"),
    Case("identity-statement-without-resource", ip({"Effect": "Allow", "Action": INVOKE}), NONE),
    Case("notresource-other", ip({"Effect": "Allow", "Action": INVOKE, "NotResource": OTHER_FN}), ALLOW),
    Case("notresource-listed", ip({"Effect": "Allow", "Action": INVOKE, "NotResource": [OTHER_FN, FN]}), NONE),
    Case(
        "notresource-deny-everything-but",
        ip(allow(), {"Effect": "Deny", "Action": "*", "NotResource": f"arn:aws:lambda:*:{A}:function:beta*"}),
        DENY,
    ),
    Case("resource-and-notresource", ip(allow(NotResource=OTHER_FN)), NONE),
    # --- Principal (resource policies) --------------------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    Case("principal-star", rp(allow(Principal="*")), ALLOW, caller=CAROL_B),
    Case("principal-aws-star", rp(allow(Principal={"AWS": "*"})), ALLOW, caller=CAROL_B),
    Case("principal-account-id", rp(allow(Principal={"AWS": A})), ALLOW, caller=BOB),
    Case("principal-account-root-arn", rp(allow(Principal={"AWS": f"arn:aws:iam::{A}:root"})), ALLOW, caller=SESSION),
    Case("principal-account-root-caller", rp(allow(Principal={"AWS": A})), ALLOW, caller=ROOT_A),
    Case("principal-other-account", rp(allow(Principal={"AWS": B})), NONE, caller=BOB),
    Case("principal-user-arn", rp(allow(Principal={"AWS": BOB.arn})), ALLOW, caller=BOB),
    Case("principal-user-arn-other-user", rp(allow(Principal={"AWS": BOB.arn})), NONE, caller=ALICE),
    Case("principal-role-arn-names-sessions", rp(allow(Principal={"AWS": ROLE})), ALLOW, caller=SESSION),
    Case("principal-session-arn", rp(allow(Principal={"AWS": SESSION.arn})), ALLOW, caller=SESSION),
    Case("principal-session-arn-other-session", rp(allow(Principal={"AWS": SESSION.arn})), NONE, caller=OTHER_SESSION),
    Case("principal-list", rp(allow(Principal={"AWS": [B, BOB.arn]})), ALLOW, caller=BOB),
    Case("principal-no-partial-wildcards", rp(allow(Principal={"AWS": f"arn:aws:iam::{A}:user/*"})), NONE, caller=BOB),
    Case("principal-service", rp(allow(Principal={"Service": "s3.amazonaws.com"})), ALLOW, caller=S3),
    Case("principal-service-not-a-user", rp(allow(Principal={"Service": "s3.amazonaws.com"})), NONE, caller=BOB),
    Case("principal-account-not-a-service", rp(allow(Principal={"AWS": B})), NONE, caller=S3),
    Case("principal-star-names-services", rp(allow(Principal="*")), ALLOW, caller=S3),
    Case("resource-policy-without-principal", rp(allow()), NONE, caller=BOB),
    Case(
        "resource-policy-without-resource-means-itself",
        rp({"Effect": "Allow", "Action": INVOKE, "Principal": {"AWS": A}}),
        ALLOW,
        caller=BOB,
    ),
    Case("identity-policy-with-principal", ip(allow(Principal="*")), NONE),
    # --- NotPrincipal: list the account too, or the account's principals stay denied ------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
    Case(
        "notprincipal-exempts-listed-user-with-account",
        rp(allow(Principal="*"), deny(NotPrincipal={"AWS": [BOB.arn, f"arn:aws:iam::{A}:root"]})),
        ALLOW,
        caller=BOB,
    ),
    Case(
        "notprincipal-denies-unlisted-user",
        rp(allow(Principal="*"), deny(NotPrincipal={"AWS": [BOB.arn, f"arn:aws:iam::{A}:root"]})),
        DENY,
        caller=ALICE,
    ),
    Case(
        "notprincipal-user-without-account-still-denied",
        rp(allow(Principal="*"), deny(NotPrincipal={"AWS": BOB.arn})),
        DENY,
        caller=BOB,
    ),
    Case(
        "notprincipal-role-and-account-exempt-session",
        rp(allow(Principal="*"), deny(NotPrincipal={"AWS": [ROLE, A]})),
        ALLOW,
        caller=SESSION,
    ),
    Case(
        "notprincipal-other-account-denied",
        rp(allow(Principal="*"), deny(NotPrincipal={"AWS": [BOB.arn, A]})),
        DENY,
        caller=CAROL_B,
    ),
    Case(
        "notprincipal-service-exempt",
        rp(allow(Principal="*"), deny(NotPrincipal={"Service": "s3.amazonaws.com"})),
        ALLOW,
        caller=S3,
    ),
    # --- String condition operators ----------------------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
    Case("stringequals", ip(allow(Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}})), ALLOW,
         context={"aws:PrincipalTag/team": ["blue"]}),
    Case("stringequals-case-sensitive", ip(allow(Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}})),
         NONE, context={"aws:PrincipalTag/team": ["Blue"]}),
    Case("stringequals-values-ored", ip(allow(Condition={"StringEquals": {"aws:PrincipalTag/team": ["red", "blue"]}})),
         ALLOW, context={"aws:PrincipalTag/team": ["blue"]}),
    Case("stringequals-missing-key-false", ip(allow(Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}})),
         NONE),
    Case("condition-key-name-case-insensitive",
         ip(allow(Condition={"StringEquals": {"AWS:PRINCIPALTAG/TEAM": "blue"}})), ALLOW,
         context={"aws:PrincipalTag/team": ["blue"]}),
    Case("stringnotequals-values-nored",
         ip(allow(Condition={"StringNotEquals": {"aws:PrincipalTag/team": ["red", "blue"]}})),
         NONE, context={"aws:PrincipalTag/team": ["blue"]}),
    Case("stringnotequals-none-match",
         ip(allow(Condition={"StringNotEquals": {"aws:PrincipalTag/team": ["red", "blue"]}})),
         ALLOW, context={"aws:PrincipalTag/team": ["green"]}),
    Case("stringnotequals-missing-key-true",
         ip(allow(Condition={"StringNotEquals": {"aws:PrincipalTag/team": "blue"}})), ALLOW),
    Case("stringequalsignorecase", ip(allow(Condition={"StringEqualsIgnoreCase": {"aws:username": "BOB"}})), ALLOW,
         context={"aws:username": ["bob"]}),
    Case("stringnotequalsignorecase",
         ip(allow(Condition={"StringNotEqualsIgnoreCase": {"aws:username": "BOB"}})), NONE,
         context={"aws:username": ["bob"]}),
    Case("stringlike", ip(allow(Condition={"StringLike": {"lambda:FunctionArn": f"arn:aws:lambda:*:{A}:function:a*"}})),
         ALLOW, context={"lambda:FunctionArn": [FN]}),
    Case("stringlike-question", ip(allow(Condition={"StringLike": {"aws:username": "b?b"}})), ALLOW,
         context={"aws:username": ["bob"]}),
    Case("stringlike-case-sensitive", ip(allow(Condition={"StringLike": {"aws:username": "B*"}})), NONE,
         context={"aws:username": ["bob"]}),
    Case("stringnotlike", ip(allow(Condition={"StringNotLike": {"aws:username": ["a*", "b*"]}})), NONE,
         context={"aws:username": ["bob"]}),
    Case("stringnotlike-missing-key-true", ip(allow(Condition={"StringNotLike": {"aws:username": "b*"}})), ALLOW),
    Case("operators-anded",
         ip(allow(Condition={"StringEquals": {"aws:username": "bob"}, "StringLike": {"aws:PrincipalTag/team": "r*"}})),
         NONE, context={"aws:username": ["bob"], "aws:PrincipalTag/team": ["blue"]}),
    Case("keys-anded", ip(allow(Condition={"StringEquals": {"aws:username": "bob", "aws:PrincipalTag/team": "blue"}})),
         ALLOW, context={"aws:username": ["bob"], "aws:PrincipalTag/team": ["blue"]}),
    Case("keys-anded-one-missing",
         ip(allow(Condition={"StringEquals": {"aws:username": "bob", "aws:PrincipalTag/team": "blue"}})),
         NONE, context={"aws:username": ["bob"]}),
    Case("lambda-function-url-auth-type",
         rp(allow(Principal="*", Action="lambda:InvokeFunctionUrl",
                  Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})),
         ALLOW, action="lambda:InvokeFunctionUrl", context={"lambda:FunctionUrlAuthType": ["NONE"]}, caller=CAROL_B),
    # --- Numeric condition operators -----------------------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Numeric
    Case("numericlessthan", ip(allow(Condition={"NumericLessThan": {"s3:max-keys": "10"}})), ALLOW,
         context={"s3:max-keys": ["9.5"]}),
    Case("numericlessthan-equal-fails", ip(allow(Condition={"NumericLessThan": {"s3:max-keys": "10"}})), NONE,
         context={"s3:max-keys": ["10"]}),
    Case("numericlessthanequals", ip(allow(Condition={"NumericLessThanEquals": {"s3:max-keys": 10}})), ALLOW,
         context={"s3:max-keys": ["10"]}),
    Case("numericequals-int-float", ip(allow(Condition={"NumericEquals": {"s3:max-keys": "1.0"}})), ALLOW,
         context={"s3:max-keys": ["1"]}),
    Case("numericnotequals", ip(allow(Condition={"NumericNotEquals": {"s3:max-keys": ["1", "2"]}})), NONE,
         context={"s3:max-keys": ["2"]}),
    Case("numericgreaterthan", ip(allow(Condition={"NumericGreaterThan": {"s3:max-keys": "-1.5"}})), ALLOW,
         context={"s3:max-keys": ["0"]}),
    Case("numericgreaterthanequals", ip(allow(Condition={"NumericGreaterThanEquals": {"s3:max-keys": "3"}})), NONE,
         context={"s3:max-keys": ["2.99"]}),
    Case("numeric-context-not-a-number", ip(allow(Condition={"NumericLessThan": {"s3:max-keys": "10"}})), NONE,
         context={"s3:max-keys": ["ten"]}),
    # --- Date condition operators: ISO 8601 or epoch seconds ------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date
    Case("datelessthan-iso", ip(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})),
         ALLOW, context={"aws:CurrentTime": ["2029-12-31T23:59:59Z"]}),
    Case("datelessthan-iso-after", ip(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})),
         NONE, context={"aws:CurrentTime": ["2030-01-01T00:00:01Z"]}),
    Case("dategreaterthan-epoch-vs-iso",
         ip(allow(Condition={"DateGreaterThan": {"aws:EpochTime": "2020-01-01T00:00:00Z"}})),
         ALLOW, context={"aws:EpochTime": ["1700000000"]}),
    Case("dateequals-offsets", ip(allow(Condition={"DateEquals": {"aws:CurrentTime": "2020-01-01T01:00:00+01:00"}})),
         ALLOW, context={"aws:CurrentTime": ["2020-01-01T00:00:00Z"]}),
    Case("datenotequals", ip(allow(Condition={"DateNotEquals": {"aws:CurrentTime": "2020-01-01"}})),
         NONE, context={"aws:CurrentTime": ["2020-01-01T00:00:00Z"]}),
    Case("datelessthanequals-epoch", ip(allow(Condition={"DateLessThanEquals": {"aws:EpochTime": 1700000000}})),
         ALLOW, context={"aws:EpochTime": ["1700000000"]}),
    Case("dategreaterthanequals", ip(allow(Condition={"DateGreaterThanEquals": {"aws:CurrentTime": "2021-06-01"}})),
         NONE, context={"aws:CurrentTime": ["2021-05-31T23:00:00Z"]}),
    # --- Bool and Binary -----------------------------------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean
    Case("bool-true", ip(allow(Condition={"Bool": {"aws:SecureTransport": "true"}})), ALLOW,
         context={"aws:SecureTransport": ["true"]}),
    Case("bool-json-true", ip(allow(Condition={"Bool": {"aws:SecureTransport": True}})), ALLOW,
         context={"aws:SecureTransport": ["true"]}),
    Case("bool-mismatch", ip(allow(Condition={"Bool": {"aws:SecureTransport": "true"}})), NONE,
         context={"aws:SecureTransport": ["false"]}),
    Case("bool-deny-insecure", ip(allow(), deny(Condition={"Bool": {"aws:SecureTransport": "false"}})), DENY,
         context={"aws:SecureTransport": ["false"]}),
    Case("bool-missing-key-false", ip(allow(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})), NONE),
    Case("binaryequals", ip(allow(Condition={"BinaryEquals": {"custom:blob": "QmluYXJ5"}})), ALLOW,
         context={"custom:blob": ["QmluYXJ5"]}),
    # --- IP address condition operators: CIDR or address, IPv4 and IPv6 --------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress
    Case("ipaddress-cidr", ip(allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})), ALLOW,
         context={"aws:SourceIp": ["203.0.113.7"]}),
    Case("ipaddress-outside", ip(allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})), NONE,
         context={"aws:SourceIp": ["203.0.114.7"]}),
    Case("ipaddress-plain", ip(allow(Condition={"IpAddress": {"aws:SourceIp": "127.0.0.1"}})), ALLOW,
         context={"aws:SourceIp": ["127.0.0.1"]}),
    Case("ipaddress-v6", ip(allow(Condition={"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}})), ALLOW,
         context={"aws:SourceIp": ["2001:db8:1234:5678::1"]}),
    Case("ipaddress-v4-not-in-v6", ip(allow(Condition={"IpAddress": {"aws:SourceIp": "::/0"}})), NONE,
         context={"aws:SourceIp": ["10.0.0.1"]}),
    Case("notipaddress-inside", ip(allow(Condition={"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}})), NONE,
         context={"aws:SourceIp": ["::1"]}),
    Case("notipaddress-deny-outside",
         ip(allow(), deny(Condition={"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}})),
         DENY, context={"aws:SourceIp": ["198.51.100.1"]}),
    Case("notipaddress-deny-spares-inside",
         ip(allow(), deny(Condition={"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}})),
         ALLOW, context={"aws:SourceIp": ["192.0.2.9"]}),
    # --- ARN condition operators: six components, each with wildcards ---------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
    Case("arnlike-role", ip(allow(Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{A}:role/ops/*"}})),
         ALLOW, context={"aws:PrincipalArn": [ROLE]}),
    Case("arnequals", ip(allow(Condition={"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::bucket"}})), ALLOW,
         context={"aws:SourceArn": ["arn:aws:s3:::bucket"]}),
    Case("arnequals-other", ip(allow(Condition={"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::bucket"}})), NONE,
         context={"aws:SourceArn": ["arn:aws:s3:::bucket2"]}),
    Case("arnnotlike", ip(allow(Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/ops/*"}})),
         NONE, context={"aws:PrincipalArn": [ROLE]}),
    Case("arnnotequals-missing-key-true", ip(allow(Condition={"ArnNotEquals": {"aws:SourceArn": "arn:aws:s3:::b"}})),
         ALLOW),
    Case("arnlike-components-counted", ip(allow(Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:*"}})), NONE,
         context={"aws:PrincipalArn": [ROLE]}),
    Case("arnlike-star-stays-in-component",
         ip(allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:*:us-east-1:*:function:alpha"}})), ALLOW,
         context={"aws:SourceArn": [FN]}),
    # --- Null and ...IfExists --------------------------------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists
    Case("null-true-absent", ip(allow(Condition={"Null": {"aws:TokenIssueTime": "true"}})), ALLOW),
    Case("null-true-present", ip(allow(Condition={"Null": {"aws:TokenIssueTime": "true"}})), NONE,
         context={"aws:TokenIssueTime": ["2020-01-01T00:00:00Z"]}),
    Case("null-false-present", ip(allow(Condition={"Null": {"aws:TokenIssueTime": False}})), ALLOW,
         context={"aws:TokenIssueTime": ["2020-01-01T00:00:00Z"]}),
    Case("null-deny-untagged", ip(allow(), deny(Condition={"Null": {"aws:RequestTag/team": "true"}})), DENY),
    Case("ifexists-absent", ip(allow(Condition={"StringEqualsIfExists": {"ec2:InstanceType": "t2.micro"}})), ALLOW),
    Case("ifexists-present-mismatch", ip(allow(Condition={"StringEqualsIfExists": {"ec2:InstanceType": "t2.micro"}})),
         NONE, context={"ec2:InstanceType": ["m5.large"]}),
    Case("ifexists-present-match", ip(allow(Condition={"StringEqualsIfExists": {"ec2:InstanceType": "t2.micro"}})),
         ALLOW, context={"ec2:InstanceType": ["t2.micro"]}),
    Case("numeric-ifexists-absent", ip(allow(Condition={"NumericLessThanIfExists": {"s3:max-keys": "5"}})), ALLOW),
    Case("ipaddress-ifexists-present", ip(allow(Condition={"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}})),
         NONE, context={"aws:SourceIp": ["192.168.0.1"]}),
    Case("notipaddress-ifexists-deny-absent",
         ip(allow(), deny(Condition={"NotIpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}})), DENY),
    Case("null-ifexists-not-an-operator", ip(allow(Condition={"NullIfExists": {"aws:username": "true"}})), NONE),
    # --- ForAllValues / ForAnyValue on multivalued keys ----------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
    Case("forallvalues-subset", ip(allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})),
         ALLOW, context={"aws:TagKeys": ["a"]}),
    Case("forallvalues-extra-value", ip(allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})),
         NONE, context={"aws:TagKeys": ["a", "c"]}),
    Case("forallvalues-missing-key-true",
         ip(allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})), ALLOW),
    Case("forallvalues-empty-set-true",
         ip(allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})), ALLOW,
         context={"aws:TagKeys": []}),
    Case("foranyvalue-overlap", ip(allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}})),
         ALLOW, context={"aws:TagKeys": ["c", "b"]}),
    Case("foranyvalue-disjoint", ip(allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}})),
         NONE, context={"aws:TagKeys": ["c", "d"]}),
    Case("foranyvalue-missing-key-false",
         ip(allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}})), NONE),
    Case("forallvalues-notequals-none-listed",
         ip(allow(Condition={"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret", "owner"]}})), ALLOW,
         context={"aws:TagKeys": ["team", "env"]}),
    Case("forallvalues-notequals-one-listed",
         ip(allow(Condition={"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret", "owner"]}})), NONE,
         context={"aws:TagKeys": ["team", "owner"]}),
    Case("foranyvalue-notequals-one-unlisted",
         ip(allow(Condition={"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret", "owner"]}})), ALLOW,
         context={"aws:TagKeys": ["team", "owner"]}),
    Case("foranyvalue-notequals-all-listed",
         ip(allow(Condition={"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret", "owner"]}})), NONE,
         context={"aws:TagKeys": ["secret", "owner"]}),
    Case("forallvalues-stringlike", ip(allow(Condition={"ForAllValues:StringLike": {"aws:TagKeys": "team-*"}})),
         ALLOW, context={"aws:TagKeys": ["team-a", "team-b"]}),
    Case("foranyvalue-deny-protected-tag",
         ip(allow(), deny(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "protected"}})), DENY,
         context={"aws:TagKeys": ["team", "protected"]}),
    Case("plain-operator-on-multivalued-any", ip(allow(Condition={"StringEquals": {"aws:TagKeys": "b"}})), ALLOW,
         context={"aws:TagKeys": ["a", "b"]}),
    Case("plain-negated-on-multivalued-none", ip(allow(Condition={"StringNotEquals": {"aws:TagKeys": "b"}})), NONE,
         context={"aws:TagKeys": ["a", "b"]}),
    # --- Policy variables ------------------------------------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    Case("variable-in-resource",
         ip(allow(Resource=f"arn:aws:lambda:*:{A}:function:${{aws:username}}")), ALLOW,
         resource=f"arn:aws:lambda:us-east-1:{A}:function:bob", context={"aws:username": ["bob"]}),
    Case("variable-in-resource-other-user",
         ip(allow(Resource=f"arn:aws:lambda:*:{A}:function:${{aws:username}}")), NONE,
         resource=f"arn:aws:lambda:us-east-1:{A}:function:alice", context={"aws:username": ["bob"]}),
    Case("variable-missing-no-match",
         ip(allow(Resource=f"arn:aws:lambda:*:{A}:function:${{aws:username}}")), NONE,
         resource=f"arn:aws:lambda:us-east-1:{A}:function:bob"),
    Case("variable-key-case-insensitive",
         ip(allow(Resource=f"arn:aws:lambda:*:${{AWS:PrincipalAccount}}:function:*")), ALLOW,
         context={"aws:principalaccount": [A]}),
    Case("variable-in-condition",
         ip(allow(Condition={"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}})), ALLOW,
         context={"aws:ResourceAccount": [A], "aws:PrincipalAccount": [A]}),
    Case("variable-in-condition-mismatch",
         ip(allow(Condition={"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}})), NONE,
         context={"aws:ResourceAccount": [B], "aws:PrincipalAccount": [A]}),
    Case("variable-missing-in-negated-condition",
         ip(allow(Condition={"StringNotEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}})), NONE,
         context={"aws:ResourceAccount": [B]}),
    Case("variable-default",
         ip(allow(Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team, 'shared'}"}})),
         ALLOW, context={"aws:ResourceTag/team": ["shared"]}),
    Case("variable-escape-star-literal",
         ip(allow(Condition={"StringLike": {"custom:name": "a${*}"}})), NONE, context={"custom:name": ["ab"]}),
    Case("variable-escape-star-matches-star",
         ip(allow(Condition={"StringLike": {"custom:name": "a${*}"}})), ALLOW, context={"custom:name": ["a*"]}),
    Case("variable-escape-dollar-question",
         ip(allow(Condition={"StringEquals": {"custom:name": "${$}${?}"}})), ALLOW, context={"custom:name": ["$?"]}),
    Case("variable-value-is-literal",
         ip(allow(Resource=f"arn:aws:lambda:*:{A}:function:${{aws:username}}")), NONE,
         context={"aws:username": ["*"]}),
    Case("variable-multivalued-key-unusable",
         ip(allow(Condition={"StringEquals": {"custom:name": "${aws:TagKeys}"}})), NONE,
         context={"custom:name": ["a"], "aws:TagKeys": ["a", "b"]}),
    Case("variable-unterminated-is-literal",
         ip(allow(Condition={"StringEquals": {"custom:name": "${aws:username"}})), ALLOW,
         context={"custom:name": ["${aws:username"], "aws:username": ["bob"]}),
    Case("variable-after-unterminated",
         ip(allow(Condition={"StringEquals": {"custom:name": "${x" + " " * 600 + "${aws:username}"}})), ALLOW,
         context={"custom:name": ["${x" + " " * 600 + "bob"], "aws:username": ["bob"]}),
    Case("variables-off-before-2012-10-17",
         [doc(allow(Condition={"StringEquals": {"custom:name": "${aws:username}"}}), version="2008-10-17")], NONE,
         context={"custom:name": ["bob"], "aws:username": ["bob"]}),
    Case("variables-literal-before-2012-10-17",
         [doc(allow(Condition={"StringEquals": {"custom:name": "${aws:username}"}}), version=None)], ALLOW,
         context={"custom:name": ["${aws:username}"], "aws:username": ["bob"]}),
    # --- Malformed statements never apply, and never raise -----------------------------------------------
    # AWS refuses these at write time (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html);
    # a stored one from a tenant must not raise here, and it does not apply (the other statements still count).
    Case("effect-lowercase", ip(dict(allow(), Effect="allow")), NONE),
    Case("effect-missing", ip({"Action": INVOKE, "Resource": "*"}), NONE),
    Case("action-and-notaction", ip(allow(NotAction="iam:*")), NONE),
    Case("neither-action-nor-notaction", ip({"Effect": "Allow", "Resource": "*"}), NONE),
    Case("action-wrong-type", ip(allow(Action=7)), NONE),
    Case("action-list-with-non-string", ip(allow(Action=[INVOKE, None])), NONE),
    Case("resource-empty-list", ip(allow(Resource=[])), NONE),
    Case("unknown-operator-allow", ip(allow(Condition={"StringEqualz": {"aws:username": "bob"}})), NONE,
         context={"aws:username": ["bob"]}),
    Case("unknown-operator-deny-does-not-apply",
         ip(allow(), deny(Condition={"StringEqualz": {"aws:username": "bob"}})), ALLOW,
         context={"aws:username": ["bob"]}),
    Case("numeric-policy-value-not-a-number",
         ip(allow(), deny(Condition={"NumericLessThan": {"s3:max-keys": "ten"}})), ALLOW,
         context={"s3:max-keys": ["1"]}),
    Case("ip-policy-value-not-a-cidr", ip(allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}})), NONE,
         context={"aws:SourceIp": ["10.0.0.1"]}),
    Case("condition-value-object", ip(allow(Condition={"StringEquals": {"aws:username": {"x": 1}}})), NONE,
         context={"aws:username": ["bob"]}),
    Case("condition-not-an-object", ip(allow(Condition=["StringEquals"])), NONE),
    Case("bad-statement-next-to-good", ip("not a statement", 42, allow()), ALLOW),
    Case("document-not-an-object", ["{\"Statement\": []}", None, doc(allow())], ALLOW),
    Case("statement-not-a-list", [{"Version": "2012-10-17", "Statement": "Allow"}], NONE),
    Case("principal-wrong-type", rp(allow(Principal=["*"])), NONE, caller=BOB),
    Case("principal-and-notprincipal", rp(allow(Principal="*", NotPrincipal={"AWS": B})), NONE, caller=BOB),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_documented_decision(case: Case) -> None:
    assert case.decide() is case.expected


def test_case_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


def test_hostile_pattern_is_linear() -> None:
    """'a*' * 200 against 10,000 characters that almost match: a backtracking matcher never finishes."""
    resource = "a" * 10_000
    pattern = "a*" * 200 + "b"
    request = Request(INVOKE, resource)
    started = time.monotonic()
    for document in (doc(allow(Resource=pattern)), doc(allow(Action="l*" * 200 + "x", Resource="*"))):
        assert identity_effect([document], request) is NONE
    assert identity_effect([doc(allow(Condition={"StringLike": {"k": pattern}}))],
                           Request(INVOKE, FN, {"k": [resource]})) is NONE
    assert time.monotonic() - started < 2.0


def test_hostile_pattern_still_matches_when_it_should() -> None:
    resource = "a" * 10_000 + "b"
    assert identity_effect([doc(allow(Resource="a*" * 200 + "b"))], Request(INVOKE, resource)) is ALLOW


def test_overlong_pattern_does_not_apply() -> None:
    pattern = "*" + "x" * MAX_PATTERN_CHARS
    assert identity_effect([doc(allow(Resource=pattern))], Request(INVOKE, "x" * MAX_PATTERN_CHARS)) is NONE
    # An overlong pattern in a Deny makes that statement not apply; the Allow still counts.
    assert identity_effect([doc(allow(), deny(Resource=pattern))], Request(INVOKE, FN)) is ALLOW


def test_context_bare_string_is_one_value() -> None:
    """A context value given as a string (not a list) is one value, not a list of characters."""
    document = doc(allow(Condition={"StringEquals": {"aws:username": "bob"}}))
    assert identity_effect([document], Request(INVOKE, FN, {"aws:username": "bob"})) is ALLOW
    assert identity_effect([document], Request(INVOKE, FN, {"aws:username": "b"})) is NONE


def test_ipv4_mapped_ipv6_client() -> None:
    document = doc(allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert identity_effect([document], Request(INVOKE, FN, {"aws:SourceIp": ["::ffff:10.1.2.3"]})) is ALLOW


def test_aws_star_does_not_name_a_service() -> None:
    """{"AWS": "*"} is every AWS identity; a service principal is named by "*" or its Service entry."""
    assert resource_effect([doc(allow(Principal={"AWS": "*"}))], S3, Request(INVOKE, FN)) is NONE
