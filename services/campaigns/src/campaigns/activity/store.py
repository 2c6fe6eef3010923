"""Activity feed and counters, the database side: recording (with its live NOTIFY), keyset
reads, partition upkeep, the view/share roll-up.

Tables: models.py. Every write that clients should see live also calls `pg_notify` in the
same transaction, so listeners in every instance see it exactly when (and only if) it
commits.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, insert, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ..models import Campaign
from .domain import Cursor, conversion_rate, message, months_ahead
from .models import activity_table, increments_table, stats_table

LIVE_CHANNEL = "campaign_live"
COUNTER_KINDS = ("view", "share")


@dataclass(frozen=True)
class Entry:
    id: int
    campaign_id: UUID
    kind: str
    data: dict[str, Any]
    occurred_at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.occurred_at, self.id)

    def public(self) -> dict[str, Any]:
        """The entry as clients see it (the `id` is an opaque cursor / SSE event id)."""
        return {
            "id": self.cursor.encode(),
            "kind": self.kind,
            "message": message(self.kind, self.data),
            "data": self.data,
            "occurred_at": self.occurred_at.isoformat(),
        }


async def notify(session: AsyncSession | AsyncConnection, payload: dict[str, Any]) -> None:
    """Queue a live update; PostgreSQL delivers it to every listener on commit."""
    await session.execute(
        select(func.pg_notify(LIVE_CHANNEL, json.dumps(payload, separators=(",", ":"))))
    )


async def record(
    session: AsyncSession,
    campaign_id: UUID,
    kind: str,
    data: dict[str, Any],
    occurred_at: datetime | None = None,
) -> Entry:
    """Append an entry (in the caller's transaction) and announce it to live listeners."""
    values: dict[str, Any] = {"campaign_id": campaign_id, "kind": kind, "data": data}
    if occurred_at is not None:
        values["occurred_at"] = occurred_at
    row = (
        await session.execute(
            insert(activity_table)
            .values(**values)
            .returning(activity_table.c.id, activity_table.c.occurred_at)
        )
    ).one()
    entry = Entry(row.id, campaign_id, kind, data, row.occurred_at)
    await notify(
        session, {"campaign_id": str(campaign_id), "type": "activity", "data": entry.public()}
    )
    return entry


def _entry(row: Any) -> Entry:
    return Entry(row.id, row.campaign_id, row.kind, row.data, row.occurred_at)


async def page(
    session: AsyncSession, campaign_id: UUID, before: Cursor | None, limit: int
) -> tuple[list[Entry], Cursor | None]:
    """Newest first, strictly older than `before`; the next cursor when more may follow."""
    t = activity_table
    query = (
        select(t)
        .where(t.c.campaign_id == campaign_id)
        .order_by(t.c.occurred_at.desc(), t.c.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        # The plain `<=` lets PostgreSQL prune later months' partitions.
        query = query.where(
            t.c.occurred_at <= before.occurred_at,
            or_(
                t.c.occurred_at < before.occurred_at,
                and_(t.c.occurred_at == before.occurred_at, t.c.id < before.id),
            ),
        )
    rows = (await session.execute(query)).all()
    entries = [_entry(r) for r in rows[:limit]]
    return entries, (entries[-1].cursor if len(rows) > limit else None)


async def after(
    session: AsyncSession, campaign_id: UUID, since: Cursor, limit: int = 100
) -> list[Entry]:
    """Oldest first, strictly newer than `since` (to resume a live stream)."""
    t = activity_table
    query = (
        select(t)
        .where(
            t.c.campaign_id == campaign_id,
            t.c.occurred_at >= since.occurred_at,
            or_(
                t.c.occurred_at > since.occurred_at,
                and_(t.c.occurred_at == since.occurred_at, t.c.id > since.id),
            ),
        )
        .order_by(t.c.occurred_at, t.c.id)
        .limit(limit)
    )
    return [_entry(r) for r in (await session.execute(query)).all()]


async def public_campaign(session: AsyncSession, slug: str) -> Campaign | None:
    """A published campaign by slug (drafts are not public)."""
    campaign = await session.scalar(select(Campaign).where(Campaign.slug == slug))
    return None if campaign is None or campaign.status == "draft" else campaign


# --- views and shares ---------------------------------------------------------------------


async def count_hit(
    session: AsyncSession, slug: str, kind: str, referral_code: str = "", source: str = "direct"
) -> bool:
    """Append one view/share of a published campaign: an insert, never a hot-row update;
    with the visitor's referral code ('' for none) and source label (for the stats).

    False when there is no such published campaign."""
    assert kind in COUNTER_KINDS
    rows = select(Campaign.id, literal(kind), literal(referral_code), literal(source)).where(
        Campaign.slug == slug, Campaign.status != "draft"
    )
    result = await session.execute(
        insert(increments_table)
        .from_select(["campaign_id", "kind", "referral_code", "source"], rows)
        .returning(increments_table.c.id)
    )
    return result.first() is not None


async def stats(session: AsyncSession, campaign_id: UUID) -> tuple[int, int]:
    """(views, shares): rolled-up totals plus increments not rolled up yet, read in one
    statement so a concurrent roll-up is seen either wholly or not at all."""
    s, i = stats_table, increments_table

    def pending(kind: str) -> Any:
        return (
            select(func.count())
            .where(i.c.campaign_id == campaign_id, i.c.kind == kind)
            .scalar_subquery()
        )

    def total(column: Any) -> Any:
        return func.coalesce(
            select(column).where(s.c.campaign_id == campaign_id).scalar_subquery(), 0
        )

    row = (
        await session.execute(
            select(
                total(s.c.views) + pending("view"),
                total(s.c.shares) + pending("share"),
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def counter_snapshot(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    views, shares = await stats(session, campaign.id)
    return {
        "current_orders": campaign.current_orders,
        "min_orders": campaign.min_orders,
        "views": views,
        "shares": shares,
        "conversion_rate": conversion_rate(campaign.current_orders, views),
        "status": campaign.status,
    }


async def notify_counter(session: AsyncSession, campaign: Campaign) -> None:
    snapshot = await counter_snapshot(session, campaign)
    await notify(session, {"campaign_id": str(campaign.id), "type": "counter", "data": snapshot})


ROLLUP = text(
    """
    WITH moved AS (
        DELETE FROM campaign_counter_increments WHERE id IN (
            SELECT id FROM campaign_counter_increments ORDER BY id LIMIT :batch
            FOR UPDATE SKIP LOCKED)
        RETURNING campaign_id, kind, referral_code, source
    ), by_source AS (
        INSERT INTO campaign_counter_sources AS s (campaign_id, referral_code, source,
                                                    views, shares)
        SELECT campaign_id, referral_code, source,
               count(*) FILTER (WHERE kind = 'view'), count(*) FILTER (WHERE kind = 'share')
        FROM moved GROUP BY campaign_id, referral_code, source
        ORDER BY campaign_id, referral_code, source
        ON CONFLICT (campaign_id, referral_code, source) DO UPDATE
            SET views = s.views + excluded.views, shares = s.shares + excluded.shares
    ), agg AS (
        SELECT campaign_id,
               count(*) FILTER (WHERE kind = 'view') AS views,
               count(*) FILTER (WHERE kind = 'share') AS shares
        FROM moved GROUP BY campaign_id
    )
    INSERT INTO campaign_stats AS s (campaign_id, views, shares)
    SELECT campaign_id, views, shares FROM agg ORDER BY campaign_id
    ON CONFLICT (campaign_id) DO UPDATE
        SET views = s.views + excluded.views, shares = s.shares + excluded.shares
    RETURNING campaign_id
    """
)


async def roll_up(session: AsyncSession, batch: int = 10_000) -> list[UUID]:
    """Fold pending increments into the totals and into the per-referral-code-and-source
    counts of the stats, in one statement (safe with several instances: SKIP LOCKED), and
    announce the new counters; returns the campaigns touched."""
    touched = list((await session.execute(ROLLUP, {"batch": batch})).scalars())
    if touched:
        campaigns = (await session.scalars(select(Campaign).where(Campaign.id.in_(touched)))).all()
        for campaign in campaigns:
            await notify_counter(session, campaign)
    return touched


# --- partitions ---------------------------------------------------------------------------


async def ensure_partitions(conn: AsyncConnection, today: date, ahead: int) -> list[date]:
    """Create the partitions of this month and the `ahead` next ones; idempotent.

    Returns the months whose partition was created now."""
    created = []
    for month in months_ahead(today, ahead):
        made = (
            await conn.execute(text("SELECT activity_ensure_partition(:m)"), {"m": month})
        ).scalar_one()
        if made:
            created.append(month)
    return created


async def partitions(conn: AsyncConnection) -> Sequence[str]:
    """Names of the activity table's partitions (for operators and tests)."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'activity'::regclass ORDER BY c.relname"
        )
    )
    return list(rows.scalars())


async def public_counters(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """`views`, `shares` and `conversion_rate` of the public campaign view."""
    views, shares = await stats(session, campaign.id)
    return {
        "views": views,
        "shares": shares,
        "conversion_rate": conversion_rate(campaign.current_orders, views),
    }
