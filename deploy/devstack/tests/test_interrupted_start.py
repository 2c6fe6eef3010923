"""Ctrl-C while ``python -m dropwave_devstack up`` is still starting leaves no process behind.

Every part of the stack runs in its own session (so the terminal's Ctrl-C reaches only the
``up`` process) with its working directory under the data dir: whatever still has its cwd
there after ``up`` exited was left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Shared by the cases: the PostgreSQL cluster is initialised once.
    return tmp_path_factory.mktemp("interrupted")


def processes_under(root: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose working directory is under ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cwd == str(root) or cwd.startswith(f"{root}/"):
            found.append((int(entry.name), cmdline[:120]))
    return found


@contextlib.contextmanager
def up(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "dropwave_devstack", "up", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for pid, _ in processes_under(data_dir):  # never leave a failed case's leftovers
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "moment",
    [
        "kafka: starting Tansu",  # right as the broker is spawned
        "stripe: starting localstripe",
        "smtp: starting the SMTP sink",
        "notifications: migrating",  # infrastructure up, services not started
        "campaigns ready",  # services running
    ],
)
def test_ctrl_c_during_start_up_leaves_no_process(data_dir: Path, moment: str) -> None:
    with up(data_dir) as proc:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if moment in line:
                proc.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail(f"start-up ended before {moment!r}:\n{''.join(seen[-30:])}")
        rest, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130, rest
        assert "interrupted during start-up" in rest
        deadline = time.monotonic() + 10  # reaped children may linger an instant in /proc
        while (left := processes_under(data_dir)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == []
