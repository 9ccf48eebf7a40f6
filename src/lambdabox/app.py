"""The composition root: builds the whole object graph from one Settings object.

Nothing else constructs services or wires them together. Start-up order:
1. open the data dir, its keys, the database and the archive stores;
2. seal environment variables that a Lambdabox before sealing stored in the clear (once);
3. remove archives no record needs (left by a crash between write and commit);
4. resume settling functions a crash left Pending or InProgress;
5. provision the environments stored provisioned concurrency configs ask for (in the background);
6. serve. Shutdown runs the other way: stop settling, shut environments down, close the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import botocore.session
from starlette.applications import Starlette

from lambdabox.access.authn import Open, Verified
from lambdabox.access.gate import Gate
from lambdabox.access.resource_policies import ResourcePolicies
from lambdabox.access.sessions import Sessions
from lambdabox.access.identity_policies import identity_policies, principal_for_key
from lambdabox.access.logs_actions import logs_target
from lambdabox.api.json_front import JsonApi
from lambdabox.api.operations import ControlPlane, lambda_operations
from lambdabox.api.query import QueryApi
from lambdabox.api.query_identity import IdentityServices
from lambdabox.api.rest import RestJsonApi
from lambdabox.api.server import Fronts, build_asgi
from lambdabox.api.url_front import UrlFront
from lambdabox.control.activation import Activator
from lambdabox.control.catalog import VERSION, namespace, version_key
from lambdabox.control.aliases import Aliases
from lambdabox.control.code_links import CodeLinks, load_secret
from lambdabox.control import profiles
from lambdabox.control.concurrency import Concurrency
from lambdabox.control.credentials import Credentials
from lambdabox.control.env_secrets import EnvSecrets
from lambdabox.control.event_configs import EventInvokeConfigs
from lambdabox.control.event_source_mappings import EventSourceMappings
from lambdabox.control.function_urls import FunctionUrls
from lambdabox.control.functions import Functions
from lambdabox.control.iam import Iam
from lambdabox.control.iam_policy_versions import PolicyVersions
from lambdabox.control.iam_tags import IamTags
from lambdabox.control.iam_groups import Groups
from lambdabox.control.iam_names import StoredNames
from lambdabox.control.iam_users import Users
from lambdabox.control.layers import Layers
from lambdabox.control.log_operations import log_operations
from lambdabox.control.permissions import Permissions
from lambdabox.control.provisioned import ProvisionedConcurrency
from lambdabox.control.roles import trust_policy
from lambdabox.control.runtime_updates import RuntimeUpdates
from lambdabox.control.sts import Sts
from lambdabox.control.tags import Tags
from lambdabox.control.versions import Versions
from lambdabox.invoke.async_worker import AsyncSettings, AsyncWorker
from lambdabox.invoke.blueprint import log_group
from lambdabox.invoke.destinations import Deliverer
from lambdabox.invoke.invoker import Invoker
from lambdabox.invoke.limits import ConcurrencyLimits
from lambdabox.invoke.pool import EnvironmentPool
from lambdabox.invoke.provisioner import Provisioner
from lambdabox.invoke.role_credentials import RoleCredentials
from lambdabox.invoke.scaling import ScaleOutLimiter, ScaleRate
from lambdabox.invoke.snapshots import Snapshots
from lambdabox.model.arns import Scope
from lambdabox.observe.log_rate import LogRate
from lambdabox.observe.log_sweeper import LogSweeper
from lambdabox.observe.logs import LogStore, group_name
from lambdabox.queue.sqlite import SqliteEventQueue
from lambdabox.runtime.catalog import RuntimeCatalog
from lambdabox.runtime.streamed_response import Bandwidth
from lambdabox.sandbox.factory import make_factory
from lambdabox.sandbox.identities import Identities
from lambdabox.sandbox.network import FunctionNetworks, NetworkUnavailable
from lambdabox.settings import Settings, host_architecture
from lambdabox.sources.brokers import BrokerPollers
from lambdabox.sources.pollers import Pollers, SqsClients
from lambdabox.sources.stream_pollers import StreamClients, StreamEndpoints, stream_finder
from lambdabox.store.blobs import BlobStore
from lambdabox.store.records import RecordStore
from lambdabox.store.sealed import Sealer, load_key
from lambdabox.store.unpacked import UnpackedStore

log = logging.getLogger(__name__)


def function_networks(settings: Settings) -> FunctionNetworks | None:
    """Functions' networks as the operator chose them, started; None where sandboxes can't be isolated.

    A host that can't give environments `egress` (no nftables, say) falls back to `none`, loudly:
    functions then have no network but their own APIs, which is safe, rather than the host's.
    """
    if settings.isolation == "none" or os.geteuid() != 0:
        return None
    modes = [settings.function_network] + (["none"] if settings.function_network == "egress" else [])
    for mode in modes:
        network = FunctionNetworks(
            mode,
            {name: list(cidrs) for name, cidrs in settings.networks.items()},
            list(settings.allow_networks),
            settings.function_subnet,
            pool_size=settings.network_pool,
        )
        try:
            network.start()
        except NetworkUnavailable as error:
            log.warning("!!! functions cannot have the %s network: %s !!!", mode, error)
            continue
        if mode == "host":
            log.warning(
                "!!! FUNCTIONS SHARE THIS HOST'S NETWORK (--function-network host): each can reach every service on "
                "its loopback and private ranges, and other functions. Only run code you trust this way. !!!"
            )
        elif mode != settings.function_network:
            log.warning("!!! functions run with --function-network %s instead: loopback and Lambdabox's API only !!!", mode)
        return network
    raise NetworkUnavailable(f"no network mode could be set up for functions (tried {', '.join(modes)})")


def open_credentials(settings: Settings, store: RecordStore, sealer: Sealer) -> Credentials:
    """The accounts and keys, with the default account made (and announced) on first start, and
    DATA_DIR/credentials written afresh."""
    credentials = Credentials(store, sealer)
    made = profiles.ensure_account(credentials, settings.default_account)
    profiles.write_all(settings.credentials_file, credentials, settings.default_account)
    if made:
        print(
            f"Lambdabox made account {settings.default_account} and its root credentials, in {settings.credentials_file}"
            f" (profile 'default'). Use them with:\n  export AWS_SHARED_CREDENTIALS_FILE={settings.credentials_file}"
            f" AWS_DEFAULT_REGION={settings.default_region}",
            flush=True,
        )
    return credentials


def stream_bandwidth(mib_per_s: float | None) -> Bandwidth | None:
    """The pace of streamed responses past their first 6 MB, from the operator's MiB a second (None: uncapped)."""
    return None if mib_per_s is None else Bandwidth(bytes_per_second=mib_per_s * 1024 * 1024)


def build_app(settings: Settings) -> UrlFront:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = RecordStore(settings.database)
    sealer = Sealer(load_key(settings.data_dir / "secrets.key"))
    credentials = open_credentials(settings, store, sealer)
    sessions = Sessions(sealer)
    if settings.auth == "off":
        log.warning(
            "!!! AUTH IS OFF (--auth off): any request is accepted as the root of the account its key names, or of "
            "account %s. Anyone who can reach this port can read and change everything. !!!", settings.default_account
        )
        authenticate = Open(settings.default_account).authenticate
    else:
        authenticate = Verified(store, credentials, sessions, lambda key: principal_for_key(store, key)).authenticate
    blobs = BlobStore(settings.data_dir / "archives")
    unpacked = UnpackedStore(blobs, settings.data_dir / "unpacked")
    links = CodeLinks(load_secret(settings.data_dir / "link-secret"))
    # Functions' environment variables are sealed with this key; losing the file loses them.
    secrets = EnvSecrets(sealer)
    role_credentials = RoleCredentials(sessions.issue, store, settings.role_session_s)
    logs = LogStore(
        settings.data_dir / "logs",
        LogRate(settings.log_rate_bytes_per_s, settings.log_burst_bytes),
        settings.log_max_bytes,
        settings.log_retention_days,
    )
    log_sweeper = LogSweeper(logs, settings.log_sweep_interval_s)
    runtimes = RuntimeCatalog(sdk_root=settings.runtimes_dir)
    network = function_networks(settings)
    sandboxes = make_factory(
        settings.data_dir / "sandboxes", settings.isolation, network, Identities(*settings.uid_range)
    )
    isolated = sandboxes.isolation == "full"
    if not isolated and network is not None:
        network.close()
        network = None
    if not isolated:
        log.warning(
            "!!! FUNCTIONS RUN WITHOUT ISOLATION: %s. They share this host's filesystem, processes and "
            "limits with the server. Run as root on Linux for namespaces and cgroups. !!!",
            sandboxes.isolation_problem,
        )
    scale_out = ScaleOutLimiter(ScaleRate(settings.scale_environments, settings.scale_period_s))
    snapshots = Snapshots(sandboxes, logs, role_credentials, settings.snapshot_init_timeout_s)
    pool = EnvironmentPool(
        sandboxes, logs, role_credentials, settings.idle_timeout_s, scale_out, settings.memory_cap_mb, snapshots
    )
    events = SqliteEventQueue(settings.data_dir / "events.db")
    limits = ConcurrencyLimits(settings.account_concurrency)
    # The provisioner builds blueprints as the invoker does (and shares its cache); the lambda
    # is only called once both exist.
    provisioner = Provisioner(
        store, sandboxes, logs, role_credentials, lambda scope, record: invoker.blueprint(scope, record), pool.room
    )
    pool.count_also(provisioner.memory_mb)
    invoker = Invoker(
        store, unpacked, runtimes, pool, limits, events, settings.endpoint_url, isolated, provisioner, snapshots,
        secrets=secrets, stream_bandwidth=stream_bandwidth(settings.stream_bandwidth_mib_s),
    )
    deliverer = Deliverer(invoker.enqueue, settings.sqs_endpoint_url, settings.sns_endpoint_url)

    def function_log(scope: Scope, name: str, message: str) -> None:
        """A line of Lambdabox's own about an asynchronous invocation, in the function's log group (its
        LoggingConfig's, else /aws/lambda/NAME)."""
        with store.reading() as records:
            latest = records.get(VERSION, namespace(scope), version_key(name, "$LATEST"))
        group = log_group(latest["config"]) if latest else group_name(name)
        stream = logs.open_stream(f"{scope.account}:{scope.region}", group, "lambdabox/async")
        stream.write(message)
        stream.close()

    worker = AsyncWorker(
        events, invoker, store, deliverer,
        AsyncSettings(retry_delays_s=settings.async_retry_delays_s, concurrency=settings.async_concurrency),
        function_log,
    )
    loop: list[asyncio.AbstractEventLoop] = []

    def settled(scope: Scope, name: str) -> None:
        """From the activator's thread: retire environments the change made stale, on the loop."""
        if loop:
            asyncio.run_coroutine_threadsafe(invoker.function_changed(scope, name), loop[0])
        provisioner.nudge()

    def take_snapshot(scope: Scope, record: dict) -> tuple[str, str] | None:
        """From the activator's thread: a SnapStart version's INIT, run on the loop."""
        if not loop:
            return None
        return asyncio.run_coroutine_threadsafe(invoker.take_snapshot(scope, record), loop[0]).result()

    activator = Activator(store, unpacked, settled, take_snapshot)
    # Event source mappings' pollers read SQS with the server's own AWS credentials (sources/pollers.py).
    def mapping_log(scope: Scope, name: str, message: str) -> None:
        """A line of Lambdabox's own about an event source mapping's problem, in its function's log group."""
        stream = logs.open_stream(f"{scope.account}:{scope.region}", group_name(name), "lambdabox/event-source-mappings")
        stream.write(message)
        stream.close()

    sqs_clients = SqsClients(settings.sqs_endpoint_url)
    brokers = BrokerPollers(settings.nats_url, settings.rabbitmq_brokers, sqs_clients)
    streams = StreamClients(StreamEndpoints(
        settings.kinesis_endpoint_url, settings.dynamodb_endpoint_url, settings.sqs_endpoint_url, settings.sns_endpoint_url,
    ))
    pollers = Pollers(store, invoker, sqs_clients, mapping_log, brokers, streams)
    control = ControlPlane(
        functions=Functions(
            store, blobs, links, secrets, activator.submit, host_architecture(), runtimes.problem, settings.networks
        ),
        versions=Versions(store, secrets, activator.submit),
        aliases=Aliases(store),
        layers=Layers(store, blobs, links),
        tags=Tags(store),
        concurrency=Concurrency(store, settings.account_concurrency),
        event_configs=EventInvokeConfigs(store),
        provisioned=ProvisionedConcurrency(store, settings.account_concurrency, lambda scope, name: provisioner.nudge()),
        permissions=Permissions(store),
        runtime_updates=RuntimeUpdates(store),
        mappings=EventSourceMappings(store, pollers.changed, brokers=tuple(settings.rabbitmq_brokers),
                                     find_stream=stream_finder(streams)),
        urls=FunctionUrls(store, settings.function_url),
    )
    identity = IdentityServices(Users(store, credentials), Groups(store), Sts(store, sessions))
    model = botocore.session.get_session().get_service_model("lambda")
    gate = None
    resource_policies = ResourcePolicies(
        control.permissions.function_policy, control.permissions.layer_policy,
        lambda account, role: trust_policy(store, account, role),
    )
    if settings.auth != "off":
        gate = Gate(
            lambda principal: identity_policies(store, principal), resource_policies.of, resource_policies.can_deny
        )
    fronts = Fronts(
        RestJsonApi(model, lambda_operations(control, invoker), authenticate, settings.default_region, gate),
        QueryApi(Iam(store), identity, PolicyVersions(store), IamTags(store)), links, blobs, logs, events, authenticate, settings.auth == "off", gate,
        StoredNames(store, credentials),
        JsonApi(
            botocore.session.get_session().get_service_model("logs"), log_operations(logs), logs_target, authenticate,
            settings.default_region, gate,
        ),
        pollers.stats,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        loop.append(asyncio.get_running_loop())
        sealed = secrets.seal_plain(store)
        if sealed:
            log.info("sealed the environment variables of %d function versions stored in the clear", sealed)
        with store.reading() as records:
            referenced = records.referenced_blobs()
        removed = blobs.sweep(referenced)
        if removed:
            log.info("removed %d unreferenced archives", len(removed))
        unpacked.sweep(referenced)
        requeued = events.recover()
        if requeued:
            log.info("requeued %d asynchronous invocations that were running when the server stopped", requeued)
        activator.start()
        pool.start()
        provisioner.start()
        worker.start()
        log_sweeper.start()
        pollers.start()
        try:
            yield
        finally:
            # Shutdown: 1. stop taking async work and sweeping logs; 2. stop settling changes; 3. shut every environment down;
            # 4. release sandboxes; 5. close the queue and the database. Pollers stop first of all.
            await pollers.close()
            await worker.stop()
            await log_sweeper.stop()
            activator.stop()
            await provisioner.close()
            await pool.close()
            await snapshots.close()
            sandboxes.close()
            if network is not None:
                network.close()
            events.close()
            store.close()

    # Function URLs are served on the API's port, ahead of it (api/url_front.py).
    return UrlFront(
        build_asgi(settings, fronts, lifespan), control.urls, invoker, authenticate, gate, resource_policies.of,
        settings.url_domain,
    )
