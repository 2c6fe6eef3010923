"""An SMTP sink: accepts every message and stores it as a ``.eml`` file.

    python -m dropwave_devstack.smtp_sink --port 2525 --maildir .dev/mail [--host 127.0.0.1]

Each message is written to ``<maildir>/.<name>.tmp`` and renamed to ``<maildir>/<name>.eml``
(atomic: readers never see half a message). File names sort in arrival order. Two headers
are prepended: ``X-Envelope-From`` and ``X-Envelope-To`` (the SMTP envelope).
"""

from __future__ import annotations

import argparse
import email.message
import email.policy
import itertools
import os
import signal
import sys
import threading
import time
import uuid
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from ._process import ManagedProcess, child_env
from .ports import wait_for_tcp

__all__ = ["SmtpSink", "main", "read_messages", "serve"]

_counter = itertools.count()


def _store(maildir: Path, mail_from: str, rcpt_tos: list[str], content: bytes) -> Path:
    name = f"{time.time_ns():020d}-{next(_counter):06d}-{uuid.uuid4().hex[:8]}"
    envelope = (
        f"X-Envelope-From: <{mail_from}>\r\nX-Envelope-To: {', '.join(rcpt_tos)}\r\n"
    ).encode()
    tmp = maildir / f".{name}.tmp"
    final = maildir / f"{name}.eml"
    with open(tmp, "wb") as f:
        f.write(envelope + content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


class _Handler:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        path = _store(self.maildir, envelope.mail_from or "", list(envelope.rcpt_tos), content)
        print(f"stored {path.name} from {envelope.mail_from} to {envelope.rcpt_tos}", flush=True)
        return "250 Message accepted for delivery"


def serve(host: str, port: int, maildir: Path, stop: threading.Event | None = None) -> None:
    """Run the sink until ``stop`` is set (or SIGTERM/SIGINT when ``stop`` is None)."""
    from aiosmtpd.controller import Controller

    maildir.mkdir(parents=True, exist_ok=True)
    controller = Controller(
        _Handler(maildir),
        hostname=host,
        port=port,
        enable_SMTPUTF8=True,
        data_size_limit=50 * 1024 * 1024,
        ready_timeout=10,
    )
    controller.start()
    print(f"smtp sink listening on {host}:{port}, storing mail in {maildir}", flush=True)
    event = stop or threading.Event()
    if stop is None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: event.set())
    try:
        event.wait()
    finally:
        controller.stop()


def read_messages(
    maildir: Path, cache: dict[str, email.message.EmailMessage] | None = None
) -> list[email.message.EmailMessage]:
    """Every stored message in ``maildir``, oldest first.

    With ``cache`` (file name -> message, kept by the caller) each file is parsed once: a
    stored message never changes (written under a temporary name, then renamed). A suite
    that polls the sink while thousands of messages pile up in it (the e2e tests: 1,000-order
    drops) otherwise parsed every one of them on every poll, seconds a look."""
    parser = BytesParser(policy=email.policy.default)
    known = {} if cache is None else cache
    if not maildir.is_dir():
        known.clear()
        return []
    paths = sorted(maildir.glob("*.eml"))
    for gone in known.keys() - {path.name for path in paths}:
        del known[gone]
    messages: list[email.message.EmailMessage] = []
    for path in paths:
        msg = known.get(path.name)
        if msg is None:
            with open(path, "rb") as f:
                parsed = parser.parse(f)
            assert isinstance(parsed, email.message.EmailMessage)
            msg = known[path.name] = parsed
        messages.append(msg)
    return messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dropwave_devstack.smtp_sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.maildir.resolve())
    return 0


class SmtpSink(ManagedProcess):
    """The sink as a subprocess on 127.0.0.1:<free port>; mail lands in ``<data_dir>/mail``."""

    name = "smtp-sink"

    def __init__(
        self, data_dir: Path | str, *, port: int | None = None, maildir: Path | None = None
    ) -> None:
        super().__init__(data_dir)
        self.host = "127.0.0.1"
        self._requested_port = port
        self.port = 0
        self.maildir = (maildir or self.data_dir / "mail").resolve()
        self._parsed: dict[str, email.message.EmailMessage] = {}

    def messages(self) -> list[email.message.EmailMessage]:
        return read_messages(self.maildir, self._parsed)

    def clear(self) -> None:
        """Delete every stored message."""
        for path in self.maildir.glob("*.eml"):
            path.unlink(missing_ok=True)

    def start(self) -> None:
        if self.running:
            return
        self.maildir.mkdir(parents=True, exist_ok=True)

        def launch(port: int) -> None:
            self.port = port
            self._spawn(
                [
                    sys.executable,
                    "-m",
                    "dropwave_devstack.smtp_sink",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--maildir",
                    str(self.maildir),
                ],
                env=child_env({"PYTHONUNBUFFERED": "1"}),
            )
            deadline = time.monotonic() + 20
            while True:
                self._check_alive()
                try:
                    wait_for_tcp(self.host, self.port, timeout=0.2)
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise self._fail("not listening after 20s") from None
            self._check_alive()

        self._start_on_free_port(self._requested_port, launch)


if __name__ == "__main__":
    raise SystemExit(main())
