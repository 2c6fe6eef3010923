"""The operations CLI every service exposes: `python -m <service> serve | migrate | dlq`, plus
any subcommands a service registers (``commands``, e.g. payments' ``refund``/``reconcile``)."""

import argparse
import asyncio
import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn
from fastapi import FastAPI

from .dlq import Letters, list_dead_letters, replay_dead_letters
from .migrations import upgrade
from .observability import configure_logging
from .settings import ServiceSettings

if TYPE_CHECKING:
    from .bootstrap import Service

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class Command:
    """A service's own subcommand: ``configure`` adds its arguments to the subparser,
    ``handle(args, settings)`` runs it and returns the exit code."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handle: Callable[[argparse.Namespace, Any], int]


def tune_gc(gen0_threshold: int) -> None:
    """Collect young objects less often, and never rescan the start-up heap.

    A request allocates a few hundred container objects (pydantic, SQLAlchemy, asyncio), so
    CPython's default threshold (700) ran a collection every couple of requests: ~20 % of
    the order endpoint's CPU. Freezing what start-up built (modules, app, settings) keeps
    the older generations' collections short. Memory cost: at most `gen0_threshold`
    young objects wait for collection.
    """
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


def parser_of(spec: "Service[Any]") -> argparse.ArgumentParser:
    """The argument parser of ``python -m <service>`` (deploy files are checked against it)."""
    service, commands = spec.name, spec.commands
    parser = argparse.ArgumentParser(prog=f"python -m {service}", description=f"{service} service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API, consumers, outbox relay and jobs")
    serve.add_argument(
        "--role",
        choices=["api", "worker", "all"],
        help="api: HTTP only; worker: consumers, relay and background jobs (with /healthz, "
        "/readyz, /metrics); all: both (default: the ROLE setting, all)",
    )
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    dlq = sub.add_parser("dlq", help="inspect or replay this service's dead letters")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="print dead letters as JSON lines")
    replay = dlq_sub.add_parser("replay", help="send dead letters back to their topics")
    for which in (listing, replay):
        which.add_argument("--partition", type=int, help="only this DLQ partition")
        which.add_argument("--from-offset", type=int, help="only from this offset on")
        which.add_argument("--to-offset", type=int, help="only up to this offset (inclusive)")
        which.add_argument("--offset", type=int, action="append", help="only these offsets")
    for name, command in (commands or {}).items():
        command.configure(sub.add_parser(name, help=command.help))
    return parser


def run(
    spec: "Service[S]", bootstrap: Callable[[S], FastAPI], argv: list[str] | None = None
) -> None:
    """The CLI of the service ``spec`` lists; ``serve`` runs ``bootstrap(settings)``."""
    service, commands = spec.name, spec.commands
    args = parser_of(spec).parse_args(argv)

    settings = spec.settings()
    configure_logging(service, settings.log_level)
    if commands and args.command in commands:
        raise SystemExit(commands[args.command].handle(args, settings))
    if args.command == "serve":
        if args.role:
            settings = settings.model_copy(update={"role": args.role})
        app = bootstrap(settings)
        tune_gc(settings.gc_gen0_threshold)
        uvicorn.run(
            app,
            host=settings.http_host,
            port=settings.http_port,
            timeout_keep_alive=settings.http_keep_alive_s,
            log_config=None,
            access_log=False,
        )
    elif args.command == "migrate":
        upgrade(settings.database_url, spec.migrations)
    elif args.dlq_command == "list":
        letters = asyncio.run(
            list_dead_letters(settings.kafka_bootstrap_servers, service, _letters(args))
        )
        for line in letters:
            sys.stdout.write(line + "\n")
    else:
        count = asyncio.run(
            replay_dead_letters(
                settings.kafka_bootstrap_servers, service, _letters(args), _report_progress
            )
        )
        sys.stdout.write(f"replayed {count} dead letter(s)\n")


def _letters(args: argparse.Namespace) -> Letters:
    return Letters(
        partition=args.partition,
        first_offset=args.from_offset,
        last_offset=args.to_offset,
        offsets=frozenset(args.offset) if args.offset else None,
    )


def _report_progress(done: int, total: int) -> None:
    sys.stderr.write(f"replayed {done}/{total}\n")
