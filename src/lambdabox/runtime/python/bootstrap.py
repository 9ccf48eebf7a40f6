"""Lambdabox's Python runtime: the loop a Python function runs in, inside its sandbox.

Started as `python3 /var/runtime/bootstrap.py`, stdlib only, for Python 3.9 to 3.14.
It reads from the environment the invoke layer prepared:
  AWS_LAMBDA_RUNTIME_API   host:port of the Runtime API (required)
  _HANDLER                 "module.function" or "pkg/sub/module.function" (required)
  LAMBDA_TASK_ROOT         the function's code (default /var/task)
  AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME    for the context object
  AWS_LAMBDA_LOG_FORMAT    optional; "JSON" makes logging write JSON records (runtime_log.py)
  AWS_LAMBDA_LOG_LEVEL     optional level of the root logger (default: Python's, WARNING)
  AWS_EXECUTION_ENV        optional; only read to match Lambda's JSON encoding per version

INIT imports the handler; a failure is posted to /runtime/init/error and the process
exits with status 1. With AWS_LAMBDA_INITIALIZATION_TYPE=snap-start, INIT ends with
SnapStart's steps: the hooks registered through `snapshot_restore_py` run before the
snapshot (in reverse order), GET /runtime/restore/next says the runtime is ready for it,
the snapshot is taken (the `snapshot` function the launcher hands main(); it returns in
each environment restored from it), and the after-restore hooks run, in order; a failing
one is posted to /runtime/restore/error. Then each invocation is fetched from /next, run, and its result
posted to /response, or its error to /error. The process runs until it is killed or the
Runtime API goes away (then it exits with status 2). A handler that returns an iterator
streams its response instead (streaming.py).

Error documents, messages and log lines follow Lambda's Python runtime.
"""

import json
import os
import sys
import time

#: Lambda-Runtime-* headers of a /next response.
_REQUEST_ID = "Lambda-Runtime-Aws-Request-Id"
_DEADLINE = "Lambda-Runtime-Deadline-Ms"
_FUNCTION_ARN = "Lambda-Runtime-Invoked-Function-Arn"
_TRACE_ID = "Lambda-Runtime-Trace-Id"
_CLIENT_CONTEXT = "Lambda-Runtime-Client-Context"
_COGNITO_IDENTITY = "Lambda-Runtime-Cognito-Identity"
_TENANT_ID = "Lambda-Runtime-Aws-Tenant-Id"
_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"

#: Times a Runtime API request is retried on a fresh connection before giving up.
_RECONNECTS = 1

_THIS_FILE = os.path.abspath(__file__)


class Fault(Exception):
    """A failure the runtime reports under one of Lambda's Runtime.* error types."""

    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_document(message, error_type, trace, request_id=""):
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def fault_document(fault, request_id=""):
    return error_document(fault.message, fault.error_type, fault.trace, request_id)


def exception_document(exc, request_id=""):
    """Lambda's error document for an exception the user's code raised."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    # Drop this file's own frames from the top, keep everything from the first foreign one.
    start = 0
    while start < len(frames) and frames[start].filename == _THIS_FILE:
        start += 1
    trace = traceback.format_list(frames[start:])
    return error_document(str(exc), type(exc).__name__, trace, request_id)


# -- modules beside this one --------------------------------------------------------------


def load_beside(name):
    """`name`.py, from beside this file by its path (a module of the function's can't stand in for it).

    Loaded when this file is, so that a zygote that preloaded this file has it too.
    """
    import importlib.util

    path = os.path.join(os.path.dirname(_THIS_FILE), name + ".py")
    spec = importlib.util.spec_from_file_location("lambdabox_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runtime_log = load_beside("runtime_log")
#: Responses of handlers that return iterators (Lambdabox's extension); loaded now for the zygotes' sake.
streaming = load_beside("streaming")


# -- the function -------------------------------------------------------------------------


def set_search_path(task_root):
    """Set sys.path in Lambda's order, with none of the host's site-packages.

    Lambda's order is: the task root, the layers' version-specific site-packages, the
    layers' /opt/python, the runtime's own libraries (boto3 and what it needs, in
    /var/lang/lib/python3.X/site-packages), then the standard library. So a function's or
    a layer's boto3 wins over the runtime's. The interpreter runs with -S; any other
    site-packages or dist-packages (a zygote's, say) is dropped all the same. This
    script's directory, which Python put first, is dropped so that a function may have a
    module named `bootstrap`.
    """
    version = "python%d.%d" % sys.version_info[:2]
    # Layers are at /opt and the runtime's libraries at /var/lang, except on a host that runs
    # functions without isolation.
    opt = os.environ.get("LAMBDABOX_OPT_DIR", "/opt")
    libraries = os.environ.get("LAMBDABOX_LIBRARIES_DIR", "/var/lang/lib/%s/site-packages" % version)
    front = [task_root, "%s/python/lib/%s/site-packages" % (opt, version), "%s/python" % opt, libraries]
    here = os.path.dirname(_THIS_FILE)

    def kept(entry):
        if entry in front or os.path.abspath(entry or ".") == here:
            return False
        # The function's own (a PYTHONPATH of its choice) stay; the interpreter's site directories go.
        if entry.startswith((task_root + "/", opt + "/")):
            return True
        return os.path.basename(entry.rstrip("/")) not in ("site-packages", "dist-packages")

    rest = [entry for entry in sys.path if kept(entry)]
    sys.path[:] = front + rest
    forget_preimported()


#: Top-level modules the zygote this runtime was forked from imported from the runtime's libraries
#: (boto3 and what it needs); the zygote sets it. Empty when the runtime started on its own.
PREIMPORTED = ()


def forget_preimported():
    """Drop the runtime's libraries that the zygote imported ahead (PREIMPORTED) if the function or a
    layer has its own copy of any of them, which the search path puts first: then every one of them is
    imported afresh, from wherever the search path finds it, as on Lambda. Only those few modules are
    looked at: reading every module would write to pages the sandbox shares with the zygote."""
    if not PREIMPORTED:
        return
    from importlib.machinery import PathFinder

    for top in PREIMPORTED:
        spec = PathFinder.find_spec(top, sys.path)
        held = sys.modules.get(top)
        if spec is None or held is None or spec.origin != getattr(held, "__file__", None):
            break
    else:
        return
    tops = set(PREIMPORTED)
    for name in [name for name in sys.modules if name.partition(".")[0] in tops]:
        del sys.modules[name]
    # Import hooks they installed (six's) would answer for the modules just dropped.
    sys.meta_path[:] = [hook for hook in sys.meta_path if type(hook).__module__.partition(".")[0] not in tops]


def load_handler(spec):
    """Import the handler named by `spec` ("module.function"); raise Fault as Lambda would."""
    import importlib

    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise Fault("Runtime.MalformedHandlerName", "Bad handler '{}': {}".format(spec, exc))
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise Fault(
            "Runtime.BuiltInModuleConflict", "Cannot use built-in module {} as a handler module".format(module_name)
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise Fault("Runtime.ImportModuleError", "Unable to import module '{}': {}".format(module_name, exc))
    except SyntaxError as exc:
        trace = ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, exc.text)]
        raise Fault("Runtime.UserCodeSyntaxError", "Syntax error in module '{}': {}".format(module_name, exc), trace)
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound", "Handler '{}' missing on module '{}'".format(function_name, module_name))


class CognitoIdentity(object):
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, document):
        self.cognito_identity_id = document.get("cognitoIdentityId")
        self.cognito_identity_pool_id = document.get("cognitoIdentityPoolId")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id={},cognito_identity_pool_id={}])".format(
            self.cognito_identity_id, self.cognito_identity_pool_id
        )


class Client(object):
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __init__(self, document):
        for name in self.__slots__:
            setattr(self, name, document.get(name))

    def __repr__(self):
        return "Client([{}])".format(",".join("{}={}".format(n, getattr(self, n)) for n in self.__slots__))


class ClientContext(object):
    __slots__ = ("custom", "env", "client")

    def __init__(self, document):
        self.custom = document.get("custom")
        self.env = document.get("env")
        client = document.get("client")
        self.client = Client(client) if isinstance(client, dict) else None

    def __repr__(self):
        return "ClientContext([custom={},env={},client={}])".format(self.custom, self.env, self.client)


def parse_json_header(text, name):
    try:
        document = json.loads(text)
    except Exception as exc:
        raise Fault("Runtime.LambdaContextUnmarshalError", "Unable to parse {} JSON: {}".format(name, exc))
    if not isinstance(document, dict):
        raise Fault("Runtime.LambdaContextUnmarshalError", "Unable to parse {} JSON: not an object".format(name))
    return document


class LambdaContext(object):
    """The context object a handler receives, with Lambda's attributes and methods."""

    def __init__(self, environment, request_id, deadline_ms, function_arn, client_context, identity, tenant_id):
        self.aws_request_id = request_id
        self.function_name = environment.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = environment.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = environment.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = environment.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environment.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.invoked_function_arn = function_arn
        self.tenant_id = tenant_id
        self.client_context = None
        if client_context:
            self.client_context = ClientContext(parse_json_header(client_context, "Client Context"))
        self.identity = CognitoIdentity(parse_json_header(identity, "Cognito Identity") if identity else {})
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, message):
        sys.stdout.write(str(message))

    def __repr__(self):
        names = (
            "aws_request_id", "log_group_name", "log_stream_name", "function_name", "memory_limit_in_mb",
            "function_version", "invoked_function_arn", "client_context", "identity", "tenant_id",
        )
        return "LambdaContext([{}])".format(",".join("{}={}".format(n, getattr(self, n)) for n in names))


def make_encoder():
    """A JSON encoder for results as Lambda's runtime writes them."""
    import decimal

    # Lambda's python3.12 and later runtimes leave non-ASCII characters unescaped.
    runtime_name = os.environ.get("AWS_EXECUTION_ENV", "")
    if runtime_name.startswith("AWS_Lambda_python3."):
        modern = runtime_name not in ("AWS_Lambda_python3.9", "AWS_Lambda_python3.10", "AWS_Lambda_python3.11")
    else:
        modern = sys.version_info >= (3, 12)

    class ResultEncoder(json.JSONEncoder):
        def default(self, value):
            # Decimals (DynamoDB hands them out) become numbers; integral ones stay exact.
            if isinstance(value, decimal.Decimal):
                if value.is_nan():
                    return float("nan")
                return int(value) if value == value.to_integral_value() else float(value)
            return json.JSONEncoder.default(self, value)

    return ResultEncoder(ensure_ascii=not modern, allow_nan=True)


# -- SnapStart ----------------------------------------------------------------------------


def install_hooks():
    """Make `snapshot_restore_py` importable, as Lambda's Python runtimes include it; return its hooks."""
    import types

    hooks = {"before": [], "after": []}

    def register(kind):
        def register_hook(func, *args, **kwargs):
            hooks[kind].append((func, args, kwargs))
            return func

        return register_hook

    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = register("before")
    module.register_after_restore = register("after")
    sys.modules["snapshot_restore_py"] = module
    return hooks


def run_hooks(hooks, error_type):
    for func, args, kwargs in hooks:
        try:
            func(*args, **kwargs)
        except Exception as exc:
            document = exception_document(exc)
            document["errorType"] = error_type
            document["errorMessage"] = "{}: {}".format(type(exc).__name__, exc)
            raise HookFailed(document)


class HookFailed(Exception):
    def __init__(self, document):
        Exception.__init__(self, document["errorMessage"])
        self.document = document


# -- the Runtime API ----------------------------------------------------------------------


class ProtocolError(Exception):
    """The Runtime API answered something this client does not read."""


class Headers(object):
    """A response's header fields, looked up by name in any case (as http.client's getheader)."""

    __slots__ = ("_fields",)

    def __init__(self, fields):
        self._fields = fields

    def getheader(self, name, default=None):
        return self._fields.get(name.lower(), default)


class RuntimeApiClient(object):
    """Requests to the Runtime API over one persistent HTTP/1.1 connection.

    A small client of its own rather than http.client: its peer is always Lambdabox's Runtime
    API (every response has a Content-Length), and at 128 MB a function gets 0.072 vCPU, where
    http.client's header parsing alone would cost more than a millisecond per invocation.
    """

    def __init__(self, address):
        import socket

        self._socket = socket
        #: What a request raises when the Runtime API cannot be reached.
        self.errors = (OSError, ProtocolError)
        host, _, port = address.rpartition(":")
        self._address = (host, int(port))
        self._host = address.encode("latin-1")
        self._connection = None
        self._buffer = b""

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body) of one request; reconnect once on a dropped connection."""
        attempts = 0
        while True:
            self._connect()
            try:
                self._send(method, path, body or b"", headers or {})
                return self._receive()
            except self.errors:
                self.close()
                if attempts >= _RECONNECTS:
                    raise
                attempts += 1

    def stream(self, path, headers, pieces):
        """POST with chunked transfer coding: `pieces` are sent as they come, already framed; no retry."""
        self._connect()
        try:
            self._send("POST", path, None, headers)
            for piece in pieces:
                self._connection.sendall(piece)
            return self._receive()
        except self.errors:
            self.close()
            raise

    def _connect(self):
        if self._connection is None:
            self._connection = self._socket.create_connection(self._address)
            self._connection.setsockopt(self._socket.IPPROTO_TCP, self._socket.TCP_NODELAY, 1)
            self._buffer = b""

    def _send(self, method, path, body, headers):
        """Send a request head, then `body` (None: no Content-Length; the headers say how the body comes)."""
        lines = ["%s %s HTTP/1.1" % (method, path)]
        if body is not None:
            lines.append("Content-Length: %d" % len(body))
        for name, value in headers.items():
            lines.append("%s: %s" % (name, value))
        head = b"\r\n".join(line.encode("latin-1") for line in lines)
        self._connection.sendall(b"".join((head, b"\r\nHost: ", self._host, b"\r\n\r\n", body or b"")))

    def _receive(self):
        end = self._buffer.find(b"\r\n\r\n")
        while end < 0:
            self._fill()
            end = self._buffer.find(b"\r\n\r\n")
        lines = self._buffer[:end].decode("latin-1").split("\r\n")
        self._buffer = self._buffer[end + 4:]
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise ProtocolError("bad status line %r" % lines[0])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "chunked" in fields.get("transfer-encoding", ""):
            raise ProtocolError("chunked responses are not read")
        length = int(fields.get("content-length", "0"))
        while len(self._buffer) < length:
            self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, Headers(fields), body

    def _fill(self):
        chunk = self._connection.recv(65536)
        if not chunk:
            raise ProtocolError("the Runtime API closed the connection")
        self._buffer += chunk

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._buffer = b""

    def post_result(self, request_id, body, content_type):
        path = "/2018-06-01/runtime/invocation/%s/response" % request_id
        return self.request("POST", path, body, {"Content-Type": content_type})

    def post_error(self, request_id, document):
        path = "/2018-06-01/runtime/invocation/%s/error" % request_id
        return self.post_document(path, document)

    def post_document(self, path, document):
        body = json.dumps(document).encode("utf-8")
        headers = {"Content-Type": "application/json", _ERROR_TYPE: document["errorType"]}
        return self.request("POST", path, body, headers)


class Runtime(object):
    """INIT, then the invoke loop."""

    def __init__(self, environment, snapshot=None):
        self.environment = environment
        self.request_id = None
        self.client = RuntimeApiClient(environment["AWS_LAMBDA_RUNTIME_API"])
        self.encoder = None
        self.handler = None
        self.hooks = install_hooks()
        self.snapshot = snapshot
        self.log = runtime_log.RuntimeLog(self, environment)

    def init(self):
        """Load the handler; on failure report it and exit."""
        try:
            set_search_path(self.environment.get("LAMBDA_TASK_ROOT", "/var/task"))
            self.handler = load_handler(self.environment.get("_HANDLER", ""))
        except Fault as fault:
            self.fail_init(fault_document(fault))
        except Exception as exc:
            self.fail_init(exception_document(exc))
        self.encoder = make_encoder()
        if self.environment.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
            self.restore()

    def restore(self):
        """SnapStart's end of INIT: hooks, the snapshot, and (in each restored copy) the hooks after it."""
        try:
            run_hooks(reversed(self.hooks["before"]), "Runtime.BeforeSnapshotError")
        except HookFailed as failed:
            self.fail_init(failed.document)
        self.wait_for("restore/next")
        if self.snapshot is not None:
            # Nothing of the snapshot's connection may be shared by its copies.
            self.client.close()
            self.snapshot()
            # A restored copy, with its own environment (os.environ) and Runtime API.
            self.client = RuntimeApiClient(self.environment["AWS_LAMBDA_RUNTIME_API"])
        try:
            run_hooks(self.hooks["after"], "Runtime.AfterRestoreError")
        except HookFailed as failed:
            self.fail_init(failed.document, "restore/error")

    def fail_init(self, document, path="init/error"):
        """Report an error of INIT (or of a restore) to /runtime/`path`, and exit."""
        self.log.error(document)
        try:
            self.client.post_document("/2018-06-01/runtime/" + path, document)
        except self.client.errors as exc:
            sys.stderr.write("lambdabox runtime: could not report the {} ({})\n".format(path, exc))
        sys.exit(1)

    def wait_for(self, path):
        """GET /runtime/`path` (the next event, or the restore); exit if the Runtime API is gone or refuses."""
        try:
            status, response, body = self.client.request("GET", "/2018-06-01/runtime/" + path)
        except self.client.errors as exc:
            sys.stderr.write("lambdabox runtime: the Runtime API is gone ({})\n".format(exc))
            sys.exit(2)
        if status != 200:
            sys.stderr.write("lambdabox runtime: /{} answered {}: {!r}\n".format(path, status, body[:200]))
            sys.exit(2)
        return response, body

    def serve(self):
        while True:
            self.invoke(*self.wait_for("invocation/next"))

    def invoke(self, response, body):
        header = response.getheader
        request_id = header(_REQUEST_ID, "")
        self.request_id = request_id
        trace_id = header(_TRACE_ID)
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        document = None
        try:
            context = LambdaContext(
                self.environment,
                request_id,
                int(header(_DEADLINE, "0") or 0),
                header(_FUNCTION_ARN),
                header(_CLIENT_CONTEXT),
                header(_COGNITO_IDENTITY),
                header(_TENANT_ID),
            )
            try:
                event = json.loads(body) if body else None
            except ValueError as exc:
                raise Fault("Runtime.UnmarshalError", "Unable to unmarshal input: {}".format(exc))
            result = self.handler(event, context)
            if hasattr(type(result), "__next__") or hasattr(type(result), "__anext__"):
                return streaming.respond(self, request_id, result)
            if isinstance(result, bytes):
                payload, content_type = result, "application/unknown"
            else:
                try:
                    payload = self.encoder.encode(result).encode("utf-8")
                except Exception as exc:
                    raise Fault("Runtime.MarshalError", "Unable to marshal response: {}".format(exc))
                content_type = "application/json"
        except Fault as fault:
            document = fault_document(fault, request_id)
        except Exception as exc:
            document = exception_document(exc, request_id)
        try:
            if document is None:
                status, _, answer = self.client.post_result(request_id, payload, content_type)
            else:
                self.log.error(document)
                status, _, answer = self.client.post_error(request_id, document)
        except self.client.errors as exc:
            sys.stderr.write("lambdabox runtime: the Runtime API is gone ({})\n".format(exc))
            sys.exit(2)
        if status != 202:
            sys.stderr.write("lambdabox runtime: the result was refused ({}): {!r}\n".format(status, answer[:200]))


def main(snapshot=None):
    sys.stdout = runtime_log.FlushingStream(sys.stdout)
    sys.stderr = runtime_log.FlushingStream(sys.stderr)
    runtime = Runtime(os.environ, snapshot)
    runtime.log.install()
    runtime.init()
    runtime.serve()


if __name__ == "__main__":
    main()
