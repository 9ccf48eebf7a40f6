"""The one Settings object the composition root builds everything from."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Where state lives unless --data-dir or LAMBDABOX_DATA_DIR says otherwise.
DEFAULT_DATA_DIR = Path("~/.lambdabox")


def default_data_dir() -> Path:
    return Path(os.environ.get("LAMBDABOX_DATA_DIR", DEFAULT_DATA_DIR)).expanduser()


def default_runtimes_dir() -> Path:
    """Where scripts/setup.sh installs the runtimes' SDKs and Node builds: the virtual environment's."""
    return Path(os.environ.get("LAMBDABOX_RUNTIMES_DIR", Path(sys.prefix) / "lambda-runtimes"))


def host_architecture() -> str:
    """The Lambda architecture name of this machine."""
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


@dataclass(frozen=True)
class Settings:
    #: Address the API listens on.
    host: str = "127.0.0.1"
    port: int = 9000
    #: Root of all state: the database, archives and unpacked code.
    data_dir: Path = field(default_factory=default_data_dir)
    #: What setup installed for the runtimes (Python's and Node's SDKs, Node builds): LAMBDABOX_RUNTIMES_DIR,
    #: else <virtual environment>/lambda-runtimes. A runtime whose program is not there is refused at create.
    runtimes_dir: Path = field(default_factory=default_runtimes_dir)
    #: SQLAlchemy URL of the control-plane database; SQLite in the data dir when empty.
    database_url: str = ""
    #: Region of requests that carry no signature.
    default_region: str = "us-east-1"
    #: The account made on first start (its root credentials: profile "default" of DATA_DIR/credentials);
    #: with auth off, the account of any access key that is not itself 12 digits.
    default_account: str = "000000000000"
    #: "on": every request is signed by real credentials and authorized; "off": anything goes (local throwaway use).
    auth: str = "on"
    #: Concurrent executions an account may run (Lambda's default quota).
    account_concurrency: int = 1000
    #: "auto": isolate functions as far as the host allows; "none": run them as plain processes.
    isolation: str = "auto"
    #: Seconds an execution environment may stay idle before it is shut down.
    idle_timeout_s: float = 600.0
    #: Seconds the execution role's credentials each environment gets last (12 hours, IAM's longest
    #: role session; at least 60). An environment takes no invoke within min(5 minutes, a quarter of
    #: this) of their expiry: a new one, with new credentials, serves instead.
    role_session_s: float = 12 * 3600.0
    #: New execution environments per function per `scale_period_s` seconds (Lambda: 1,000 per 10 s).
    scale_environments: int = 1000
    scale_period_s: float = 10.0
    #: Total MemorySize of all execution environments, in MB; None: no cap. MemorySize is a ceiling,
    #: not what an environment uses, so a cap at the host's RAM is conservative; dense hosts leave it off.
    memory_cap_mb: int | None = None
    #: Seconds a SnapStart version's INIT (at publish, in its template) may run, or the function's timeout if
    #: longer (Lambda: 130). Past it the version fails with FunctionError.InitTimeout.
    snapshot_init_timeout_s: float = 130.0
    #: Bandwidth of a streamed response past its first 6 MB, in MiB a second (Lambda: 2); None: uncapped.
    stream_bandwidth_mib_s: float | None = 2.0
    #: Delays before the retries of an asynchronous invocation that failed, in seconds (Lambda: ~1 and ~2 minutes).
    async_retry_delays_s: tuple[float, ...] = (60.0, 120.0)
    #: Asynchronous invocations this server runs at once.
    async_concurrency: int = 32
    #: Endpoints of the SQS and SNS that destinations and dead-letter queues reach (None: AWS's own).
    sqs_endpoint_url: str | None = None
    sns_endpoint_url: str | None = None
    #: The NATS server that NATS JetStream event source mappings read.
    nats_url: str = "nats://127.0.0.1:4222"
    #: Amazon MQ for RabbitMQ brokers mappings may read: broker ARN -> AMQP URL (with credentials); no other.
    rabbitmq_brokers: dict[str, str] = field(default_factory=dict)
    #: Endpoints of the Kinesis and DynamoDB Streams that stream event source mappings read (None: AWS's own).
    kinesis_endpoint_url: str | None = None
    dynamodb_endpoint_url: str | None = None
    #: Output one execution environment may log, in bytes per second, and its largest burst, in bytes;
    #: beyond them output is dropped, with a line in the log saying so.
    log_rate_bytes_per_s: int = 2 * 1024 * 1024
    log_burst_bytes: int = 4 * 1024 * 1024
    #: Days a log group keeps its streams when it set no retention of its own; None: forever (as AWS).
    log_retention_days: int | None = None
    #: Most bytes the log directory may hold; the least recently written streams are deleted first.
    log_max_bytes: int = 2048 * 1024 * 1024
    #: Seconds between two sweeps of the log directory (retention and the size cap).
    log_sweep_interval_s: float = 60.0
    #: Functions' network: "egress" (own namespace, NATed internet, no host/private ranges), "none"
    #: (own namespace, loopback only) or "host" (the host's network, shared by everyone).
    function_network: str = "egress"
    #: Private networks functions attach to with VpcConfig (subnet-NAME): name -> IPv4 CIDRs.
    networks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: IPv4 CIDRs every environment may reach in egress mode, private ranges and the host included.
    allow_networks: tuple[str, ...] = ()
    #: Where environments' veth addresses come from (a /24 per server; several servers share it).
    function_subnet: str = "10.254.0.0/16"
    #: Network namespaces kept prepared ahead of cold starts.
    network_pool: int = 32
    #: The domain function URLs' host names end in: ID.lambda-url.REGION.DOMAIN. `localhost` needs no DNS: curl and
    #: browsers resolve every *.localhost name to loopback.
    url_domain: str = "localhost"
    #: Host uids (and gids) environments run as, one each: (first, count). No account of the host may use them.
    uid_range: tuple[int, int] = (1_000_000_000, 1 << 20)

    @property
    def endpoint_url(self) -> str:
        """The URL functions use to call this server (AWS_ENDPOINT_URL_LAMBDA and the others of invoke/blueprint.py)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def function_url(self, url_id: str, region: str) -> str:
        """Where clients reach a function URL: its host name on the API's port."""
        return f"http://{url_id}.lambda-url.{region}.{self.url_domain}:{self.port}/"

    @property
    def credentials_file(self) -> Path:
        """Where the accounts' root credentials are written, as an AWS shared-credentials file."""
        return self.data_dir / "credentials"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lambdabox.db'}"
