"""Shared plumbing: a child process in its own process group, output captured to a log file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from .ports import free_port

__all__ = [
    "ManagedProcess",
    "PartFailedError",
    "deferred_interrupts",
    "interrupt",
    "run_coro_sync",
    "tail",
]

T = TypeVar("T")

# Variables that would silently reconfigure a child (Tansu reads LISTENER_URL, STORAGE_ENGINE...;
# Caddy reads its XDG dirs). They are dropped from inherited environments.
_SCRUBBED_ENV = (
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "CLUSTER_ID",
    "SCHEMA_REGISTRY",
    "PGDATA",
    "PGPORT",
    "PGHOST",
)


class _Interrupts:
    depth = 0
    pending: str | None = None


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """A section a Ctrl-C must not cut in two (e.g. between a child's fork and the moment
    its pid is recorded, which would leave the child running with nobody to stop it): an
    :func:`interrupt` arriving inside is raised when the outermost section ends."""
    _Interrupts.depth += 1
    try:
        yield
    finally:
        _Interrupts.depth -= 1
        if _Interrupts.depth == 0 and _Interrupts.pending is not None:
            name, _Interrupts.pending = _Interrupts.pending, None
            raise KeyboardInterrupt(name)


def interrupt(reason: str) -> None:
    """Call from a signal handler to abort start-up: raises KeyboardInterrupt now, or at the
    end of the current :func:`deferred_interrupts` section."""
    if _Interrupts.depth:
        _Interrupts.pending = reason
        return
    raise KeyboardInterrupt(reason)


class PartFailedError(RuntimeError):
    """A part of the stack did not start; the message carries the tail of its log."""


def tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = data[-64_000:].decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def run_coro_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    Works whether or not the calling thread already runs an event loop: the coroutine always
    runs on a fresh loop in a helper thread, so sync ``start()`` methods can be called from
    async tests too.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def runner() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=runner, name="dropwave-devstack-sync", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment minus variables that would reconfigure our children."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    if extra:
        env.update(extra)
    return env


class ManagedProcess:
    """One child process of the dev stack.

    The child runs in a new session (its own process group) so ``stop()`` can signal the whole
    group; stdout and stderr go to ``<data_dir>/<name>.log``. ``stop()`` is idempotent.
    Subclasses implement ``start()`` using ``_spawn()``.
    """

    name: str = "process"
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 10.0

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the process and everything in its process group. Safe to call repeatedly."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        pgid = proc.pid  # start_new_session=True: the child leads its own group
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, self.stop_signal)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Leftover grandchildren (e.g. postgres backends, uvicorn workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers for subclasses --------------------------------------------------------------

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: int | None = None,
        group: int | None = None,
    ) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(
                f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode()
            )
            log.flush()
            kwargs: dict[str, Any] = {}
            if user is not None:
                kwargs.update(user=user, group=group, extra_groups=[])
            with deferred_interrupts():  # the child is stoppable once _proc is set
                proc = subprocess.Popen(  # noqa: S603 - argv is built by us, never a shell string
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else child_env(),
                    cwd=cwd or self.data_dir,
                    start_new_session=True,
                    **kwargs,
                )
                self._proc = proc
        return proc

    def _start_on_free_port(self, requested: int | None, launch: Callable[[int], None]) -> None:
        """``launch(port)`` spawns the part and waits until it is ready. A free port can be
        taken by someone else before our process binds it, so that is retried on a fresh
        port (twice) unless the caller asked for a specific port."""
        attempts = 1 if requested else 3
        for attempt in range(attempts):
            try:
                launch(requested or free_port())
                return
            except Exception:
                self.stop()
                if attempt == attempts - 1:
                    raise

    def _check_alive(self, what: str = "start") -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            code = None if proc is None else proc.returncode
            raise PartFailedError(
                f"{self.name} exited during {what} (exit code {code}); "
                f"log {self.log_path}:\n{self.log_tail()}"
            )

    def _fail(self, message: str) -> PartFailedError:
        return PartFailedError(f"{self.name}: {message}; log {self.log_path}:\n{self.log_tail()}")
