import asyncio
from pathlib import Path

import notifications
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from dropwave_runtime.service import ServiceRuntime
from notifications.bootstrap import SERVICE, bootstrap
from notifications.settings import Settings
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS = Path(notifications.__file__).parent / "migrations"


def test_bootstrap_connects_nothing_and_handles_the_events() -> None:
    app = bootstrap(
        Settings(
            database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
            kafka_bootstrap_servers="127.0.0.1:1",
            smtp_host="127.0.0.1",
            mail_from="no-reply@dropwave.test",
            notifications_link_secret="x" * 32,
        )
    )
    runtime = app.state.runtime
    assert isinstance(runtime, ServiceRuntime)
    assert set(runtime._handlers) == set(SERVICE.events)
    assert {e.__name__ for e in SERVICE.events} >= {
        "OrderPlaced",
        "OrderConfirmed",
        "CampaignTipped",
        "CampaignFailed",
        "PaymentCaptured",
        "PaymentCaptureFailed",
        "PaymentRefunded",
        "CampaignMilestoneReached",
    }
    assert [t.__name__ for t in runtime._background] == ["deliveries"]
    paths = set(app.openapi()["paths"])
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    assert {
        "/api/v1/notifications/unsubscribe",
        "/api/v1/notifications/twilio/inbound",
        "/api/v1/notifications/twilio/status",
    } <= paths


def tables(url: str) -> set[str]:
    async def names() -> set[str]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        await engine.dispose()
        return found

    return asyncio.run(names())


def test_migration_upgrades_and_downgrades(notifications_db_url: str) -> None:
    assert {"deliveries", "outbox", "inbox", "buyers", "campaigns", "opt_outs"} <= tables(
        notifications_db_url
    )
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", notifications_db_url.replace("%", "%%"))
    command.downgrade(cfg, "base")
    assert tables(notifications_db_url) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert {"deliveries", "outbox", "inbox"} <= tables(notifications_db_url)
