"""Authorization benchmark (issue 15): Stripe requests per order, authorizations/s against
the Stripe rate limit, and order-to-confirmed at half that rate.

Starts what it needs itself, like ``make bench`` (whose helpers it reuses): PostgreSQL with
production durability, Tansu, localstripe, one orders process and one payments process
(pacing every Stripe request through its shared limiter at ``--rate-limit``/s). Orders go
in over HTTP, each from its own buyer; payments authorizes them from ``OrderPlaced`` and
orders confirms them on ``PaymentAuthorized``: the whole path. Stripe requests are counted
by payments itself (``dropwave_stripe_requests_total`` on its ``/metrics``). It prints:

1. a short drop (deadline in a day: within the authorization's hold, so one request per
   order) flooded with ``--orders`` orders at once: Stripe requests per order, and
   authorizations/s (payments' first to last authorization) as a ratio of
   rate limit / requests per order (goal >= 0.9);
2. order-to-confirmed p50/p95/p99 (the orders table's placed -> authorized) on another short
   drop at half of rate limit / requests per order for ``--seconds`` (goal p99 < 2 s);
3. a long drop (deadline in 30 days: it can outlive the hold, the card is saved on a
   Customer): its Stripe requests per order (2).

A bench of its own rather than a phase of ``make bench``: it needs payments saturated for
a while and then idle (``make bench`` stops payments to measure the intake alone), and its
figures are bound by the Stripe limit, not by the two cores. Everything is bounded in count
and time. Usage: ``make bench-authorize`` or
``python bench/authorize.py [--orders 1500] [--rate-limit 100] [--seconds 20] [--help]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import uvloop
from dropwave_devstack.postgres import to_asyncpg_dsn
from dropwave_devstack.stack import DevStack, default_services
from order_intake import (
    DurablePostgres,
    confirmations,
    cpu_seconds,
    fixed_rate,
    ms,
    pct,
    publish_campaign,
    rush,
    summary,
    wait_known,
)

SHORT = timedelta(days=1)
LONG = timedelta(days=30)


STRIPE_REQUESTS = "dropwave_stripe_requests_total{"
WEBHOOKS = 'dropwave_http_requests_total{route="/api/v1/webhooks/stripe"'


async def counted(payments_url: str) -> dict[str, float]:
    """Payments' Stripe requests and webhooks received so far (its ``/metrics``, summed
    over every other label)."""
    async with httpx.AsyncClient() as http:
        lines = (await http.get(f"{payments_url}/metrics")).text.splitlines()
    return {
        prefix: sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix))
        for prefix in (STRIPE_REQUESTS, WEBHOOKS)
    }


async def authorized(
    payments_dsn: str, campaign_id: uuid.UUID, expected: int, wait_s: float
) -> tuple[int, float]:
    """Wait (bounded) until payments has answered every order of the campaign; then how many
    it authorized and at what rate (its first to its last authorization)."""
    conn = await asyncpg.connect(payments_dsn)
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            pending = await conn.fetchval(
                "SELECT count(*) FROM payments WHERE campaign_id = $1 AND status = 'pending'",
                campaign_id,
            )
            known = await conn.fetchval(
                "SELECT count(*) FROM payments WHERE campaign_id = $1", campaign_id
            )
            if known >= expected and not pending:
                break
            await asyncio.sleep(0.5)
        row = await conn.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM max(updated_at) - min(updated_at)) AS s, "
            "extract(epoch FROM max(created_at) - min(created_at)) AS recorded "
            "FROM payments WHERE campaign_id = $1 AND status = 'authorized'",
            campaign_id,
        )
        n, span, recorded = int(row["n"]), float(row["s"] or 0), float(row["recorded"] or 0)
        if n > 1 and recorded > 0:  # where a backlog builds: the consumer or the lanes
            print(f"  payments recorded OrderPlaced at {(n - 1) / recorded:.1f}/s (its consumer)")
        return n, (n - 1) / span if n > 1 and span > 0 else float("nan")
    finally:
        await conn.close()


async def drop(stack: DevStack, lasts: timedelta, title: str) -> tuple[uuid.UUID, str]:
    campaign_id, slug = await publish_campaign(
        stack.kafka_bootstrap_servers, title, datetime.now(UTC) + lasts
    )
    await wait_known(to_asyncpg_dsn(stack.database_url("orders")), campaign_id)
    return campaign_id, slug


async def measure(args: argparse.Namespace, stack: DevStack) -> None:
    orders_url = stack.services["orders"].base_url
    payments_url = stack.services["payments"].base_url
    payments_dsn = to_asyncpg_dsn(stack.database_url("payments"))
    orders_dsn = to_asyncpg_dsn(stack.database_url("orders"))
    limit = args.rate_limit
    print(f"Stripe rate limit (payments' shared limiter): {limit:g} requests/s")

    print(f"\n1. short drop (deadline in {SHORT.days} day): {args.orders} orders at once")
    flood_id, flood_slug = await drop(stack, SHORT, "Short drop")
    pid = stack.services["payments"].pid
    before, cpu = await counted(payments_url), cpu_seconds([pid] if pid else [])
    flood = await rush([orders_url], flood_slug, args.orders, 100)
    summary("requests", flood)
    n, rate = await authorized(payments_dsn, flood_id, flood.accepted, args.timeout)
    after = await counted(payments_url)
    per_order, webhooks = ((after[k] - before[k]) / max(n, 1) for k in (STRIPE_REQUESTS, WEBHOOKS))
    used = sum(cpu_seconds(list(cpu)).values()) - sum(cpu.values())
    bound = limit / per_order
    print(f"  Stripe requests per order: {per_order:.2f}")
    print(
        f"  payments CPU per authorization: {used * 1000 / max(n, 1):.1f} ms (consumer, lane, "
        f"relay, {webhooks:.1f} Stripe webhooks; one process is one core at most: "
        f"{used / max(n, 1) * rate:.2f} of a core at the rate below)"
    )
    print(
        f"  authorizations/s: {rate:.1f} = {rate / bound:.2f}x rate limit / requests per order "
        f"({bound:.1f}/s; goal >= 0.9x); {n} of {flood.accepted} authorized"
    )

    half = bound / 2
    print(f"\n2. order-to-confirmed: short drop at {half:.1f} orders/s for {args.seconds:.0f}s")
    steady_id, steady_slug = await drop(stack, SHORT, "Steady drop")
    steady = await fixed_rate([orders_url], steady_slug, half, args.seconds)
    summary("requests", steady)
    confirmed, done = await confirmations(orders_dsn, steady_id, steady.accepted, args.timeout)
    p99 = pct(confirmed, 99)
    print(
        f"  order-to-confirmed p50/p95/p99: {ms(confirmed)}  (goal: p99 < 2,000 ms; "
        f"{len(confirmed)} authorized, {done} settled of {steady.accepted})"
    )

    print(f"\n3. long drop (deadline in {LONG.days} days): {args.long_orders} orders")
    long_id, long_slug = await drop(stack, LONG, "Long drop")
    before = await counted(payments_url)
    long = await rush([orders_url], long_slug, args.long_orders, 20)
    long_n, _ = await authorized(payments_dsn, long_id, long.accepted, args.timeout)
    after = await counted(payments_url)
    long_per_order = (after[STRIPE_REQUESTS] - before[STRIPE_REQUESTS]) / max(long_n, 1)
    print(f"  Stripe requests per order: {long_per_order:.2f} (the card saved on a Customer)")

    print(
        f"\nsummary: {per_order:.2f} Stripe requests per order on a short drop "
        f"({long_per_order:.2f} on a long one); {rate:.1f} authorizations/s = "
        f"{rate / bound:.2f}x (limit {limit:g}/s / {per_order:.2f}); order-to-confirmed p99 at "
        f"{half:.1f}/s: {p99 * 1000:.0f} ms"
    )


async def main(args: argparse.Namespace) -> int:
    services = [s for s in default_services() if s.name in ("orders", "payments")]
    with tempfile.TemporaryDirectory(prefix="dropwave-bench-authorize-") as tmp:
        print("starting PostgreSQL, Tansu, localstripe, orders and payments ...", flush=True)
        environ = dict(os.environ, STRIPE_RATE_LIMIT_PER_S=f"{args.rate_limit:g}")
        pg = DurablePostgres(Path(tmp) / "postgres")
        stack = DevStack(
            Path(tmp),
            services,
            with_gateway=False,
            environ=environ,
            extra_env={"LOG_LEVEL": "WARNING"},
        )
        try:
            await asyncio.to_thread(pg.start)
            environ["DATABASE_URL_TEMPLATE"] = pg.url_template
            await asyncio.to_thread(stack.start)
            await measure(args, stack)
        finally:
            await asyncio.to_thread(stack.stop)
            await asyncio.to_thread(pg.stop)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1500, help="phase 1 (max 20,000)")
    parser.add_argument("--rate-limit", type=float, default=100.0, help="Stripe requests/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="phase 2 (max 120)")
    parser.add_argument("--long-orders", type=int, default=200, help="phase 3 (max 5,000)")
    parser.add_argument("--timeout", type=float, default=300.0)
    ns = parser.parse_args()
    ns.orders = max(2, min(ns.orders, 20_000))
    ns.long_orders = max(2, min(ns.long_orders, 5_000))
    ns.seconds = max(1.0, min(ns.seconds, 120.0))

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (e.g. `timeout`) stops the stack like Ctrl-C does

    signal.signal(signal.SIGTERM, interrupted)
    sys.exit(uvloop.run(main(ns)))
