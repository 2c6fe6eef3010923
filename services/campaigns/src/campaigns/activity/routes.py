"""Public routes of the activity feature: the feed, the live stream, view/share counters.

Entrypoints only: validate, then delegate to store.py / live.py.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from dropwave_runtime.client_ip import client_ip
from dropwave_runtime.inputs import SLUG_PATTERN
from dropwave_runtime.problems import Problem, problem_response
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from ..models import Campaign
from ..settings import Settings
from ..stats.domain import source_label
from . import store
from .domain import BadCursor, Cursor, TokenBucket
from .schemas import ActivityEntryView, ActivityPage
from .settings import ActivityFeature

router = APIRouter(prefix="/api/v1/campaigns", tags=["activity"])

SlugPath = Annotated[str, Path(min_length=1, max_length=120, pattern=SLUG_PATTERN)]


def _feature(request: Request) -> ActivityFeature:
    feature: ActivityFeature = request.app.state.deps["feed"]
    return feature


def _not_found() -> Problem:
    return Problem(404, "campaign_not_found", "No such campaign")


def _cursor(token: str, what: str) -> Cursor:
    try:
        return Cursor.decode(token)
    except BadCursor as exc:
        raise Problem(400, "bad_cursor", f"The {what} is not valid") from exc


@router.get("/{slug}/activity", response_model=ActivityPage)
async def get_activity(
    slug: SlugPath,
    rt: Runtime[Settings],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ActivityPage:
    """The campaign's activity, newest first; pass `next_cursor` back as `cursor`."""
    before = _cursor(cursor, "cursor") if cursor else None
    async with rt.db.sessions() as session:
        campaign = await store.public_campaign(session, slug)
        if campaign is None:
            raise _not_found()
        entries, next_cursor = await store.page(session, campaign.id, before, limit)
    return ActivityPage(
        items=[ActivityEntryView.model_validate(e.public()) for e in entries],
        next_cursor=next_cursor.encode() if next_cursor else None,
    )


def _sse(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get(
    "/{slug}/live",
    response_class=StreamingResponse,
    responses={200: {"description": "The event stream", "content": {"text/event-stream": {}}}},
)
async def live(
    slug: SlugPath,
    request: Request,
    rt: Runtime[Settings],
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
) -> StreamingResponse:
    """Server-Sent Events: `counter` now and on every change, `activity` per new entry.

    With `Last-Event-ID` (an activity id) the entries since then are replayed first."""
    feature = _feature(request)
    settings = feature.settings
    resume = _cursor(last_event_id, "Last-Event-ID") if last_event_id else None
    async with rt.db.sessions() as session:
        campaign = await store.public_campaign(session, slug)
    if campaign is None:
        raise _not_found()
    hub = feature.hub
    ip = client_ip(request.scope, rt.settings.trusted_networks)
    if hub.clients >= hub.max_clients:
        raise Problem(503, "too_many_listeners", "Too many live clients; retry later")
    if hub.clients_of(ip) >= hub.max_per_ip:
        raise Problem(
            429,
            "too_many_streams",
            "Too many live streams from your address",
            "Close another live stream first.",
            headers={"Retry-After": "10"},
        )
    loop = asyncio.get_running_loop()

    async def stream() -> AsyncIterator[str]:
        # Subscribed inside the generator, so the `finally` below always pairs with it.
        sub = hub.subscribe(str(campaign.id), ip)
        if sub is None:
            return
        try:
            yield f"retry: 2000\n: {'-' * 64}\n\n"  # the padding defeats small proxy buffers
            # Subscribed before this read: nothing committed from here on can be missed.
            async with rt.db.sessions() as session:
                current = await session.get(Campaign, campaign.id)
                assert current is not None
                counter = await store.counter_snapshot(session, current)
                replay = await store.after(session, campaign.id, resume) if resume else []
            yield _sse("counter", counter)
            replayed = set()
            for entry in replay:
                public = entry.public()
                replayed.add(public["id"])
                yield _sse("activity", public, public["id"])
            ends_at = loop.time() + settings.live_max_connection_s
            while (left := ends_at - loop.time()) > 0:
                try:
                    message = await sub.get(min(settings.live_heartbeat_s, left))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if message is None:
                    return  # dropped: the client reconnects with Last-Event-ID
                data = message["data"]
                if message["type"] == "activity":
                    if data["id"] not in replayed:
                        yield _sse("activity", data, data["id"])
                else:
                    yield _sse(message["type"], data)
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# The visitor's referral code (the drop page's ``?ref=``) and source, as orders takes them.
Code = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


async def _count(
    request: Request,
    rt: Runtime[Settings],
    slug: str,
    kind: str,
    ref: str | None,
    source: str | None,
) -> Response:
    feature = _feature(request)
    ip = client_ip(request.scope, rt.settings.trusted_networks)
    wait = feature.limiter.take(ip, feature.clock())
    if wait > 0:
        response = problem_response(
            429, "rate_limited", "Too many requests", "Slow down and retry later."
        )
        response.headers["Retry-After"] = str(TokenBucket.retry_after(wait))
        return response
    async with rt.db.unit_of_work() as uow:
        counted = await store.count_hit(uow.session, slug, kind, ref or "", source_label(source))
    if not counted:
        raise _not_found()
    return Response(status_code=202)


@router.post("/{slug}/views", status_code=202, response_class=Response)
async def add_view(
    slug: SlugPath, request: Request, rt: Runtime[Settings], ref: Code = None, source: Code = None
) -> Response:
    """Count a view of the campaign page (rate-limited per client address); `ref` and
    `source` (optional, `[A-Za-z0-9_-]`, 1-64) attribute it in the creator's stats."""
    return await _count(request, rt, slug, "view", ref, source)


@router.post("/{slug}/shares", status_code=202, response_class=Response)
async def add_share(
    slug: SlugPath, request: Request, rt: Runtime[Settings], ref: Code = None, source: Code = None
) -> Response:
    """Count a share of the campaign (rate-limited per client address); `ref` and `source`
    as for views."""
    return await _count(request, rt, slug, "share", ref, source)
