"""Stretch goals and early-bird tiers in the messages: every buyer confirmed by the time a
goal was reached hears of it once (a confirmation seen after the goal too), the creator
once; a tiered campaign's settlement mail names no one price."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from dropwave_contracts.events import PriceTier
from dropwave_runtime.db import Database
from notifications.sms import FileCarrier

from .fakes import RecordingMailer

PIN = "Everyone gets the enamel pin"
TOTE = "A tote bag for all"


async def test_a_stretch_goal_reaches_every_buyer_and_the_creator_once(
    db: Database,
    handle: Any,
    drop: Any,
    worker: Any,
    mailer: RecordingMailer,
    carrier: FileCarrier,
) -> None:
    now = datetime.now(UTC)
    await handle(drop.published(), *(drop.placed(n) for n in (1, 2, 3, 4)))
    await handle(*(drop.confirmed(n, at=now - timedelta(seconds=5)) for n in (1, 2, 3)))
    await handle(drop.placed(6), drop.confirmed(6), drop.cancelled(6))  # left: not told
    goal = drop.stretch_goal(5, current=5, message=PIN, at=now)
    # The goal, delivered three times at once (redelivery, a second instance).
    await asyncio.gather(*(handle(goal) for _ in range(3)))
    # Buyer 4 was confirmed before the goal was reached, but seen after it.
    await handle(drop.confirmed(4, at=now - timedelta(seconds=1)))
    # Buyer 5 came after the goal: only their confirmation.
    await handle(drop.confirmed(5, at=now + timedelta(seconds=1)))
    await handle(goal)
    await worker.drain()

    subject = f"Linen tote reached 5 orders: {PIN}"
    told = sorted(str(m["To"]) for m in mailer.sent if m["Subject"] == subject)
    assert told == sorted(drop.email(n) for n in (1, 2, 3, 4))
    creator = [m for m in mailer.sent if m["To"] == "creator-secret@example.com"]
    assert [m["Subject"] for m in creator] == ["Linen tote reached its stretch goal of 5 orders"]
    body = next(m for m in mailer.sent if m["Subject"] == subject).get_body(("plain",))
    assert body is not None
    assert PIN in body.get_content()
    texts = sorted(m.to for m in carrier.sent if PIN in m.body)
    assert texts == sorted(drop.phone(n) for n in (1, 2, 3, 4))  # all consented


async def test_a_confirmation_late_for_two_goals_hears_of_both_once(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    now = datetime.now(UTC)
    await handle(drop.published())
    await handle(drop.stretch_goal(5, 5, PIN, at=now), drop.stretch_goal(6, 6, TOTE, at=now))
    late = drop.confirmed(1, phone=False, at=now - timedelta(seconds=1))
    await handle(late)
    await handle(late.model_copy(update={"event_id": late.event_id}))  # the inbox's
    await worker.drain()
    subjects = sorted(str(m["Subject"]) for m in mailer.sent if m["To"] == drop.email(1))
    assert subjects == sorted(
        [
            "You're buyer #1 for Linen tote",
            f"Linen tote reached 5 orders: {PIN}",
            f"Linen tote reached 6 orders: {TOTE}",
        ]
    )


async def test_a_tiered_campaigns_settlement_mail_names_no_single_price(
    db: Database, handle: Any, drop: Any, worker: Any, mailer: RecordingMailer
) -> None:
    tiered = drop.published().model_copy(
        update={"price_tiers": [PriceTier(up_to_buyer=2, price_cents=2000)]}
    )
    await handle(tiered, drop.succeeded(4))
    await worker.drain()
    [mail] = [m for m in mailer.sent if m["To"] == "creator-secret@example.com"]
    text = mail.get_body(("plain",))
    assert text is not None
    assert "4 orders, each at its buyer's price, is being captured" in text.get_content()
    assert " x $25.00" not in text.get_content()
