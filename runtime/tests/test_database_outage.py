"""PostgreSQL down, hung or slow: requests answer 503 ``database_unavailable`` with
``Retry-After`` within the configured bounds, never a 500 and never a wait without end; the
consumer waits for the database instead of dead-lettering; all recover once it is back.

The server is this module's own embedded PostgreSQL (stopped and frozen here), not the
session's shared one.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping

import httpx
import pytest
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import CampaignTipped
from dropwave_contracts.topics import serialize
from dropwave_devstack.postgres import EmbeddedPostgres
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import UnitOfWork, database_unavailable, plumbing_metadata
from dropwave_runtime.service import Runtime, ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from fastapi import APIRouter, FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from tests.factories import event as event_of

pytestmark = pytest.mark.timeout(180)

# Generous: proves "answers, and not forever", not a latency.
BOUND_S = 60.0


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(tmp_path_factory.mktemp("outage-pg")) as server:
        yield server


@pytest.fixture
def running(pg: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    """The server, answering; whatever a test did to it is undone afterwards."""
    pg.thaw()
    if not pg.running:
        pg.start()
    yield pg
    pg.thaw()
    if not pg.running:
        pg.start()


def settings(pg: EmbeddedPostgres, **extra: float) -> ServiceSettings:
    return ServiceSettings(
        database_url=pg.url(),
        kafka_bootstrap_servers="127.0.0.1:1",  # nothing listens: the broker is down
        db_connect_timeout_s=2,
        db_pool_timeout_s=2,
        db_statement_timeout_s=2,
        **extra,  # type: ignore[arg-type]
    )


def router() -> APIRouter:
    r = APIRouter()

    @r.get("/now")
    async def now(rt: Runtime) -> dict[str, str]:
        return {"now": (await rt.db.now()).isoformat()}

    @r.get("/slow")
    async def slow(rt: Runtime) -> dict[str, str]:
        async with rt.db.unit_of_work() as uow:
            await uow.session.execute(text("SELECT pg_sleep(30)"))
        return {}

    @r.get("/broken")
    async def broken() -> dict[str, str]:
        raise ConnectionResetError("not the database")

    return r


@pytest.fixture
async def client(running: EmbeddedPostgres) -> AsyncIterator[httpx.AsyncClient]:
    rt = ServiceRuntime("orders", settings(running))
    app: FastAPI = rt.create_app([router()], "outage")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=120) as c:
        yield c
    await rt.db.dispose()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["retry-after"]) > 0


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response, time.monotonic() - started


async def test_database_stopped_answers_503_then_recovers(
    client: httpx.AsyncClient, running: EmbeddedPostgres
) -> None:
    assert (await client.get("/now")).status_code == 200  # a pooled connection exists

    running.stop()
    response, _ = await timed_get(client, "/now")
    assert_unavailable(response)
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unavailable"

    running.start()  # same port
    assert (await client.get("/now")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


async def test_database_frozen_answers_503_within_bounds_then_recovers(
    client: httpx.AsyncClient, running: EmbeddedPostgres
) -> None:
    assert (await client.get("/now")).status_code == 200

    assert len(running.freeze()) > 1  # the postmaster and its backends
    pooled, took = await timed_get(client, "/now")  # the pooled connection hangs
    assert_unavailable(pooled)
    assert took < BOUND_S
    fresh, took = await timed_get(client, "/now")  # a new connection hangs in its handshake
    assert_unavailable(fresh)
    assert took < BOUND_S

    running.thaw()
    assert (await client.get("/now")).status_code == 200


async def test_a_statement_past_the_timeout_is_cancelled_with_503(
    client: httpx.AsyncClient,
) -> None:
    response, took = await timed_get(client, "/slow")  # pg_sleep(30), timeout 2 s
    assert_unavailable(response)
    assert took < 25


async def test_other_errors_stay_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/broken")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"


async def test_readiness_is_the_database_the_broker_is_reported(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")  # the broker was never started (nothing listens)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"database": "ok", "broker": "unreachable"}


def test_only_driver_connection_errors_count_as_unavailable() -> None:
    assert database_unavailable(sa_exc.TimeoutError("pool"))
    assert not database_unavailable(ConnectionRefusedError(111, "raised by our own code"))
    assert not database_unavailable(ValueError("x"))
    assert not database_unavailable(sa_exc.IntegrityError("INSERT", {}, Exception("dup")))


class NoDeadLetters:
    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None:
        raise AssertionError("an outage must not dead-letter the event")


async def test_consumer_waits_for_the_database_instead_of_dead_lettering(
    running: EmbeddedPostgres,
) -> None:
    rt = ServiceRuntime("campaigns", settings(running))
    async with rt.db.engine.begin() as conn:
        await conn.run_sync(plumbing_metadata.create_all)
    handled: list[uuid.UUID] = []

    async def handler(event: Event, uow: UnitOfWork) -> None:
        handled.append(event.event_id)

    consumer = EventConsumer(
        "campaigns",
        rt.db,
        {CampaignTipped: handler},  # type: ignore[dict-item]
        NoDeadLetters(),  # type: ignore[arg-type]
        max_attempts=1,
        backoff_base_s=0.2,
        backoff_max_s=1.0,
    )
    event = event_of(CampaignTipped)
    record = Record("campaigns.events.v1", 0, 0, event.key.encode(), serialize(event), [])

    running.stop()
    task = asyncio.create_task(consumer.handle(record))
    await asyncio.sleep(5)  # several rounds against a database that is down
    assert not task.done()
    assert handled == []
    running.start()
    await asyncio.wait_for(task, BOUND_S)
    assert handled == [event.event_id]
    await rt.db.dispose()
