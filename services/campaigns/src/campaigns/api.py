"""Public API v1 routes of the campaigns service (entrypoints: validate, then delegate)."""

from datetime import UTC, datetime
from uuid import UUID

from dropwave_runtime.problems import Problem
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Response
from sqlalchemy import select

from . import handlers
from .auth import CreatorId
from .domain import RuleViolation
from .models import Campaign
from .schemas import CampaignCreate, CampaignView
from .settings import Settings

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])


def _view(c: Campaign) -> CampaignView:
    return CampaignView.model_validate(c, from_attributes=True)


def _not_found() -> Problem:
    return Problem(404, "campaign_not_found", "No such campaign")


@router.post("", status_code=201, response_model=CampaignView)
async def create_campaign(
    body: CampaignCreate, creator: CreatorId, rt: Runtime, response: Response
) -> CampaignView:
    """Create a draft campaign owned by the calling creator."""
    try:
        async with rt.db.unit_of_work() as uow:
            campaign = await handlers.create_campaign(uow, creator, body)
    except RuleViolation as exc:
        raise Problem(409, exc.code, "Campaign conflict", str(exc)) from exc
    response.headers["Location"] = f"/api/v1/campaigns/{campaign.slug}"
    return _view(campaign)


@router.post("/{campaign_id}/publish", response_model=CampaignView)
async def publish_campaign(campaign_id: UUID, creator: CreatorId, rt: Runtime) -> CampaignView:
    """Draft -> active; emits CampaignPublished. Owner only."""
    settings = rt.settings
    assert isinstance(settings, Settings)
    try:
        async with rt.db.unit_of_work() as uow:
            campaign = await uow.session.scalar(
                select(Campaign).where(Campaign.id == campaign_id).with_for_update()
            )
            if campaign is None:
                raise _not_found()
            if campaign.creator_id != creator:
                raise Problem(403, "not_owner", "Only the campaign's creator may do this")
            await handlers.publish_campaign(
                uow, campaign, datetime.now(UTC), settings.min_campaign_duration_s
            )
    except RuleViolation as exc:
        raise Problem(409, exc.code, "Campaign cannot be published", str(exc)) from exc
    return _view(campaign)


@router.get("/{slug}", response_model=CampaignView)
async def get_campaign(slug: str, rt: Runtime) -> CampaignView:
    """Public view of a published campaign (drafts are not public)."""
    async with rt.db.sessions() as session:
        campaign = await session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is None or campaign.status == "draft":
        raise _not_found()
    return _view(campaign)
