"""What the Python runtime writes to the function's log: the root logger's records and error documents.

Loaded by bootstrap.py from beside it (stdlib only, Python 3.9 to 3.14). Two formats, as the function's
LoggingConfig chose them (AWS_LAMBDA_LOG_FORMAT, set by Lambdabox as by Lambda):
- Text (the default): "[LEVEL]\\t<time>Z\\t<request id>\\t<message>" per record; an error document as
  "[ERROR] Type: message" and its traceback, one event ("\\r" between lines, indents as no-break spaces).
- JSON: one JSON object per record, {"timestamp", "level", "message", "logger", "requestId"}, with
  "errorType", "errorMessage", "stackTrace" and "location" for a record that carries an exception, and
  every attribute `extra=` gave the record as a key of its own; an error document as
  {"timestamp", "level": "ERROR", "errorMessage", "errorType", "requestId", "stackTrace"}.
AWS_LAMBDA_LOG_LEVEL (the ApplicationLogLevel) sets the root logger's level, Lambda's names mapped onto
Python's (TRACE is DEBUG, WARN is WARNING, FATAL is CRITICAL). `print` writes plain text in either format,
through FlushingStream.
"""

import json
import logging
import sys
import time
import traceback

#: Indentation in logged tracebacks becomes no-break spaces, and lines are joined with
#: carriage returns, so that one error stays one log event (as Lambda logs it).
_LOG_INDENT = "\u00a0"
_LOG_LINE_JOIN = "\r"

#: Lambda's application log levels, as Python's logging names them.
_LEVELS = {"TRACE": "DEBUG", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "ERROR": "ERROR", "FATAL": "CRITICAL"}

#: A LogRecord's own attributes; any other one (from `extra=`, or set by a filter) becomes a key of a JSON record.
_RECORD_ATTRIBUTES = frozenset(
    (
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
        "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "aws_request_id", "tenant_id", "message", "asctime",
    )
)


def _utc_time(seconds, with_millis=True):
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return text + ".%03dZ" % (int(seconds * 1000) % 1000) if with_millis else text


class JsonFormatter(logging.Formatter):
    """One JSON object per record, as Lambda's Python runtime writes them with LogFormat JSON."""

    def __init__(self):
        logging.Formatter.__init__(self)
        # Values JSON has no form for (an object passed with extra=) are written as their str().
        self._encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def format(self, record):
        # Levels between Python's named ones are shown as the named one below them.
        level = min(50, max(0, record.levelno)) // 10 * 10
        exception = record.exc_info if record.exc_info and record.exc_info[0] is not None else None
        # In the order Lambda's runtime writes them; absent ones (None) are left out below.
        document = {
            "timestamp": _utc_time(record.created),
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exception[2]) if exception else None,
            "errorType": exception[0].__name__ if exception else None,
            "errorMessage": str(exception[1]) if exception else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": "%s:%s:%s" % (record.pathname, record.funcName, record.lineno) if exception else None,
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in document:
                document[key] = value
        return self._encode({key: value for key, value in document.items() if value is not None}) + "\n"


class RuntimeLog(object):
    """The runtime's log: the root logger's handler, and error documents."""

    def __init__(self, runtime, environment):
        self._runtime = runtime
        self.json = environment.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
        self._level = _LEVELS.get(environment.get("AWS_LAMBDA_LOG_LEVEL", "").upper())

    def install(self):
        """Give the root logger Lambda's handler, at the function's application log level."""
        runtime = self._runtime

        class RequestIdFilter(logging.Filter):
            def filter(self, record):
                record.aws_request_id = runtime.request_id or ""
                return True

        class StdoutHandler(logging.Handler):
            def emit(self, record):
                try:
                    sys.stdout.write(self.format(record))
                except Exception:
                    self.handleError(record)

        if self.json:
            formatter = JsonFormatter()
        else:
            formatter = logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"
            )
            formatter.converter = time.gmtime
        handler = StdoutHandler()
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        root = logging.getLogger()
        root.addHandler(handler)
        if self._level:
            root.setLevel(self._level)

    def error(self, document):
        """Write an error document (what an invoke or INIT failed with) to the log, as one event."""
        if self.json:
            # Lambda's runtime stamps these to the second, without a zone.
            record = {"timestamp": _utc_time(time.time(), with_millis=False), "level": "ERROR"}
            record.update(document)
            sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            return
        head = "[ERROR]"
        if document["errorType"]:
            head += " " + document["errorType"]
        if document["errorMessage"]:
            head += (":" if document["errorType"] else "") + " " + document["errorMessage"]
        lines = [head, "Traceback (most recent call last):"]
        for entry in document["stackTrace"]:
            for line in entry.splitlines() or [""]:
                stripped = line.lstrip(" ")
                lines.append(_LOG_INDENT * (len(line) - len(stripped)) + stripped)
        sys.stdout.write(_LOG_LINE_JOIN.join(lines) + "\n")


class FlushingStream(object):
    """Wraps stdout or stderr so that every write reaches the log at once.

    A function's process may be frozen or killed right after it returns; nothing it
    printed may sit in a buffer then.
    """

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        written = self._stream.write(text)
        self._stream.flush()
        return written

    def writelines(self, lines):
        self._stream.writelines(lines)
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)
