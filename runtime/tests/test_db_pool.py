"""The pool pings a connection only when it sat idle: a busy service spends no round trips
on pings, and a connection cut while idle is still replaced before anyone uses it."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from dropwave_runtime import db as db_module
from dropwave_runtime.db import create_engine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def engine(
    plumbing_database: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncEngine, list[int]]]:
    monkeypatch.setattr(db_module, "IDLE_PING_S", 0.3)
    made = create_engine(plumbing_database, pool_size=1)
    pings: list[int] = []
    dialect = made.sync_engine.dialect
    ping = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    yield made, pings
    await made.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_busy_connection_is_not_pinged_an_idle_one_is(
    engine: tuple[AsyncEngine, list[int]],
) -> None:
    made, pings = engine
    first = await backend_pid(made)
    for _ in range(20):
        assert await backend_pid(made) == first  # the one pooled connection, reused
    assert pings == []
    await asyncio.sleep(0.4)
    assert await backend_pid(made) == first
    assert pings == [1]


async def test_a_connection_cut_while_idle_is_replaced_before_use(
    engine: tuple[AsyncEngine, list[int]], plumbing_database: str
) -> None:
    made, pings = engine
    first = await backend_pid(made)
    other = create_engine(plumbing_database, pool_size=1)
    try:
        async with other.connect() as conn:  # what a restart or an idle timeout does
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    finally:
        await other.dispose()
    await asyncio.sleep(0.4)

    second = await backend_pid(made)  # no error: the ping failed, a fresh connection served

    assert second != first
    assert pings == [1]
