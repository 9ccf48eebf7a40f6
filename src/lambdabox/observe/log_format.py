"""A function's log format (its LoggingConfig): how platform lines are written, and which lines are kept.

With LogFormat Text (the default) the platform writes its lines as Lambda's text (START, END, REPORT,
INIT_REPORT ...) and every line of the function's output is kept. With LogFormat JSON, as Lambda's
advanced logging controls do:
1. Each platform line is a Telemetry API event, {"time", "type": "platform.<event>", "record"}, written
   only when its level is at or above SystemLogLevel: platform.initStart, .initReport, .start and
   .report are INFO, platform.runtimeDone (where the text format writes END) is DEBUG, and
   platform.logsDropped (Lambdabox's own drop marker) is WARN.
2. A line of the function's output is kept only when its level is at or above ApplicationLogLevel. Its
   level is the "level" member of a line that is a JSON object (TRACE, DEBUG, INFO, WARN or WARNING,
   ERROR, FATAL or CRITICAL, in any case); any other line (plain text, invalid JSON, a missing or
   unknown level) is INFO. A line is only ever read for its level: whatever else it says (a "type" of
   "platform.report", say) means nothing to the platform, and the line is logged as the function wrote it.
Every record is made by this module and written by the platform, never parsed back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

#: Lambda's log levels, least severe first (TRACE and FATAL exist for application logs only).
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
TRACE, DEBUG, INFO, WARN, ERROR, FATAL = range(len(LEVELS))
#: The level names a JSON log line may give, as Lambda's runtimes write them (Python's names too).
_LINE_LEVELS = {name: number for number, name in enumerate(LEVELS)} | {"WARNING": WARN, "CRITICAL": FATAL}
#: Longest "level" value read from a line, in characters: the longest name above.
_MAX_LEVEL_NAME = 8

#: The level of each platform event Lambdabox writes.
_EVENT_LEVELS = {
    "platform.initStart": INFO,
    "platform.initReport": INFO,
    "platform.start": INFO,
    "platform.runtimeDone": DEBUG,
    "platform.report": INFO,
    "platform.logsDropped": WARN,
}


def line_level(line: str) -> int:
    """The level of a line of the function's output (see 2 above): INFO unless it is a JSON object that says."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return INFO
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return INFO
    level = document.get("level") if isinstance(document, dict) else None
    if not isinstance(level, str) or len(level) > _MAX_LEVEL_NAME:
        return INFO
    return _LINE_LEVELS.get(level.upper(), INFO)


@dataclass(frozen=True)
class LogFormat:
    """How one function version logs. `json`: LogFormat JSON; the levels are indexes into LEVELS."""

    json: bool = False
    application_level: int = INFO
    system_level: int = INFO

    @classmethod
    def of(cls, logging_config: dict[str, Any] | None) -> LogFormat:
        """The format a function's LoggingConfig asks for (levels default to INFO, as AWS's do)."""
        config = logging_config or {}
        if config.get("LogFormat") != "JSON":
            return cls()
        return cls(
            True,
            _level(config.get("ApplicationLogLevel"), INFO),
            _level(config.get("SystemLogLevel"), INFO),
        )

    @property
    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for its runtimes: AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL (JSON only)."""
        if not self.json:
            return {}
        return {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": LEVELS[self.application_level]}

    def keeps(self, line: str) -> bool:
        """Whether a line of the function's output is logged (see 2 above)."""
        return not self.json or line_level(line) >= self.application_level

    # Platform lines: each returns the line to write, or None when the format leaves it out. -------

    def init_start(self, initialization_type: str, phase: str, function_name: str, version: str) -> str | None:
        """INIT began. The text format has no line for it."""
        record = {
            "initializationType": initialization_type, "phase": phase,
            "functionName": function_name, "functionVersion": version,
        }
        return self._event("platform.initStart", record) if self.json else None

    def init_report(self, initialization_type: str, phase: str, init_ms: float, error_type: str | None) -> str | None:
        """INIT failed with `error_type` (Runtime.InitTimeout: it timed out)."""
        timeout = error_type == "Runtime.InitTimeout"
        if not self.json:
            status = "timeout" if timeout else f"error\tError Type: {error_type}"
            return f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
        record: dict[str, Any] = {"initializationType": initialization_type, "phase": phase}
        record["status"] = "timeout" if timeout else "error"
        if not timeout:
            record["errorType"] = error_type
        record["metrics"] = {"durationMs": _ms(init_ms)}
        return self._event("platform.initReport", record)

    def start(self, request_id: str, version: str) -> str | None:
        if not self.json:
            return f"START RequestId: {request_id} Version: {version}"
        return self._event("platform.start", {"requestId": request_id, "version": version})

    def end(self, request_id: str, status: str, duration_ms: float) -> str | None:
        """The runtime is done with an invoke: END, or platform.runtimeDone (DEBUG)."""
        if not self.json:
            return f"END RequestId: {request_id}"
        record = {"requestId": request_id, "status": status, "metrics": {"durationMs": _ms(duration_ms)}}
        return self._event("platform.runtimeDone", record)

    def report(self, request_id: str, report: Report) -> str | None:
        if not self.json:
            return report.text(request_id)
        record: dict[str, Any] = {"requestId": request_id, "metrics": report.metrics(), "status": report.status}
        if report.error_type and report.status == "error":
            record["errorType"] = report.error_type
        return self._event("platform.report", record)

    def timed_out(self, request_id: str, timeout_s: int) -> str | None:
        """The function's own line of a timeout, in the text format (JSON says so in platform.report)."""
        return None if self.json else f"{_utc_now()} {request_id} Task timed out after {timeout_s:.2f} seconds"

    def logs_dropped(self, dropped_bytes: int, bytes_per_s: int, burst_bytes: int) -> str | None:
        """Lambdabox dropped output that came faster than the environment's log rate."""
        reason = (
            f"Lambdabox dropped {dropped_bytes} bytes of this function's output: it wrote more than "
            f"{bytes_per_s} bytes per second (bursts up to {burst_bytes} bytes)"
        )
        if not self.json:
            return reason
        return self._event("platform.logsDropped", {"reason": reason, "droppedBytes": dropped_bytes})

    def _event(self, kind: str, record: dict[str, Any]) -> str | None:
        if _EVENT_LEVELS[kind] < self.system_level:
            return None
        return json.dumps({"time": _utc_now(), "type": kind, "record": record}, ensure_ascii=False)


@dataclass(frozen=True)
class Report:
    """What REPORT (platform.report) says of one invoke."""

    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_ms: float | None = None
    restore_ms: float | None = None
    #: success, error (the runtime crashed, or its INIT failed) or timeout.
    status: str = "success"
    error_type: str | None = None

    @property
    def billed_ms(self) -> int:
        return max(1, math.ceil(self.duration_ms))

    def text(self, request_id: str) -> str:
        line = (
            f"REPORT RequestId: {request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {self.billed_ms} ms\tMemory Size: {self.memory_size_mb} MB\t"
            f"Max Memory Used: {self.max_memory_used_mb} MB"
        )
        if self.restore_ms is not None:
            line += f"\tRestore Duration: {self.restore_ms:.2f} ms\tBilled Restore Duration: {math.ceil(self.restore_ms)} ms"
        elif self.init_ms is not None:
            line += f"\tInit Duration: {self.init_ms:.2f} ms"
        if self.status != "success":
            line += f"\tStatus: {self.status}"
            if self.error_type and self.status == "error":
                line += f"\tError Type: {self.error_type}"
        return line

    def metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {
            "durationMs": _ms(self.duration_ms), "billedDurationMs": self.billed_ms,
            "memorySizeMB": self.memory_size_mb, "maxMemoryUsedMB": self.max_memory_used_mb,
        }
        if self.restore_ms is not None:
            metrics["restoreDurationMs"] = _ms(self.restore_ms)
            metrics["billedRestoreDurationMs"] = math.ceil(self.restore_ms)
        elif self.init_ms is not None:
            metrics["initDurationMs"] = _ms(self.init_ms)
        return metrics


def _level(name: Any, default: int) -> int:
    return LEVELS.index(name) if isinstance(name, str) and name in LEVELS else default


def _ms(value: float) -> float:
    return round(value, 3)


def _utc_now() -> str:
    moment = datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
