"""Creators' settings (CreatorSettingsChanged) decide how creator messages go: email, SMS,
both or none; a changed address is used at once, older versions never win. Real, migrated
PostgreSQL, the recording mailer and the fake carrier."""

from typing import Any

import pytest
from dropwave_contracts.events import CreatorSettingsChanged
from dropwave_runtime.db import Database
from notifications.models import CreatorContact, Delivery
from notifications.sms import FileCarrier
from sqlalchemy import select

from .fakes import RecordingMailer

PHONE = "+15550009999"


NEW = "new-secret@example.com"


def settings(version: int, channels: list[str], email: str | None = NEW) -> Any:
    return CreatorSettingsChanged(
        producer="campaigns",
        correlation_id="c-settings",
        creator_id="creator-1",  # the Drop's creator
        version=version,
        email=email,
        phone=PHONE,
        milestone_channels=channels,  # type: ignore[arg-type]
    )


async def sent_rows(db: Database) -> set[tuple[str, str, str]]:
    async with db.sessions() as session:
        rows = (await session.scalars(select(Delivery))).all()
    return {(r.template, r.channel, r.status) for r in rows if r.recipient_kind == "creator"}


async def test_an_sms_only_creator_gets_an_sms_and_no_mail(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer, carrier: FileCarrier
) -> None:
    await handle(drop.published(), settings(1, ["sms"]), drop.milestone(25, 1))
    await worker.drain()
    assert [m["To"] for m in mailer.sent] == []
    [sms] = carrier.sent
    assert sms.to == PHONE
    assert "Linen tote has 1 confirmed orders, 25% of the 4" in sms.body
    assert sms.body.endswith("Reply STOP to opt out.")
    assert await sent_rows(db) == {("creator_milestone", "sms", "sent")}


@pytest.mark.parametrize(
    ("channels", "want"),
    [
        (["email", "sms"], {("new-secret@example.com", "email"), (PHONE, "sms")}),
        (["email"], {("new-secret@example.com", "email")}),
        ([], set()),
    ],
)
async def test_creator_channels_follow_the_settings(
    handle: Any,
    drop: Any,
    worker: Any,
    mailer: RecordingMailer,
    carrier: FileCarrier,
    channels: list[str],
    want: set[tuple[str, str]],
) -> None:
    await handle(settings(1, channels), drop.published(), drop.tipped(4), drop.succeeded(4))
    await worker.drain()
    got = {(str(m["To"]), "email") for m in mailer.sent} | {(m.to, "sms") for m in carrier.sent}
    assert got == want
    # Two messages (tipped, succeeded) per chosen channel.
    assert len(mailer.sent) + len(carrier.sent) == 2 * len(channels)
    # The campaign's own address (CampaignPublished) is not used once settings exist.
    assert all(m["To"] != "creator-secret@example.com" for m in mailer.sent)


async def test_the_newest_settings_win_and_apply_to_pending_messages(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer, carrier: FileCarrier
) -> None:
    await handle(drop.published(), settings(2, ["email"], "first-secret@example.com"))
    await handle(drop.milestone(25, 1))  # enqueued for the email of version 2
    await handle(settings(3, ["email"], "moved-secret@example.com"))  # before the worker runs
    await handle(settings(1, ["sms"], "old-secret@example.com"))  # late and older: ignored
    await worker.drain()
    assert [m["To"] for m in mailer.sent] == ["moved-secret@example.com"]
    assert carrier.sent == []
    async with db.sessions() as session:
        row = await session.get(CreatorContact, "creator-1")
    assert row is not None
    assert (row.version, row.email, row.milestone_channels) == (
        3,
        "moved-secret@example.com",
        ["email"],
    )
    # A channel turned off after its message was queued is skipped, not sent.
    await handle(drop.milestone(50, 2), settings(4, []))
    await worker.drain()
    assert len(mailer.sent) == 1
    assert ("creator_milestone", "email", "skipped") in await sent_rows(db)


async def test_without_settings_the_creator_is_mailed_at_the_published_address(
    handle: Any, drop: Any, worker: Any, mailer: RecordingMailer, carrier: FileCarrier
) -> None:
    await handle(drop.published(), drop.milestone(25, 1))
    await worker.drain()
    assert [m["To"] for m in mailer.sent] == ["creator-secret@example.com"]
    assert carrier.sent == []
