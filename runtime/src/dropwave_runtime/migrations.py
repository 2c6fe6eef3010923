"""Alembic glue shared by every service: the plumbing tables and the async env runner."""

import asyncio
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from .db import OUTBOX_CHANNEL, plumbing_metadata


class Ops(Protocol):
    """What a migration needs of alembic's `op` (the module proxy or an Operations)."""

    def get_bind(self) -> Connection: ...

    def execute(self, sqltext: Any, *, execution_options: dict[str, Any] | None = None) -> None: ...


def install_plumbing(connection: Connection) -> None:
    """Outbox and inbox tables, and the trigger that wakes the relay on insert."""
    plumbing_metadata.create_all(connection)
    connection.execute(
        sa.text(
            "CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{OUTBOX_CHANNEL}', ''); RETURN NULL; END $$"
        )
    )
    connection.execute(
        sa.text(
            "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
            "FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"
        )
    )


def create_plumbing(op: Ops) -> None:
    """Call from a service's first migration."""
    install_plumbing(op.get_bind())


def drop_plumbing(op: Ops) -> None:
    op.execute(sa.text("DROP TRIGGER IF EXISTS outbox_notify ON outbox"))
    op.execute(sa.text("DROP FUNCTION IF EXISTS outbox_notify()"))
    plumbing_metadata.drop_all(op.get_bind())


def run_env(target_metadata: MetaData) -> None:
    """Body of each service's env.py: run migrations online over asyncpg."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    metadata = [target_metadata, plumbing_metadata]

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())


def upgrade(database_url: str, script_location: Path, revision: str = "heads") -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(cfg, revision)
