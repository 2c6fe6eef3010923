"""Public API v1 routes of the campaigns service: HTTP in, a command to a handler, the
view or a problem out. Only here do domain errors become problems."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.errors import DomainError, Invalid, NotAllowed, NotFound
from dropwave_runtime.problems import Problem, problem_from
from dropwave_runtime.service import Runtime, ServiceRuntime
from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from . import domain, handlers
from .activity import store as activity
from .auth import CreatorId, CurrentCreator
from .commands import CancelCampaign, CreateCampaign, EditCampaign, PublishCampaign
from .models import Campaign
from .schemas import (
    CampaignCancel,
    CampaignCreate,
    CampaignPage,
    CampaignUpdate,
    CampaignView,
    Slug,
    Status,
)
from .settings import Settings

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])

# Campaigns a creator may create (RATE_LIMITS can set it by this name; README "Limits").
CREATE_PER_CREATOR, CREATE_PER_CREATOR_DEFAULT = "campaign_create_per_creator", "20/hour"
_SLUG: TypeAdapter[str] = TypeAdapter(Slug)


def _view(c: Campaign) -> CampaignView:
    """The campaign as the API shows it, with the next buyer's price and the stretch goals'
    progress (``domain.public_terms``)."""
    view = CampaignView.model_validate(c, from_attributes=True)
    return CampaignView.model_validate({**view.model_dump(), **domain.public_terms(c)})


def _problem(error: DomainError, title: str) -> Problem:
    """A refused command's problem under the route's title. A missing or someone else's
    campaign answers as it always has: its message is the title, with no detail."""
    return problem_from(error, None if isinstance(error, NotFound | NotAllowed) else title)


@asynccontextmanager
async def _command(rt: ServiceRuntime[Settings], title: str) -> AsyncIterator[UnitOfWork]:
    """One unit of work; a refused command rolls it back and answers its problem."""
    try:
        async with rt.db.unit_of_work() as uow:
            yield uow
    except DomainError as exc:
        raise _problem(exc, title) from exc


@router.post("", status_code=201, response_model=CampaignView)
async def create_campaign(
    body: CampaignCreate, creator: CurrentCreator, rt: Runtime[Settings], response: Response
) -> CampaignView:
    """Create a draft campaign owned by the calling creator.

    `deadline` must be in the future and at least the minimum campaign duration away
    (422 `deadline_too_soon`); `theme.custom_css` is sanitized and scoped under
    `.user-content`; without `slug`, one is made from the title."""
    settings = rt.settings
    rt.check_rate(CREATE_PER_CREATOR, creator.id, CREATE_PER_CREATOR_DEFAULT)
    command = CreateCampaign(
        creator_id=creator.id,
        title=body.title,
        description=body.description,
        price_cents=body.price_cents,
        currency=body.currency,
        min_orders=body.min_orders,
        deadline=body.deadline,
        slug=body.slug,
        images=[str(u) for u in body.images],
        theme=body.theme.model_dump() if body.theme else None,
        ship_to_countries=body.ship_to_countries,
        creator_email=creator.email,
        price_tiers=[t.model_dump() for t in body.price_tiers],
        stretch_goals=[g.model_dump() for g in body.stretch_goals],
    )
    async with _command(rt, "Campaign cannot be created") as uow:
        campaign = await handlers.create_campaign(
            command,
            uow,
            now=datetime.now(UTC),
            min_duration_s=settings.min_campaign_duration_s,
            css_hosts=settings.css_url_allowed_hosts,
        )
    response.headers["Location"] = f"/api/v1/campaigns/{campaign.slug}"
    return _view(campaign)


@router.get("", response_model=CampaignPage)
async def list_my_campaigns(
    creator: CreatorId,
    rt: Runtime[Settings],
    mine: Annotated[bool, Query(description="must be true: list the caller's campaigns")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status: Status | None = None,
) -> CampaignPage:
    """`GET /api/v1/campaigns?mine=true`: the calling creator's campaigns, drafts included,
    newest first. Paginated: pass the response's `next_cursor` as `cursor` (null: no more).
    Optional `status` filter. There is no public listing of every campaign."""
    if not mine:
        raise Problem(422, "mine_required", "Only your own campaigns can be listed (mine=true)")
    try:
        after = domain.decode_cursor(cursor) if cursor else None
    except Invalid as exc:
        raise problem_from(exc, "Bad listing request") from exc
    async with rt.db.sessions() as session:
        rows = await handlers.creator_campaigns(session, creator, limit + 1, after, status)
    page = rows[:limit]
    next_cursor = (
        domain.encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    )
    return CampaignPage(items=[_view(c) for c in page], next_cursor=next_cursor)


@router.patch("/{campaign_id}", response_model=CampaignView)
async def update_campaign(
    campaign_id: UUID, body: CampaignUpdate, creator: CreatorId, rt: Runtime[Settings]
) -> CampaignView:
    """Edit a campaign (owner). Title, description, images and theme while draft or active;
    the rules (`price_cents`, `currency`, `min_orders`, `deadline`, `price_tiers`,
    `stretch_goals`, `ship_to_countries`) only while draft, else 409 `rules_locked` (sending
    an unchanged value is not a change). Nothing changes on any error."""
    settings = rt.settings
    command = EditCampaign(campaign_id, creator, body.changes())
    async with _command(rt, "Campaign cannot be edited") as uow:
        campaign = await handlers.edit_campaign(
            command,
            uow,
            now=datetime.now(UTC),
            min_duration_s=settings.min_campaign_duration_s,
            css_hosts=settings.css_url_allowed_hosts,
        )
    return _view(campaign)


@router.post("/{campaign_id}/publish", response_model=CampaignView)
async def publish_campaign(
    campaign_id: UUID, creator: CurrentCreator, rt: Runtime[Settings]
) -> CampaignView:
    """Draft -> active; emits CampaignPublished. Owner only. The deadline is checked again
    (409 `deadline_too_soon` when the draft went stale); 409 `payouts_not_enabled` until the
    creator's Stripe account can receive payouts (unless `REQUIRE_PAYOUTS_TO_PUBLISH=false`)."""
    settings = rt.settings
    command = PublishCampaign(campaign_id, creator.id, creator.email)
    async with _command(rt, "Campaign cannot be published") as uow:
        campaign = await handlers.publish_campaign(
            command,
            uow,
            now=datetime.now(UTC),
            min_duration_s=settings.min_campaign_duration_s,
            require_payouts=settings.require_payouts_to_publish,
        )
    return _view(campaign)


@router.post("/{campaign_id}/cancel", response_model=CampaignView)
async def cancel_campaign(
    campaign_id: UUID,
    creator: CreatorId,
    rt: Runtime[Settings],
    body: CampaignCancel | None = None,
) -> CampaignView:
    """Draft or active -> cancelled (owner). An active campaign emits CampaignCancelled:
    orders stops taking orders and payments releases every authorization. A closed campaign
    answers 409 `not_cancellable`. Optional body `{"reason": "..."}`."""
    command = CancelCampaign(campaign_id, creator, body.reason if body else None)
    async with _command(rt, "Campaign cannot be cancelled") as uow:
        campaign = await handlers.cancel_campaign(command, uow, now=datetime.now(UTC))
    return _view(campaign)


@router.get("/{slug}", response_model=CampaignView)
async def get_campaign(slug: str, rt: Runtime[Settings]) -> CampaignView:
    """Public view of a published campaign (drafts are not public: 404; a creator sees
    their drafts through `GET /api/v1/campaigns?mine=true`)."""
    if not _is_slug(slug):  # junk never reaches the database
        raise Problem(404, "campaign_not_found", "No such campaign")
    async with rt.db.sessions() as session:
        campaign = await session.scalar(select(Campaign).where(Campaign.slug == slug))
        if campaign is None or campaign.status == "draft":
            raise Problem(404, "campaign_not_found", "No such campaign")
        counters = await activity.public_counters(session, campaign)  # views, shares, rate
    return _view(campaign).model_copy(update=counters)


def _is_slug(value: str) -> bool:
    try:
        _SLUG.validate_python(value)
    except ValidationError:
        return False
    return True
