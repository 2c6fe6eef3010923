"""Creators: remembering who they are, their settings, and announcing every change.

``CreatorSettingsChanged`` carries the whole current state with a version raised under the
creator's row lock, in the transaction of the change (the outbox): notifications keeps the
highest version, so it never goes back to an older address or choice.
"""

import uuid

from dropwave_contracts.events import CreatorSettingsChanged
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.observability import correlation_id_var
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..models import Creator
from .commands import GetSettings, SaveSettings
from .domain import check_settings

SERVICE = "campaigns"


async def announce(uow: UnitOfWork, creator_id: str) -> Creator:
    """Raise the creator's settings version and tell notifications the whole state."""
    creator = await uow.session.scalar(
        update(Creator)
        .where(Creator.id == creator_id)
        .values(settings_version=Creator.settings_version + 1)
        .returning(Creator)
        .execution_options(populate_existing=True)
    )
    assert creator is not None
    await uow.emit(
        CreatorSettingsChanged(
            producer=SERVICE,
            correlation_id=correlation_id_var.get() or str(uuid.uuid4()),
            creator_id=creator.id,
            version=creator.settings_version,
            email=creator.email,
            phone=creator.phone,
            milestone_channels=list(creator.milestone_channels),
        )
    )
    return creator


async def remember_creator(uow: UnitOfWork, creator_id: str, email: str | None = None) -> None:
    """Make sure the creator has a row; keep the token's email claim when it carries one (a
    changed address replaces the old one and is announced at once; a token without the
    claim keeps it)."""
    stmt = pg_insert(Creator).values(id=creator_id, email=email)
    if email is None:
        await uow.session.execute(stmt.on_conflict_do_nothing())
        return
    changed = await uow.session.scalar(
        stmt.on_conflict_do_update(
            index_elements=[Creator.id],
            set_={"email": stmt.excluded.email},
            where=Creator.email.is_distinct_from(stmt.excluded.email),
        ).returning(Creator.id)
    )
    if changed is not None:
        await announce(uow, creator_id)


async def get_settings(command: GetSettings, uow: UnitOfWork) -> Creator:
    await remember_creator(uow, command.creator_id, command.creator_email)
    creator = await uow.session.scalar(
        select(Creator)
        .where(Creator.id == command.creator_id)
        .execution_options(populate_existing=True)
    )
    assert creator is not None
    return creator


async def save_settings(command: SaveSettings, uow: UnitOfWork) -> Creator:
    """Replace the creator's settings; a change is announced, the same ones again are not.
    Invalid (nothing changes) when a channel cannot reach them."""
    await remember_creator(uow, command.creator_id, command.creator_email)
    creator = await uow.session.scalar(
        select(Creator)
        .where(Creator.id == command.creator_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert creator is not None
    channels = check_settings(command.milestone_notifications, command.phone, creator.email)
    if (creator.phone, list(creator.milestone_channels)) == (command.phone, channels):
        return creator
    creator.phone = command.phone
    creator.milestone_channels = channels
    await uow.session.flush()
    return await announce(uow, creator.id)
