"""The creator's settings through HTTP (in-process, on a real, migrated PostgreSQL): what
is kept, what is refused without a change, and the one CreatorSettingsChanged per change,
a changed email claim included."""

from collections.abc import AsyncIterator

import httpx
import pytest
from campaigns.creators.domain import check_settings, choice_of
from dropwave_contracts.events import CreatorSettingsChanged
from dropwave_contracts.topics import parse_event, topic_for
from dropwave_runtime.auth import current_creator_identity
from dropwave_runtime.db import outbox_table
from dropwave_runtime.errors import Invalid
from fastapi import FastAPI
from sqlalchemy import select

from ..conftest import app_with_test_creators
from ..test_campaigns_creator_email import launch

PATH = "/api/v1/creators/me/settings"


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[FastAPI]:
    application = app_with_test_creators(db_url)
    yield application
    await application.state.runtime.db.dispose()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://campaigns")


async def announced(app: FastAPI) -> list[CreatorSettingsChanged]:
    async with app.state.runtime.db.sessions() as s:
        rows = (await s.execute(select(outbox_table.c.topic, outbox_table.c.payload))).all()
    changes = []
    for row in rows:
        event = parse_event(row.payload)
        if isinstance(event, CreatorSettingsChanged):
            assert row.topic == topic_for(event).name == "campaigns.creators.v1"
            changes.append(event)
    return changes


def test_choices_and_their_rules() -> None:
    assert check_settings("both", "+15551234567", "a@example.com") == ["email", "sms"]
    assert check_settings("none", None, None) == []
    assert [choice_of(c) for c in (["email", "sms"], ["sms"], ["email"], [])] == [
        "both",
        "sms",
        "email",
        "none",
    ]
    with pytest.raises(Invalid, match="phone") as phone:
        check_settings("sms", None, "a@example.com")
    assert phone.value.code == "phone_required"
    with pytest.raises(Invalid) as email:
        check_settings("both", "+15551234567", None)
    assert email.value.code == "email_required"


async def test_settings_are_kept_validated_and_announced_once_per_change(app: FastAPI) -> None:
    ann = {"X-Test-Creator": "ann", "X-Test-Email": "ann@shop.example"}
    async with client(app) as http:
        first = await http.get(PATH, headers=ann)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "email": "ann@shop.example",
            "phone": None,
            "milestone_notifications": "email",
        }
        assert first.headers["Cache-Control"] == "private, no-store"
        for bad, code in (
            ({"milestone_notifications": "sms"}, "phone_required"),
            ({"milestone_notifications": "sms", "phone": "555-1234"}, "validation_error"),
            ({"milestone_notifications": "sms", "phone": "+0123456789"}, "validation_error"),
            ({"milestone_notifications": "pigeon"}, "validation_error"),
            ({"milestone_notifications": "none", "email": "x@example.com"}, "validation_error"),
            ({}, "validation_error"),
        ):
            refused = await http.put(PATH, json=bad, headers=ann)
            assert (refused.status_code, refused.json()["code"]) == (422, code), bad
        sms = {"milestone_notifications": "sms", "phone": "+15551234567"}
        saved = await http.put(PATH, json=sms, headers=ann)
        assert saved.status_code == 200, saved.text
        assert saved.json() == {"email": "ann@shop.example", **sms}
        again = await http.put(PATH, json=sms, headers=ann)  # no change: no event
        assert again.json() == saved.json()
        assert (await http.get(PATH, headers=ann)).json() == saved.json()
        # A creator without an email claim cannot choose email.
        nobody = {"X-Test-Creator": "nobody"}
        no_mail = await http.put(PATH, json={"milestone_notifications": "email"}, headers=nobody)
        assert (no_mail.status_code, no_mail.json()["code"]) == (422, "email_required")
        del app.dependency_overrides[current_creator_identity]
        assert (await http.get(PATH)).status_code == 401
        assert (await http.put(PATH, json=sms)).status_code == 401
    changes = await announced(app)
    assert [(e.creator_id, e.version, e.email, e.phone, e.milestone_channels) for e in changes] == [
        ("ann", 1, "ann@shop.example", None, ["email"]),  # first seen with an email
        ("ann", 2, "ann@shop.example", "+15551234567", ["sms"]),
    ]


async def test_a_changed_email_claim_is_announced_at_once(app: FastAPI) -> None:
    db = app.state.runtime.db
    await launch(db, "bea", "bea@old.example", "bea@old.example")
    async with client(app) as http:
        new_claim = {"X-Test-Creator": "bea", "X-Test-Email": "bea@new.example"}
        got = await http.get(PATH, headers=new_claim)
    assert got.json()["email"] == "bea@new.example"
    await launch(db, "bea", None, None)  # a token without the claim keeps the address
    changes = await announced(app)
    assert [(e.version, e.email, e.milestone_channels) for e in changes] == [
        (1, "bea@old.example", ["email"]),
        (2, "bea@new.example", ["email"]),
    ]
