"""Test harness shared by every test in the repo: real PostgreSQL and a real Kafka-protocol
broker, started once per session on free ports.

Which server, in order: TEST_DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS (existing servers;
databases and topics are created on them); else, where a Docker engine answers (and
DROPWAVE_TEST_DOCKER is not 0), testcontainers' PostgreSQL and Redpanda; else the embedded
PostgreSQL and Tansu from the dev stack.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dropwave_contracts.topics import all_topic_specs
from dropwave_devstack.broker import TansuBroker, create_topics
from dropwave_devstack.postgres import EmbeddedPostgres, admin_dsn_from_url, ensure_database
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
from dropwave_runtime.migrations import install_plumbing
from sqlalchemy.ext.asyncio import create_async_engine

# The browser fixtures (`browser`, `page`, `page_log`), for any test that is marked `browser`.
pytest_plugins = ("tests.browser.harness",)

# Tests build settings with dev values (short secrets, http://localhost links) that
# production mode (the default) refuses; tests of production mode set it explicitly.
os.environ.setdefault("DROPWAVE_ENV", "dev")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``make test`` (``-n 2 --dist loadscope``): each test module is a unit, as with xdist's
    loadscope, except that all of ``tests/e2e`` is one: the e2e tests run in file order on
    one worker (one shared stack; no stall test's timeline shares the box with another e2e
    test, no second stack is started) while the other worker runs the rest beside them.
    (xdist's ``loadgroup`` would do it with marks, but it renames node ids, which pytest 9.2
    no longer lets a plugin do.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class E2EOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/e2e" if nodeid.startswith("tests/e2e/") else super()._split_scope(nodeid)

    return E2EOnOneWorker(config, log)


def docker_engine_available() -> bool:
    """True when a Docker engine answers (a docker CLI alone is not enough)."""
    if os.environ.get("DROPWAVE_TEST_DOCKER", "1") == "0":
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def docker_engine() -> bool:
    return docker_engine_available()


class PostgresServer:
    """Hands out fresh databases on one server."""

    def __init__(self, url_template: str, embedded: EmbeddedPostgres | None = None) -> None:
        self.url_template = url_template
        self.embedded = embedded
        """The server itself when the suite started it (stall tests freeze it), else None."""

    def create(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        ensure_database(admin_dsn_from_url(self.url_template.replace("{db}", "postgres")), name)
        return self.url_template.replace("{db}", name)


@pytest.fixture(scope="session")
def postgres_server(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: bool
) -> Iterator[PostgresServer]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        base, _, _ = url.rpartition("/")
        yield PostgresServer(base + "/{db}")
        return
    if docker_engine:
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver="asyncpg") as container:
            base, _, _ = container.get_connection_url().rpartition("/")
            yield PostgresServer(base + "/{db}")
        return
    with EmbeddedPostgres(tmp_path_factory.mktemp("pg")) as pg:
        yield PostgresServer(pg.url_template, embedded=pg)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory, docker_engine: bool) -> Iterator[str]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        create_topics(bootstrap, all_topic_specs())
        yield bootstrap
        return
    if docker_engine:
        from testcontainers.community.kafka import RedpandaContainer

        with RedpandaContainer() as redpanda:
            bootstrap = redpanda.get_bootstrap_server()
            create_topics(bootstrap, all_topic_specs())
            yield bootstrap
        return
    with TansuBroker(tmp_path_factory.mktemp("kafka")) as broker:
        broker.create_topics(all_topic_specs())
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    """The Stripe emulator (localstripe), one per session (payments' tests, traces)."""
    with LocalStripe(tmp_path_factory.mktemp("localstripe")) as emulator:
        yield emulator


@pytest.fixture
def plumbing_database(postgres_server: PostgresServer) -> str:
    """A fresh database with the outbox and inbox installed; returns its URL."""
    url = postgres_server.create("plumbing")

    async def install() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(install_plumbing)
        await engine.dispose()

    asyncio.run(install())
    return url


@pytest.fixture
def service_db(postgres_server: PostgresServer) -> Callable[[str], str]:
    """`service_db("orders")`: a fresh database migrated with that service's migrations."""
    from dropwave_runtime.migrations import upgrade

    def make(service: str) -> str:
        url = postgres_server.create(service)
        module = __import__(service)
        upgrade(url, Path(module.__file__).parent / "migrations")
        return url

    return make


def _service_of(path: Path) -> str:
    parts = path.parts
    if "services" not in parts or len(parts) <= parts.index("services") + 1:
        raise pytest.UsageError(f"{path}: db_url and db are for tests under services/<name>/")
    return parts[parts.index("services") + 1]


@pytest.fixture
def db_url(request: pytest.FixtureRequest, service_db: Callable[[str], str]) -> str:
    """A fresh, migrated database of the service whose test asks (``services/<name>/tests``).
    Synchronous on purpose: migrations run their own event loop, before the test's."""
    return service_db(_service_of(request.path))


@pytest.fixture
async def db(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[Database]:
    """The service's ``Database`` on ``db_url`` (disposed after the test)."""
    database = Database(db_url, _service_of(request.path), pool_size=10)
    yield database
    await database.dispose()
