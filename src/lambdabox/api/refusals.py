"""A refused signature as AWS answers it, in the protocol of the service called.

Every refusal is a 403. Lambda (REST-JSON) and IAM/STS (Query, XML) name the same failures
differently; the messages are AWS's.
"""

from __future__ import annotations

from lambdabox.access.signatures import Failure, Refused
from lambdabox.model.errors import AwsError
from lambdabox.model.iam import IamError

#: Failure -> (Lambda's error type, the Query protocol's error code).
_NAMES = {
    Failure.MISSING: ("MissingAuthenticationTokenException", "MissingAuthenticationToken"),
    Failure.INCOMPLETE: ("IncompleteSignatureException", "IncompleteSignature"),
    Failure.UNKNOWN_KEY: ("UnrecognizedClientException", "InvalidClientTokenId"),
    Failure.BAD_SIGNATURE: ("InvalidSignatureException", "SignatureDoesNotMatch"),
    Failure.EXPIRED_TOKEN: ("ExpiredTokenException", "ExpiredToken"),
    Failure.SKEW: ("InvalidSignatureException", "SignatureDoesNotMatch"),
}
_MISSING_MESSAGES = ("Missing Authentication Token", "Request is missing Authentication Token")


def lambda_error(refused: Refused) -> AwsError:
    code = _NAMES[refused.failure][0]
    message = _MISSING_MESSAGES[0] if refused.failure is Failure.MISSING else refused.message
    error = AwsError(message)
    error.status, error.code, error.fault = 403, code, None
    return error


def query_error(refused: Refused) -> IamError:
    code = _NAMES[refused.failure][1]
    message = _MISSING_MESSAGES[1] if refused.failure is Failure.MISSING else refused.message
    error = IamError(message)
    error.status, error.code = 403, code
    return error


def query_denied(message: str) -> IamError:
    """IAM's and STS's AccessDenied (403), for a request the caller's policies do not allow."""
    error = IamError(message)
    error.status, error.code = 403, "AccessDenied"
    return error
