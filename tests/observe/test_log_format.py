"""A function's log format: the level of a line of its output, and the platform lines each format writes."""

from __future__ import annotations

import json

import pytest

from lambdabox.observe.log_format import DEBUG, ERROR, FATAL, INFO, TRACE, WARN, LogFormat, Report, line_level


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ('{"level": "DEBUG", "message": "m"}', DEBUG),
        ('{"level": "debug"}', DEBUG),
        ('  {"level": "Trace"}  ', TRACE),
        ('{"level": "WARNING"}', WARN),
        ('{"level": "WARN"}', WARN),
        ('{"level": "CRITICAL"}', FATAL),
        ('{"level": "FATAL"}', FATAL),
        ('{"level": "ERROR", "type": "platform.report"}', ERROR),
        ("plain text", INFO),
        ("[ERROR]\t2024-01-01T00:00:00.000Z\tid\tmessage", INFO),  # the text format's level is not read
        ('{"level": "ERROR"', INFO),  # not JSON
        ('["level", "ERROR"]', INFO),  # not an object
        ('{"level": ["ERROR"]}', INFO),
        ('{"level": 40}', INFO),
        ('{"level": "ERRORS"}', INFO),
        ('{"level": "' + "E" * 100_000 + '"}', INFO),
        ('{"message": "no level"}', INFO),
        ("{" + '"a":{' * 100_000 + "}" * 100_001, INFO),  # deeper than the parser goes
        ('{"level": "ERROR", "level": "DEBUG"}', DEBUG),  # the last one, as JSON parsers read it
        ("", INFO),
    ],
)
def test_the_level_of_a_line(line, level):
    assert line_level(line) == level


def test_levels_default_to_info_with_json_and_do_nothing_with_text():
    assert LogFormat.of({"LogFormat": "JSON"}) == LogFormat(True, INFO, INFO)
    assert LogFormat.of({"LogFormat": "JSON", "ApplicationLogLevel": "TRACE", "SystemLogLevel": "WARN"}) == LogFormat(
        True, TRACE, WARN
    )
    text = LogFormat.of({"LogFormat": "Text", "ApplicationLogLevel": "FATAL"})
    assert text == LogFormat() and text.environment == {}
    assert text.keeps('{"level": "DEBUG"}') and text.keeps("anything")
    assert LogFormat.of(None) == LogFormat()


def test_application_level_keeps_lines_at_or_above_it():
    warn = LogFormat(True, WARN, INFO)
    assert warn.environment == {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    assert warn.keeps('{"level": "WARNING"}') and warn.keeps('{"level": "FATAL"}')
    assert not warn.keeps('{"level": "INFO"}') and not warn.keeps("plain text")


def test_platform_records_by_system_level():
    report = Report(12.3456, 128, 40, init_ms=100.0)
    info = LogFormat(True, INFO, INFO)
    start = json.loads(info.start("rid", "$LATEST"))
    assert start["type"] == "platform.start" and start["record"] == {"requestId": "rid", "version": "$LATEST"}
    assert info.end("rid", "success", 12.3) is None  # runtimeDone is DEBUG
    record = json.loads(info.report("rid", report))["record"]
    assert record == {
        "requestId": "rid",
        "metrics": {"durationMs": 12.346, "billedDurationMs": 13, "memorySizeMB": 128, "maxMemoryUsedMB": 40,
                    "initDurationMs": 100.0},
        "status": "success",
    }
    debug = LogFormat(True, INFO, DEBUG)
    assert json.loads(debug.end("rid", "error", 1.0))["record"] == {
        "requestId": "rid", "status": "error", "metrics": {"durationMs": 1.0},
    }
    warn = LogFormat(True, INFO, WARN)
    assert warn.start("rid", "1") is None and warn.report("rid", report) is None
    assert warn.init_start("on-demand", "init", "f", "1") is None
    dropped = json.loads(warn.logs_dropped(10, 100, 200))
    assert dropped["type"] == "platform.logsDropped" and dropped["record"]["droppedBytes"] == 10


def test_the_text_format_writes_lambdas_lines():
    text = LogFormat()
    assert text.start("rid", "$LATEST") == "START RequestId: rid Version: $LATEST"
    assert text.end("rid", "success", 1.0) == "END RequestId: rid"
    assert text.init_start("on-demand", "init", "f", "$LATEST") is None
    crashed = Report(1.5, 128, 30, status="error", error_type="Runtime.ExitError")
    assert text.report("rid", crashed) == (
        "REPORT RequestId: rid\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB"
        "\tStatus: error\tError Type: Runtime.ExitError"
    )
    assert text.init_report("on-demand", "init", 5.0, "Runtime.InitTimeout") == (
        "INIT_REPORT Init Duration: 5.00 ms\tPhase: init\tStatus: timeout"
    )
    assert text.timed_out("rid", 3).endswith("Z rid Task timed out after 3.00 seconds")
