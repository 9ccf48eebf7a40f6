"""AWS-shaped errors.

Every error a client can see is an `AwsError`: an HTTP status, the error type that
AWS puts in `x-amzn-ErrorType` and the body's `Type`, and AWS's message. The API
layer renders them; everything below only raises them.
"""

from __future__ import annotations


class AwsError(Exception):
    """An error reported to the client exactly as AWS would report it."""

    #: HTTP status of the response.
    status: int = 400
    #: The error type, e.g. ``ResourceNotFoundException``.
    code: str = "ServiceException"
    #: ``User`` or ``Service``: who is at fault, the body's ``Type`` field (None: no ``Type``).
    fault: str | None = "User"
    #: The body's message key: Lambda writes ``Message`` for some types and ``message`` for most.
    message_key: str = "message"

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        #: Further body fields some errors carry (e.g. ``Reason``).
        self.extra = extra

    def body(self) -> dict[str, object]:
        typed = {"Type": self.fault} if self.fault else {}
        return {**typed, self.message_key: self.message, **self.extra}


class ValidationError(AwsError):
    code = "ValidationException"


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValueException"


class UntypedInvalidParameterValue(InvalidParameterValue):
    """The few InvalidParameterValueExceptions Lambda sends with no ``Type`` in the body (concurrency limits)."""

    fault = None


class InvalidRequestContent(AwsError):
    code = "InvalidRequestContentException"


class ResourceNotFound(AwsError):
    status = 404
    code = "ResourceNotFoundException"
    message_key = "Message"


class AccessDenied(AwsError):
    status = 403
    code = "AccessDeniedException"
    message_key = "Message"


class ResourceConflict(AwsError):
    status = 409
    code = "ResourceConflictException"


class SnapStartError(AwsError):
    """An after-restore hook failed (or the clone died restoring)."""

    code = "SnapStartException"


class SnapStartTimeout(AwsError):
    status = 408
    code = "SnapStartTimeoutException"


class ProvisionedConcurrencyConfigNotFound(AwsError):
    status = 404
    code = "ProvisionedConcurrencyConfigNotFoundException"


class ResourceInUse(AwsError):
    code = "ResourceInUseException"


class PreconditionFailed(AwsError):
    status = 412
    code = "PreconditionFailedException"


class PolicyLengthExceeded(AwsError):
    """A resource-based policy would outgrow Lambda's 20 KB limit."""

    code = "PolicyLengthExceededException"


class RequestEntityTooLarge(AwsError):
    status = 413
    code = "RequestEntityTooLargeException"


class CodeStorageExceeded(AwsError):
    code = "CodeStorageExceededException"


class TooManyRequests(AwsError):
    status = 429
    code = "TooManyRequestsException"


class UnrecognizedClient(AwsError):
    status = 403
    code = "UnrecognizedClientException"


class UnknownOperation(AwsError):
    status = 404
    code = "UnknownOperationException"


class InvalidSubnetID(AwsError):
    """Invoke of a function whose VpcConfig names a subnet (network) the host no longer defines."""

    status = 502
    code = "InvalidSubnetIDException"


class KMSAccessDenied(AwsError):
    """Invoke of a function whose environment variables cannot be decrypted (opened, here)."""

    status = 502
    code = "KMSAccessDeniedException"
    fault = "User"
    message_key = "Message"


class ServiceError(AwsError):
    status = 500
    code = "ServiceException"
    fault = "Service"


def shortened(text: str, limit: int = 64) -> str:
    """Tenant text as an error message quotes it: at most `limit` characters, then "..."."""
    return text if len(text) <= limit else text[:limit] + "..."


def validation_failure(problems: list[str]) -> ValidationError:
    """Combine constraint failures into AWS's single ValidationException message."""
    noun = "error" if len(problems) == 1 else "errors"
    return ValidationError(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))


def constraint(value: object, path: str, rule: str) -> str:
    """One constraint failure in AWS's words: Value 'x' at 'path' failed to satisfy constraint: rule."""
    return f"Value '{value}' at '{path}' failed to satisfy constraint: {rule}"


class RequestTooLarge(AwsError):
    """Invoke's own name for a request body over its limit."""

    status = 413
    code = "RequestTooLargeException"
