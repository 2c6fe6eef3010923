"""Unsubscribe links and Twilio's webhooks (signatures checked with the SDK's validator)."""

import re
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from dropwave_runtime.db import Database
from dropwave_runtime.problems import install_problem_handlers
from fastapi import FastAPI
from notifications.domain import address_digest, unsubscribe_token
from notifications.models import Delivery, OptOut
from notifications.routes import router
from notifications.settings import Settings
from notifications.sms import FileCarrier
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from .fakes import RecordingMailer

SECRET = "test-link-secret-0123456789"
AUTH_TOKEN = "twilio-test-auth-token"
PUBLIC = "https://drops.example"


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "postgresql+asyncpg://unused/unused",
        "kafka_bootstrap_servers": "127.0.0.1:1",
        "smtp_host": "127.0.0.1",
        "mail_from": "no-reply@dropwave.test",
        "notifications_link_secret": SECRET,
        "public_base_url": PUBLIC,
        "sms_provider": "twilio",
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": "+15550001111",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(db=db, settings=settings())
    install_problem_handlers(app)
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def opt_outs(db: Database) -> set[tuple[str, str]]:
    async with db.sessions() as session:
        rows = (await session.execute(select(OptOut.channel, OptOut.address_sha256))).all()
    return {(r.channel, r.address_sha256) for r in rows}


async def sent_delivery(db: Database, handle: Any, drop: Any, worker: Any) -> Delivery:
    await handle(drop.placed(1), drop.confirmed(1))
    await worker.drain()
    async with db.sessions() as session:
        return (await session.scalars(select(Delivery).where(Delivery.channel == "email"))).one()


async def test_unsubscribe_get_changes_nothing_post_opts_out(
    db: Database, client: httpx.AsyncClient, handle: Any, drop: Any, make_worker: Any
) -> None:
    mailer = RecordingMailer()
    delivery = await sent_delivery(db, handle, drop, make_worker(email=mailer))
    [message] = mailer.sent
    link = str(message["List-Unsubscribe"]).strip("<>")
    assert link.startswith(f"{PUBLIC}/api/v1/notifications/unsubscribe?token=")
    path = link.removeprefix(PUBLIC)
    assert drop.email(1) not in link

    page = await client.get(path)
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    assert await opt_outs(db) == set()

    done = await client.post(path)
    assert done.status_code == 200, done.text
    assert done.json() == {"status": "unsubscribed"}
    assert await opt_outs(db) == {("email", address_digest("email", drop.email(1)))}
    assert (await client.post(path)).status_code == 200  # idempotent

    # The next message to that address is skipped; SMS is a separate consent.
    worker = make_worker(email=mailer, sms=FileCarrier())
    await handle(drop.captured(1))
    await worker.drain()
    assert len(mailer.sent) == 1
    assert delivery.id is not None


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token-at-all",
        unsubscribe_token(b"another-secret-0123456789", uuid.uuid4()),
        "A" * 22 + "." + "B" * 22,
    ],
    ids=["malformed", "signed-with-another-secret", "well-formed-forgery"],
)
async def test_forged_or_malformed_tokens_are_refused(
    db: Database, client: httpx.AsyncClient, token: str
) -> None:
    for method in ("GET", "POST"):
        r = await client.request(
            method, "/api/v1/notifications/unsubscribe", params={"token": token}
        )
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "invalid_token"
    assert await opt_outs(db) == set()


async def test_valid_token_for_an_unknown_delivery_is_404(client: httpx.AsyncClient) -> None:
    token = unsubscribe_token(SECRET.encode(), uuid.uuid4())
    r = await client.post("/api/v1/notifications/unsubscribe", params={"token": token})
    assert r.status_code == 404


HTML = {"Accept": "text/html,application/xhtml+xml"}


async def test_in_a_browser_the_page_confirms_and_offers_to_undo(
    db: Database, client: httpx.AsyncClient, handle: Any, drop: Any, make_worker: Any
) -> None:
    mailer = RecordingMailer()
    await sent_delivery(db, handle, drop, make_worker(email=mailer))
    [message] = mailer.sent
    path = str(message["List-Unsubscribe"]).strip("<>").removeprefix(PUBLIC)
    token = path.split("token=")[1]

    ask = await client.get(path, headers=HTML)
    assert ask.status_code == 200
    assert ask.headers["cache-control"] == "no-store"
    assert ask.headers["referrer-policy"] == "no-referrer"
    csp = ask.headers["content-security-policy"]
    (nonce,) = re.findall(r"'nonce-([^']+)'", csp)
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert f'<style nonce="{nonce}">' in ask.text
    assert "<script" not in ask.text
    assert f'action="/api/v1/notifications/unsubscribe?token={token}"' in ask.text
    assert await opt_outs(db) == set()

    done = await client.post(path, headers=HTML)
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("text/html")
    assert "You&#39;re unsubscribed" in done.text
    assert f'action="/api/v1/notifications/unsubscribe/undo?token={token}"' in done.text
    assert await opt_outs(db) == {("email", address_digest("email", drop.email(1)))}

    undo = await client.post(f"/api/v1/notifications/unsubscribe/undo?token={token}", headers=HTML)
    assert undo.status_code == 200
    assert "subscribed again" in undo.text
    assert f'action="/api/v1/notifications/unsubscribe?token={token}"' in undo.text
    assert await opt_outs(db) == set()
    # Without a browser's Accept: JSON, and idempotent.
    again = await client.post(f"/api/v1/notifications/unsubscribe/undo?token={token}")
    assert again.json() == {"status": "subscribed"}


async def test_in_a_browser_a_forged_link_gets_a_page_in_words(client: httpx.AsyncClient) -> None:
    forged = "A" * 22 + "." + "B" * 22
    for method in ("GET", "POST"):
        r = await client.request(
            method, "/api/v1/notifications/unsubscribe", params={"token": forged}, headers=HTML
        )
        assert r.status_code == 400
        assert "This unsubscribe link isn" in r.text
        assert "<form" not in r.text
    unknown = unsubscribe_token(SECRET.encode(), uuid.uuid4())
    r = await client.post(
        "/api/v1/notifications/unsubscribe/undo", params={"token": unknown}, headers=HTML
    )
    assert r.status_code == 404
    assert "This unsubscribe link isn" in r.text


def signed(path: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    signature = RequestValidator(token).compute_signature(f"{PUBLIC}{path}", params)
    return {"X-Twilio-Signature": signature}


INBOUND = "/api/v1/notifications/twilio/inbound"
STATUS = "/api/v1/notifications/twilio/status"


async def test_inbound_stop_opts_out_and_start_opts_back_in(
    db: Database, client: httpx.AsyncClient
) -> None:
    stop = {"From": "+15551230000", "To": "+15550001111", "Body": " stop ", "MessageSid": "SM1"}
    r = await client.post(INBOUND, data=stop, headers=signed(INBOUND, stop))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    assert await opt_outs(db) == {("sms", address_digest("sms", "+15551230000"))}
    start = {**stop, "Body": "START"}
    r = await client.post(INBOUND, data=start, headers=signed(INBOUND, start))
    assert r.status_code == 200
    assert await opt_outs(db) == set()


@pytest.mark.parametrize("path", [INBOUND, STATUS])
async def test_webhooks_without_a_valid_signature_change_nothing(
    db: Database, client: httpx.AsyncClient, path: str
) -> None:
    form = {"From": "+15551230000", "Body": "STOP", "MessageSid": "SM1", "MessageStatus": "failed"}
    for headers in ({}, signed(path, form, token="wrong"), signed(path, {**form, "Body": "x"})):
        r = await client.post(path, data=form, headers=headers)
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "invalid_signature"
    assert await opt_outs(db) == set()


async def test_status_callback_records_the_carrier_status(
    db: Database, client: httpx.AsyncClient, handle: Any, drop: Any, worker: Any
) -> None:
    await handle(drop.placed(1), drop.confirmed(1))
    await worker.drain()
    async with db.sessions() as session:
        sms = (await session.scalars(select(Delivery).where(Delivery.channel == "sms"))).one()
    assert sms.provider_message_id is not None
    form = {"MessageSid": sms.provider_message_id, "MessageStatus": "delivered"}
    r = await client.post(STATUS, data=form, headers=signed(STATUS, form))
    assert r.status_code == 204, r.text
    async with db.sessions() as session:
        assert (
            await session.scalar(select(Delivery.provider_status).where(Delivery.id == sms.id))
            == "delivered"
        )
        await session.execute(update(Delivery).values(provider_status=None))


async def test_webhooks_are_404_when_twilio_is_not_configured(db: Database) -> None:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(db=db, settings=settings(sms_provider="file"))
    install_problem_handlers(app)
    app.include_router(router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        form = {"From": "+1555", "Body": "STOP"}
        r = await c.post(INBOUND, data=form, headers=signed(INBOUND, form))
    assert r.status_code == 404
