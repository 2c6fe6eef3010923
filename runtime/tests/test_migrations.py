"""The alembic glue: ``upgrade`` goes to the one head, and a database recorded at several
heads of a history that is now one line upgrades from the newest (ADR 0009)."""

import asyncio
import textwrap
from pathlib import Path
from typing import Protocol

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from dropwave_runtime.migrations import create_rate_limits_table, drop_rate_limits_table, upgrade
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine


class PostgresServer(Protocol):
    """The root conftest's ``postgres_server``."""

    def create(self, prefix: str = "t") -> str: ...


ENV = """
from dropwave_runtime.migrations import run_env
from sqlalchemy import MetaData

run_env(MetaData())
"""


def write_revision(location: Path, revision: str, down_revision: str | None) -> None:
    (location / "versions" / f"{revision}.py").write_text(
        textwrap.dedent(f"""
        import sqlalchemy as sa
        from alembic import op

        revision = {revision!r}
        down_revision = {down_revision!r}


        def upgrade() -> None:
            op.create_table("t_{revision}", sa.Column("id", sa.Integer, primary_key=True))


        def downgrade() -> None:
            op.drop_table("t_{revision}")
        """)
    )


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Migrations 0001_a -> 0002_b -> 0003_c, each creating a table."""
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text(ENV)
    for revision, down in (("0001_a", None), ("0002_b", "0001_a"), ("0003_c", "0002_b")):
        write_revision(tmp_path, revision, down)
    return tmp_path


def run(url: str, sql: str) -> list[str]:
    async def go() -> list[str]:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            result = await conn.execute(sa.text(sql))
            rows = sorted(str(r[0]) for r in result) if result.returns_rows else []
        await engine.dispose()
        return rows

    return asyncio.run(go())


def versions(url: str) -> list[str]:
    return run(url, "SELECT version_num FROM alembic_version")


def test_versions_that_are_ancestors_of_another_give_way_to_it(
    postgres_server: PostgresServer, history: Path
) -> None:
    url = postgres_server.create("migrations")
    upgrade(url, history)
    # As a database migrated when 0001_a had 0002_b and 0003_c as sibling heads records it.
    run(url, "INSERT INTO alembic_version VALUES ('0002_b')")
    upgrade(url, history)
    assert versions(url) == ["0003_c"]

    run(url, "INSERT INTO alembic_version VALUES ('0001_a'), ('0002_b')")
    write_revision(history, "0004_d", "0003_c")
    upgrade(url, history)
    assert versions(url) == ["0004_d"]


def test_a_second_head_fails_loudly(postgres_server: PostgresServer, history: Path) -> None:
    write_revision(history, "0003_other", "0002_b")
    url = postgres_server.create("migrations")
    with pytest.raises(CommandError, match="Multiple head revisions"):
        upgrade(url, history)
    assert run(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []


def test_rate_limits_table_comes_and_goes(postgres_server: PostgresServer) -> None:
    url = postgres_server.create("migrations")

    def columns(conn: Connection) -> list[tuple[str, str, bool]]:
        return [
            (c["name"], repr(c["type"]), c["nullable"])
            for c in sa.inspect(conn).get_columns("rate_limits")
        ]

    def create_and_drop(conn: Connection) -> tuple[list[tuple[str, str, bool]], list[str], bool]:
        op = Operations(MigrationContext.configure(conn))
        create_rate_limits_table(op)
        found = columns(conn), sa.inspect(conn).get_pk_constraint("rate_limits")
        drop_rate_limits_table(op)
        return found[0], found[1]["constrained_columns"], sa.inspect(conn).has_table("rate_limits")

    async def go() -> tuple[list[tuple[str, str, bool]], list[str], bool]:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            found = await conn.run_sync(create_and_drop)
        await engine.dispose()
        return found

    cols, key, still_there = asyncio.run(go())
    assert cols == [
        ("name", "VARCHAR(length=64)", False),
        ("tat", "TIMESTAMP(timezone=True)", False),
    ]
    assert key == ["name"]
    assert not still_there
