"""``python -m dropwave_devstack up [--data-dir .dev] [--scale payments=3,...] [--demo] [--once]``
and ``smtp-sink``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import signal
import sys
import threading
from pathlib import Path

from ._process import interrupt
from .paths import default_data_dir, find_repo_root
from .stack import MAX_INSTANCES, DevStack, describe_failure, parse_scale

__all__ = ["find_repo_root", "main"]


def _up(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir or default_data_dir()
    try:
        stack = DevStack(
            data_dir,
            on_event=lambda msg: print(f"[devstack] {msg}", flush=True),
            scale=parse_scale(args.scale),
        )
    except ValueError as exc:
        print(f"[devstack] {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def interrupt_start(signum: int, _frame: object) -> None:
        # During start-up: abort it (once a child being spawned is recorded);
        # DevStack.start() stops whatever already runs.
        interrupt(signal.Signals(signum).name)

    def on_signal(signum: int, _frame: object) -> None:
        print(f"\n{signal.Signals(signum).name}: stopping...", flush=True)
        stop.set()

    signal.signal(signal.SIGINT, interrupt_start)
    signal.signal(signal.SIGTERM, interrupt_start)

    try:
        stack.start()
    except KeyboardInterrupt:
        print("[devstack] interrupted during start-up; stopped", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"[devstack] failed to start:\n{describe_failure(exc)}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"\nDropWave is up at {stack.base_url}  (data: {data_dir})", flush=True)
        for name, address in stack.addresses().items():
            print(f"  {name:<24} {address}", flush=True)
        print(f"  {'drop pages':<24} {stack.base_url}/<slug>", flush=True)
        if args.demo:
            if importlib.util.find_spec("dropwave_devstack.demo") is None:
                print("[devstack] --demo: dropwave_devstack.demo does not exist", file=sys.stderr)
            else:
                demo = importlib.import_module("dropwave_devstack.demo")
                demo.run(stack.base_url, data_dir)
        if args.once:
            return 0
        print("Press Ctrl-C to stop.", flush=True)
        stop.wait()
        return 0
    finally:
        stack.stop()
        print("[devstack] stopped", flush=True)


def _token(args: argparse.Namespace) -> int:
    from .issuer import signing_key_path
    from .tokens import DEFAULT_EMAIL, DefaultEmail, mint_creator_token

    data_dir: Path = args.data_dir or default_data_dir()
    key = signing_key_path(data_dir)
    new_key = not key.exists()
    email: str | DefaultEmail | None = DEFAULT_EMAIL if args.email is None else args.email
    if args.no_email:
        email = None
    print(mint_creator_token(args.creator, ttl_s=args.ttl, data_dir=data_dir, email=email))
    if new_key:
        print(
            f"[devstack] created a new dev signing key at {key}; a stack already running with"
            " another data dir will not accept this token",
            file=sys.stderr,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["smtp-sink"]:
        from .smtp_sink import main as sink_main

        return sink_main(args_list[1:])
    parser = argparse.ArgumentParser(prog="python -m dropwave_devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole stack and wait for Ctrl-C")
    up.add_argument("--data-dir", type=Path, default=None, help="default: <repo root>/.dev")
    up.add_argument(
        "--scale",
        default="",
        metavar="SERVICE=N,...",
        help=f"run N instances of a service (1 to {MAX_INSTANCES}), e.g. payments=3,"
        "notifications=2; the gateway balances their HTTP, their consumer group shares the"
        " partitions",
    )
    up.add_argument("--demo", action="store_true", help="run dropwave_devstack.demo:run")
    up.add_argument("--once", action="store_true", help="stop right after start-up (and demo)")
    up.add_argument("-v", "--verbose", action="store_true")
    # Handled before parsing (delegated to smtp_sink.main); declared here for --help.
    sink = sub.add_parser("smtp-sink", help="run only the SMTP sink")
    sink.add_argument("--port", type=int, default=2525)
    sink.add_argument("--maildir", type=Path, required=True)
    sink.add_argument("--host", default="127.0.0.1")
    token = sub.add_parser("token", help="print a dev creator token (for the local stack)")
    token.add_argument("--creator", default="creator-1", help="the creator id (token subject)")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    token.add_argument(
        "--data-dir", type=Path, default=None, help="the stack's data dir (default: as for up)"
    )
    token.add_argument(
        "--email",
        default=None,
        help="the token's email claim (default: <creator>@creators.dropwave.test)",
    )
    token.add_argument("--no-email", action="store_true", help="a token without an email claim")
    args = parser.parse_args(args_list)
    if args.command == "token":
        return _token(args)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return _up(args)


if __name__ == "__main__":
    raise SystemExit(main())
