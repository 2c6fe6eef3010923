"""Provider rate limits hold across instances: two workers with their own engines (as two
processes would have) share one email budget through the runtime's PostgreSQL limiter."""

import asyncio
import time
from typing import Any

from dropwave_runtime.db import Database
from notifications.bootstrap import provider_limiters
from notifications.mailer import OutgoingEmail
from notifications.settings import Settings
from notifications.worker import DeliveryWorker

from .conftest import worker_config
from .fakes import RecordingMailer


class TimedMailer(RecordingMailer):
    def __init__(self, times: list[float]) -> None:
        super().__init__()
        self.times = times

    async def send(self, message: OutgoingEmail) -> str | None:
        self.times.append(time.monotonic())
        return await super().send(message)


def settings(url: str, rate: float) -> Settings:
    return Settings(
        database_url=url,
        kafka_bootstrap_servers="127.0.0.1:9",
        smtp_host="127.0.0.1",
        mail_from="drops@dropwave.test",
        notifications_link_secret="rate-test-secret-0123456789",
        email_rate_per_s=rate,
        sms_provider="none",
    )


async def test_two_instances_share_one_email_budget(
    db_url: str, db: Database, handle: Any, make_drop: Any
) -> None:
    rate, buyers = 20.0, 24
    drop = make_drop("Paced lamp", min_orders=buyers)
    for n in range(1, buyers + 1):
        await handle(drop.placed(n, phone=False), drop.confirmed(n, phone=False))
    times: list[float] = []
    instances = [Database(db_url, "notifications", pool_size=4) for _ in range(2)]
    mailers = [TimedMailer(times) for _ in instances]
    workers = []
    for instance, mailer in zip(instances, mailers, strict=True):
        email, sms = provider_limiters(settings(db_url, rate), instance.engine)
        assert email.name == "email:smtp"
        config = worker_config(batch_size=buyers // 2, concurrency=8)
        workers.append(
            DeliveryWorker(instance, config, mailer, None, email_limiter=email, sms_limiter=sms)
        )
    try:
        t0 = time.monotonic()
        handled = await asyncio.gather(*(w.drain() for w in workers))
        elapsed = time.monotonic() - t0
    finally:
        for instance in instances:
            await instance.dispose()
    assert sum(handled) == buyers
    assert all(m.sent for m in mailers), "both instances sent"
    assert len({m["Message-ID"] for mailer in mailers for m in mailer.sent}) == buyers
    # One budget: at 20/s, 24 sends (burst 1) need at least 23 intervals, whoever sends them;
    # two per-process buckets would have let them through in half the time.
    assert elapsed >= (buyers - 1) / rate * 0.95, elapsed
    # No burst either: any 20 consecutive sends span at least 60 % of their 20 slots. (Send
    # times, not grant times: a process stalled by a busy machine sends a few granted slots
    # at once, so a short window would measure the machine, not the limiter.)
    times.sort()
    windows = [times[i + 20] - times[i] for i in range(len(times) - 20)]
    assert min(windows) >= 20 / rate * 0.6, min(windows)
