"""The creator's settings: ``GET``/``PUT /api/v1/creators/me/settings`` (bearer token)."""

from dropwave_runtime.errors import DomainError
from dropwave_runtime.problems import problem_from
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Response

from ..auth import CurrentCreator
from ..models import Creator
from ..settings import Settings
from . import handlers
from .commands import GetSettings, SaveSettings
from .domain import choice_of
from .schemas import CreatorSettingsUpdate, CreatorSettingsView

router = APIRouter(prefix="/api/v1/creators/me", tags=["creators"])


def _view(creator: Creator, response: Response) -> CreatorSettingsView:
    response.headers["Cache-Control"] = "private, no-store"
    return CreatorSettingsView(
        email=creator.email,
        phone=creator.phone,
        milestone_notifications=choice_of(creator.milestone_channels),
    )


@router.get("/settings", response_model=CreatorSettingsView)
async def get_settings(
    creator: CurrentCreator, rt: Runtime[Settings], response: Response
) -> CreatorSettingsView:
    """Your settings (a creator never seen before reads the defaults: email)."""
    async with rt.db.unit_of_work() as uow:
        row = await handlers.get_settings(GetSettings(creator.id, creator.email), uow)
    return _view(row, response)


@router.put("/settings", response_model=CreatorSettingsView)
async def put_settings(
    body: CreatorSettingsUpdate, creator: CurrentCreator, rt: Runtime[Settings], response: Response
) -> CreatorSettingsView:
    """Replace your settings. `sms` and `both` need `phone` (422 `phone_required`); `email`
    and `both` need your sign-in to carry an email (422 `email_required`); a refused change
    changes nothing. Notifications writes to you as they say from the next message on."""
    command = SaveSettings(creator.id, body.milestone_notifications, body.phone, creator.email)
    try:
        async with rt.db.unit_of_work() as uow:
            row = await handlers.save_settings(command, uow)
    except DomainError as exc:
        raise problem_from(exc, "Settings cannot be saved") from exc
    return _view(row, response)
