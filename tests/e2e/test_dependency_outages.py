"""When a dependency fails, through the gateway: PostgreSQL stopped or frozen (SIGSTOP of
every server process) answers 503 ``database_unavailable`` with ``Retry-After`` within
seconds, and requests succeed again once it is back; with the broker frozen, orders are
still taken (the outbox keeps the events), ``/readyz`` stays ready and says the broker is
unreachable, and the events flow once it is back.

This module breaks the database, so it runs its own stack, not the shared one.
"""

import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_devstack.postgres import EmbeddedPostgres
from dropwave_devstack.stack import DevStack

from .conftest import Eventually
from .test_settlement import place, statuses
from .test_stalls import launch

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BOUND_S = 60.0  # "answers, and not forever"; the configured bounds are a few seconds


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {"MIN_CAMPAIGN_DURATION_S": "0"}
    with DevStack(tmp_path_factory.mktemp("outages"), extra_env=env) as s:
        if s.postgres is None or s.broker is None:
            pytest.skip("needs the embedded PostgreSQL and broker")
        yield s


@pytest.fixture
def gw(own_stack: DevStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=own_stack.base_url, timeout=120) as client:
        yield client


def order_body() -> dict[str, str]:
    return {"email": f"b-{uuid.uuid4().hex[:8]}@example.com", "payment_method_id": "pm_card_visa"}


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["retry-after"]) > 0


def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def open_campaign(
    own_stack: DevStack, gw: httpx.Client, eventually: Eventually
) -> tuple[EmbeddedPostgres, str, dict[str, Any]]:
    """The stack's PostgreSQL, and a published campaign's slug with one order taken."""
    pg = own_stack.postgres
    assert pg is not None
    _, slug = launch(own_stack, gw, datetime.now(UTC) + timedelta(hours=1))
    [order] = place(gw, eventually, slug, 1)
    return pg, slug, order


def test_database_stopped_then_restarted(
    own_stack: DevStack, gw: httpx.Client, eventually: Eventually
) -> None:
    pg, slug, before = open_campaign(own_stack, gw, eventually)

    pg.stop()
    try:
        assert_database_unavailable(gw.get(f"/api/v1/campaigns/{slug}"))
        key = {"Idempotency-Key": str(uuid.uuid4())}
        assert_database_unavailable(
            gw.post(f"/api/v1/campaigns/{slug}/orders", headers=key, json=order_body())
        )
        ready = httpx.get(f"{own_stack.services['orders'].base_url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "unavailable"
    finally:
        pg.start()  # same port: the services' URLs still point at it

    eventually(lambda: gw.get(f"/api/v1/campaigns/{slug}").status_code == 200, "recovery", 60)
    [after] = place(gw, eventually, slug, 1)
    eventually(
        lambda: statuses(gw, [before, after]) == ["authorized", "authorized"],
        "both orders authorized once the database is back",
        120,
    )


def test_database_frozen_then_thawed(
    own_stack: DevStack, gw: httpx.Client, eventually: Eventually
) -> None:
    pg, slug, _ = open_campaign(own_stack, gw, eventually)

    assert len(pg.freeze()) > 1  # postmaster and backends: open connections hang too
    try:
        response, took = timed(lambda: gw.get(f"/api/v1/campaigns/{slug}"))
        assert_database_unavailable(response)
        assert took < BOUND_S
        key = {"Idempotency-Key": str(uuid.uuid4())}
        response, took = timed(
            lambda: gw.post(f"/api/v1/campaigns/{slug}/orders", headers=key, json=order_body())
        )
        assert_database_unavailable(response)
        assert took < BOUND_S
    finally:
        pg.thaw()

    eventually(lambda: gw.get(f"/api/v1/campaigns/{slug}").status_code == 200, "recovery", 60)
    [order] = place(gw, eventually, slug, 1)
    eventually(lambda: statuses(gw, [order]) == ["authorized"], "order authorized", 120)


def test_broker_frozen_orders_are_still_taken(
    own_stack: DevStack, gw: httpx.Client, eventually: Eventually
) -> None:
    broker = own_stack.broker
    assert broker is not None
    assert broker.pid is not None
    _, slug, _ = open_campaign(own_stack, gw, eventually)  # orders knows the campaign

    os.killpg(broker.pid, signal.SIGSTOP)
    try:
        orders = place(gw, eventually, slug, 2)  # 201: only the database is written
        ready = httpx.get(f"{own_stack.services['orders'].base_url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"] == {"database": "ok", "broker": "unreachable"}
        assert statuses(gw, orders) == ["pending", "pending"]  # the events wait in the outbox
    finally:
        os.killpg(broker.pid, signal.SIGCONT)

    eventually(
        lambda: statuses(gw, orders) == ["authorized", "authorized"],
        "the outbox's events delivered once the broker is back",
        120,
    )
