"""One viral drop end to end (issue 15): every stage against the limit it is held to.

Starts the whole embedded stack itself (``dropwave_devstack.DevStack``: the five services,
Tansu, localstripe, the SMTP sink and the Caddy gateway) on free ports on 127.0.0.1 under a
temporary directory, on a PostgreSQL with production durability (fsync, synchronous_commit,
full_page_writes on, as ``make bench``). Then:

1. the hot-row ceiling on that PostgreSQL (``bench/order_intake.py``'s measurement);
2. one campaign, created and published through the gateway like a creator does, its deadline
   just after the arrival window (the real path of a drop: orders' closing job closes the
   intake at the deadline, tallies, campaigns decides, payments captures);
3. ``--orders`` orders arriving evenly over ``--seconds`` through the gateway (open loop,
   each from a new buyer), while the campaign's page ``GET /{slug}`` is viewed ten times as
   often (open loop too: latency counts from when a view was due);
4. the deadline, the settlement (captures) and every message, until all is done or
   ``--timeout``.

It prints per stage its throughput and its limit, measured in the same run where possible:
intake (accepted orders/s vs the offered rate and the hot-row ceiling), authorization
(authorizations/s vs the Stripe rate limit / the Stripe requests per order, counted at the
emulator), views (views/s and p99 while orders flow), settlement (deadline to last capture vs
the minimum the Stripe limit allows; captures/s vs the limit), notifications (the busiest
``WINDOW_S`` of messages/s vs the SMTP ceiling of ``bench/notifications_fanout.py``: a plain
client on the same sink, measured after the drop), peak memory (RSS) per process, and that
nothing was lost (each order's one PaymentIntent captured at the emulator, each buyer's
messages once by Message-ID, no dead letters). Goal: every stage at 0.8x its limit or better.
To see where a stage waits, it also prints the CPU each process group used during the
arrivals (against the box's core-seconds) and per order over the whole drop (less what
the stack spends idle, measured before the arrivals; with the end-to-end rate the box's
cores could carry at that cost), how long ``OrderPlaced`` took
to reach payments and each consumer's mean time per ``OrderPlaced``, and samples orders'
outbox backlog.

Settings that differ from ``make dev``: requests come from 127.0.0.1 (the gateway), so that
address is exempt from the per-client budgets (``RATE_LIMIT_EXEMPT``, as a CDN in front would
be); the email limiter is opened (``EMAIL_RATE_PER_S``: the SMTP sink is the channel's limit);
``MIN_CAMPAIGN_DURATION_S=0``. The Stripe pacing is the dev stack's (``--stripe-rate``, 100/s).

Usage: ``make bench-drop`` or ``python bench/viral_drop.py [--orders 10000] [--seconds 60]
[--timeout 1200]``; a quick run: ``--orders 1000 --seconds 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition
from dropwave_contracts.topics import CONSUMING_SERVICES, dead_letter_topic
from dropwave_devstack.postgres import admin_dsn_from_url, ensure_database, to_asyncpg_dsn
from dropwave_devstack.stack import DevStack
from notifications.mailer import message_id
from notifications.settings import Settings as NotificationSettings
from notifications_fanout import smtp_ceiling
from order_intake import (
    HOT_ROW_CLIENTS,
    DurablePostgres,
    Run,
    cpu_seconds,
    fixed_rate,
    hot_row_ceiling,
    pct,
    postgres_pids,
)
from storefront_views import get

GOAL = 0.8
VIEWS_PER_ORDER = 10
VIEW_CONNECTIONS = 100
WINDOW_S = 5.0
"""Notifications: their throughput is the busiest window of this many seconds (the tipping
fan-out), not the whole run (most of it they wait for Stripe-paced captures)."""
MIN_MESSAGES_PER_BUYER = 2
"""order_confirmed and payment_captured; buyers confirmed by the tipping get campaign_tipped
too (its fan-out, or its late copy)."""
ACCESS = re.compile(r'^\S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>/v1/[^ ?]*)')
OBJECT_ID = re.compile(r"/[a-z]{2,5}_[A-Za-z0-9]{8,}")
"""An object id in a path (``/pi_3Nx...``, ``/cus_...``), not a resource (``/payment_intents``)."""
CAPTURE = "POST /v1/payment_intents/{id}/capture"


@dataclass
class Sample:
    at: float
    authorized: int
    captured: int
    messages: int
    recorded: int = 0
    """Payments recorded (from OrderPlaced), whatever their state."""
    outbox: int = 0
    """Events in orders' outbox not yet published."""


@dataclass
class Progress:
    samples: list[Sample] = field(default_factory=list)

    def first(self, what: Callable[[Sample], int], count: int) -> float | None:
        """When ``what`` first reached ``count`` (wall clock), None if never."""
        return next((s.at for s in self.samples if what(s) >= count), None)


def row(
    stage: str, throughput: str, limit: str, value: float, bound: float, goal: bool = True
) -> None:
    print(f"{stage:<14} {throughput:>22}   {limit:<44} {ratio(value, bound, goal)}")


def ratio(value: float, limit: float, goal: bool = True) -> str:
    if limit <= 0 or value != value:  # NaN
        return "  n/a"
    mark = ("ok" if value / limit >= GOAL else "BELOW") if goal else "(not a goal: offered load)"
    return f"{value / limit:5.2f}x {mark}"


async def views(base_url: str, path: str, rate: float, seconds: float) -> Run:
    """Open loop: view i is due at start + i / rate, taken by the next free one of
    ``VIEW_CONNECTIONS`` keep-alive connections; its latency counts from when it was due."""
    run = Run()
    host, port = base_url.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    tickets = iter(range(int(rate * seconds)))
    started = time.perf_counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in tickets:
                due = started + i / rate
                if (delay := due - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
                try:
                    status, _ = await get(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    run.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                run.latencies.append(time.perf_counter() - due)
                run.statuses[status] = run.statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(VIEW_CONNECTIONS)))
    run.elapsed = time.perf_counter() - started
    return run


def count_mail(maildir: Path) -> int:
    with os.scandir(maildir) as entries:
        return sum(1 for e in entries if e.name.endswith(".eml"))


async def sample(stack: DevStack, campaign_id: uuid.UUID, progress: Progress) -> None:
    """Every 0.5 s until cancelled: authorized and captured payments, messages in the sink."""
    assert stack.smtp is not None
    conn = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("payments")))
    orders = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("orders")))
    try:
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE status IN "
                "('authorized', 'captured', 'capture_failed')) AS authorized, "
                "count(*) FILTER (WHERE status = 'captured') AS captured, "
                "count(*) AS recorded FROM payments WHERE campaign_id = $1",
                campaign_id,
            )
            outbox = await orders.fetchval("SELECT count(*) FROM outbox")
            progress.samples.append(
                Sample(
                    time.time(),
                    row["authorized"],
                    row["captured"],
                    count_mail(stack.smtp.maildir),
                    row["recorded"],
                    outbox,
                )
            )
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
        await orders.close()


async def settled(stack: DevStack, campaign_id: uuid.UUID, orders: int) -> bool:
    """Every order captured and every buyer message sent (none pending)."""
    pay = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("payments")))
    note = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("notifications")))
    try:
        captured = await pay.fetchval(
            "SELECT count(*) FROM payments WHERE campaign_id = $1 AND status = 'captured'",
            campaign_id,
        )
        row = await note.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, "
            "count(*) FILTER (WHERE status = 'sent' AND recipient_kind = 'buyer') AS sent "
            "FROM deliveries WHERE campaign_id = $1",
            campaign_id,
        )
        return bool(
            captured >= orders
            and row["pending"] == 0
            and row["sent"] >= orders * MIN_MESSAGES_PER_BUYER
        )
    finally:
        await pay.close()
        await note.close()


async def create_campaign(
    api: httpx.AsyncClient, token: str, n: int, deadline: datetime
) -> dict[str, Any]:
    creator = {"Authorization": f"Bearer {token}"}
    created = await api.post(
        "/api/v1/campaigns",
        headers=creator,
        json={
            "title": "Viral walnut lamp",
            "description": "Solid walnut, oiled by hand. Ships in spring.",
            "price_cents": 2500,
            "currency": "usd",
            "min_orders": max(1, n // 2),  # tips halfway: a fan-out to half the buyers
            "deadline": deadline.isoformat(),
        },
    )
    created.raise_for_status()
    campaign: dict[str, Any] = created.json()
    published = await api.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=creator)
    published.raise_for_status()
    return campaign


async def wait_open(stack: DevStack, api: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    """Until orders knows the campaign published and the storefront shows its page."""
    conn = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("orders")))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = await conn.fetchval(
                "SELECT status FROM campaigns WHERE id = $1", uuid.UUID(campaign["id"])
            )
            page = await api.get(f"/{campaign['slug']}")
            if status == "active" and page.status_code == 200:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError("the campaign never opened (orders or storefront)")
    finally:
        await conn.close()


def stripe_requests(log: Path, offset: int) -> Counter[str]:
    """Requests the emulator answered since ``offset`` in its access log, by kind
    (``POST /v1/payment_intents/{id}/capture``). Only the access handler's own lines (they
    start with the client's address) count: the root logger repeats each with a prefix."""
    kinds: Counter[str] = Counter()
    with open(log, "rb") as f:
        f.seek(offset)
        for line in f.read().decode("utf-8", "replace").splitlines():
            if m := ACCESS.match(line):
                kinds[f"{m['method']} {OBJECT_ID.sub('/{id}', m['path'])}"] += 1
    return kinds


async def emulator_intents(api_base: str, key: str, campaign_id: str) -> Counter[str]:
    """Per order of the campaign: its PaymentIntents at the emulator, by status."""
    found: Counter[str] = Counter()
    per_order: Counter[str] = Counter()
    after: str | None = None
    async with httpx.AsyncClient(
        base_url=api_base, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        while True:
            params = {"limit": "100", **({"starting_after": after} if after else {})}
            page = (await client.get("/v1/payment_intents", params=params)).json()
            for pi in page["data"]:
                meta = pi.get("metadata") or {}
                if meta.get("campaign_id") == campaign_id:
                    per_order[meta["order_id"]] += 1
                    captured = pi["status"] == "succeeded" and pi["amount_received"] == pi["amount"]
                    found["captured" if captured else pi["status"]] += 1
            if not page["has_more"] or not page["data"]:
                break
            after = page["data"][-1]["id"]
    found["orders with more than one"] = sum(1 for c in per_order.values() if c > 1)
    return found


def read_mail(maildir: Path) -> list[tuple[float, str, str]]:
    """(arrival time, envelope recipient, Message-ID) of every stored message."""
    parser = BytesHeaderParser(policy=default_policy)
    out = []
    for path in sorted(maildir.glob("*.eml")):
        with open(path, "rb") as f:
            headers = parser.parse(f)
        arrived = int(path.name.split("-", 1)[0]) / 1e9  # the sink names files time_ns-...
        out.append((arrived, str(headers["X-Envelope-To"]), str(headers["Message-ID"])))
    return out


def busiest(times: list[float], window: float) -> float:
    """Most messages in any ``window`` seconds, per second."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best / window


async def dead_letters(bootstrap: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = []
        for service in CONSUMING_SERVICES:
            topic = dead_letter_topic(service).name
            parts += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(parts) if parts else {}
        starts = await consumer.beginning_offsets(parts) if parts else {}
        return sum(ends[p] - starts[p] for p in parts)
    finally:
        await consumer.stop()


def family(pid: int | None) -> list[int]:
    """A process and its descendants (Linux /proc)."""
    if pid is None:
        return []
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids += [int(c) for c in task.read_text().split()]
        i += 1
    return pids


def cpu_groups(stack: DevStack) -> dict[str, list[int]]:
    """Who shares the box's cores in the drop: each service (its instances), PostgreSQL,
    each infrastructure part, and this bench (load generators and sampler)."""
    groups: dict[str, list[int]] = {
        name: [p for svc in instances for p in family(svc.pid)]
        for name, instances in stack.instances.items()
    }
    parts = {
        "localstripe": stack.stripe,
        "smtp sink": stack.smtp,
        "tansu": stack.broker,
        "caddy": stack.gateway,
    }
    groups.update({name: family(part.pid if part else None) for name, part in parts.items()})
    groups["postgres"] = postgres_pids()
    groups["bench (load)"] = [os.getpid()]
    return groups


def cpu_used(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds each group has used so far (processes gone since count as 0)."""
    return {name: sum(cpu_seconds(pids).values()) for name, pids in groups.items()}


HANDLER = re.compile(
    r'^dropwave_handler_seconds_(?P<what>sum|count)\{consumer="(?P<consumer>[^"]+)",'
    r'event_type="OrderPlaced"\} (?P<value>\S+)$'
)


async def order_placed_handling(stack: DevStack) -> dict[str, float]:
    """Mean time each consumer took per ``OrderPlaced`` (its unit of work: waits for
    locks, the pool and a busy event loop included), from each instance's ``/metrics``."""
    totals: dict[str, list[float]] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for instances in stack.instances.values():
            for svc in instances:
                for line in (await http.get(f"{svc.base_url}/metrics")).text.splitlines():
                    if match := HANDLER.match(line):
                        pair = totals.setdefault(match["consumer"], [0.0, 0.0])
                        pair[match["what"] == "count"] += float(match["value"])
    return {name: total / count for name, (total, count) in totals.items() if count}


def peak_rss_mb(pid: int | None) -> str:
    """VmHWM (peak resident set) of a process and of its children, in MB."""
    if pid is None:
        return "n/a"
    peaks = []
    for p in family(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        kb = next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM")), 0)
        peaks.append(kb / 1024)
    if len(peaks) == 1:
        return f"{peaks[0]:.0f} MB"
    return f"{sum(peaks):.0f} MB over {len(peaks)} processes (max {max(peaks, default=0):.0f})"


async def drop(args: argparse.Namespace, stack: DevStack) -> int:
    assert stack.smtp is not None
    assert stack.stripe is not None
    n, seconds = args.orders, args.seconds
    admin = admin_dsn_from_url(stack.database_url("postgres"))
    await asyncio.to_thread(ensure_database, admin, "bench")
    ceiling = await hot_row_ceiling(to_asyncpg_dsn(stack.database_url("bench")), args.ceiling_s)
    print(
        f"hot-row ceiling ({HOT_ROW_CLIENTS} connections, {args.ceiling_s:g}s): {ceiling:,.0f} tx/s"
    )

    lead_s = 20.0  # creating, publishing, and the events reaching orders and the storefront
    deadline = datetime.now(UTC) + timedelta(seconds=lead_s + seconds + args.margin_s)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as api:
        campaign = await create_campaign(api, stack.mint_token("bench-creator"), n, deadline)
        await wait_open(stack, api, campaign)
    campaign_id = uuid.UUID(campaign["id"])
    start = deadline.timestamp() - seconds - args.margin_s
    if (wait := start - time.time()) < 0:
        raise TimeoutError("the campaign took longer than {lead_s:g}s to open")
    # The stack idle (the campaign open, nothing ordered yet): what each part spends on its
    # own (polls, housekeeping), taken out of the per-order figures below.
    idle_groups = cpu_groups(stack)
    idle_before, idle_started = cpu_used(idle_groups), time.monotonic()
    await asyncio.sleep(wait)
    idle_s = time.monotonic() - idle_started
    idle_rate = {
        name: (used - idle_before.get(name, 0.0)) / idle_s
        for name, used in cpu_used(idle_groups).items()
        if name != "bench (load)"
    }

    rate = n / seconds
    print(
        f"\ndrop: {n:,} orders over {seconds:g}s ({rate:,.0f}/s) on {campaign['slug']}, "
        f"{rate * VIEWS_PER_ORDER:,.0f} page views/s, deadline {args.margin_s:g}s after",
        flush=True,
    )
    log_offset = stack.stripe.log_path.stat().st_size
    groups = cpu_groups(stack)
    cpu_before, wall_before = cpu_used(groups), time.monotonic()
    progress = Progress()
    sampler = asyncio.create_task(sample(stack, campaign_id, progress))
    ordered, viewed = await asyncio.gather(
        fixed_rate([stack.base_url], campaign["slug"], rate, seconds),
        views(stack.base_url, f"/{campaign['slug']}", rate * VIEWS_PER_ORDER, seconds),
    )
    accepted = ordered.accepted
    cpu_after, wall = cpu_used(groups), time.monotonic() - wall_before
    print(
        f"  arrivals done in {ordered.elapsed:.1f}s; waiting for settlement and messages",
        flush=True,
    )
    cores = os.cpu_count() or 1
    spent = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    print(
        f"  CPU in the arrivals: {sum(spent.values()):.0f} of {cores * wall:.0f} core-seconds "
        f"({sum(spent.values()) / (cores * wall):.0%} of {cores} cores); "
        + ", ".join(
            f"{name} {used / wall:.2f}"
            for name, used in sorted(spent.items(), key=lambda kv: -kv[1])
            if used / wall >= 0.01
        )
        + " (cores each)",
        flush=True,
    )
    finished = time.monotonic() + args.timeout
    done = False
    while time.monotonic() < finished:
        if done := await settled(stack, campaign_id, accepted):
            break
        last = progress.samples[-1] if progress.samples else None
        if last and int(last.at) % 10 == 0:
            print(
                f"  recorded {last.recorded}, authorized {last.authorized}, captured "
                f"{last.captured}, mail {last.messages}; orders' outbox {last.outbox}",
                flush=True,
            )
        await asyncio.sleep(1)
    cpu_end, wall_end = cpu_used(groups), time.monotonic() - wall_before
    await asyncio.sleep(2)  # anything sent twice would arrive now
    sampler.cancel()
    await asyncio.gather(sampler, return_exceptions=True)

    # -- what happened -----------------------------------------------------------------------
    key = stack.stripe_secret_key
    requests = stripe_requests(stack.stripe.log_path, log_offset)
    capture_calls = requests[CAPTURE]
    auth_calls = requests.total() - capture_calls
    intents = await emulator_intents(stack.stripe_api_base, key, campaign["id"])
    mail = read_mail(stack.smtp.maildir)
    orders_db = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("orders")))
    try:
        placed_at = {
            r["id"]: r["created_at"]
            for r in await orders_db.fetch(
                "SELECT id, created_at FROM orders WHERE campaign_id = $1", campaign_id
            )
        }
        buyers = Counter(
            r["buyer_email"]
            for r in await orders_db.fetch(
                "SELECT buyer_email FROM orders WHERE campaign_id = $1", campaign_id
            )
        )
        closed = await orders_db.fetchrow(
            "SELECT intake_closed_at, tallied_at FROM campaigns WHERE id = $1", campaign_id
        )
        statuses = Counter(
            r["status"]
            for r in await orders_db.fetch(
                "SELECT status FROM orders WHERE campaign_id = $1", campaign_id
            )
        )
    finally:
        await orders_db.close()
    note = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("notifications")))
    try:
        deliveries = await note.fetch(
            "SELECT id, order_id, status FROM deliveries WHERE campaign_id = $1 "
            "AND recipient_kind = 'buyer' AND channel = 'email'",
            campaign_id,
        )
    finally:
        await note.close()
    pay = await asyncpg.connect(to_asyncpg_dsn(stack.database_url("payments")))
    try:
        last_capture = await pay.fetchval(
            "SELECT max(updated_at) FROM payments WHERE campaign_id = $1 AND status = 'captured'",
            campaign_id,
        )
        # Where an authorization backlog builds: OrderPlaced reaching payments (orders'
        # relay, the broker, payments' consumer), or the lanes after it.
        recorded_at = {
            r["order_id"]: r["created_at"]
            for r in await pay.fetch(
                "SELECT order_id, created_at FROM payments WHERE campaign_id = $1", campaign_id
            )
        }
    finally:
        await pay.close()
    dlq = await dead_letters(stack.kafka_bootstrap_servers)
    memory = {
        svc.name: peak_rss_mb(svc.pid)
        for instances in stack.instances.values()
        for svc in instances
    }
    parts: dict[str, Any] = {
        "localstripe": stack.stripe,
        "smtp sink": stack.smtp,
        "tansu": stack.broker,
        "caddy": stack.gateway,
    }
    memory.update({name: peak_rss_mb(p.pid if p else None) for name, p in parts.items()})

    # -- the limits measured after the drop --------------------------------------------------
    buyer_mail = [m for m in mail if m[1] in buyers]
    notes = NotificationSettings.model_fields
    connections = int(notes["delivery_workers"].default) * int(
        notes["smtp_max_connections"].default
    )
    smtp_limit = float("nan")
    if mail:
        newest = max(stack.smtp.maildir.glob("*.eml"))
        sample_message = BytesParser(policy=default_policy).parse(newest.open("rb"))
        assert isinstance(sample_message, EmailMessage)
        smtp_limit = await smtp_ceiling(
            stack.smtp, sample_message, connections, args.ceiling_messages
        )

    lags = [(recorded_at[o] - t).total_seconds() for o, t in placed_at.items() if o in recorded_at]
    if lags:
        print(
            f"OrderPlaced reached payments {pct(lags, 50):.1f} / {pct(lags, 99):.1f} s "
            f"(p50 / p99) after the order was placed"
        )
    # What the whole drop cost per order (arrivals to the last message), and the rate the
    # box's cores could carry at that cost: the bound every stage shares on one machine.
    whole = {
        name: cpu_end[name] - cpu_before.get(name, 0.0) - idle_rate.get(name, 0.0) * wall_end
        for name in cpu_end
    }
    per_order_ms = sum(whole.values()) / max(accepted, 1) * 1000
    print(
        f"CPU per order over the whole drop ({wall_end:.0f} s, less {sum(idle_rate.values()):.2f}"
        f" of a core the stack spends idle): {per_order_ms:.1f} ms (at most "
        f"{cores / per_order_ms * 1000:,.0f} orders/s end to end on {cores} cores); "
        + ", ".join(
            f"{name} {used / max(accepted, 1) * 1000:.1f}"
            for name, used in sorted(whole.items(), key=lambda kv: -kv[1])
            if used / max(accepted, 1) >= 0.0001
        )
        + " ms"
    )
    handling = await order_placed_handling(stack)
    print(
        "OrderPlaced handled in (mean, per consumer): "
        + ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in sorted(handling.items()))
    )

    # -- report ------------------------------------------------------------------------------
    stripe_rate = args.stripe_rate
    per_order_calls = auth_calls / max(accepted, 1)
    first_auth = progress.first(lambda s: s.authorized, 1)
    all_auth = progress.first(lambda s: s.authorized, accepted)
    auth_rate = (
        accepted / (all_auth - first_auth)
        if first_auth and all_auth and all_auth > first_auth
        else float("nan")
    )
    auth_limit = stripe_rate / per_order_calls if per_order_calls else float("nan")
    intake = accepted / ordered.elapsed
    view_rate = len(viewed.latencies) / viewed.elapsed
    dl = deadline.timestamp()
    owed_at_deadline = accepted - next(
        (s.authorized for s in reversed(progress.samples) if s.at <= dl), 0
    )
    captured = intents["captured"]
    settle_s = last_capture.timestamp() - dl if last_capture else float("nan")
    min_settle = captured / stripe_rate
    min_owed = (captured + owed_at_deadline * per_order_calls) / stripe_rate
    first_capture = progress.first(lambda s: s.captured, 1)
    capture_rate = (
        captured / (last_capture.timestamp() - first_capture)
        if last_capture and first_capture and last_capture.timestamp() > first_capture
        else float("nan")
    )
    times = sorted(m[0] for m in mail)
    peak_mail = busiest(times, WINDOW_S) if times else 0.0
    whole_mail = len(times) / (times[-1] - times[0]) if len(times) > 1 else float("nan")

    codes = ", ".join(f"{k}: {v}" for k, v in sorted(ordered.statuses.items()))
    print(f"\n{'stage':<14} {'throughput':>22}   {'limit':<44} ratio")
    row("intake", f"{intake:,.0f} orders/s", f"offered {rate:,.0f}/s", intake, rate)
    row("", "", f"hot-row ceiling {ceiling:,.0f} tx/s", intake, ceiling, goal=False)
    limit = f"{stripe_rate:g} req/s / {per_order_calls:.2f} req per order = {auth_limit:.1f}/s"
    row("authorization", f"{auth_rate:,.1f} auth/s", limit, auth_rate, auth_limit)
    offered = rate * VIEWS_PER_ORDER
    row("views", f"{view_rate:,.0f} views/s", f"offered {offered:,.0f}/s", view_rate, offered)
    limit = f"{captured} captures / limit: {min_settle:.1f} s"
    row("settlement", f"{settle_s:.1f} s to last", limit, min_settle, settle_s)
    limit = f"+ {owed_at_deadline} auths owed at deadline: {min_owed:.1f} s"
    row("", "", limit, min_owed, settle_s)
    limit = f"Stripe limit {stripe_rate:g}/s"
    row("", f"{capture_rate:.1f} captures/s", limit, capture_rate, stripe_rate)
    limit = f"SMTP ceiling {smtp_limit:,.0f}/s ({connections} connections)"
    row("notifications", f"{peak_mail:,.0f} messages/s", limit, peak_mail, smtp_limit)
    print(
        f"\norders: {codes} (errors {ordered.errors}); p50/p99 of the order request "
        f"{pct(ordered.latencies, 50) * 1000:.0f} / {pct(ordered.latencies, 99) * 1000:.0f} ms; "
        f"final states {dict(statuses)}"
    )
    print(
        f"views: {dict(sorted(viewed.statuses.items()))} (errors {viewed.errors}); p50/p99 "
        f"{pct(viewed.latencies, 50) * 1000:.1f} / {pct(viewed.latencies, 99) * 1000:.1f} ms "
        "while orders flow"
    )
    closed_s = (
        closed["intake_closed_at"].timestamp() - dl if closed["intake_closed_at"] else float("nan")
    )
    tallied_s = closed["tallied_at"].timestamp() - dl if closed["tallied_at"] else float("nan")
    print(
        f"Stripe requests at the emulator: {auth_calls} besides captures "
        f"({per_order_calls:.2f} per "
        f"order), {capture_calls} captures; intake closed {closed_s:.1f}s, tallied "
        f"{tallied_s:.1f}s after the deadline"
    )
    print("  " + ", ".join(f"{k}: {v}" for k, v in requests.most_common()))
    print(
        f"messages: {len(mail)} ({len(buyer_mail)} to buyers), busiest {WINDOW_S:g}s "
        f"{peak_mail:,.0f}/s, whole run {whole_mail:,.1f}/s"
    )
    print("peak memory (RSS): " + ", ".join(f"{k} {v}" for k, v in memory.items()))

    # Each buyer delivery's Message-ID in the sink once, nothing else to a buyer, and every
    # order at least its confirmation and its receipt.
    expected = {message_id(d["id"]) for d in deliveries}
    ids = Counter(m[2] for m in buyer_mail)
    per_order = Counter(d["order_id"] for d in deliveries if d["status"] == "sent")
    checks = {
        "every order accepted": accepted == n and ordered.errors == 0,
        "every order captured once at the emulator": captured == accepted
        and intents["orders with more than one"] == 0
        and sum(v for k, v in intents.items() if k != "orders with more than one") == accepted,
        "every buyer's messages once (Message-IDs)": set(ids) == expected
        and set(ids.values()) == {1}
        and len(per_order) == accepted
        and min(per_order.values()) >= MIN_MESSAGES_PER_BUYER,
        "no dead letters": dlq == 0,
        "finished before --timeout": done,
    }
    for what, ok in checks.items():
        print(f"  {what}: {'yes' if ok else 'NO'}")
    if not checks["every order captured once at the emulator"]:
        print(f"    PaymentIntents at the emulator: {dict(intents)}")
    if not checks["every buyer's messages once (Message-IDs)"]:
        print(
            f"    {len(expected)} buyer deliveries, {len(ids)} distinct Message-IDs to buyers "
            f"({len(set(ids) - expected)} unexpected, {len(expected - set(ids))} missing)"
        )
    goal = [
        intake / rate,
        auth_rate / auth_limit,
        view_rate / (rate * VIEWS_PER_ORDER),
        min_owed / settle_s,
        peak_mail / smtp_limit,
    ]
    met = all(g >= GOAL for g in goal)
    print(f"\ngoal: every stage at {GOAL}x its limit or better: {'met' if met else 'NOT met'}")
    return 0 if all(checks.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=10_000, help="orders (max 50,000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="arrival window (max 600)")
    parser.add_argument("--margin-s", type=float, default=1.0, help="deadline after the window")
    parser.add_argument("--stripe-rate", type=float, default=100.0, help="Stripe requests/s")
    parser.add_argument("--ceiling-s", type=float, default=5.0, help="hot-row ceiling run")
    parser.add_argument("--ceiling-messages", type=int, default=2000, help="SMTP ceiling run")
    parser.add_argument("--timeout", type=float, default=1200.0, help="s after the arrivals")
    parser.add_argument("-v", "--verbose", action="store_true", help="the stack's start-up")
    parser.add_argument("--dev-settings", action="store_true", help="PostgreSQL with fsync=off")
    args = parser.parse_args()
    args.orders = max(1, min(args.orders, 50_000))
    args.seconds = max(1.0, min(args.seconds, 600.0))

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (e.g. `timeout`) stops the stack like Ctrl-C does

    signal.signal(signal.SIGTERM, interrupted)
    extra = {
        "LOG_LEVEL": "WARNING",
        "MIN_CAMPAIGN_DURATION_S": "0",
        "RATE_LIMIT_EXEMPT": "127.0.0.1/32",
        "EMAIL_RATE_PER_S": "100000",
        "EMAIL_RATE_BURST": "1000",
        "STRIPE_RATE_LIMIT_PER_S": f"{args.stripe_rate:g}",
    }
    with tempfile.TemporaryDirectory(prefix="dropwave-bench-drop-") as tmp:
        environ = dict(os.environ)
        pg = DurablePostgres(Path(tmp) / "postgres")
        stack = DevStack(
            Path(tmp) / "stack",
            environ=environ,
            extra_env=extra,
            on_event=lambda m: (
                print(f"  [{time.strftime('%H:%M:%S')}] {m}", flush=True) if args.verbose else None
            ),
        )
        print(
            "starting the stack: PostgreSQL, Tansu, localstripe, SMTP sink, services, Caddy",
            flush=True,
        )
        try:
            if not args.dev_settings:
                pg.start()
                environ["DATABASE_URL_TEMPLATE"] = pg.url_template
            stack.start()
            return uvloop.run(drop(args, stack))
        finally:
            stack.stop()
            pg.stop()


if __name__ == "__main__":
    sys.exit(main())
