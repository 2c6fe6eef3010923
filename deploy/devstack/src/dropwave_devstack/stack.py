"""The whole DropWave dev stack: infrastructure, the five services and the gateway.

Start order: postgres -> one database per service -> broker + topics -> localstripe -> SMTP
sink -> each service's migrations -> the services (each waited on until ``GET /readyz`` is
200) -> gateway. Stop order is the reverse; a failure while starting stops what was started.

Every external part can be replaced by a real one through the environment:

* ``DATABASE_URL_TEMPLATE`` (SQLAlchemy URL containing ``{db}``): no embedded postgres; the
  per-service databases are still created (through the ``postgres`` maintenance database).
* ``KAFKA_BOOTSTRAP_SERVERS``: no Tansu; topics are still created.
* ``STRIPE_API_BASE`` and/or ``STRIPE_SECRET_KEY``: no localstripe (the base defaults to
  ``https://api.stripe.com``; ``STRIPE_WEBHOOK_SECRET`` should then be set too).
* ``SMTP_HOST`` (+ ``SMTP_PORT``, default 25): no SMTP sink.
* ``AUTH_JWKS_URL`` (+ ``AUTH_ISSUER``, ``AUTH_AUDIENCE``): a real OIDC provider instead of the
  dev issuer (then ``mint_token`` cannot mint accepted tokens).

``scale={"payments": 3}`` (``up --scale payments=3``, ``make dev SCALE=payments=3``) runs
several instances of a service: separate processes on their own ports, one database and one
consumer group between them (the group shares the partitions), and the gateway
load-balances their HTTP (the Caddyfile's upstream placeholder takes the addresses,
space-separated).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from ._process import ManagedProcess, PartFailedError, child_env, deferred_interrupts
from .broker import TansuBroker, TopicSpecLike, create_topics
from .faults import BackgroundFaultProxy
from .gateway import CaddyGateway, caddyfile_upstreams
from .issuer import DEV_AUDIENCE, DEV_ISSUER, DevIssuer
from .ports import free_port
from .postgres import EmbeddedPostgres, admin_dsn_from_url, ensure_database
from .smtp_sink import SmtpSink
from .stripe_emulator import LocalStripe, register_webhook
from .tokens import DEFAULT_EMAIL, DefaultEmail, mint_creator_token

__all__ = [
    "DEFAULT_SERVICES",
    "MAX_INSTANCES",
    "DevStack",
    "ServiceProcess",
    "ServiceSpec",
    "default_services",
    "default_topics",
    "parse_scale",
]

logger = logging.getLogger("dropwave_devstack")

DEV_STRIPE_SECRET_KEY = "sk_test_devstack"  # noqa: S105 - the emulator accepts any sk_ key
DEV_STRIPE_WEBHOOK_SECRET = "whsec_devstack"  # noqa: S105 - a fixed dev-only value
DEV_MAIL_FROM = "drops@dropwave.test"
DEV_STRIPE_PUBLISHABLE_KEY = "pk_test_devstack"
STRIPE_WEBHOOK_PATH = "/api/v1/webhooks/stripe"
STRIPE_WEBHOOK_UPSTREAM = "payments"
"""The gateway upstream deploy/gateway/Caddyfile sends ``STRIPE_WEBHOOK_PATH`` to."""
# Dev-only secrets the services require; the environment (then ``extra_env``) overrides them.
DEV_SECRETS = {
    "ORDER_TOKEN_SECRET": "dropwave-dev-order-token-secret-not-for-production",
    "NOTIFICATIONS_LINK_SECRET": "dropwave-dev-notifications-link-secret-not-for-production",
    "PAY_LINK_SECRET": "dropwave-dev-pay-link-secret-not-for-production",
}


@dataclass(frozen=True)
class ServiceSpec:
    """A service: its name (also its database name), its Python module (run as
    ``python -m <module> migrate`` / ``serve``) and the gateway upstream it is (the
    ``{$<UPSTREAM>_UPSTREAM}`` of ``deploy/gateway/Caddyfile``, which owns the routes and body
    limits; default: its name). A service the Caddyfile has no upstream for is not behind the
    gateway."""

    name: str
    module: str
    upstream: str = ""

    @property
    def gateway_upstream(self) -> str:
        return self.upstream or self.name


DEFAULT_SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("campaigns", "campaigns"),
    ServiceSpec("orders", "orders"),
    ServiceSpec("payments", "payments"),
    ServiceSpec("notifications", "notifications"),
    ServiceSpec("storefront", "storefront"),
)


def default_services() -> list[ServiceSpec]:
    return list(DEFAULT_SERVICES)


MAX_INSTANCES = 6
"""Instances of one service at most: the partitions of a topic (more consumers would idle)."""


def parse_scale(text: str) -> dict[str, int]:
    """``"payments=3,notifications=2"`` -> ``{"payments": 3, "notifications": 2}``
    (``--scale`` / ``SCALE``); the stack checks the names against its services."""
    scale: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.partition("=")
        name = name.strip()
        if not sep or not name or not count.strip().isdigit():
            raise ValueError(f"scale {item!r}: expected <service>=<instances>")
        if name in scale:
            raise ValueError(f"scale: {name} given twice")
        scale[name] = int(count)
    return scale


def default_topics() -> list[TopicSpecLike]:
    """``dropwave_contracts.topics.all_topic_specs()``, or no topics if contracts is missing."""
    try:
        from dropwave_contracts.topics import all_topic_specs
    except ImportError:
        logger.warning("dropwave_contracts.topics not importable: creating no topics")
        return []
    return list(all_topic_specs())


class _Startable(Protocol):
    def stop(self) -> None: ...


class ServiceProcess(ManagedProcess):
    """One DropWave service: ``python -m <module> migrate`` then ``... serve``. Instance
    ``n`` > 1 of a scaled service is named (and logs as) ``<service>-<n>``."""

    stop_timeout = 15.0

    def __init__(
        self,
        data_dir: Path | str,
        spec: ServiceSpec,
        env: Mapping[str, str],
        *,
        port: int,
        python: str = sys.executable,
        instance: int = 1,
    ) -> None:
        super().__init__(data_dir)
        self.spec = spec
        self.instance = instance
        self.name = spec.name if instance == 1 else f"{spec.name}-{instance}"
        self.env = dict(env)
        self.port = port
        self.python = python

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def migrate(self, timeout: float = 180.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [self.python, "-m", self.spec.module, "migrate"]
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} running: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                result = subprocess.run(  # noqa: S603
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.data_dir,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise self._fail(f"migrations did not finish within {timeout}s") from None
        if result.returncode != 0:
            raise self._fail(f"migrations failed with exit code {result.returncode}")

    def start(self) -> None:
        if self.running:
            return
        self._spawn([self.python, "-m", self.spec.module, "serve"], env=self.env)

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            self._check_alive("start-up")
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise self._fail(f"GET /readyz not 200 after {timeout}s (last: {last})")
            time.sleep(0.1)


class DevStack:
    """Everything DropWave needs, on free ports under ``data_dir``. A context manager.

    After ``start()``: ``base_url`` (the gateway), ``database_url_template``,
    ``kafka_bootstrap_servers``, ``stripe_api_base``, ``smtp_host``/``smtp_port``,
    ``services`` (name -> its first :class:`ServiceProcess`), ``instances`` (name -> every
    instance, ``scale`` of them) and ``addresses()``.
    """

    def __init__(
        self,
        data_dir: Path | str,
        services: Sequence[ServiceSpec] | None = None,
        *,
        topics: Sequence[TopicSpecLike] | None = None,
        extra_env: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        on_event: Callable[[str], None] | None = None,
        python: str = sys.executable,
        ready_timeout: float = 60.0,
        with_gateway: bool = True,
        stripe_faults: bool = False,
        scale: Mapping[str, int] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.service_specs: list[ServiceSpec] = (
            default_services() if services is None else list(services)
        )
        self.scale = dict(scale or {})
        """Instances per service (default 1)."""
        unknown = set(self.scale) - {spec.name for spec in self.service_specs}
        if unknown:
            raise ValueError(f"scale: no such service {', '.join(sorted(unknown))}")
        for name, count in self.scale.items():
            if not 1 <= count <= MAX_INSTANCES:
                raise ValueError(f"scale: {name}={count}, expected 1 to {MAX_INSTANCES}")
        self._topics = topics
        self.extra_env: dict[str, str] = dict(extra_env or {})
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self._on_event = on_event
        self.python = python
        self.ready_timeout = ready_timeout
        self.with_gateway = with_gateway
        self.want_stripe_faults = stripe_faults
        self.stripe_faults: BackgroundFaultProxy | None = None
        """With ``stripe_faults=True`` (and the embedded emulator): the fault proxy payments
        reaches Stripe through; tests switch faults on with ``set_plan``."""

        self.postgres: EmbeddedPostgres | None = None
        self.broker: TansuBroker | None = None
        self.stripe: LocalStripe | None = None
        self.smtp: SmtpSink | None = None
        self.gateway: CaddyGateway | None = None
        self.issuer: DevIssuer | None = None
        self.auth_env: dict[str, str] = {}
        self.services: dict[str, ServiceProcess] = {}
        self.instances: dict[str, list[ServiceProcess]] = {}

        self.database_url_template = ""
        self.kafka_bootstrap_servers = ""
        self.stripe_api_base = ""
        self.stripe_secret_key = ""
        self.stripe_webhook_secret = ""
        self.smtp_host = ""
        self.smtp_port = 0
        # The gateway's port is chosen before the services start, so the links they put in
        # mail (PUBLIC_BASE_URL, PAY_LATER_URL_TEMPLATE) point at the running gateway.
        self.gateway_port = 0
        self._started: list[_Startable] = []

    # -- public ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.gateway is None:
            raise RuntimeError("the gateway is not running")
        return self.gateway.base_url

    def database_url(self, service: str) -> str:
        return self.database_url_template.replace("{db}", service)

    def addresses(self) -> dict[str, str]:
        """Human-readable address of every part (for printing)."""
        out: dict[str, str] = {}
        if self.gateway is not None:
            out["gateway"] = self.gateway.base_url
        out["postgres"] = self.database_url_template
        out["kafka"] = self.kafka_bootstrap_servers
        out["stripe"] = self.stripe_api_base
        out["smtp"] = f"{self.smtp_host}:{self.smtp_port}"
        if self.auth_env:
            out["auth jwks"] = self.auth_env["AUTH_JWKS_URL"]
        if self.smtp is not None:
            out["mail"] = str(self.smtp.maildir)
        for instances in self.instances.values():
            for svc in instances:
                out[f"service {svc.name}"] = svc.base_url
        return out

    @property
    def public_base_url(self) -> str:
        """The gateway's URL as links in mail show it ("" before start or without gateway);
        ``PUBLIC_BASE_URL`` in the environment wins (e.g. a tunnel in front of the stack)."""
        if "PUBLIC_BASE_URL" in self.environ:
            return self.environ["PUBLIC_BASE_URL"].rstrip("/")
        return f"http://127.0.0.1:{self.gateway_port}" if self.gateway_port else ""

    def link_env(self) -> dict[str, str]:
        """Where links in mail and SMS point: the gateway (unsubscribe, pay later)."""
        base = self.public_base_url
        if not base:
            return {}
        return {
            "PUBLIC_BASE_URL": base,
            "PAY_LATER_URL_TEMPLATE": self.environ.get(
                "PAY_LATER_URL_TEMPLATE", f"{base}/pay/{{order_id}}#t={{token}}"
            ),
        }

    def stripe_js_env(self) -> dict[str, str]:
        """Where the pages load Stripe.js from (localstripe serves a v3 stand-in at
        ``<api>/js.stripe.com/v3/``) and the publishable key; the environment wins."""
        env = {
            "STRIPE_PUBLISHABLE_KEY": self.environ.get(
                "STRIPE_PUBLISHABLE_KEY", DEV_STRIPE_PUBLISHABLE_KEY
            )
        }
        if "STRIPE_JS_URL" in self.environ:
            env["STRIPE_JS_URL"] = self.environ["STRIPE_JS_URL"]
        elif self.stripe is not None:
            env["STRIPE_JS_URL"] = f"{self.stripe_api_base}/js.stripe.com/v3/"
        return env

    def service_env(self, spec: ServiceSpec, port: int) -> dict[str, str]:
        """The environment a service process gets."""
        env = child_env()
        env.update(
            {
                "DATABASE_URL": self.database_url(spec.name),
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
                "KAFKA_SESSION_TIMEOUT_MS": self.environ.get("KAFKA_SESSION_TIMEOUT_MS", "6000"),
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(port),
                "LOG_LEVEL": self.environ.get("LOG_LEVEL", "INFO"),
                "STRIPE_SECRET_KEY": self.stripe_secret_key,
                "STRIPE_API_BASE": (
                    self.stripe_faults.base_url if self.stripe_faults else self.stripe_api_base
                ),
                "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
                # The storefront's pages load Stripe.js: the emulator's stand-in in dev.
                **self.stripe_js_env(),
                # The emulator has no rate limit of its own: pace as live mode does (an
                # sk_test_ key alone would mean test mode's 25/s).
                **(
                    {"STRIPE_RATE_LIMIT_PER_S": self.environ.get("STRIPE_RATE_LIMIT_PER_S", "100")}
                    if self.stripe is not None
                    else {}
                ),
                "SMTP_HOST": self.smtp_host,
                "SMTP_PORT": str(self.smtp_port),
                "MAIL_FROM": self.environ.get("MAIL_FROM", DEV_MAIL_FROM),
                # SMS go to the fake carrier: one JSON file per message under <data>/sms.
                "SMS_PROVIDER": self.environ.get("SMS_PROVIDER", "file"),
                "SMS_FILE_DIR": str(self.data_dir / "sms"),
                "SERVICE_NAME": spec.name,
                # The gateway is the one proxy whose X-Forwarded-For the services believe.
                "TRUSTED_PROXIES": self.environ.get("TRUSTED_PROXIES", "127.0.0.1/32"),
                "PYTHONUNBUFFERED": "1",
                # Dev values (dev secrets, http links to 127.0.0.1) are refused in production.
                "DROPWAVE_ENV": self.environ.get("DROPWAVE_ENV", "dev"),
                # Dev: creators may publish before their Stripe Connect onboarding is done.
                "REQUIRE_PAYOUTS_TO_PUBLISH": self.environ.get(
                    "REQUIRE_PAYOUTS_TO_PUBLISH", "false"
                ),
            }
        )
        env.update(self.link_env())
        env.update(self.auth_env)
        env.update({k: self.environ.get(k, v) for k, v in DEV_SECRETS.items()})
        env.update(self.extra_env)
        return env

    def mint_token(
        self, creator_id: str, ttl_s: int = 3600, email: str | DefaultEmail | None = DEFAULT_EMAIL
    ) -> str:
        """A creator token this stack's services accept (signed by the dev issuer), with an
        ``email`` claim: ``<creator>@creators.dropwave.test`` by default, ``None``: none."""
        if self.issuer is None:
            raise RuntimeError("no dev issuer: the services trust AUTH_JWKS_URL's provider")
        return mint_creator_token(creator_id, ttl_s, data_dir=self.data_dir, email=email)

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self._event("start failed: stopping what was started")
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every started part, in reverse order. Idempotent. A Ctrl-C meanwhile does
        not cut it short (it is raised once everything is stopped)."""
        with deferred_interrupts():
            while self._started:
                part = self._started[-1]
                try:
                    part.stop()
                except Exception:
                    logger.exception("stopping %r failed", part)
                self._started.pop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _event(self, message: str) -> None:
        if self._on_event is not None:
            self._on_event(message)
        else:
            logger.info("%s", message)

    def _started_part(self, part: ManagedProcess, label: str) -> None:
        self._started.append(part)  # registered first: stop() also cleans up half-starts
        t0 = time.monotonic()
        part.start()
        self._event(f"{label} ready ({time.monotonic() - t0:.2f}s)")

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.environ

        # 1. PostgreSQL + one database per service
        template = env.get("DATABASE_URL_TEMPLATE")
        if template:
            if "{db}" not in template:
                raise ValueError("DATABASE_URL_TEMPLATE must contain '{db}'")
            self._event("postgres: using DATABASE_URL_TEMPLATE")
            self.database_url_template = template
        else:
            self._event("postgres: starting embedded PostgreSQL")
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
            self._started_part(self.postgres, "postgres")
            self.database_url_template = self.postgres.url_template
        admin_dsn = admin_dsn_from_url(self.database_url_template.replace("{db}", "postgres"))
        for spec in self.service_specs:
            created = ensure_database(admin_dsn, spec.name)
            self._event(f"database {spec.name}: {'created' if created else 'exists'}")

        # 2. Broker + topics
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap:
            self._event(f"kafka: using KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
            self.kafka_bootstrap_servers = bootstrap
        else:
            self._event("kafka: starting Tansu")
            self.broker = TansuBroker(self.data_dir / "tansu")
            self._started_part(self.broker, "tansu")
            self.kafka_bootstrap_servers = self.broker.bootstrap_servers
        topics = default_topics() if self._topics is None else list(self._topics)
        created_topics = create_topics(self.kafka_bootstrap_servers, topics)
        self._event(f"topics: {len(topics)} wanted, {len(created_topics)} created")

        # 3. Stripe
        self.stripe_webhook_secret = env.get("STRIPE_WEBHOOK_SECRET", DEV_STRIPE_WEBHOOK_SECRET)
        if env.get("STRIPE_API_BASE") or env.get("STRIPE_SECRET_KEY"):
            self.stripe_api_base = env.get("STRIPE_API_BASE") or "https://api.stripe.com"
            self.stripe_secret_key = env.get("STRIPE_SECRET_KEY") or DEV_STRIPE_SECRET_KEY
            self._event(f"stripe: using {self.stripe_api_base}")
        else:
            self._event("stripe: starting localstripe")
            self.stripe = LocalStripe(self.data_dir / "localstripe")
            self._started_part(self.stripe, "localstripe")
            self.stripe_api_base = self.stripe.api_base
            self.stripe_secret_key = DEV_STRIPE_SECRET_KEY
            if self.want_stripe_faults:
                self.stripe_faults = BackgroundFaultProxy(self.stripe_api_base, hang_s=10.0)
                self._started.append(self.stripe_faults)
                self.stripe_faults.start()
                self._event(f"stripe fault proxy: {self.stripe_faults.base_url} (no faults yet)")

        # 4. SMTP
        smtp_host = env.get("SMTP_HOST")
        if smtp_host:
            self.smtp_host = smtp_host
            self.smtp_port = int(env.get("SMTP_PORT", "25"))
            self._event(f"smtp: using {self.smtp_host}:{self.smtp_port}")
        else:
            self._event("smtp: starting the SMTP sink")
            self.smtp = SmtpSink(self.data_dir / "smtp", maildir=self.data_dir / "mail")
            self._started_part(self.smtp, "smtp sink")
            self.smtp_host, self.smtp_port = self.smtp.host, self.smtp.port

        # 4b. Creator auth: a real provider's JWKS, or the dev issuer (key in the data dir)
        jwks_url = env.get("AUTH_JWKS_URL")
        if jwks_url:
            self._event(f"auth: using AUTH_JWKS_URL={jwks_url}")
            self.auth_env = {
                "AUTH_JWKS_URL": jwks_url,
                "AUTH_ISSUER": env.get("AUTH_ISSUER", ""),
                "AUTH_AUDIENCE": env.get("AUTH_AUDIENCE", ""),
            }
        else:
            self.issuer = DevIssuer(self.data_dir)
            self._started.append(self.issuer)
            self.issuer.start()
            self.auth_env = {
                "AUTH_JWKS_URL": self.issuer.jwks_url,
                "AUTH_ISSUER": DEV_ISSUER,
                "AUTH_AUDIENCE": DEV_AUDIENCE,
            }
            self._event(f"dev issuer ready: {self.issuer.jwks_url}")

        # 5. Services: migrations, then all started, then each waited on. The gateway comes
        # last but its port is picked now: services put its URL in the links they send.
        if self.with_gateway:
            self.gateway_port = free_port()
        service_dir = self.data_dir / "services"
        for spec in self.service_specs:
            instances = self.instances[spec.name] = []
            for n in range(1, self.scale.get(spec.name, 1) + 1):
                port = free_port()
                env = self.service_env(spec, port)
                instances.append(
                    ServiceProcess(
                        service_dir, spec, env, port=port, python=self.python, instance=n
                    )
                )
            self.services[spec.name] = instances[0]
        # Once per service (its instances share a database), every service at once: each has
        # its own database, and most of a migrate run is its Python starting.
        for svc in self.services.values():
            self._event(f"{svc.spec.name}: migrating")
        with ThreadPoolExecutor(max_workers=len(self.services) or 1) as pool:
            for done in [pool.submit(svc.migrate) for svc in self.services.values()]:
                done.result()
        every_instance = [svc for instances in self.instances.values() for svc in instances]
        for svc in every_instance:
            self._event(f"{svc.name}: starting on {svc.base_url}")
            self._started.append(svc)
            svc.start()
        for svc in every_instance:
            t0 = time.monotonic()
            svc.wait_ready(self.ready_timeout)
            self._event(f"{svc.name} ready ({time.monotonic() - t0:.2f}s)")

        # 6. Gateway
        if self.with_gateway:
            known = caddyfile_upstreams()
            upstreams: dict[str, str] = {}
            for name, instances in self.instances.items():
                svc = self.services[name]
                if svc.spec.gateway_upstream in known:
                    # Several instances: Caddy takes them all and balances between them.
                    upstreams[svc.spec.gateway_upstream] = " ".join(
                        f"127.0.0.1:{instance.port}" for instance in instances
                    )
                else:
                    self._event(f"{svc.name}: not behind the gateway (no such Caddyfile upstream)")
            self._event("gateway: starting Caddy with deploy/gateway/Caddyfile")
            self.gateway = CaddyGateway(
                self.data_dir / "gateway", upstreams, port=self.gateway_port
            )
            self._started_part(self.gateway, "gateway")
            if self.stripe is not None and STRIPE_WEBHOOK_UPSTREAM in upstreams:
                url = f"{self.gateway.base_url}{STRIPE_WEBHOOK_PATH}"
                register_webhook(self.stripe_api_base, url, self.stripe_webhook_secret)
                self._event(f"localstripe: webhooks -> {url}")


def describe_failure(exc: BaseException) -> str:
    """One readable message for a start failure (the log tail is in PartFailedError)."""
    if isinstance(exc, PartFailedError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
