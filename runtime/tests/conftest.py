"""Fixtures of the runtime's own tests."""

from collections.abc import AsyncIterator

import pytest
from dropwave_runtime.service import KafkaPublisher, ServiceRuntime
from dropwave_runtime.settings import ServiceSettings


@pytest.fixture
async def publisher(kafka_bootstrap: str) -> AsyncIterator[KafkaPublisher]:
    settings = ServiceSettings(
        database_url="postgresql+asyncpg://unused/none", kafka_bootstrap_servers=kafka_bootstrap
    )
    rt = ServiceRuntime("campaigns", settings)
    await rt.broker.start()
    yield rt.publisher
    await rt.broker.stop()
