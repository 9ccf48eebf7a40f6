"""One execution environment: a sandbox running a runtime, and its Runtime API.

Lifecycle, as on Lambda: INIT once (`start`), then INVOKEs one at a time (`invoke`),
frozen in between (from FREEZE_DELAY_S after an invocation), then SHUTDOWN (`destroy`). An environment whose invoke timed out,
whose runtime died, or that ran out of memory is `dead` and never used again; one whose runtime
exited after replying, or died while idle, is `spent` and never handed another invocation.

SnapStart: `start(..., as_template=True)` runs INIT (and the before-snapshot hooks) in a
template sandbox that is never invoked; `start(..., template=t)` then RESTOREs a new
environment by cloning it, and runs only the after-restore hooks. A restore that fails
raises SnapStartError, one that overruns RESTORE_TIMEOUT_S SnapStartTimeout.

Credentials: `start(..., credentials=c)` gives the runtime the execution role's session `c`
(see role_credentials.py) in its environment; a clone takes them on with the rest of its
environment before its after-restore hooks run, so no clone runs with its template's.
`credentials_expire` says when they expire (never, for an environment started without).

Platform lines are written in the version's log format (observe/log_format.py: Lambda's text lines, or
Telemetry API records filtered by SystemLogLevel with LogFormat JSON), to its log group (LoggingConfig's
LogGroup, else /aws/lambda/NAME); an environment that runs INIT itself first logs platform.initStart (JSON only).

An INIT that fails (not a template's or a restore's) logs Lambda's INIT_REPORT line after what the
runtime printed, with its phase ("init", or "invoke" when Lambda runs INIT again for the invoke that
found it failed), and leaves an `InitReport` on the InitFailed it raises. `log_failed_invoke` then
logs the START, END and REPORT lines of the invoke that INIT failure ended, in the same stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import signal
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from lambdabox.invoke.api_bridge import ApiBridge
from lambdabox.invoke.blueprint import MB_PER_VCPU, Blueprint
from lambdabox.invoke.output import OutputCapture
from lambdabox.invoke.role_credentials import EnvironmentCredentials
from lambdabox.model.errors import SnapStartError, SnapStartTimeout
from lambdabox.observe.log_format import Report
from lambdabox.observe.logs import LogStore, new_stream_name
from lambdabox.runtime.api import InitFailed, Invocation, Outcome
from lambdabox.runtime.api_server import RuntimeApi
from lambdabox.runtime.streamed_response import StreamedBody
from lambdabox.sandbox import linux
from lambdabox.sandbox.api import Sandbox, SandboxFactory, SandboxSpec
from lambdabox.sandbox.exits import kill_pending
from lambdabox.sandbox.peer_owner import peer_uid

log = logging.getLogger(__name__)

#: Longest INIT Lambda allows, in seconds.
INIT_TIMEOUT_S = 10.0
#: Longest INIT of a SnapStart version Lambda allows, in seconds: this, or the function's timeout if longer
#: (the operator may choose another: --snapstart-init-timeout).
SNAPSHOT_INIT_TIMEOUT_S = 130.0
#: Longest RESTORE (the clone's start and its after-restore hooks) Lambda allows, in seconds.
RESTORE_TIMEOUT_S = 10.0
#: Where an environment with a network of its own finds its Runtime API and Lambdabox's API, as on AWS.
PRIVATE_RUNTIME_API = f"127.0.0.1:{linux.RUNTIME_API_PORT}"
PRIVATE_ENDPOINT_URL = f"http://127.0.0.1:{linux.API_PORT}"
#: The phases an INIT runs in, as INIT_REPORT names them: ahead of any invoke, or again for the invoke
#: that found the first one failed.
INIT_PHASE = "init"
INVOKE_PHASE = "invoke"
#: How long an environment stays thawed after an invocation, in seconds: back-to-back invocations skip a
#: freeze and a thaw (about 1 ms on cgroup v1), and an idle environment is frozen soon after.
FREEZE_DELAY_S = 0.05


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    #: Log lines of this invocation, START to REPORT: the last ones, as many as LogType Tail's 4 KB needs.
    log_lines: list[str]
    duration_ms: float
    init_ms: float | None
    #: False when the runtime ended before it took the invocation: it never ran, and may run in another environment.
    delivered: bool = True


@dataclass(frozen=True)
class InitReport:
    """What a failed INIT left in its environment's log."""

    stream_name: str
    #: The runtime's output and the INIT_REPORT line, the last ones (as many as LogType Tail's 4 KB needs).
    log_lines: list[str]
    init_ms: float
    memory_used_mb: int


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Environment:
    def __init__(self, blueprint: Blueprint, sandbox: Sandbox, api: RuntimeApi, output: OutputCapture, init_ms: float):
        self.id = sandbox.id
        self.blueprint = blueprint
        self.sandbox = sandbox
        self.api = api
        self.output = output
        self.init_ms = init_ms
        self.invocations = 0
        self.dead = False
        self.last_used = time.monotonic()
        #: When its credentials expire, in epoch seconds.
        self.credentials_expire = math.inf
        self._frozen = False
        self._freezing: asyncio.TimerHandle | None = None
        self._exit = asyncio.ensure_future(sandbox.wait_exit())
        self._bridge = None

    @classmethod
    async def start(
        cls,
        blueprint: Blueprint,
        factory: SandboxFactory,
        logs: LogStore,
        template: Environment | None = None,
        as_template: bool = False,
        credentials: EnvironmentCredentials | None = None,
        phase: str = INIT_PHASE,
        stream_name: str | None = None,
        template_init_s: float = SNAPSHOT_INIT_TIMEOUT_S,
    ) -> Environment:
        """INIT: create the sandbox and wait until the runtime asks for its first event.

        Raises InitFailed (with Lambda's error document) when the runtime reports an init
        error, exits, or overruns the init timeout; nothing is left running then, and the
        INIT_REPORT line of `phase` is logged. A template is ready once its runtime asks for
        its snapshot (GET .../restore/next). `stream_name`: log to that stream (the one of
        an INIT that failed before), not a new one. `template_init_s`: how long a template's
        INIT may run (the function's timeout if longer).
        """
        began = time.perf_counter()
        stream = logs.open_stream(
            _namespace(blueprint), blueprint.log_group, stream_name or new_stream_name(blueprint.version)
        )
        output = OutputCapture(stream, logs.rate, blueprint.log_format)
        if template is None and not as_template:
            initialization_type = blueprint.env.get("AWS_LAMBDA_INITIALIZATION_TYPE", blueprint.initialization_type)
            output.line(output.format.init_start(initialization_type, phase, blueprint.name, blueprint.version))
        api = RuntimeApi()
        # A network of the environment's own holds its Runtime API at AWS's address, and a bridge
        # to this server's API; on the host's network, a loopback port only its own uid may use.
        private = getattr(factory, "private_network", False)
        if private:
            # Only the endpoint variables Lambdabox set: a function's own are its to keep.
            addresses = {
                "AWS_LAMBDA_RUNTIME_API": PRIVATE_RUNTIME_API,
                **dict.fromkeys(blueprint.endpoint_variables, PRIVATE_ENDPOINT_URL),
            }
        else:
            await api.start()
            if getattr(factory, "isolation", "none") == "full":
                api.expect_restriction()
            addresses = {"AWS_LAMBDA_RUNTIME_API": api.address}
        environment_id = uuid.uuid4().hex[:16]
        spec = SandboxSpec(
            id=f"{blueprint.name[:40]}-{environment_id}",
            argv=blueprint.argv,
            env={
                **blueprint.env, **addresses, **(credentials.variables if credentials else {}),
                "AWS_LAMBDA_LOG_STREAM_NAME": stream.name,
            },
            networks=blueprint.networks,
            mounts=blueprint.mounts,
            tmp_mb=blueprint.config.get("EphemeralStorage", {}).get("Size", 512),
            memory_mb=blueprint.memory_mb,
            vcpus=blueprint.memory_mb / MB_PER_VCPU,
            # On-demand INIT runs on a full, unthrottled vCPU, as on Lambda.
            init_vcpus=max(1.0, blueprint.memory_mb / MB_PER_VCPU),
            hostname=f"lambdabox-{environment_id[:8]}",
            output_fd=output.write_fd,
            preload=blueprint.preload,
            preimport=blueprint.preimport,
        )
        try:
            if template is not None:
                sandbox = await asyncio.to_thread(template.sandbox.clone, spec)
            elif as_template:
                sandbox = await asyncio.to_thread(factory.create_template, spec)
            else:
                sandbox = await asyncio.to_thread(factory.create, spec)
        except BaseException:
            output.close()
            await api.close()
            raise
        output.attach(asyncio.get_running_loop())
        environment = cls(blueprint, sandbox, api, output, 0.0)
        if credentials is not None:
            environment.credentials_expire = credentials.expires
        try:
            await environment._connect(private, blueprint.endpoint_url)
        except BaseException:
            await environment.destroy()
            raise
        if template is not None:
            limit = RESTORE_TIMEOUT_S
        else:
            limit = max(template_init_s, blueprint.timeout_s) if as_template else INIT_TIMEOUT_S
        ready = asyncio.ensure_future(api.wait_ready())
        try:
            done, _ = await asyncio.wait({ready, environment._exit}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
            if ready in done:
                ready.result()
            elif environment._exit in done:
                raise InitFailed("Runtime.ExitError", _error("Runtime.ExitError", environment._exit_message()))
            elif template is not None:
                raise SnapStartTimeout("Lambda couldn't restore the snapshot within the timeout limit.")
            else:
                raise InitFailed("Runtime.InitTimeout", _error("Runtime.InitTimeout", f"INIT phase timed out after {limit:.2f} seconds"))
        except BaseException as error:
            ready.cancel()
            try:
                if isinstance(error, InitFailed) and template is None and not as_template:
                    await environment._report_failed_init(error, phase, began)
            finally:
                await environment.destroy()
            if template is not None and isinstance(error, InitFailed):
                raise SnapStartError(error.describe()) from None
            raise
        environment.init_ms = (time.perf_counter() - began) * 1000
        if as_template:
            # Only the forker of clones stays, frozen between clones; it keeps its full vCPU.
            try:
                await asyncio.to_thread(sandbox.seal)
            except BaseException:
                await environment.destroy()
                raise
            return environment
        sandbox.limit_cpu(blueprint.memory_mb / MB_PER_VCPU)
        # Idle means frozen: an environment no invocation takes at once (a provisioned one) stops.
        environment._freezing = asyncio.get_running_loop().call_later(FREEZE_DELAY_S, environment._freeze)
        return environment

    async def _report_failed_init(self, failure: InitFailed, phase: str, began: float) -> None:
        """Log the INIT_REPORT of a failed INIT after what the runtime printed; keep both on `failure`."""
        init_ms = (time.perf_counter() - began) * 1000
        await self.output.drain()
        initialization_type = self.blueprint.env.get("AWS_LAMBDA_INITIALIZATION_TYPE", self.blueprint.initialization_type)
        self.output.line(self.output.format.init_report(initialization_type, phase, init_ms, failure.error_type))
        failure.report = InitReport(self.output.stream_name, self.output.tail_lines(), init_ms, self.sandbox.memory_peak_mb())

    async def _connect(self, private: bool, endpoint_url: str) -> None:
        """Serve the Runtime API (and the API bridge) on what the sandbox's network holds."""
        held = getattr(self.sandbox, "held", None)
        if private:
            # Copies: the endpoint and the bridge close theirs; the sandbox's go when it is destroyed.
            await self.api.start(sock=held.runtime_socket.dup())
            target = urlsplit(endpoint_url)
            self._bridge = await ApiBridge(target.hostname or "127.0.0.1", target.port or 80).serve(held.api_socket.dup())
        elif held is not None and held.host_uid is not None:
            self.api.restrict_to(held.host_uid, peer_uid)

    @property
    def exited(self) -> bool:
        """Whether the runtime process has ended, also between invocations (killed, crashed)."""
        return self._exit.done()

    @property
    def spent(self) -> bool:
        """Whether it must take no more invocations: dead, its runtime ended or was killed, or the runtime
        dropped its /next.

        The dropped /next tells first: a process's sockets close as it exits, before its exit is seen.
        A runtime killed while frozen (cgroup v1) shows only as a pending SIGKILL until thawed.
        """
        return self.dead or self.exited or self.api.runtime_left or (self._frozen and kill_pending(self.sandbox.pid))

    def _exit_message(self) -> str:
        if self.sandbox.oom_killed():
            return "Runtime exited with error: signal: killed"
        status = self._exit.result() if self._exit.done() else None
        if status is not None and status < 0:
            return f"Runtime exited with error: signal: {_signal_name(-status)}"
        if status == 0:
            # A clean exit is not an error status; AWS's words for it (recorded for sys.exit(0)).
            return "Runtime exited without providing a reason"
        return f"Runtime exited with error: exit status {status}"

    async def invoke(self, invocation: Invocation, cold: bool, sink: StreamedBody | None = None) -> Result:
        """Run one invocation to its end: a response, a function error, a timeout or a crash. A streamed
        response goes to `sink` as it arrives (the timeout still applies while it streams)."""
        self.invocations += 1
        self.output.begin_invocation()
        log_format = self.output.format
        self.output.line(log_format.start(invocation.request_id, self.blueprint.version))
        self._wake()
        began = time.perf_counter()
        timeout = self.blueprint.timeout_s
        invocation = dataclasses.replace(invocation, deadline_ms=int(time.time() * 1000) + timeout * 1000)
        task = asyncio.ensure_future(self.api.invoke(invocation, sink))
        done, _ = await asyncio.wait({task, self._exit}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        duration_ms = (time.perf_counter() - began) * 1000
        if task in done:
            outcome = task.result()
        else:
            undelivered = self._exit in done and not self.api.delivered
            task.cancel()
            self.dead = True
            rid = invocation.request_id
            if undelivered:
                # Ended while idle (killed while frozen, say, which shows only once thawed): no END or REPORT here.
                await self.output.drain()
                kind, message = "Runtime.ExitError", f"RequestId: {rid} Error: {self._exit_message()}"
                return Result(Outcome(_error(kind, message), kind), self.output.tail_lines(), duration_ms, None, delivered=False)
            if self._exit in done:
                kind = "Runtime.OutOfMemory" if self.sandbox.oom_killed() else "Runtime.ExitError"
                message = f"RequestId: {rid} Error: {self._exit_message()}"
            else:
                kind, message = "Sandbox.Timedout", f"RequestId: {rid} Error: Task timed out after {timeout:.2f} seconds"
                self.output.line(log_format.timed_out(rid, timeout))
            outcome = Outcome(_error(kind, message), kind)
        await self.output.drain()
        memory_used = self.sandbox.memory_peak_mb()
        status, error_type = "success", None
        if outcome.error_type == "Sandbox.Timedout":
            status = "timeout"
        elif outcome.error_type in ("Runtime.OutOfMemory", "Runtime.ExitError"):
            status, error_type = "error", outcome.error_type
        elif outcome.error_type is not None:
            status = "error"  # the function's own error: the runtime is done, and says so (runtimeDone)
        self.output.line(log_format.end(invocation.request_id, status, duration_ms))
        report = Report(
            duration_ms, self.blueprint.memory_mb, memory_used,
            init_ms=self.init_ms if cold and not self.blueprint.restores else None,
            restore_ms=self.init_ms if cold and self.blueprint.restores else None,
            # REPORT gives a status only for what ended the runtime (a crash, a timeout), as Lambda's does.
            status=status if error_type or status == "timeout" else "success", error_type=error_type,
        )
        self.output.line(log_format.report(invocation.request_id, report))
        self.last_used = time.monotonic()
        if not self.dead:
            self._freezing = asyncio.get_running_loop().call_later(FREEZE_DELAY_S, self._freeze)
        return Result(outcome, self.output.tail_lines(), duration_ms, self.init_ms if cold else None)

    def _freeze(self) -> None:
        self._freezing = None
        if not self.dead:
            self.sandbox.freeze()
            self._frozen = True

    def _wake(self) -> None:
        """Make sure the sandbox runs: cancel a pending freeze, or thaw a frozen one."""
        if self._freezing is not None:
            self._freezing.cancel()
            self._freezing = None
        if self._frozen:
            self.sandbox.thaw()
            self._frozen = False

    async def destroy(self) -> None:
        """SHUTDOWN: end the sandbox and release its Runtime API and log stream. Idempotent."""
        self.dead = True
        if self._freezing is not None:
            self._freezing.cancel()
            self._freezing = None
        await asyncio.to_thread(self.sandbox.destroy)
        self._exit.cancel()
        await self.api.close()
        if self._bridge is not None:
            await self._bridge.close()
        self.output.close()


def log_failed_invoke(logs: LogStore, blueprint: Blueprint, failure: InitFailed, request_id: str) -> list[str]:
    """Log START, END and REPORT of the invoke an INIT failure ended, in that INIT's stream.

    Returns the invoke's log lines, INIT's first (for LogType Tail); none when the failed INIT
    logged nothing (a restore's, say).
    """
    report = failure.report
    if not isinstance(report, InitReport):
        return []
    timeout = failure.error_type == "Runtime.InitTimeout"
    status, error_type = ("timeout", None) if timeout else ("error", failure.error_type)
    log_format = blueprint.log_format
    written = [
        log_format.start(request_id, blueprint.version),
        log_format.end(request_id, status, report.init_ms),
        log_format.report(
            request_id,
            Report(report.init_ms, blueprint.memory_mb, report.memory_used_mb, status=status, error_type=error_type),
        ),
    ]
    lines = [line for line in written if line is not None]
    try:
        stream = logs.open_stream(_namespace(blueprint), blueprint.log_group, report.stream_name)
    except OSError as error:
        # The log is not the invoke's to fail: the lines still go to the tail.
        log.warning("could not log the end of an invoke of %s whose INIT failed: %s", blueprint.name, error)
    else:
        try:
            stream.write_many(lines)
        finally:
            stream.close()
    return [*report.log_lines, *lines]


def _namespace(blueprint: Blueprint) -> str:
    return f"{blueprint.scope.account}:{blueprint.scope.region}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name.removeprefix("SIG").lower()
    except ValueError:
        return str(number)
