"""The creator's stats route: the owner's bearer token, another creator's campaign 404."""

from uuid import UUID

from dropwave_runtime.errors import DomainError, NotAllowed
from dropwave_runtime.problems import Problem, problem_from
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Response

from ..auth import CreatorId
from ..settings import Settings
from . import handlers
from .commands import GetStats
from .schemas import CampaignStats

router = APIRouter(prefix="/api/v1/campaigns", tags=["stats"])


@router.get("/{campaign_id}/stats", response_model=CampaignStats)
async def get_stats(
    campaign_id: UUID, creator: CreatorId, rt: Runtime[Settings], response: Response
) -> CampaignStats:
    """What works (owner only; another creator's campaign is 404 `campaign_not_found`):
    views, shares, orders, conversion (`orders / views`) and the share of orders that
    reached authorized, for the campaign, by referral code and by source, and orders per
    hour (UTC). Counted from events; views and shares come in within the counters' roll-up
    (a second)."""
    try:
        async with rt.db.unit_of_work() as uow:
            stats = await handlers.campaign_stats(GetStats(campaign_id, creator), uow)
    except NotAllowed as exc:  # someone else's campaign: as if there were none
        raise Problem(404, "campaign_not_found", "No such campaign") from exc
    except DomainError as exc:
        raise problem_from(exc, None) from exc
    response.headers["Cache-Control"] = "private, no-store"
    return CampaignStats.from_stats(stats)
