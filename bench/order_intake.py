"""Order intake benchmark: how fast one campaign takes orders, against the hot-row ceiling.

Starts what it needs itself, on free ports on 127.0.0.1 under a temporary directory:
PostgreSQL (embedded, but with production durability: fsync, synchronous_commit and
full_page_writes on), Tansu, localstripe, payments and ``--instances`` orders processes
(default: one per core).
Campaigns, notifications and the gateway are left out: on this 2-core box they would only
take CPU from the intake path. The benchmark plays campaigns' part by publishing
CampaignPublished itself. It prints:

1. the hot-row ceiling: a bare single-row ``UPDATE hot SET n = n + 1`` with commit from 20
   concurrent asyncpg connections, on the same PostgreSQL;
2. order-to-confirmed (placed -> authorized by payments, from the orders table's
   timestamps) at ``--confirm-rate`` orders/s, and payments' throughput; payments is then
   stopped, so it does not compete for the two cores with the intake runs;
3. a fixed-rate run at ``--rate`` orders/s (open loop: latency counts from when a request was
   due, so a stalled server is not hidden) -> p50/p95/p99 of the order request;
4. a rush: ``--orders`` requests on one campaign, ``--concurrency`` in flight -> accepted
   orders/s, p50/p95/p99, the ratio intake / ceiling, and that buyer numbers are 1..N;
5. the group-commit intake called in-process (no HTTP) -> orders/s and its ratio.

Every order over HTTP comes from a different buyer (email, and client address in
``X-Forwarded-For`` as the gateway sends it): the services' default limits stay on, at their
worst case of new keys on every request (ADR 0008).

Everything is bounded in count and time. Usage: ``make bench`` or
``python bench/order_intake.py [--orders 10000] [--rate 500] [--instances 2] [--help]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import uvloop
from aiokafka import AIOKafkaProducer
from dropwave_contracts.events import CampaignPublished
from dropwave_contracts.topics import serialize, topic_for
from dropwave_devstack.ports import free_port
from dropwave_devstack.postgres import (
    EmbeddedPostgres,
    admin_dsn_from_url,
    ensure_database,
    to_asyncpg_dsn,
)
from dropwave_devstack.stack import DevStack, ServiceProcess, default_services
from dropwave_runtime.db import Database
from orders.commands import PlaceOrder
from orders.intake import OrderIntake
from orders.models import CampaignSnapshot
from orders.schemas import OrderCreate
from sqlalchemy import select

HOT_ROW_CLIENTS = 20


@dataclass
class Run:
    """What one load phase observed."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def accepted(self) -> int:
        return self.statuses.get(201, 0)


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(values: Sequence[float]) -> str:
    return " / ".join(f"{pct(values, p) * 1000:.1f}" for p in (50, 95, 99)) + " ms"


async def hot_row_ceiling(dsn: str, seconds: float) -> float:
    """Transactions/s of `UPDATE hot SET n = n + 1` + commit from 20 connections."""
    setup = await asyncpg.connect(dsn)
    await setup.execute("DROP TABLE IF EXISTS hot; CREATE TABLE hot (id int primary key, n bigint)")
    await setup.execute("INSERT INTO hot VALUES (1, 0)")
    conns = [await asyncpg.connect(dsn) for _ in range(HOT_ROW_CLIENTS)]
    stop = time.perf_counter() + seconds
    done = 0

    async def worker(conn: Any) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await conn.execute("UPDATE hot SET n = n + 1 WHERE id = 1")  # autocommit: 1 tx
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    n = await setup.fetchval("SELECT n FROM hot WHERE id = 1")
    await setup.close()
    assert n == done
    return done / elapsed


DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


class DurablePostgres(EmbeddedPostgres):
    """The dev stack's PostgreSQL starts with fsync, synchronous_commit and full_page_writes
    off (fast tests); a benchmark of commits must pay for durability like production."""

    def _spawn(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        argv = [f"{a.split('=')[0]}=on" if a.split("=")[0] in DURABILITY else a for a in argv]
        return super()._spawn(argv, **kwargs)


async def settings_of(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return ", ".join([f"{n}={await conn.fetchval(f'SHOW {n}')}" for n in DURABILITY])
    finally:
        await conn.close()


async def publish_campaign(bootstrap: str, title: str, deadline: datetime) -> tuple[uuid.UUID, str]:
    """Play campaigns' part: publish a campaign as CampaignPublished."""
    campaign_id = uuid.uuid4()
    slug = f"bench-{campaign_id.hex[:10]}"
    event = CampaignPublished(
        producer="bench",
        correlation_id=str(campaign_id),
        campaign_id=campaign_id,
        creator_id="bench",
        slug=slug,
        title=title,
        price_cents=2500,
        currency="usd",
        min_orders=5,
        deadline=deadline,
        published_at=datetime.now(UTC),
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic_for(event).name, serialize(event), key=event.key.encode()
        )
    finally:
        await producer.stop()
    return campaign_id, slug


async def wait_known(orders_dsn: str, campaign_id: uuid.UUID, wait_s: float = 60) -> None:
    conn = await asyncpg.connect(orders_dsn)
    try:
        deadline = time.monotonic() + wait_s
        while not await conn.fetchval("SELECT 1 FROM campaigns WHERE id = $1", campaign_id):
            if time.monotonic() > deadline:
                raise TimeoutError("orders never learned of the campaign")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


BODY = json.dumps({"email": "buyer@example.com", "payment_method_id": "pm_card_visa"}).encode()


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams.

    The load generator shares two cores with the server, PostgreSQL, the broker and
    payments: httpx spends ~2 ms of CPU per request here (more than the server), which
    would measure the client. This spends a few tens of microseconds.
    """

    def __init__(self, base_url: str, limit: int) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port, self.limit = host, int(port), limit
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def _conn(self, fresh: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with self.freed:
            while not self.idle and self.opened >= self.limit:
                await self.freed.wait()
            if self.idle and not fresh:
                return self.idle.pop()
            if self.opened >= self.limit:
                self.idle.pop()[1].close()
            else:
                self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes, key: str, forwarded_for: str) -> int:
        try:
            return await self._post(path, body, key, forwarded_for, fresh=False)
        except (OSError, asyncio.IncompleteReadError):
            # The server closed an idle keep-alive connection as we reused it: retry once on
            # a new connection, as any HTTP client does (the Idempotency-Key makes it safe).
            return await self._post(path, body, key, forwarded_for, fresh=True)

    async def _post(self, path: str, body: bytes, key: str, forwarded_for: str, fresh: bool) -> int:
        reader, writer = await self._conn(fresh)
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nIdempotency-Key: {key}\r\n"
                f"X-Forwarded-For: {forwarded_for}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            async with self.freed:
                self.opened -= 1
                self.freed.notify()
            raise
        async with self.freed:
            self.idle.append((reader, writer))
            self.freed.notify()
        return status

    async def aclose(self) -> None:
        for _, writer in self.idle:
            writer.close()


BUYERS = itertools.count(1)


def buyer(n: int) -> tuple[bytes, str]:
    """Buyer n: its own email and client address (as the gateway would forward it), so the
    services' default limits apply as to real visitors (ADR 0008): one order each, a request
    budget per address and an order budget per address and per email, every key new."""
    body = {"email": f"buyer-{n}@example.com", "payment_method_id": "pm_card_visa"}
    return json.dumps(body).encode(), f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


async def order(client: RawClient, slug: str, run: Run, due: float) -> None:
    body, address = buyer(next(BUYERS))
    try:
        status = await client.post(
            f"/api/v1/campaigns/{slug}/orders", body, str(uuid.uuid4()), address
        )
    except (OSError, asyncio.IncompleteReadError, ValueError):
        run.errors += 1
        return
    run.latencies.append(time.perf_counter() - due)
    run.statuses[status] = run.statuses.get(status, 0) + 1


async def rush(base_urls: Sequence[str], slug: str, count: int, concurrency: int) -> Run:
    """`count` orders as fast as they are taken, `concurrency` in flight, spread over the
    orders instances."""
    run = Run()
    queue = iter(range(count))
    clients = [RawClient(url, concurrency) for url in base_urls]

    async def worker(client: RawClient) -> None:
        for _ in queue:
            await order(client, slug, run, time.perf_counter())

    started = time.perf_counter()
    workers = (worker(clients[i % len(clients)]) for i in range(concurrency))
    await asyncio.wait_for(asyncio.gather(*workers), 300)
    run.elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return run


async def fixed_rate(base_urls: Sequence[str], slug: str, rate: float, seconds: float) -> Run:
    """Open loop: request i is due at start + i / rate, whatever the previous ones do."""
    run = Run()
    total = int(rate * seconds)
    clients = [RawClient(url, 1000) for url in base_urls]
    started = time.perf_counter()
    tasks = []
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        client = clients[i % len(clients)]
        tasks.append(asyncio.create_task(order(client, slug, run, due)))
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    run.elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return run


async def in_process_intake(database_url: str, slug: str, count: int) -> float:
    """Orders/s of the group-commit intake itself (handlers + PostgreSQL, no HTTP): what the
    database side can take on one campaign, next to the hot-row ceiling."""
    db = Database(database_url, "orders", pool_size=4)
    try:
        async with db.sessions() as session:
            campaign_id = await session.scalar(
                select(CampaignSnapshot.id).where(CampaignSnapshot.slug == slug)
            )
        assert campaign_id is not None
        intake = OrderIntake(db)
        body = OrderCreate.model_validate(json.loads(BODY))
        fingerprint = "0" * 64

        def request() -> PlaceOrder:
            key = str(uuid.uuid4())
            return PlaceOrder(
                idempotency_key=key,
                fingerprint=fingerprint,
                email=str(body.email),
                phone=body.phone,
                sms_consent=body.sms_consent,
                payment_method_id=body.payment_method_id,
                referral_code=body.referral_code,
                source=body.source,
                correlation_id=key,
                trace_headers={},
            )

        started = time.perf_counter()
        pending: set[asyncio.Task[Any]] = set()
        for _ in range(count):  # 500 in flight, like a rush spread over many instances
            if len(pending) >= 500:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.create_task(intake.place(campaign_id, request())))
        await asyncio.gather(*pending)
        return count / (time.perf_counter() - started)
    finally:
        await db.dispose()


async def outbox_drain(orders_dsn: str, wait_s: float = 60) -> str:
    """Does the relay keep up? Events still in the outbox right after the rush, and how long
    until every OrderPlaced has left for the broker."""
    conn = await asyncpg.connect(orders_dsn)
    try:
        started = time.perf_counter()
        left = backlog = await conn.fetchval("SELECT count(*) FROM outbox")
        while left and time.perf_counter() - started < wait_s:
            await asyncio.sleep(0.05)
            left = await conn.fetchval("SELECT count(*) FROM outbox")
        took = time.perf_counter() - started
        return f"{backlog} events pending at the end of the rush, {left} after {took:.2f}s"
    finally:
        await conn.close()


def extra_instances(stack: DevStack, data_dir: Path, count: int) -> list[ServiceProcess]:
    """More orders processes on the same database and broker (several instances)."""
    spec = stack.services["orders"].spec
    extra = []
    try:
        for i in range(count):
            port = free_port()
            env = stack.service_env(spec, port)
            proc = ServiceProcess(data_dir / f"orders-{i + 2}", spec, env, port=port)
            extra.append(proc)
            proc.start()
        for proc in extra:
            proc.wait_ready(60)
    except BaseException:
        for proc in extra:
            proc.stop()
        raise
    return extra


async def confirmations(
    orders_dsn: str, campaign_id: uuid.UUID, expected: int, wait_s: float
) -> tuple[list[float], int]:
    """Wait (bounded) for payments to authorize the campaign's orders; placed -> authorized
    durations from the orders table (created_at: the batch's transaction; updated_at: the
    PaymentAuthorized handler's transaction)."""
    conn = await asyncpg.connect(orders_dsn)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM orders WHERE campaign_id = $1 AND status <> 'pending'",
                campaign_id,
            )
            if done >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        rows = await conn.fetch(
            "SELECT extract(epoch FROM updated_at - created_at) AS s FROM orders "
            "WHERE campaign_id = $1 AND status = 'authorized'",
            campaign_id,
        )
        return [float(r["s"]) for r in rows], done
    finally:
        await conn.close()


def cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (Linux /proc)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        seconds[pid] = ticks / os.sysconf("SC_CLK_TCK")
    return seconds


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on the box (the bench's own cluster is the busy one)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class CpuMeter:
    """CPU spent per order by the orders processes, PostgreSQL and this load generator:
    where the two cores go, steadier than throughput on a shared box."""

    def __init__(self, server_pids: Sequence[int]) -> None:
        self.server_pids = list(server_pids)
        self.server = cpu_seconds(self.server_pids)
        self.postgres = cpu_seconds(postgres_pids())
        self.client = time.process_time()

    @staticmethod
    def _used(before: dict[int, float], after: dict[int, float]) -> float:
        # A process started meanwhile counts whole; one that ended is missed (a little).
        return sum(t - before.get(pid, 0.0) for pid, t in after.items())

    def per_order(self, orders: int) -> str:
        used = (
            self._used(self.server, cpu_seconds(self.server_pids)),
            self._used(self.postgres, cpu_seconds(postgres_pids())),
            time.process_time() - self.client,
        )
        return "orders processes {:.2f}, PostgreSQL {:.2f}, load generator {:.2f} ms".format(
            *(u * 1000 / max(orders, 1) for u in used)
        )


def summary(name: str, run: Run) -> None:
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(run.statuses.items()))
    print(f"  {name}: {run.accepted} accepted in {run.elapsed:.2f}s ({codes}; errors {run.errors})")


async def measure(
    args: argparse.Namespace, stack: DevStack, base_urls: list[str], server_pids: list[int]
) -> None:
    orders_dsn = to_asyncpg_dsn(stack.database_url("orders"))
    admin = admin_dsn_from_url(stack.database_url("postgres"))
    await asyncio.to_thread(ensure_database, admin, "bench")
    print(f"PostgreSQL: {await settings_of(admin)}; orders instances: {len(base_urls)}")
    deadline = datetime.now(UTC) + timedelta(days=1)
    bootstrap = stack.kafka_bootstrap_servers

    print(
        f"\n1. hot-row ceiling ({HOT_ROW_CLIENTS} asyncpg connections, {args.ceiling_seconds:.0f}s)"
    )
    bench_dsn = to_asyncpg_dsn(stack.database_url("bench"))
    ceiling = await hot_row_ceiling(bench_dsn, args.ceiling_seconds)
    print(f"  single-row UPDATE + commit: {ceiling:,.0f} tx/s")

    print(f"\n2. order-to-confirmed: {args.confirm_rate:.0f} orders/s for 10s, payments running")
    slow_id, slow_slug = await publish_campaign(bootstrap, "Confirmed drop", deadline)
    await wait_known(orders_dsn, slow_id)
    slow = await fixed_rate(base_urls, slow_slug, args.confirm_rate, 10)
    summary("requests", slow)
    started = time.perf_counter()
    confirmed, done = await confirmations(orders_dsn, slow_id, slow.accepted, args.confirm_timeout)
    drain = time.perf_counter() - started + slow.elapsed
    print(
        f"  order-to-confirmed p50/p95/p99: {ms(confirmed)}  ({len(confirmed)} authorized, "
        f"{done} settled of {slow.accepted}; payments: {done / drain:.0f} orders/s)"
    )
    # Payments (and the Stripe emulator) would share these two cores with the intake below,
    # working through a backlog it cannot keep up with at 500/s: stop it.
    await asyncio.to_thread(stack.services["payments"].stop)

    print(f"\n3. fixed rate: {args.rate:.0f} orders/s for {args.rate_seconds:.0f}s, one campaign")
    steady_id, steady_slug = await publish_campaign(bootstrap, "Steady drop", deadline)
    await wait_known(orders_dsn, steady_id)
    steady = await fixed_rate(base_urls, steady_slug, args.rate, args.rate_seconds)
    summary("requests", steady)
    print(f"  order request p50/p95/p99: {ms(steady.latencies)}  (goal: p99 < 100 ms)")

    print(f"\n4. rush: {args.orders} orders on one campaign, {args.concurrency} in flight")
    rush_id, rush_slug = await publish_campaign(bootstrap, "Viral drop", deadline)
    await wait_known(orders_dsn, rush_id)
    meter = CpuMeter(server_pids)
    burst = await rush(base_urls, rush_slug, args.orders, args.concurrency)
    cpu = meter.per_order(burst.accepted)
    summary("requests", burst)
    rate = burst.accepted / burst.elapsed
    print(f"  accepted: {rate:,.0f} orders/s; order request p50/p95/p99: {ms(burst.latencies)}")
    print(f"  CPU per order: {cpu}")
    print(f"  intake / hot-row ceiling: {rate / ceiling:.2f}x")
    conn = await asyncpg.connect(orders_dsn)
    numbers = await conn.fetch(
        "SELECT buyer_number FROM orders WHERE campaign_id = $1 ORDER BY 1", rush_id
    )
    await conn.close()
    gapless = [r["buyer_number"] for r in numbers] == list(range(1, burst.accepted + 1))
    print(f"  buyer numbers exactly 1..{burst.accepted}: {gapless}")
    print(f"  outbox relay: {await outbox_drain(orders_dsn)}")

    print(f"\n5. the group-commit intake without HTTP (in this process): {args.orders} orders")
    direct_id, direct_slug = await publish_campaign(bootstrap, "Direct drop", deadline)
    await wait_known(orders_dsn, direct_id)
    direct = await in_process_intake(stack.database_url("orders"), direct_slug, args.orders)
    print(f"  {direct:,.0f} orders/s; / hot-row ceiling: {direct / ceiling:.2f}x")

    p99 = pct(steady.latencies, 99) * 1000
    print(
        f"\nsummary: HTTP intake {rate:,.0f} orders/s ({rate / ceiling:.2f}x the hot-row ceiling "
        f"of {ceiling:,.0f} tx/s; without HTTP {direct:,.0f}/s = {direct / ceiling:.2f}x); "
        f"p99 at {args.rate:.0f}/s: {p99:.1f} ms"
    )


async def main(args: argparse.Namespace) -> int:
    services = [s for s in default_services() if s.name in ("orders", "payments")]
    with tempfile.TemporaryDirectory(prefix="dropwave-bench-") as tmp:
        print("starting PostgreSQL, Tansu, localstripe, orders and payments ...", flush=True)
        environ = dict(os.environ)
        pg = DurablePostgres(Path(tmp) / "postgres")
        stack = DevStack(
            Path(tmp),
            services,
            with_gateway=False,
            environ=environ,
            extra_env={"LOG_LEVEL": "WARNING"},
        )
        extra: list[ServiceProcess] = []
        try:
            if not args.dev_settings:
                await asyncio.to_thread(pg.start)
                environ["DATABASE_URL_TEMPLATE"] = pg.url_template
            await asyncio.to_thread(stack.start)
            extra = await asyncio.to_thread(extra_instances, stack, Path(tmp), args.instances - 1)
            base_urls = [stack.services["orders"].base_url] + [p.base_url for p in extra]
            pids = [p.pid for p in [stack.services["orders"], *extra] if p.pid is not None]
            await measure(args, stack, base_urls, pids)
        finally:
            for proc in extra:
                await asyncio.to_thread(proc.stop)
            await asyncio.to_thread(stack.stop)
            await asyncio.to_thread(pg.stop)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=10_000, help="rush size (max 50,000)")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument(
        "--instances",
        type=int,
        default=os.cpu_count() or 1,
        help="orders processes (1-4; default: one per core, as one would deploy them)",
    )
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--confirm-rate", type=float, default=50.0, help="orders/s, phase 2")
    parser.add_argument("--ceiling-seconds", type=float, default=5.0)
    parser.add_argument("--confirm-timeout", type=float, default=90.0)
    parser.add_argument(
        "--dev-settings", action="store_true", help="the dev stack's PostgreSQL (fsync=off)"
    )
    ns = parser.parse_args()
    ns.orders = max(1, min(ns.orders, 50_000))
    ns.instances = max(1, min(ns.instances, 4))
    ns.rate_seconds = max(1.0, min(ns.rate_seconds, 60.0))

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (e.g. `timeout`) stops the stack like Ctrl-C does

    signal.signal(signal.SIGTERM, interrupted)
    # uvloop: the load generator shares the two cores with the server; a cheaper loop leaves
    # more of them to what is measured.
    sys.exit(uvloop.run(main(ns)))
