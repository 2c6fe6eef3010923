from collections.abc import AsyncIterator, Callable

import pytest
from dropwave_runtime.db import Database


@pytest.fixture
def notifications_db_url(service_database: Callable[[str], str]) -> str:
    """A fresh database migrated with notifications' migrations (root conftest)."""
    return service_database("notifications")


@pytest.fixture
async def db(notifications_db_url: str) -> AsyncIterator[Database]:
    database = Database(notifications_db_url, "notifications", pool_size=4)
    yield database
    await database.dispose()
