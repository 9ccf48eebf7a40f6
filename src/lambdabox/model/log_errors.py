"""CloudWatch Logs' errors, as its JSON 1.1 protocol reports them: status 400 and
``{"__type": code, "message": text}`` (the model names no other status for any of them)."""

from __future__ import annotations

from lambdabox.model.errors import AwsError


class LogsError(AwsError):
    status = 400
    fault = None


class LogGroupNotFound(LogsError):
    code = "ResourceNotFoundException"

    def __init__(self, message: str = "The specified log group does not exist.") -> None:
        super().__init__(message)


class LogStreamNotFound(LogsError):
    code = "ResourceNotFoundException"

    def __init__(self, message: str = "The specified log stream does not exist.") -> None:
        super().__init__(message)


class ResourceAlreadyExists(LogsError):
    code = "ResourceAlreadyExistsException"


class InvalidParameter(LogsError):
    code = "InvalidParameterException"


class LogsAccessDenied(LogsError):
    code = "AccessDeniedException"


class SerializationError(LogsError):
    code = "SerializationException"


class UnknownLogsOperation(LogsError):
    code = "UnknownOperationException"


class Throttling(LogsError):
    code = "ThrottlingException"

    def __init__(self, message: str = "Rate exceeded") -> None:
        super().__init__(message)
