"""`lambdabox server`: start the platform."""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
from pathlib import Path

from lambdabox.cli import network_options
from lambdabox.settings import DEFAULT_DATA_DIR, Settings, default_data_dir
from lambdabox.store.records import StoreUnavailable


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SystemExit(f"lambdabox server: --async-retry-delays takes seconds separated by commas, not {text!r}")
    if any(delay < 0 for delay in delays):
        raise SystemExit("lambdabox server: --async-retry-delays must not be negative")
    return delays


def _scale_rate(text: str) -> tuple[int, float]:
    """ENVIRONMENTS/SECONDS, e.g. "1000/10" -> (1000, 10.0)."""
    environments, _, seconds = text.partition("/")
    try:
        rate = int(environments), float(seconds or "1")
    except ValueError:
        raise SystemExit(f"lambdabox server: --scale-rate takes ENVIRONMENTS/SECONDS, e.g. 1000/10, not {text!r}")
    if rate[0] < 1 or rate[1] <= 0:
        raise SystemExit("lambdabox server: --scale-rate needs at least 1 environment per a positive number of seconds")
    return rate


def _memory_cap(text: str) -> int | None:
    if text.lower() == "none":
        return None
    if not text.isdigit() or int(text) < 128:
        raise SystemExit(f"lambdabox server: --memory-cap takes megabytes (at least 128) or 'none', not {text!r}")
    return int(text)


def _retention_days(text: str) -> int | None:
    from lambdabox.observe.logs import RETENTION_DAYS

    if text.lower() == "none":
        return None
    if not text.isdigit() or int(text) not in RETENTION_DAYS:
        raise SystemExit(
            f"lambdabox server: --log-retention-days takes 'none' or one of {', '.join(map(str, RETENTION_DAYS))}, not {text!r}"
        )
    return int(text)


def _positive(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise SystemExit(f"lambdabox server: {option} takes a positive number, not {text!r}")
    return value


def _bandwidth(text: str) -> float | None:
    """--stream-bandwidth: MiB a second, or None for 0 (uncapped)."""
    if text.strip() in ("0", "0.0"):
        return None
    return _positive("--stream-bandwidth", text)


def _role_session_s(text: str) -> float:
    from lambdabox.invoke.role_credentials import MIN_LIFETIME_S

    seconds = _positive("--role-session-seconds", text)
    if seconds < MIN_LIFETIME_S:
        raise SystemExit(f"lambdabox server: --role-session-seconds must be at least {MIN_LIFETIME_S:.0f}")
    return seconds


def _burst_bytes(text: str) -> int:
    from lambdabox.observe.log_rate import EVENT_OVERHEAD_BYTES
    from lambdabox.observe.logs import MAX_EVENT_BYTES

    burst = int(_positive("--log-burst", text) * 1024 * 1024)
    if burst < MAX_EVENT_BYTES + EVENT_OVERHEAD_BYTES:
        raise SystemExit("lambdabox server: --log-burst must be at least 0.25 MB, one log event of the largest size")
    return burst


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "server",
        help="start the Lambdabox platform",
        description="Start the Lambdabox platform: the Lambda API (and the IAM and STS calls AWS tooling makes) "
        "on one HTTP endpoint, with all state in the data dir.",
    )
    command.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    command.add_argument("--port", type=int, default=9000, help="port to listen on (default: %(default)s)")
    command.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where functions, layers and the database are kept (default: $LAMBDABOX_DATA_DIR, else {DEFAULT_DATA_DIR})",
    )
    command.add_argument(
        "--database-url",
        default=os.environ.get("LAMBDABOX_DATABASE_URL", ""),
        help="SQLAlchemy URL of the control-plane database (default: $LAMBDABOX_DATABASE_URL, else SQLite in the data dir)",
    )
    command.add_argument("--region", default="us-east-1", help="region of unsigned requests (default: %(default)s)")
    command.add_argument(
        "--default-account",
        default="000000000000",
        help="the account made on first start, whose root credentials are the profile 'default' of DATA_DIR/credentials;"
        " with --auth off, the account of keys that are not 12 digits (default: %(default)s)",
    )
    command.add_argument(
        "--auth",
        choices=("on", "off"),
        default="on",
        help="on: every request must be signed with real credentials (default); off: anything is accepted as the root"
        " of the account a 12-digit key names, else of the default account. Only for throwaway local use.",
    )
    command.add_argument(
        "--account-concurrency",
        type=int,
        default=1000,
        help="concurrent executions each account may run (default: %(default)s, Lambda's quota)",
    )
    command.add_argument(
        "--idle-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="shut down an execution environment idle this long (default: %(default)s)",
    )
    command.add_argument(
        "--role-session-seconds",
        default="43200",
        metavar="SECONDS",
        help="how long the execution role's credentials each environment gets last; an environment is "
        "replaced by a new one, with new credentials, before they expire (default: %(default)s, 12 hours; at least 60)",
    )
    command.add_argument(
        "--scale-rate",
        default="1000/10",
        metavar="ENVIRONMENTS/SECONDS",
        help="new execution environments each function may add per so many seconds, refilled continuously; "
        "an invoke that needs one more is throttled (default: %(default)s, Lambda's)",
    )
    command.add_argument(
        "--memory-cap",
        default="none",
        metavar="MB",
        help="most total MemorySize of all execution environments; idle ones are shut down, least recently "
        "used first, to make room, else the invoke is throttled (default: %(default)s)",
    )
    command.add_argument(
        "--stream-bandwidth",
        default="2",
        metavar="MIB_PER_S",
        help="how fast a streamed response (InvokeWithResponseStream, a RESPONSE_STREAM URL) may go past its first "
        "6 MB, in MiB a second; 0 leaves it uncapped (default: %(default)s, Lambda's)",
    )
    command.add_argument(
        "--snapstart-init-timeout",
        default="130",
        metavar="SECONDS",
        help="how long a SnapStart version's INIT may run at publish, or the function's timeout if longer; past it "
        "the version fails with FunctionError.InitTimeout (default: %(default)s, Lambda's)",
    )
    command.add_argument(
        "--async-retry-delays",
        default="60,120",
        metavar="SECONDS,SECONDS",
        help="delays before the two retries of a failed asynchronous invocation (default: %(default)s)",
    )
    command.add_argument(
        "--async-concurrency",
        type=int,
        default=32,
        help="asynchronous invocations run at once, leaving the rest for synchronous ones (default: %(default)s)",
    )
    command.add_argument(
        "--sqs-endpoint-url",
        default=os.environ.get("LAMBDABOX_SQS_ENDPOINT_URL") or None,
        help="SQS endpoint for destinations, dead-letter queues and event source mappings (default: $LAMBDABOX_SQS_ENDPOINT_URL, else AWS's)",
    )
    command.add_argument(
        "--sns-endpoint-url",
        default=os.environ.get("LAMBDABOX_SNS_ENDPOINT_URL") or None,
        help="SNS endpoint for destinations and dead-letter queues (default: $LAMBDABOX_SNS_ENDPOINT_URL, else AWS's)",
    )
    command.add_argument(
        "--nats-url",
        default=os.environ.get("LAMBDABOX_NATS_URL") or "nats://127.0.0.1:4222",
        help="NATS server that NATS JetStream event source mappings read (default: $LAMBDABOX_NATS_URL, else %(default)s)",
    )
    command.add_argument(
        "--rabbitmq-broker",
        action="append",
        default=[],
        metavar="ARN=AMQP_URL",
        help="an Amazon MQ for RabbitMQ broker mappings may read, and its AMQP URL with credentials "
        "(amqp://user:pass@host:5672/vhost); repeatable; no other broker can be mapped",
    )
    command.add_argument(
        "--url-domain",
        default="localhost",
        help="domain of function URLs' host names, ID.lambda-url.REGION.DOMAIN (default: %(default)s)",
    )
    command.add_argument(
        "--kinesis-endpoint-url",
        default=os.environ.get("LAMBDABOX_KINESIS_ENDPOINT_URL") or None,
        help="Kinesis endpoint that stream event source mappings read (default: $LAMBDABOX_KINESIS_ENDPOINT_URL, else AWS's)",
    )
    command.add_argument(
        "--dynamodb-endpoint-url",
        default=os.environ.get("LAMBDABOX_DYNAMODB_ENDPOINT_URL") or None,
        help="DynamoDB Streams endpoint that stream event source mappings read (default: $LAMBDABOX_DYNAMODB_ENDPOINT_URL, else AWS's)",
    )
    command.add_argument(
        "--log-rate",
        default="2",
        metavar="MB_PER_SECOND",
        help="output each execution environment may log per second, in MB; the excess is dropped, "
        "with a line in the log saying so (default: %(default)s)",
    )
    command.add_argument(
        "--log-burst", default="4", metavar="MB", help="output an environment may log at once, in MB (default: %(default)s)"
    )
    command.add_argument(
        "--log-retention-days",
        default="none",
        metavar="DAYS",
        help="days a log group keeps its streams unless it set its own retention; one of CloudWatch's values "
        "(1, 3, 5, 7, 14, 30, ... 3653), or none: forever (default: %(default)s)",
    )
    command.add_argument(
        "--log-max-mb",
        default="2048",
        metavar="MB",
        help="most the log directory may hold; the least recently written streams are deleted first (default: %(default)s)",
    )
    command.add_argument(
        "--log-sweep-interval",
        default="60",
        metavar="SECONDS",
        help="seconds between sweeps of the log directory for retention and the size cap (default: %(default)s)",
    )
    command.add_argument(
        "--isolation",
        choices=["auto", "none"],
        default="auto",
        help="auto: namespaces and cgroups where the host allows them (root on Linux); "
        "none: run functions as plain processes, with a warning (default: %(default)s)",
    )
    network_options.add_arguments(command)
    command.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"], help="server log level")
    command.set_defaults(run=run)


def _rabbitmq_brokers(given: list[str]) -> dict[str, str]:
    """--rabbitmq-broker ARN=URL, each a broker ARN Lambda would accept and an amqp(s) URL."""
    from lambdabox.model.broker_sources import MqBroker, parse_broker
    from lambdabox.model.errors import AwsError

    brokers = {}
    for entry in given:
        arn, _, url = entry.partition("=")
        try:
            source = parse_broker(arn)
        except AwsError:
            source = None
        if not isinstance(source, MqBroker) or not url.startswith(("amqp://", "amqps://")):
            raise SystemExit(f"--rabbitmq-broker: expected arn:aws:mq:REGION:ACCOUNT:broker:NAME:b-ID=amqp://..., got {entry!r}")
        brokers[arn] = url
    return brokers


def _raise_open_file_limit() -> None:
    """Each environment holds a few descriptors (its pipes, pidfd, network namespace and listeners): allow as
    many as the hard limit does, as servers do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(arguments: argparse.Namespace) -> int:
    import uvicorn

    from lambdabox.app import build_app

    scale_environments, scale_period_s = _scale_rate(arguments.scale_rate)
    settings = Settings(
        host=arguments.host,
        port=arguments.port,
        data_dir=(arguments.data_dir or default_data_dir()).expanduser().resolve(),
        database_url=arguments.database_url,
        default_region=arguments.region,
        default_account=arguments.default_account,
        auth=arguments.auth,
        account_concurrency=arguments.account_concurrency,
        idle_timeout_s=arguments.idle_timeout,
        role_session_s=_role_session_s(arguments.role_session_seconds),
        scale_environments=scale_environments,
        scale_period_s=scale_period_s,
        memory_cap_mb=_memory_cap(arguments.memory_cap),
        snapshot_init_timeout_s=_positive("--snapstart-init-timeout", arguments.snapstart_init_timeout),
        stream_bandwidth_mib_s=_bandwidth(arguments.stream_bandwidth),
        isolation=arguments.isolation,
        async_retry_delays_s=_delays(arguments.async_retry_delays),
        async_concurrency=arguments.async_concurrency,
        sqs_endpoint_url=arguments.sqs_endpoint_url,
        sns_endpoint_url=arguments.sns_endpoint_url,
        nats_url=arguments.nats_url,
        rabbitmq_brokers=_rabbitmq_brokers(arguments.rabbitmq_broker),
        url_domain=arguments.url_domain,
        kinesis_endpoint_url=arguments.kinesis_endpoint_url,
        dynamodb_endpoint_url=arguments.dynamodb_endpoint_url,
        log_rate_bytes_per_s=int(_positive("--log-rate", arguments.log_rate) * 1024 * 1024),
        log_burst_bytes=_burst_bytes(arguments.log_burst),
        log_retention_days=_retention_days(arguments.log_retention_days),
        log_max_bytes=int(_positive("--log-max-mb", arguments.log_max_mb) * 1024 * 1024),
        log_sweep_interval_s=_positive("--log-sweep-interval", arguments.log_sweep_interval),
        **network_options.settings(arguments),
    )
    logging.basicConfig(level=arguments.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _raise_open_file_limit()
    try:
        app = build_app(settings)
    except StoreUnavailable as error:
        print(f"lambdabox server: {error}", file=sys.stderr)
        return 1
    print(f"Lambdabox listening on http://{settings.host}:{settings.port} (data dir {settings.data_dir})", flush=True)
    # proxy_headers off: no client, a function behind the loopback bridge included, may name its own address
    # with X-Forwarded-For (aws:SourceIp, a function URL event's sourceIp come from the connection itself).
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=arguments.log_level, access_log=False,
                proxy_headers=False)
    return 0
