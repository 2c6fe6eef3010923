"""Every service's migrations (ADR 0009): one line of history, ids in one style, down to base
and up again to the same schema, and databases migrated with the branched histories of
before upgrade in place."""

import asyncio
import itertools
import re
import shutil
import subprocess
from importlib import import_module
from pathlib import Path
from typing import Protocol

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from dropwave_runtime.migrations import upgrade
from sqlalchemy.ext.asyncio import create_async_engine

SERVICES = ["campaigns", "orders", "payments", "notifications", "storefront"]

# Ids written before the NNNN_slug style; deployed databases record them.
LEGACY_IDS = {
    ("campaigns", "0001"),
    ("notifications", "0001"),
    ("payments", "0001"),
    *(("orders", f"000{n}") for n in range(1, 6)),
}

# The last commit whose histories branched (campaigns: five heads; payments: a merge), and
# the services it had.
BRANCHED_AT = "4ff7c77"
BRANCHED_SERVICES = ["campaigns", "orders", "payments", "notifications"]
REPO = Path(__file__).resolve().parents[1]

SCHEMA = {
    "relations": "SELECT relname, relkind::text FROM pg_class"
    " WHERE relnamespace = 'public'::regnamespace",
    "columns": "SELECT table_name, column_name, data_type, udt_name, character_maximum_length,"
    " is_nullable, column_default, is_identity FROM information_schema.columns"
    " WHERE table_schema = 'public'",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "partitions": "SELECT inhrelid::regclass::text, inhparent::regclass::text,"
    " pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid",
    "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger"
    " WHERE NOT tgisinternal",
    "functions": "SELECT proname, pg_get_functiondef(oid) FROM pg_proc"
    " WHERE pronamespace = 'public'::regnamespace",
}
Schema = dict[str, list[tuple[object, ...]]]


class PostgresServer(Protocol):
    """The root conftest's ``postgres_server``."""

    def create(self, prefix: str = "t") -> str: ...


def leftovers(found: Schema) -> Schema:
    """Everything but alembic's version table."""
    return {
        name: [row for row in rows if not str(row[0]).startswith("alembic_version")]
        for name, rows in found.items()
    }


def migrations(service: str) -> Path:
    return Path(str(import_module(service).__file__)).parent / "migrations"


def script(location: Path) -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    return ScriptDirectory.from_config(cfg)


def schema_and_versions(url: str) -> tuple[Schema, list[str]]:
    """Column order is left out: histories that branched applied siblings in another order."""

    async def read() -> tuple[Schema, list[str]]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            found: Schema = {}
            for name, query in SCHEMA.items():
                rows = (await conn.execute(sa.text(query))).all()
                found[name] = sorted((tuple(r) for r in rows), key=repr)
            versions = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            version_nums = sorted(versions.scalars())
        await engine.dispose()
        return found, version_nums

    return asyncio.run(read())


@pytest.mark.parametrize("service", SERVICES)
def test_history_is_one_line_of_styled_ids(service: str) -> None:
    scripts = list(reversed(list(script(migrations(service)).walk_revisions())))
    assert len(script(migrations(service)).get_heads()) == 1
    assert scripts[0].down_revision is None
    for previous, current in itertools.pairwise(scripts):
        assert current.down_revision == previous.revision, current.path
    for number, current in enumerate(scripts, start=1):
        assert not current.branch_labels, current.path
        assert not current.dependencies, current.path
        stem = Path(current.path).stem
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+", stem), current.path
        assert int(stem[:4]) == number, current.path
        legacy = (service, current.revision) in LEGACY_IDS
        assert current.revision == (stem[:4] if legacy else stem), current.path


@pytest.mark.parametrize("service", SERVICES)
def test_down_to_base_and_up_again(service: str, postgres_server: PostgresServer) -> None:
    url = postgres_server.create(f"{service}_migrations")
    head = script(migrations(service)).get_current_head()
    upgrade(url, migrations(service))
    first, versions = schema_and_versions(url)
    assert versions == [head]

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations(service)))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.downgrade(cfg, "base")
    at_base, versions = schema_and_versions(url)
    assert versions == []
    assert leftovers(at_base) == {name: [] for name in SCHEMA}

    command.upgrade(cfg, "head")
    assert schema_and_versions(url) == (first, [head])


def branched_history(service: str, into: Path) -> Path:
    """The service's migrations as of ``BRANCHED_AT`` (today's env.py: models may move)."""
    versions = migrations(service).relative_to(REPO) / "versions"
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", BRANCHED_AT, str(versions)],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"needs a git checkout with commit {BRANCHED_AT}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    location = into / versions.parent
    shutil.copy(migrations(service) / "env.py", location / "env.py")
    return location


@pytest.mark.parametrize("service", BRANCHED_SERVICES)
def test_database_of_the_branched_history_upgrades_in_place(
    service: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    fresh = postgres_server.create(f"{service}_fresh")
    upgrade(fresh, migrations(service))
    expected = schema_and_versions(fresh)

    deployed = postgres_server.create(f"{service}_deployed")
    upgrade(deployed, branched_history(service, tmp_path), "heads")
    upgrade(deployed, migrations(service))
    assert schema_and_versions(deployed) == expected
