"""Notifications fan-out benchmark: one campaign tips with N confirmed buyers; how fast do
all N messages get out?

Starts what it needs itself, on free ports under a temporary directory: PostgreSQL
(embedded) and the dev stack's SMTP sink (which fsyncs every message, like a real MTA's
queue) and, with ``--channel sms`` (buyers with a phone and consent: an email and an SMS
each), a local fake of Twilio's Messages API behind the real ``twilio`` SDK. The buyers'
read model is filled directly; then the ``CampaignTipped`` handler runs once (one
``INSERT ... SELECT`` writes the delivery rows) and ``--workers`` delivery workers (each
``--concurrency`` sends in flight) drain the queue. It prints the enqueue time, progress,
messages/s, and checks every message arrived exactly once.

Then, in the same run, the limit it is held against: what the same SMTP sink accepts from a
plain client (aiosmtplib, no database, no templates, no limiter) sending a copy of one of the
messages just delivered over as many connections as the workers may open (``--workers`` x
``smtp_max_connections``), each kept open. The fan-out is printed as a ratio of that ceiling
(issue 15's goal: at least 0.8). With ``--channel sms`` the ceiling is the email one (the
fake carrier is not the bottleneck to measure).

Bounded: at most ``--timeout`` seconds of sending. Usage: ``make bench-notifications`` or
``python bench/notifications_fanout.py [--recipients 10000] [--channel email|sms]``.
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import uvloop
from dropwave_contracts.events import CampaignTipped
from dropwave_devstack.postgres import EmbeddedPostgres, admin_dsn_from_url, ensure_database
from dropwave_devstack.smtp_sink import SmtpSink
from dropwave_devstack.twilio_emulator import FakeTwilioApi
from dropwave_runtime.db import Database
from dropwave_runtime.migrations import upgrade
from dropwave_runtime.rate_limit import PgRateLimiter
from notifications.bootstrap import worker_config
from notifications.handlers import handle
from notifications.mailer import SmtpMailer
from notifications.models import Buyer, CampaignInfo, Delivery
from notifications.settings import Settings
from notifications.sms import TwilioSms
from notifications.worker import DeliveryWorker
from sqlalchemy import func, insert, select

MIGRATIONS = Path(__file__).resolve().parents[1] / "services/notifications/src/notifications"
ACCOUNT_SID = "AC" + "0" * 31 + "1"


async def fill(db: Database, campaign_id: uuid.UUID, n: int, sms: bool) -> None:
    confirmed = datetime.now(UTC) - timedelta(minutes=1)
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            insert(CampaignInfo).values(
                campaign_id=campaign_id,
                title="Bench lamp",
                creator_id="bench-creator",
                min_orders=n,
                deadline=datetime.now(UTC) + timedelta(days=1),
                price_cents=2500,
                currency="usd",
            )
        )
        rows = [
            {
                "order_id": uuid.uuid4(),
                "campaign_id": campaign_id,
                "buyer_number": i,
                "amount_cents": 2500,
                "currency": "usd",
                "email": f"buyer{i}@bench.example",
                "phone": f"+1555{i:07d}" if sms else None,
                "sms_consent": sms,
                "confirmed_at": confirmed,
            }
            for i in range(1, n + 1)
        ]
        for start in range(0, n, 5000):
            await uow.session.execute(insert(Buyer), rows[start : start + 5000])


async def sent(db: Database) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
        )
        return int(count or 0)


async def smtp_ceiling(smtp: SmtpSink, sample: EmailMessage, connections: int, n: int) -> float:
    """Messages/s the sink accepts from a plain client: ``n`` copies of ``sample`` (each with
    its own Message-ID, outside the fan-out's domain) over ``connections`` open sessions."""
    body = sample.as_bytes(policy=email.policy.SMTP)
    header_end = body.index(b"\r\n\r\n")
    head, rest = body[:header_end], body[header_end:]
    head = b"\r\n".join(
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith((b"message-id:", b"x-envelope-"))
    )
    sender, to = "ceiling@bench.example", str(sample["To"])
    counter = iter(range(n))

    async def session() -> None:
        client = aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, timeout=30)
        await client.connect()
        try:
            for i in counter:
                message_id = f"Message-ID: <ceiling-{i}@bench.example>\r\n".encode()
                await client.sendmail(sender, [to], message_id + head + rest)
        finally:
            await client.quit()

    t0 = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(connections)))
    return n / (time.perf_counter() - t0)


async def run(args: argparse.Namespace, url: str, smtp: SmtpSink) -> int:
    n = args.recipients
    twilio = FakeTwilioApi(ACCOUNT_SID, "bench-token").start() if args.channel == "sms" else None
    settings = Settings(
        dropwave_env="dev",
        database_url=url,
        kafka_bootstrap_servers="127.0.0.1:1",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        mail_from="drops@bench.example",
        notifications_link_secret="bench-secret-0123456789",  # noqa: S106 - bench only
        delivery_concurrency=args.concurrency,
        delivery_batch_size=args.batch,
    )
    pool = args.workers * args.concurrency + 4
    db = Database(url, "notifications", pool_size=min(pool, 60))
    campaign_id = uuid.uuid4()
    await fill(db, campaign_id, n, sms=args.channel == "sms")
    tipped = CampaignTipped(
        producer="campaigns",
        correlation_id="bench",
        campaign_id=campaign_id,
        current_orders=n,
        min_orders=n,
        tipped_at=datetime.now(UTC),
    )
    t0 = time.perf_counter()
    async with db.unit_of_work() as uow:
        await handle(tipped, uow)
    enqueue_s = time.perf_counter() - t0
    async with db.sessions() as session:
        queued = int(await session.scalar(select(func.count()).select_from(Delivery)) or 0)
    print(f"enqueued {queued} deliveries in one transaction: {enqueue_s * 1000:.0f} ms")

    senders = []
    workers = []
    for _ in range(args.workers):
        sms = (
            TwilioSms(ACCOUNT_SID, "bench-token", from_="+15550001111", api_base=twilio.base_url)
            if twilio
            else None
        )
        senders.append(sms)
        workers.append(
            DeliveryWorker(
                db,
                worker_config(settings),
                SmtpMailer(settings),
                sms,
                # The shared PostgreSQL limiter every instance uses (one row per provider).
                email_limiter=PgRateLimiter(db.engine, "email:smtp", args.rate, burst=1000),
                sms_limiter=PgRateLimiter(db.engine, "sms:twilio", args.rate, burst=1000),
            )
        )
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(w.drain()) for w in workers]
    done = 0
    deadline = t0 + args.timeout
    elapsed = 0.0
    while time.perf_counter() < deadline:
        # Woken when the workers finish, not at the next tick: the time is the sending's own.
        _, running = await asyncio.wait(tasks, timeout=2)
        elapsed = time.perf_counter() - t0
        if not running:
            break
        done = await sent(db)
        print(f"  {elapsed:6.1f} s  {done:6d} sent  {done / elapsed:7.0f} messages/s", flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = elapsed or time.perf_counter() - t0
    done = await sent(db)
    for s in senders:
        if s is not None:
            await s.close()
    await db.dispose()

    stored = smtp.messages()
    received = {"SMTP sink": Counter(str(m["Message-ID"]) for m in stored)}
    if twilio is not None:
        received["fake carrier"] = Counter(m["To"] for m in twilio.messages)
        twilio.stop()
    print(
        f"\n{done} of {queued} messages ({n} recipients, {args.channel}) sent in "
        f"{elapsed:.1f} s -> {done / elapsed:.0f} messages/s ({args.workers} workers x "
        f"{args.concurrency} in flight, limiter {args.rate:.0f}/s)"
    )
    ok = done == queued
    for where, ids in received.items():
        twice = sum(1 for c in ids.values() if c > 1)
        print(f"received by the {where}: {len(ids)} distinct, {twice} more than once")
        ok = ok and len(ids) == n and twice == 0
    if done < queued:
        print(f"stopped after --timeout {args.timeout:.0f} s: {queued - done} not sent yet")
    print("every message exactly once" if ok else "NOT every message exactly once")

    if stored:
        connections = args.workers * settings.smtp_max_connections
        sample = min(n, args.ceiling_messages)
        ceiling = await smtp_ceiling(smtp, stored[0], connections, sample)
        rate = done / elapsed
        print(
            f"\nSMTP ceiling (a plain client, {connections} connections, {sample} messages): "
            f"{ceiling:.0f} messages/s\n"
            f"fan-out / ceiling: {rate / ceiling:.2f}x (goal: at least 0.80x)"
        )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--channel", choices=["email", "sms"], default="email")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100_000.0, help="limiter, messages/s")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds of sending")
    parser.add_argument(
        "--ceiling-messages", type=int, default=3000, help="messages of the plain-client ceiling"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dropwave-bench-notify-") as tmp:
        root = Path(tmp)
        with EmbeddedPostgres(root / "pg") as pg:
            template = pg.url_template
            ensure_database(admin_dsn_from_url(template.replace("{db}", "postgres")), "bench")
            url = template.replace("{db}", "bench")
            upgrade(url, MIGRATIONS / "migrations")
            with SmtpSink(root / "smtp") as smtp:
                # uvloop, as the service runs (uvicorn picks it when installed).
                return uvloop.run(run(args, url, smtp))


if __name__ == "__main__":
    sys.exit(main())
