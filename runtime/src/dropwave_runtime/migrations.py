"""Alembic glue shared by every service: the plumbing and ``rate_limits`` tables, the async
env runner and ``upgrade``.

Each service's history is one line (ADR 0009): ``upgrade`` goes to ``head``, so a second head
fails loudly instead of being applied in an arbitrary order. A new migration is
``versions/NNNN_slug.py`` with revision id ``"NNNN_slug"`` (the file's name, its number one
more than the previous one's) and ``down_revision`` the previous id, no merges and no
branch labels. Older ids that do not follow this (the ``"0001"``s, orders' ``"0002"`` to
``"0005"``) stay as they are: deployed databases record them in ``alembic_version``.
``tests/test_migrations.py`` checks both, and every history down to base and up again.
"""

import asyncio
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from .db import OUTBOX_CHANNEL, plumbing_metadata
from .rate_limit import rate_limits_table


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


def create_rate_limits_table(op: Ops) -> None:
    """The table of ``dropwave_runtime.rate_limit`` and ``http_limits``."""
    rate_limits_table.create(op.get_bind())


def drop_rate_limits_table(op: Ops) -> None:
    rate_limits_table.drop(op.get_bind())


def redundant_versions(script: ScriptDirectory, versions: Collection[str]) -> set[str]:
    """The recorded versions that are ancestors of another recorded version.

    A database migrated while a history had several heads records one row per head; once
    the history is one line those heads are ancestors of each other and alembic refuses
    them ("overlaps with other requested revisions"). Every such database applied the
    migrations in the order they are now chained (ADR 0009), so the newest row says it all.
    """
    below: set[str] = set()
    for version in versions:
        below |= {s.revision for s in script.iterate_revisions(version, "base")} - {version}
    return below & set(versions)


def drop_redundant_versions(migration: MigrationContext, script: ScriptDirectory) -> None:
    """Delete the ``alembic_version`` rows of :func:`redundant_versions` (in the migration's
    transaction), before alembic reads them."""
    versions = migration.get_current_heads()
    redundant = redundant_versions(script, versions) if len(versions) > 1 else set()
    if not redundant:
        return
    table = sa.table(
        migration.version_table, sa.column("version_num"), schema=migration.version_table_schema
    )
    assert migration.connection is not None
    migration.connection.execute(table.delete().where(table.c.version_num.in_(redundant)))


def run_env(target_metadata: MetaData) -> None:
    """Body of each service's env.py: run migrations online over asyncpg."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    metadata = [target_metadata, plumbing_metadata]

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            drop_redundant_versions(context.get_context(), context.script)
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())


def upgrade(database_url: str, script_location: Path, revision: str = "head") -> None:
    """Migrate to ``revision``; the default fails if the history has more than one head."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(cfg, revision)
