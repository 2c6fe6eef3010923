"""The pages in-process (httpx over ASGI) against a real, migrated PostgreSQL: statuses,
escaping, Open Graph tags, the CSP nonce, cache headers, the referral code, the assets."""

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from dropwave_contracts.events import CampaignCancelled, CampaignFailed, CampaignSucceeded
from dropwave_runtime.db import Database
from fastapi import FastAPI
from storefront.bootstrap import bootstrap
from storefront.pages import Storefront
from storefront.settings import Settings

from tests.factories import event

from .test_storefront_handlers import Feed, confirmed, published

BASE = "https://drops.example"
HOSTILE = '<script>alert("x")</script>'
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database_url=db_url,
        kafka_bootstrap_servers="127.0.0.1:1",
        dropwave_env="dev",
        public_base_url=BASE,
        stripe_js_url="http://127.0.0.1:8420/js.stripe.com/v3/",
        stripe_publishable_key="pk_test_123",
    )
    application = bootstrap(settings)
    yield application
    await application.state.runtime.db.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app, client=("198.51.100.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as c:
        yield c


def storefront(app: FastAPI) -> Storefront:
    front: Storefront = app.state.deps["storefront"]
    return front


async def drop(db: Database, **fields: Any) -> tuple[uuid.UUID, str, Feed]:
    feed, cid = Feed(db), uuid.uuid4()
    first = published(cid, **fields)
    await feed.deliver(first)
    return cid, first.slug, feed


def style_nonce(html: str) -> str:
    (nonce,) = re.findall(r'<style nonce="([^"]+)">', html)
    return nonce


async def test_the_campaign_page(client: httpx.AsyncClient, db: Database) -> None:
    cid, slug, feed = await drop(
        db, images=["https://img.example/a.jpg", "https://img.example/b.jpg"]
    )
    await feed.deliver(confirmed(cid), confirmed(cid))
    r = await client.get(f"/{slug}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    html = r.text
    assert '<h1 id="drop-title">Oak phone stand</h1>' in html
    assert "$15.00" in html
    assert "<strong>2</strong> of 5 joined" in html
    assert '<progress max="5" value="2"' in html
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">', html)
    canonical = f"{BASE}/{slug}"
    for tag in (
        f'<link rel="canonical" href="{canonical}">',
        '<meta property="og:title" content="Oak phone stand">',
        '<meta property="og:description" content="Solid oak.">',
        '<meta property="og:image" content="https://img.example/a.jpg">',
        f'<meta property="og:url" content="{canonical}">',
        '<meta name="twitter:card" content="summary_large_image">',
    ):
        assert tag in html, tag
    assert (
        "Your card is only authorized now. You are charged only if the drop reaches its"
        " minimum by the deadline." in html
    )
    assert ":root { --accent: #1a5fb4; }" in html
    assert ".user-content h1 { color: #1a5fb4 }" in html
    assert '<div class="user-content">' in html
    # Security and cache headers.
    nonce = style_nonce(html)
    csp = r.headers["content-security-policy"]
    assert f"script-src 'nonce-{nonce}' http://127.0.0.1:8420;" in csp
    assert f"style-src 'self' 'nonce-{nonce}';" in csp
    for part in (
        "default-src 'self'",
        "img-src https: data:",
        "frame-src http://127.0.0.1:8420 https://hooks.stripe.com",
        "connect-src 'self' https://api.stripe.com http://127.0.0.1:8420",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ):
        assert part in csp, part
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    again = await client.get(f"/{slug}")
    assert style_nonce(again.text) != nonce  # a fresh nonce per response


async def test_hostile_text_is_escaped_and_css_cannot_end_its_style_element(
    client: httpx.AsyncClient, db: Database
) -> None:
    _, slug, _ = await drop(
        db,
        title=HOSTILE,
        description=f'{HOSTILE}\n\n"quoted" & more',
        images=['https://img.example/x.jpg" onerror="alert(1)'],
        theme_accent="red;}</style><script>",
        custom_css=".user-content p { color: red }</style><script>alert(1)</script>",
    )
    html = (await client.get(f"/{slug}")).text
    assert html.count("<script") == 3  # only the page's own: empty, by src and nonce
    assert [body for _, body in SCRIPT.findall(html)] == ["", "", ""]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&#34;quoted&#34; &amp; more" in html
    assert 'onerror="alert(1)' not in html
    assert "--accent" not in html  # not a colour: left out
    assert html.count("</style>") == 1
    assert "\\3c /style>\\3c script>" in html


async def test_statuses_of_unknown_draft_closed_and_cancelled_drops(
    client: httpx.AsyncClient, db: Database
) -> None:
    for path in ("/no-such-drop", "/Not_A_Slug", "/favicon.ico"):
        r = await client.get(path)
        assert (r.status_code, r.headers["cache-control"]) == (404, "no-store"), path
        assert "We can&#39;t find this drop" in r.text or "find this drop" in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
    closed = datetime.now(UTC)
    outcomes = (
        (CampaignSucceeded, 7, "This drop happened: 7 joined."),
        (CampaignFailed, 2, "This drop did not reach its minimum of 5 by"),
    )
    for cls, count, says in outcomes:
        cid, slug, feed = await drop(db)
        await feed.deliver(event(cls, campaign_id=cid, confirmed_orders=count, closed_at=closed))
        r = await client.get(f"/{slug}")
        assert (r.status_code, r.headers["cache-control"]) == (200, "public, max-age=60")
        assert says in r.text
        assert 'id="checkout"' not in r.text
        assert "<script" not in r.text  # no checkout, no live updates, no countdown

    gone, gone_slug, feed = await drop(db, title=HOSTILE)
    await feed.deliver(event(CampaignCancelled, campaign_id=gone, reason=None, cancelled_at=closed))
    r = await client.get(f"/{gone_slug}")
    assert r.status_code == 410
    assert "This drop was cancelled" in r.text
    assert "<script" not in r.text
    assert r.headers["cache-control"] == "public, max-age=60"

    _, past_slug, _ = await drop(db, deadline=datetime.now(UTC) - timedelta(seconds=1))
    r = await client.get(f"/{past_slug}")
    assert r.status_code == 200
    assert "the result is being counted" in r.text
    assert 'id="checkout"' not in r.text
    assert "<script" not in r.text


async def test_the_referral_code_is_carried_when_valid(
    client: httpx.AsyncClient, db: Database
) -> None:
    _, slug, _ = await drop(db)
    assert 'data-ref="tiktok_bio-7"' in (await client.get(f"/{slug}?ref=tiktok_bio-7")).text
    for bad in ('"><script>', "a" * 65, "ümlaut", "a b", ""):
        r = await client.get(f"/{slug}", params={"ref": bad})
        assert r.status_code == 200
        assert 'data-ref=""' in r.text, bad
        assert "<script>" not in r.text


async def test_the_visitor_source_is_carried_for_the_stats(
    client: httpx.AsyncClient, db: Database
) -> None:
    """``utm_source``/``source`` as given, else the referring site's label, else nothing
    (direct); the page counts its view with both (``data-view``)."""
    _, slug, _ = await drop(db)
    own = urlsplit(BASE).hostname
    cases = [
        ({"utm_source": "TikTok"}, None, "TikTok"),
        ({"source": "newsletter"}, "https://www.instagram.com/", "newsletter"),
        ({"utm_source": '"><script>'}, "https://l.instagram.com/x", "instagram"),
        ({}, "https://www.tiktok.com/@anna", "tiktok"),
        ({}, "https://t.co/abc", "x"),
        ({}, "https://blog.example.org/post", "other"),
        ({}, f"https://{own}/another-drop", ""),
        ({}, "not a url [", ""),
        ({}, None, ""),
    ]
    for params, referer, want in cases:
        headers = {"Referer": referer} if referer else {}
        r = await client.get(f"/{slug}", params=params, headers=headers)
        assert r.status_code == 200
        assert f'data-source="{want}"' in r.text, (params, referer)
        assert "<script>" not in r.text
        assert f'data-view="/api/v1/campaigns/{slug}/views"' in r.text


async def test_views_come_from_the_cache_until_a_change_drops_the_page(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    cid, slug, feed = await drop(db)
    cache = storefront(app).cache
    before = cache.loads
    for _ in range(20):
        assert "<strong>0</strong> of 5" in (await client.get(f"/{slug}")).text
    assert cache.loads == before + 1  # one query for twenty views
    await feed.deliver(confirmed(cid))
    assert "<strong>0</strong> of 5" in (await client.get(f"/{slug}")).text  # not told yet
    cache.invalidate(slug)  # what the listener does on the handler's NOTIFY
    assert "<strong>1</strong> of 5" in (await client.get(f"/{slug}")).text
    assert cache.loads == before + 2


async def test_static_assets_are_hashed_and_immutable(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    _, slug, _ = await drop(db)
    (href,) = re.findall(
        r'<link rel="stylesheet" href="([^"]+)">', (await client.get(f"/{slug}")).text
    )
    assert re.fullmatch(r"/static/storefront\.[0-9a-f]{16}\.css", href)
    r = await client.get(href)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.content == storefront(app).assets.by_file["storefront.css"].body
    missing = await client.get("/static/storefront.0000000000000000.css")
    assert (missing.status_code, missing.headers["cache-control"]) == (404, "no-store")


async def test_health_is_not_a_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.json() == {"status": "ok", "service": "storefront"}


async def test_the_checkout_and_its_scripts(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    _, slug, _ = await drop(db)
    r = await client.get(f"/{slug}", params={"ref": "tiktok_1"})
    html = r.text
    nonce = style_nonce(html)
    # The form: email, optional phone, an unchecked SMS consent box, the card's mount point,
    # a submit button enabled only by the script (the card needs Stripe.js).
    assert '<input id="email" name="email" type="email" autocomplete="email" required' in html
    assert '<input id="phone" name="phone" type="tel"' in html
    assert '<input id="sms_consent" name="sms_consent" type="checkbox">' in html
    assert '<div id="card-element"' in html
    assert '<button type="submit" disabled>Join for $15.00</button>' in html
    assert (
        f'data-slug="{slug}" data-ref="tiktok_1" data-source="" data-stripe-key="pk_test_123"'
    ) in html
    assert f'data-live="/api/v1/campaigns/{slug}/live"' in html
    assert f'data-count="/api/v1/campaigns/{slug}/shares"' in html
    # Scripts: every one a nonce'd src (no inline code), Stripe.js from the settings, ours
    # hashed; no inline event handler anywhere.
    scripts = SCRIPT.findall(html)
    assert len(scripts) == 3
    for attributes, body in scripts:
        assert body == ""
        assert f'nonce="{nonce}"' in attributes
    srcs = [re.search(r'src="([^"]+)"', a).group(1) for a, _ in scripts]  # type: ignore[union-attr]
    assert srcs[1] == "http://127.0.0.1:8420/js.stripe.com/v3/"
    assert re.fullmatch(r"/static/drop\.[0-9a-f]{16}\.js", srcs[0])
    assert re.fullmatch(r"/static/checkout\.[0-9a-f]{16}\.js", srcs[2])
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
    for src in (srcs[0], srcs[2]):
        asset = await client.get(src)
        assert asset.status_code == 200
        assert asset.headers["content-type"] == "text/javascript; charset=utf-8"
        assert not re.search(r"\.innerHTML\b|\beval\(|document\.write", asset.text)


async def test_first_load_is_under_100_kb(client: httpx.AsyncClient, db: Database) -> None:
    # The campaign page's own bytes (HTML, CSS, our JavaScript), Stripe.js and product
    # images aside, uncompressed (what a gzip-less proxy would send): under 100 KB.
    _, slug, _ = await drop(
        db, images=[f"https://img.example/{n}.jpg" for n in range(8)], description="Oak. " * 400
    )
    page = await client.get(f"/{slug}")
    total = len(page.content)
    hrefs = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert len(hrefs) == 3  # the stylesheet and our two scripts
    for href in hrefs:
        total += len((await client.get(href)).content)
    assert total < 100_000, total
