"""Limits that stop abuse, in the runtime: client addresses behind a trusted proxy, request
bodies refused before they are read, and per-route request budgets shared by instances."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dropwave_runtime.client_ip import client_ip, parse_networks
from dropwave_runtime.db import Database
from dropwave_runtime.http_limits import Rate, SharedBuckets, bucket_key, parse_rate
from dropwave_runtime.service import ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from fastapi import APIRouter, FastAPI, Request
from starlette.types import Message

TRUSTED = parse_networks("127.0.0.1/32,10.0.0.0/8")


def _scope(peer: str, forwarded: str | None = None) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return {"type": "http", "client": (peer, 1234), "headers": headers}


def test_client_ip_believes_forwarded_for_only_from_a_trusted_peer() -> None:
    assert client_ip(_scope("127.0.0.1", "198.51.100.7"), TRUSTED) == "198.51.100.7"
    # Through two trusted proxies: the right-most untrusted hop is the client; what the
    # client itself wrote on the left is not believed.
    chain = "6.6.6.6, 198.51.100.7, 10.1.2.3"
    assert client_ip(_scope("127.0.0.1", chain), TRUSTED) == "198.51.100.7"
    # An untrusted peer is who it is, whatever it claims.
    assert client_ip(_scope("203.0.113.9", "198.51.100.7"), TRUSTED) == "203.0.113.9"
    assert client_ip(_scope("127.0.0.1"), TRUSTED) == "127.0.0.1"
    assert client_ip(_scope("127.0.0.1", "not-an-ip"), TRUSTED) == "127.0.0.1"
    assert client_ip(_scope("127.0.0.1", "10.0.0.1"), TRUSTED) == "10.0.0.1"


def test_rates_parse() -> None:
    assert parse_rate("100/min") == Rate(100, 60.0)
    assert parse_rate(" 10 / hour ") == Rate(10, 3600.0)
    assert parse_rate("off") is None
    for bad in ("100", "0/min", "5/week", "-1/s"):
        with pytest.raises(ValueError, match="not a rate"):
            parse_rate(bad)
    with pytest.raises(ValueError, match="not a rate"):
        ServiceSettings(database_url="x", kafka_bootstrap_servers="y", rate_limits={"a": "x"})
    assert len(bucket_key("order_per_email", "a" * 320)) <= 64


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_budget_then_refills_evenly() -> None:
    clock = Clock()
    buckets = SharedBuckets(None, clock)
    rate = Rate(3, 60.0)  # 3 at once, then one every 20 s
    assert [buckets.take("k", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", rate) == pytest.approx(20.0)
    assert buckets.take("other", rate) == 0.0
    clock.now += 20.0
    assert buckets.take("k", rate) == 0.0
    assert buckets.take("k", rate) == pytest.approx(20.0)


def test_buckets_stay_bounded_in_memory() -> None:
    clock = Clock()
    buckets = SharedBuckets(None, clock, max_keys=100)
    rate = Rate(1, 3600.0)
    for i in range(1000):
        assert buckets.take(f"k{i}", rate) == 0.0
        assert len(buckets._buckets) <= 100
    assert buckets.take("k999", rate) > 0  # recent keys are kept


async def test_two_instances_spend_one_budget(limiter_db_url: str) -> None:
    """What one instance allowed, the other learns at its next sync: after both synced, the
    key's budget is spent on both."""
    dbs = [Database(limiter_db_url, "runtime-tests", pool_size=1) for _ in range(2)]
    a, b = (SharedBuckets(db.engine) for db in dbs)
    rate = Rate(10, 3600.0)
    try:
        assert all(a.take("route|198.51.100.7", rate) == 0.0 for _ in range(7))
        await a.sync()
        # b has its own view until it syncs: its requests are allowed, then counted.
        assert all(b.take("route|198.51.100.7", rate) == 0.0 for _ in range(3))
        await b.sync()
        assert b.take("route|198.51.100.7", rate) > 0  # 7 + 3 = the budget
        # a last synced before b spent its 3: it lets one more through (the documented
        # overshoot, bounded by a sync period), then learns the shared state at its sync.
        assert a.take("route|198.51.100.7", rate) == 0.0
        assert a.take("route|198.51.100.8", rate) == 0.0  # another address: its own budget
        await a.sync()
        assert a.take("route|198.51.100.7", rate) > 0
        assert a.take("route|198.51.100.8", rate) == 0.0
    finally:
        for db in dbs:
            await db.dispose()


async def test_one_sync_spends_keys_of_several_rates_new_and_already_shared(
    limiter_db_url: str,
) -> None:
    """A sync sends each rate's keys in one upsert: a key new to the table starts at its
    spending, one another instance already shared moves by it (the same GCRA step)."""
    dbs = [Database(limiter_db_url, "runtime-tests", pool_size=1) for _ in range(2)]
    a, b = (SharedBuckets(db.engine) for db in dbs)
    hourly, daily = Rate(5, 3600.0), Rate(3, 86400.0)  # intervals 720 s and 28,800 s
    try:
        for _ in range(2):
            assert a.take("hourly|x", hourly) == a.take("daily|x", daily) == 0.0
        await a.sync()  # both keys new to the table
        assert all(b.take("hourly|x", hourly) == 0.0 for _ in range(3))
        assert b.take("daily|x", daily) == 0.0
        await b.sync()  # both keys already there: moved by b's spending
        # Each budget is spent (2 + 3 of 5, 2 + 1 of 3): the wait is one interval.
        assert b.take("hourly|x", hourly) == pytest.approx(720.0, abs=5)
        assert b.take("daily|x", daily) == pytest.approx(28_800.0, abs=5)
        # a's view is from before b spent: one more goes through (the documented overshoot),
        # and its sync moves the shared row by one more interval.
        assert a.take("hourly|x", hourly) == 0.0
        await a.sync()
        assert a.take("hourly|x", hourly) == pytest.approx(1440.0, abs=5)
    finally:
        for db in dbs:
            await db.dispose()


# -- through a service app -------------------------------------------------------------------

router = APIRouter()


@router.post("/api/v1/echo")
async def echo(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@router.get("/api/v1/ping")
async def ping() -> dict[str, str]:
    return {"ok": "yes"}


@router.post("/api/v1/webhooks/thing")
async def webhook(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@pytest.fixture
async def app(limiter_db_url: str) -> AsyncIterator[FastAPI]:
    settings = ServiceSettings(
        database_url=limiter_db_url,
        kafka_bootstrap_servers="127.0.0.1:1",
        max_body_bytes=2048,
        webhook_max_body_bytes=8192,
        rate_limits={"ping": "3/min"},
        rate_limit_exempt="192.0.2.0/24",
    )
    rt = ServiceRuntime("runtime-tests", settings)
    application = rt.create_app([router], title="t", webhook_prefixes=("/api/v1/webhooks/",))
    yield application
    await rt.db.dispose()


def _client(app: FastAPI, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, client=(peer, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


async def _call(app: FastAPI, headers: list[tuple[bytes, bytes]], body: list[bytes]) -> list[Any]:
    """Drive the ASGI app by hand: ``receive`` gives ``body`` chunk by chunk, and then fails
    the test (a middleware that waits for more body than was declared would hang here)."""
    chunks = list(body)
    sent: list[Message] = []

    async def receive() -> Message:
        if not chunks:
            raise AssertionError("the body was read past what the client sent")
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/echo",
        "raw_path": b"/api/v1/echo",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"svc"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("svc", 80),
    }
    await app(scope, receive, send)
    return sent


async def test_a_huge_declared_body_is_refused_without_reading_it(app: FastAPI) -> None:
    """Content-Length says 1 GB, the client sent 10 bytes and would send the rest slowly:
    the 413 comes at once, the body is never read (``receive`` is not even called)."""
    sent = await _call(app, [(b"content-length", b"1000000000")], [])
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])
    assert body["code"] == "payload_too_large"
    assert body["max_bytes"] == 2048
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_a_streamed_body_is_cut_off_at_the_limit(app: FastAPI) -> None:
    """No Content-Length (chunked): counted as it comes, refused once past the limit without
    reading further."""
    sent = await _call(app, [], [b"x" * 1500, b"x" * 1500, b"never read"])
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "payload_too_large"
    fine = await _call(app, [], [b"x" * 1000, b"x" * 1000])
    assert fine[0]["status"] == 200
    assert json.loads(fine[1]["body"]) == {"bytes": 2000}


async def test_webhooks_have_their_own_body_limit(app: FastAPI) -> None:
    async with _client(app) as http:
        assert (await http.post("/api/v1/echo", content=b"x" * 4096)).status_code == 413
        hook = await http.post("/api/v1/webhooks/thing", content=b"x" * 4096)
        assert hook.status_code == 200
        assert hook.json() == {"bytes": 4096}
        assert (await http.post("/api/v1/webhooks/thing", content=b"x" * 9000)).status_code == 413


async def test_route_budget_per_client_address(app: FastAPI) -> None:
    async with _client(app) as gateway, _client(app, peer="203.0.113.9") as stranger:
        alice = {"X-Forwarded-For": "198.51.100.1"}  # the gateway (trusted) says who
        bob = {"X-Forwarded-For": "198.51.100.2"}
        codes = [(await gateway.get("/api/v1/ping", headers=alice)).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        refused = await gateway.get("/api/v1/ping", headers=alice)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "rate_limited"
        assert refused.headers["Retry-After"] == "20"  # one request of 3/min
        assert "X-Request-Id" in refused.headers
        assert (await gateway.get("/api/v1/ping", headers=bob)).status_code == 200
        # Another route has its own (default) budget.
        assert (await gateway.post("/api/v1/echo", headers=alice)).status_code == 200
        # An untrusted peer cannot pick its budget by forging X-Forwarded-For.
        spoofed = [
            (
                await stranger.get("/api/v1/ping", headers={"X-Forwarded-For": f"10.9.9.{i}"})
            ).status_code
            for i in range(4)
        ]
        assert spoofed == [200, 200, 200, 429]
        # Exempt addresses are never limited; operations routes are not limited.
        exempt = {"X-Forwarded-For": "192.0.2.5"}
        exempt_codes = [
            (await gateway.get("/api/v1/ping", headers=exempt)).status_code for _ in range(5)
        ]
        assert exempt_codes == [200] * 5
        health = [(await gateway.get("/healthz")).status_code for _ in range(5)]
        assert health == [200] * 5


async def test_two_service_instances_share_one_route_budget(limiter_db_url: str) -> None:
    """Two instances of a service (two apps on one database): the budget one spent is spent
    for the other once both have synced."""
    apps, runtimes = [], []
    for _ in range(2):
        settings = ServiceSettings(
            database_url=limiter_db_url,
            kafka_bootstrap_servers="127.0.0.1:1",
            rate_limits={"ping": "4/hour"},
        )
        rt = ServiceRuntime("runtime-tests", settings)
        runtimes.append(rt)
        apps.append(rt.create_app([router], title="t"))
    who = {"X-Forwarded-For": "198.51.100.77"}
    try:
        async with _client(apps[0]) as one, _client(apps[1]) as two:
            assert [(await one.get("/api/v1/ping", headers=who)).status_code for _ in range(3)] == [
                200
            ] * 3
            await runtimes[0].limits.sync()
            assert (await two.get("/api/v1/ping", headers=who)).status_code == 200
            await runtimes[1].limits.sync()  # learns the 3 spent on the first instance
            refused = await two.get("/api/v1/ping", headers=who)
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) > 0
    finally:
        for rt in runtimes:
            await rt.db.dispose()


async def test_sync_without_database_keeps_limits_local() -> None:
    settings = ServiceSettings(
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
        kafka_bootstrap_servers="127.0.0.1:1",
    )
    rt = ServiceRuntime("runtime-tests", settings)
    rate = Rate(1, 60.0)
    assert rt.limits.take("k", rate) == 0.0
    await asyncio.wait_for(rt.limits.sync(), 30)  # logs, does not raise
    assert rt.limits.take("k", rate) > 0
    await rt.db.dispose()


async def test_a_page_service_limits_its_pages_by_their_own_budget_and_never_health() -> None:
    """``rate_limited_prefix="/"``: a catch-all page route spends its own default budget
    (``route_rates``, overridden by ``RATE_LIMITS``), other pages the default; the
    operations routes come first (``/healthz`` is not a page) and are never limited."""
    pages = APIRouter()

    @pages.get("/{slug}")
    async def page(slug: str) -> dict[str, str]:
        return {"slug": slug}

    @pages.get("/static/{name}")
    async def asset(name: str) -> dict[str, str]:
        return {"name": name}

    settings = ServiceSettings(
        database_url="postgresql+asyncpg://unused/unused",
        kafka_bootstrap_servers="127.0.0.1:1",
        rate_limit_default="2/min",
        rate_limits={"asset": "1/min"},
    )
    rt = ServiceRuntime("runtime-tests", settings)
    app = rt.create_app(
        [pages], title="t", rate_limited_prefix="/", route_rates={"page": "4/min", "asset": "9/s"}
    )
    async with _client(app) as client:
        assert [(await client.get("/a-drop")).status_code for _ in range(5)] == [200] * 4 + [429]
        assert [(await client.get("/static/x.css")).status_code for _ in range(2)] == [200, 429]
        health = [await client.get("/healthz") for _ in range(5)]
        assert [(r.status_code, r.json()["status"]) for r in health] == [(200, "ok")] * 5
    await rt.db.dispose()
