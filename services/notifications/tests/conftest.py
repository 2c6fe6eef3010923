from collections.abc import AsyncIterator, Callable

import pytest
from dropwave_runtime.db import Database


@pytest.fixture
def notifications_db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database migrated with notifications' migrations (from the root conftest)."""
    try:
        make: Callable[[str], str] = request.getfixturevalue("service_database")
    except pytest.FixtureLookupError:
        pytest.skip("needs the root conftest's service_database fixture")
    return make("notifications")


@pytest.fixture
async def db(notifications_db_url: str) -> AsyncIterator[Database]:
    database = Database(notifications_db_url, "notifications", pool_size=4)
    yield database
    await database.dispose()
