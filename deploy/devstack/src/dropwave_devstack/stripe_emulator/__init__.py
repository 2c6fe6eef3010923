"""The Stripe emulator: localstripe, extended by us, on a free port on 127.0.0.1.

:class:`LocalStripe` starts it as a process (:mod:`.launcher`: memory-only store instead of
the shared ``/tmp/localstripe.pickle``) with every extension of ours installed
(:mod:`.patches`, one module per resource). Point the real ``stripe`` SDK at :attr:`api_base`.
Webhooks are configured at runtime with ``POST /_config/webhooks/<id>`` (see
:meth:`LocalStripe.register_webhook`); localstripe signs them like Stripe does and delivers
them about one second after the event.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .._process import ManagedProcess, child_env

__all__ = ["LocalStripe", "register_webhook"]


def register_webhook(
    api_base: str,
    url: str,
    secret: str,
    *,
    webhook_id: str = "dropwave",
    events: Sequence[str] | None = None,
) -> None:
    """Tell a localstripe at ``api_base`` to POST events to ``url`` signed with ``secret``.

    ``events`` limits the event types (default: all). Registering the same id again replaces
    the previous registration.
    """
    import httpx

    body: dict[str, object] = {"url": url, "secret": secret}
    if events is not None:
        body["events"] = list(events)
    response = httpx.post(f"{api_base}/_config/webhooks/{webhook_id}", json=body, timeout=10)
    response.raise_for_status()


class LocalStripe(ManagedProcess):
    """localstripe on 127.0.0.1:<free port>, memory-only (``persist=True`` keeps a store
    file in the data dir across restarts)."""

    name = "localstripe"

    def __init__(
        self, data_dir: Path | str, *, port: int | None = None, persist: bool = False
    ) -> None:
        super().__init__(data_dir)
        self.host = "127.0.0.1"
        self._requested_port = port
        self.port = 0
        self.persist = persist

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def register_webhook(
        self,
        url: str,
        secret: str,
        *,
        webhook_id: str = "dropwave",
        events: Sequence[str] | None = None,
    ) -> None:
        register_webhook(self.api_base, url, secret, webhook_id=webhook_id, events=events)

    def flush(self) -> None:
        """Delete every object in the emulator's store."""
        import httpx

        httpx.delete(f"{self.api_base}/_config/data", timeout=10).raise_for_status()

    def start(self) -> None:
        if self.running:
            return

        def launch(port: int) -> None:
            self.port = port
            argv = [
                sys.executable,
                "-m",
                "dropwave_devstack.stripe_emulator.launcher",
                "--host",
                self.host,
                "--port",
                str(self.port),
            ]
            if self.persist:
                argv += ["--store", str(self.data_dir / "localstripe.pickle")]
            else:
                argv.append("--from-scratch")
            self._spawn(argv, env=child_env({"PYTHONUNBUFFERED": "1"}))
            self._wait_ready(timeout=30)

        self._start_on_free_port(self._requested_port, launch)

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                response = httpx.get(
                    f"{self.api_base}/v1/balance",
                    headers={"Authorization": "Bearer sk_test_probe"},
                    timeout=1.0,
                )
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                raise self._fail(f"not answering after {timeout}s")
            time.sleep(0.05)
