"""Fixtures of the runtime's own tests."""

from collections.abc import AsyncIterator

import pytest
from dropwave_runtime.db import Database
from dropwave_runtime.rate_limit import rate_limit_metadata
from dropwave_runtime.service import KafkaPublisher, ServiceRuntime
from dropwave_runtime.settings import ServiceSettings


@pytest.fixture
async def limiter_db_url(plumbing_database: str) -> str:
    """A fresh database with the ``rate_limits`` table (as a service's migration makes it)."""
    db = Database(plumbing_database, "runtime-tests", pool_size=1)
    async with db.engine.begin() as conn:
        await conn.run_sync(rate_limit_metadata.create_all)
    await db.dispose()
    return plumbing_database


@pytest.fixture
async def publisher(kafka_bootstrap: str) -> AsyncIterator[KafkaPublisher]:
    settings = ServiceSettings(
        database_url="postgresql+asyncpg://unused/none", kafka_bootstrap_servers=kafka_bootstrap
    )
    rt = ServiceRuntime("campaigns", settings)
    await rt.broker.start()
    yield rt.publisher
    await rt.broker.stop()
