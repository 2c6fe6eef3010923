"""Database plumbing: engine factory, the outbox and inbox tables, and the unit of work.

Every service owns its own database; these two tables live in each of them so a state
change, the events it emits (outbox) and the events it has consumed (inbox) commit together.
"""

import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from dropwave_contracts.envelope import Event
from dropwave_contracts.topics import serialize, topic_for
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
    event,
    func,
    insert,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .metrics import EVENTS_EMITTED
from .observability import current_trace_headers

plumbing_metadata = MetaData()

outbox_table = Table(
    "outbox",
    plumbing_metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("topic", String(255), nullable=False),
    Column("key", String(255), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

inbox_table = Table(
    "inbox",
    plumbing_metadata,
    Column("consumer", String(100), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
)

OUTBOX_CHANNEL = "outbox_insert"


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long anything waits on PostgreSQL, so a server that is down or hung costs a
    request seconds, never forever (then it answers 503 ``database_unavailable``).

    * ``connect_s``: opening a connection, handshake included (asyncpg ``timeout``);
    * ``pool_s``: waiting for a pooled connection (SQLAlchemy ``pool_timeout``);
    * ``statement_s``: one statement, on the server (``statement_timeout``, lock waits
      included) and, a little later, on the client (asyncpg ``command_timeout``: a frozen
      server cannot cancel anything).

    ``idle_in_transaction_session_timeout`` is left alone (the server's default, off): the
    payments worker keeps a transaction open across a Stripe call, idle, not in a statement.
    Migrations use their own engine, without these bounds.
    """

    connect_s: float = 5.0
    pool_s: float = 5.0
    statement_s: float = 10.0

    @property
    def command_s(self) -> float:
        """The client-side bound: past the server's, so a live server's own error wins."""
        return self.statement_s + 2.0


def create_engine(
    database_url: str, pool_size: int = 10, timeouts: DatabaseTimeouts | None = None
) -> AsyncEngine:
    t = timeouts or DatabaseTimeouts()
    # hide_parameters: SQL errors must not carry buyer emails or phones into logs or DLQ headers.
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        pool_timeout=t.pool_s,
        hide_parameters=True,
        connect_args={
            "timeout": t.connect_s,
            "command_timeout": t.command_s,
            "server_settings": {"statement_timeout": str(int(t.statement_s * 1000))},
        },
    )
    _ping_when_idle(engine, IDLE_PING_S)
    return engine


IDLE_PING_S = 5.0
"""A pooled connection idle longer than this is pinged before it is handed out."""


def _ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """SQLAlchemy's ``pool_pre_ping``, only for connections that sat idle in the pool.

    ``pool_pre_ping`` pings on every checkout, and asyncpg's ping is three round trips
    (``BEGIN``, ``;``, ``ROLLBACK``): on a busy service, where a connection is back in use
    within milliseconds, that was a tenth of payments' CPU in a drop. A connection that a
    restart or an idle timeout may have cut is still checked before use; one that breaks
    while in use fails its unit of work (``database_unavailable``: a 503, or the consumer
    waits and retries) and SQLAlchemy then drops every connection older than the failure.
    A failed ping is a ``DisconnectionError``: the pool replaces the connection and hands out
    a fresh one (SQLAlchemy's "pessimistic" disconnect handling, done by hand).
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa_exc.DisconnectionError("a pooled connection failed its ping") from exc


# SQLSTATE classes meaning "the database cannot serve now": 08 connection exception, 57
# operator intervention (57014 query_canceled: a statement timeout; 57P01 admin shutdown;
# 57P03 cannot connect now: starting up or shutting down), 53 insufficient resources (too
# many connections, disk full).
_UNAVAILABLE_SQLSTATE = ("08", "57", "53")
# Only the driver's frames tell a connection failure apart from an OSError of other code
# (SQLAlchemy's frames would also be there for an error raised inside a unit of work).
_DRIVER_MODULES = ("asyncpg",)


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says PostgreSQL is down, hung or overloaded (worth a 503 and a retry,
    not a 500 or a dead letter), False for anything else (a bug, a constraint)."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection within pool_s
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
            return True
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(code, str) and code.startswith(_UNAVAILABLE_SQLSTATE):
            return True
        cause = getattr(orig, "__cause__", None)
        return isinstance(cause, OSError) or type(cause).__name__ in (
            "ConnectionDoesNotExistError",
            "InternalClientError",
        )
    if isinstance(exc, OSError):  # refused, reset, or a connect/command timeout
        return _raised_in(exc.__traceback__, _DRIVER_MODULES)
    return False


def _raised_in(tb: TracebackType | None, modules: tuple[str, ...]) -> bool:
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(name, str) and name.startswith(modules):
            return True
        tb = tb.tb_next
    return False


class UnitOfWork:
    """One transaction: the state change plus the events it emits, committed together."""

    def __init__(self, session: AsyncSession, producer: str) -> None:
        self.session = session
        self.producer = producer
        self.emitted: list[Event] = []

    async def emit(self, event: Event) -> None:
        """Stage an event in the outbox; the relay publishes it after commit."""
        topic = topic_for(event)
        await self.session.execute(
            insert(outbox_table).values(
                event_id=event.event_id,
                topic=topic.name,
                key=event.key,
                payload=serialize(event),
                headers=current_trace_headers(),
            )
        )
        self.emitted.append(event)

    async def emit_many(
        self, events: Sequence[Event], headers: Sequence[dict[str, str]] | None = None
    ) -> None:
        """Stage many events in one statement (group commit); ``headers[i]`` travels with
        ``events[i]`` (default: the current trace context)."""
        if not events:
            return
        rows = [
            {
                "event_id": event.event_id,
                "topic": topic_for(event).name,
                "key": event.key,
                "payload": serialize(event),
                "headers": headers[i] if headers is not None else current_trace_headers(),
            }
            for i, event in enumerate(events)
        ]
        await self.session.execute(insert(outbox_table), rows)
        self.emitted.extend(events)

    async def claim(self, consumer: str, event_id: Any) -> bool:
        """Record a consumed event; False when it was already processed (a duplicate)."""
        result = await self.session.execute(
            pg_insert(inbox_table)
            .values(consumer=consumer, event_id=event_id)
            .on_conflict_do_nothing()
            .returning(inbox_table.c.event_id)
        )
        return result.first() is not None

    async def claim_many(self, consumer: str, event_ids: Sequence[Any]) -> set[Any]:
        """Record consumed events in one statement; the ids not processed before.

        Rows as parameters (executemany, sent as multi-row batches by SQLAlchemy's
        "insertmanyvalues"), never ``.values(rows)``: a statement with its rows inside is
        compiled anew on every call, row by row (ADR 0000)."""
        result = await self.session.execute(
            pg_insert(inbox_table).on_conflict_do_nothing().returning(inbox_table.c.event_id),
            [{"consumer": consumer, "event_id": e} for e in event_ids],
        )
        return set(result.scalars())


class Database:
    """Engine and session factory of one service, created on start, never at import."""

    def __init__(
        self,
        database_url: str,
        service: str,
        pool_size: int = 10,
        timeouts: DatabaseTimeouts | None = None,
    ) -> None:
        self.engine = create_engine(database_url, pool_size, timeouts)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.service = service

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Commit on success, roll back on any exception (which propagates). The events of a
        committed unit are counted (``dropwave_events_emitted_total``): orders placed,
        authorizations and captures by outcome, campaigns created and closed, as facts."""
        async with self.sessions() as session:
            async with session.begin():
                uow = UnitOfWork(session, self.service)
                yield uow
            for event_type, count in Counter(e.event_type for e in uow.emitted).items():
                EVENTS_EMITTED.labels(event_type).inc(count)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def now(self) -> datetime:
        async with self.engine.connect() as conn:
            value: datetime = (await conn.execute(text("SELECT now()"))).scalar_one()
            return value

    async def dispose(self) -> None:
        await self.engine.dispose()
