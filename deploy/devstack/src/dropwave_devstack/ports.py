"""Free-port selection and TCP readiness probes."""

from __future__ import annotations

import socket
import time

__all__ = ["free_port", "wait_for_tcp"]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago.

    Binds to port 0, reads the port the kernel picked and closes the socket. There is an
    unavoidable race with other processes picking the same port; callers that start a server
    on it should check that the server really came up (and retry with a new port if not).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def wait_for_tcp(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something accepts TCP connections on ``host:port``.

    Raises ``TimeoutError`` if nothing does within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s: {last_error}")
        time.sleep(0.02)
