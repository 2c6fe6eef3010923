"""Storefront benchmark: campaign-page views/s on one drop, and their latency, while orders
are being counted.

Starts what it needs itself, on free ports on 127.0.0.1 under a temporary directory: the
dev stack's PostgreSQL and Tansu and one storefront process (``python -m storefront serve``,
migrated; no gateway, campaigns or orders: on this 2-core box they would only take CPU from
the pages). The benchmark plays campaigns' and orders' part: it feeds the storefront's own
handlers through the runtime's consumer code (inbox included), in its own process, against
the storefront's database, so each order's NOTIFY reaches the server's page cache as in
production. It prints:

1. views only: ``--clients`` keep-alive connections requesting ``GET /{slug}`` for
   ``--seconds`` -> views/s, p50/p99;
2. the same while ``OrderConfirmed`` events are applied at ``--order-rate``/s (each one
   changes the page: its NOTIFY drops the cached render, the next view renders it again)
   -> views/s, p50/p99, orders applied, and that the page ends up showing them all;
3. the goal, "at least 2,000 views/s with p99 under 50 ms", with the ratios.

The client is a minimal HTTP/1.1 keep-alive loop on asyncio streams (uvloop), not httpx:
client and server share the two cores, and a heavier client would measure itself.
Requests come from 127.0.0.1, exempt from the per-client page budget
(``RATE_LIMIT_EXEMPT``), as a CDN in front would be. Bounded in time and count.
Usage: ``make bench-storefront`` or ``python bench/storefront_views.py [--seconds 5]
[--clients 32] [--order-rate 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvloop
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import CampaignPublished, OrderConfirmed
from dropwave_contracts.topics import serialize, topic_for
from dropwave_devstack.stack import DevStack, ServiceSpec
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import Database
from storefront.bootstrap import SERVICE

GOAL_VIEWS_PER_S = 2000
GOAL_P99_MS = 50.0


class NoDeadLetters:
    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None:
        raise RuntimeError(f"a handler failed: {headers.get('dlq-error')}")


class Feed:
    """The storefront's handlers, fed as its consumer would (inbox, one unit of work each)."""

    def __init__(self, db: Database) -> None:
        self.consumer = EventConsumer("storefront", db, dict(SERVICE.events), NoDeadLetters())
        self.offset = 0

    async def deliver(self, event: Event) -> None:
        self.offset += 1
        record = Record(
            topic_for(event).name, 0, self.offset, event.key.encode(), serialize(event), []
        )
        await self.consumer.handle(record)


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One request on a keep-alive connection: (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def hammer(
    host: str, port: int, path: str, clients: int, seconds: float
) -> tuple[list[float], dict[int, int]]:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    end = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (start := time.perf_counter()) < end:
                status, _ = await get(reader, writer, request)
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, statuses


async def confirm_orders(
    feed: Feed, campaign: CampaignPublished, rate: float, seconds: float
) -> int:
    """OrderConfirmed events at ``rate``/s through the handler, for ``seconds``."""
    applied = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) + 1
        while applied < due:
            applied += 1
            await feed.deliver(
                OrderConfirmed(
                    producer="orders",
                    correlation_id="bench",
                    campaign_id=campaign.campaign_id,
                    order_id=uuid.uuid4(),
                    buyer_number=applied,
                    amount_cents=campaign.price_cents,
                    currency=campaign.currency,
                    buyer_email=f"buyer{applied}@example.com",
                    buyer_phone=None,
                    campaign_title=campaign.title,
                    campaign_min_orders=campaign.min_orders,
                    campaign_deadline=campaign.deadline,
                )
            )
        await asyncio.sleep(min(0.01, max(0.0, due / rate - (time.perf_counter() - start))))
    return applied


def report(name: str, latencies: list[float], statuses: dict[int, int], seconds: float) -> float:
    ms = sorted(x * 1000 for x in latencies)
    rate = len(ms) / seconds
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name:<34} {rate:>8,.0f} views/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
        f"statuses {dict(sorted(statuses.items()))}",
        flush=True,
    )
    return p99


async def run(args: argparse.Namespace, stack: DevStack) -> None:
    service = stack.services["storefront"]
    db = Database(stack.database_url("storefront"), "storefront", pool_size=4)
    feed = Feed(db)
    campaign = CampaignPublished(
        producer="campaigns",
        correlation_id="bench",
        campaign_id=uuid.uuid4(),
        creator_id="bench-creator",
        slug="bench-walnut-desk-organiser",
        title="Walnut desk organiser",
        price_cents=2500,
        currency="usd",
        min_orders=100_000,
        deadline=datetime.now(UTC) + timedelta(days=2),
        published_at=datetime.now(UTC),
        description="Solid walnut, oiled by hand.\n\nShips in spring. " * 20,
        images=[f"https://images.example/walnut-{n}.jpg" for n in range(4)],
        theme_accent="#8a4b08",
        custom_css=".user-content h1 { letter-spacing: 0.02em }",
    )
    await feed.deliver(campaign)
    host, port = "127.0.0.1", service.port
    path = f"/{campaign.slug}?ref=bench"
    for _ in range(100):  # the page appears (a 404 cached before it is dropped by NOTIFY)
        (status, _), _ = await hammer_once(host, port, path)
        if status == 200:
            break
        await asyncio.sleep(0.1)
    await hammer(host, port, path, args.clients, 1.0)  # warm-up

    latencies, statuses = await hammer(host, port, path, args.clients, args.seconds)
    quiet_p99 = report("views only", latencies, statuses, args.seconds)
    quiet_rate = len(latencies) / args.seconds

    (latencies, statuses), applied = await asyncio.gather(
        hammer(host, port, path, args.clients, args.seconds),
        confirm_orders(feed, campaign, args.order_rate, args.seconds),
    )
    busy_p99 = report(f"views with {args.order_rate:g} orders/s", latencies, statuses, args.seconds)
    busy_rate = len(latencies) / args.seconds
    print(f"{'orders applied meanwhile':<34} {applied:>8,} ({applied / args.seconds:,.0f}/s)")
    shown = False
    for _ in range(50):
        (_, body), _ = await hammer_once(host, port, path)
        if f"<strong>{applied}</strong> of" in body.decode():
            shown = True
            break
        await asyncio.sleep(0.1)
    print(f"{'page shows every order':<34} {'yes' if shown else 'NO'}")
    print(
        f"goal: >= {GOAL_VIEWS_PER_S:,} views/s with p99 < {GOAL_P99_MS:g} ms -> "
        f"views only {quiet_rate / GOAL_VIEWS_PER_S:.2f}x, p99 {quiet_p99 / GOAL_P99_MS:.2f} of "
        f"the bound; with orders {busy_rate / GOAL_VIEWS_PER_S:.2f}x, p99 "
        f"{busy_p99 / GOAL_P99_MS:.2f} of the bound"
    )
    await db.dispose()


async def hammer_once(host: str, port: int, path: str) -> tuple[tuple[int, bytes], None]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        return await get(reader, writer, request), None
    finally:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="each phase (max 60)")
    parser.add_argument("--clients", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--order-rate", type=float, default=200.0, help="OrderConfirmed/s")
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 60.0)
    args.clients = min(max(args.clients, 1), 512)
    environ = {
        **os.environ,
        # Only PostgreSQL, Tansu and the storefront: no Stripe emulator, no SMTP sink.
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "SMTP_HOST": "127.0.0.1",
        "STRIPE_JS_URL": "https://js.stripe.com/v3/",
        "PUBLIC_BASE_URL": "http://127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    extra = {"RATE_LIMIT_EXEMPT": "127.0.0.1/32"}
    with tempfile.TemporaryDirectory(prefix="dropwave-bench-storefront-") as tmp:
        stack = DevStack(
            Path(tmp),
            [ServiceSpec("storefront", "storefront")],
            environ=environ,
            extra_env=extra,
            with_gateway=False,
            on_event=lambda m: print(f"[stack] {m}", flush=True),
        )
        with stack:
            print(f"storefront at {stack.services['storefront'].base_url}", flush=True)
            uvloop.run(run(args, stack))


if __name__ == "__main__":
    main()
