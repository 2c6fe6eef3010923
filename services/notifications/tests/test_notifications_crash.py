"""Exactly once across a crash: a worker process killed in the middle of a batch, then a
fresh worker finishes it; every message reaches the SMTP server once (by Message-ID)."""

import asyncio
import email
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from dropwave_devstack.ports import free_port
from dropwave_runtime.db import Database
from notifications.models import Delivery
from sqlalchemy import func, select

WORKER = """
import asyncio, sys
from dropwave_runtime.db import Database
from notifications.bootstrap import worker_config
from dropwave_runtime.rate_limit import PgRateLimiter
from notifications.mailer import SmtpMailer
from notifications.settings import Settings
from notifications.worker import DeliveryWorker

url, port = sys.argv[1], int(sys.argv[2])
settings = Settings(
    database_url=url, kafka_bootstrap_servers="127.0.0.1:1", smtp_host="127.0.0.1",
    smtp_port=port, mail_from="drops@dropwave.test", smtp_timeout_s=60,
    notifications_link_secret="crash-test-secret-0123456789",
    delivery_lease_s=1, delivery_batch_size=50, delivery_concurrency=4,
)

async def main() -> None:
    db = Database(url, "notifications", pool_size=6)
    worker = DeliveryWorker(
        db, worker_config(settings), SmtpMailer(settings), None,
        email_limiter=PgRateLimiter(db.engine, "email:smtp", 100_000, burst=1000),
        sms_limiter=PgRateLimiter(db.engine, "sms:none", 100_000, burst=1000),
    )
    print("handled", await worker.drain(), flush=True)
    await db.dispose()

asyncio.run(main())
"""


class GatedSink:
    """Stores messages until ``limit`` are stored; later ones hang before being accepted
    (as a server that has not answered the final "." yet) until released, then get a 451."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.message_ids: list[str] = []
        self.blocked = 0
        self.released = threading.Event()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            accept = self.limit <= 0 or len(self.message_ids) < self.limit
            if accept:
                parsed = email.message_from_bytes(envelope.original_content or envelope.content)
                self.message_ids.append(str(parsed["Message-ID"]))
                return "250 OK"
            self.blocked += 1
        while not self.released.is_set():
            await asyncio.sleep(0.02)
        return "451 4.3.0 try again later"


async def sent_count(db: Database) -> int:
    async with db.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
            )
            or 0
        )


def start_worker(url: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, url, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.timeout(90)
async def test_worker_killed_mid_batch_then_a_fresh_worker_sends_each_message_once(
    db: Database, db_url: str, handle: Any, make_drop: Any
) -> None:
    n, killed_after = 60, 20
    drop = make_drop(min_orders=n)
    await handle(*(drop.confirmed(i, phone=False) for i in range(1, n + 1)))

    sink = GatedSink(limit=killed_after)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        first = start_worker(db_url, port)
        deadline = time.monotonic() + 30
        # Kill once the first 20 are accepted *and recorded*, with more sends in flight.
        while not (sink.blocked > 0 and await sent_count(db) == killed_after):
            assert first.poll() is None, "the worker ended before the kill"
            assert time.monotonic() < deadline, "the worker did not reach the kill point"
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        async with db.sessions() as session:
            leased = await session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == "pending", Delivery.lease_until.is_not(None))
            )
        assert leased == 50 - killed_after  # the rest of its batch is still leased to it
        sink.released.set()
        sink.limit = 0

        await asyncio.sleep(1.2)  # the dead worker's lease (1 s) runs out
        second = start_worker(db_url, port)
        out, _ = await asyncio.to_thread(second.communicate, timeout=60)
        assert second.returncode == 0
        assert f"handled {n - killed_after}" in out
    finally:
        controller.stop()

    counts = Counter(sink.message_ids)
    assert len(counts) == n
    assert set(counts.values()) == {1}, [m for m, c in counts.items() if c > 1]
    assert await sent_count(db) == n
