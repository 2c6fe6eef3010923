"""The pages: Jinja2 templates (HTML autoescaped, undefined is an error), the hashed static
assets, and the per-response parts (CSP nonce, referral code, source) put into cached
renders.

A page is rendered once per change of its campaign (``cache.py``) with three markers, random
per process, where the response's nonce and the visitor's referral code and source go; a
response is then three string replacements. The referral code and the source are
``[A-Za-z0-9_-]`` only and the nonce URL-safe base64, so none needs escaping where it lands
(an attribute value).
"""

import hashlib
import mimetypes
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dropwave_runtime.countries import country_name
from dropwave_runtime.display import format_deadline, format_money
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.responses import Response

from . import domain
from .cache import PageCache
from .models import CampaignPage
from .settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
NONCE_MARK = f"nonce-{secrets.token_hex(12)}"
REF_MARK = f"ref-{secrets.token_hex(12)}"
SOURCE_MARK = f"source-{secrets.token_hex(12)}"
Fetch = Callable[[str], Awaitable[CampaignPage | None]]
"""The read model's row of a slug, or None."""
IMMUTABLE = "public, max-age=31536000, immutable"
OG_DESCRIPTION_CHARS = 200


@dataclass(frozen=True)
class Asset:
    name: str
    """``storefront.3f2a9c81d0e4b7a6.css``: the content's hash in the name."""
    body: bytes
    media_type: str


class Assets:
    """The files of ``static/``, named by their content's hash at start-up."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.by_file: dict[str, Asset] = {}
        self.by_name: dict[str, Asset] = {}
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:16]
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media.startswith("text/"):
                media += "; charset=utf-8"
            asset = Asset(f"{path.stem}.{digest}{path.suffix}", body, media)
            self.by_file[path.name] = self.by_name[asset.name] = asset

    def url(self, file: str) -> str:
        return f"/static/{self.by_file[file].name}"

    def response(self, name: str) -> Response:
        asset = self.by_name.get(name)
        if asset is None:
            return Response(
                "Not found", 404, headers={"Cache-Control": "no-store"}, media_type="text/plain"
            )
        return Response(
            asset.body,
            headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
            media_type=asset.media_type,
        )


@dataclass(frozen=True)
class Rendered:
    status: int
    html: str
    """With :data:`NONCE_MARK` and :data:`REF_MARK` in place of the per-response parts."""
    cache_control: str


def environment(assets: Assets) -> Environment:
    env = Environment(
        loader=PackageLoader("storefront", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship in the package: no file stat per render to see whether one changed
        # (5 % of the notifications fan-out's CPU; issue 15).
        auto_reload=False,
    )
    env.globals["asset"] = assets.url
    return env


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= OG_DESCRIPTION_CHARS:
        return flat
    return flat[: OG_DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"


class Storefront:
    """What the routes serve: pages from the cache, assets, and the security headers."""

    def __init__(
        self,
        settings: Settings,
        fetch: Fetch,
        assets: Assets | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.base_url = settings.public_base_url.rstrip("/")
        self.assets = assets or Assets()
        self.env = environment(self.assets)
        self.policy = domain.PagePolicy(domain.origin(settings.stripe_js_url))
        self.fetch = fetch
        self.clock = clock
        self.cache: PageCache[Rendered] = PageCache(
            self._load, settings.page_cache_ttl_s, settings.page_cache_max_entries
        )

    async def page(self, slug: str, ref: str | None, source: str = "") -> Response:
        """The page for a visitor who came with ``ref`` and from ``source`` (a clean label,
        ``domain.visitor_source``): both go with its view, share and order."""
        valid = domain.slug_or_none(slug)
        rendered = await self.cache.get(valid) if valid is not None else self.not_found()
        nonce = secrets.token_urlsafe(16)
        html = (
            rendered.html.replace(NONCE_MARK, nonce)
            .replace(REF_MARK, domain.clean_ref(ref))
            .replace(SOURCE_MARK, domain.clean_ref(source))
        )
        return self._response(html, rendered.status, nonce, rendered.cache_control)

    def buyer_page(self, template: str, order_id: str) -> Response:
        """A page of one order (``order.html.j2``: the order page, ``pay.html.j2``: the
        pay-later page): the same for every visitor; its token stays in the URL's fragment,
        which only the page's script reads. Never cached (``no-store``: it is about one
        buyer's money), no ``Referer`` leaves it, and an id that is not a UUID is a 404."""
        nonce = secrets.token_urlsafe(16)
        valid = domain.order_id_or_none(order_id)
        if valid is None:
            html = self.env.get_template("not_found.html.j2").render(nonce=nonce, kind="page")
            return self._response(html, 404, nonce, domain.CACHE_NOT_FOUND, domain.NO_REFERRER)
        html = self.env.get_template(template).render(
            nonce=nonce,
            order_id=valid,
            stripe_key=self.settings.stripe_publishable_key,
            stripe_js_url=self.settings.stripe_js_url,
        )
        return self._response(html, 200, nonce, domain.CACHE_NOT_FOUND, domain.NO_REFERRER)

    def _response(
        self,
        html: str,
        status: int,
        nonce: str,
        cache_control: str,
        referrer_policy: str = "strict-origin-when-cross-origin",
    ) -> Response:
        return Response(
            html,
            status,
            headers={
                "Content-Security-Policy": self.policy.header(nonce),
                "Referrer-Policy": referrer_policy,
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": cache_control,
            },
            media_type="text/html; charset=utf-8",
        )

    async def _load(self, slug: str) -> Rendered:
        return self.render(await self.fetch(slug))

    def not_found(self) -> Rendered:
        html = self.env.get_template("not_found.html.j2").render(nonce=NONCE_MARK, kind="drop")
        return Rendered(404, html, domain.CACHE_NOT_FOUND)

    def render(self, row: CampaignPage | None) -> Rendered:
        if row is None or row.slug is None:
            return self.not_found()
        phase = domain.phase(row.status, row.deadline, self.clock())
        if phase == "unpublished" or row.deadline is None or row.min_orders is None:
            return self.not_found()
        template = "gone.html.j2" if phase == "cancelled" else "campaign.html.j2"
        canonical = f"{self.base_url}/{row.slug}"
        currency = row.currency or "usd"
        now = domain.pricing(row.price_cents or 0, row.price_tiers or [], row.highest_buyer_number)
        html = self.env.get_template(template).render(
            nonce=NONCE_MARK,
            ref=REF_MARK,
            source=SOURCE_MARK,
            phase=phase,
            canonical=canonical,
            title=row.title,
            summary=_summary(row.description),
            paragraphs=[p.strip() for p in row.description.split("\n\n") if p.strip()],
            images=row.images,
            price=format_money(now.price_cents, currency),
            tier_until=now.until_buyer,
            next_price=format_money(now.next_cents, currency) if now.next_cents else None,
            goals=domain.stretch_goals(
                row.stretch_goals or [], row.stretch_goals_reached or [], row.joined
            ),
            joined=row.joined,
            min_orders=row.min_orders,
            progress=domain.progress(row.joined, row.min_orders),
            deadline_iso=row.deadline.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            deadline=format_deadline(row.deadline),
            accent=domain.clean_accent(row.theme_accent),
            custom_css=Markup(domain.css_for_style_element(row.custom_css)),  # noqa: S704
            stripe_key=self.settings.stripe_publishable_key,
            stripe_js_url=self.settings.stripe_js_url,
            slug=row.slug,
            ship_to=sorted(
                ((code, country_name(code)) for code in row.ship_to_countries or []),
                key=lambda country: country[1],
            ),
        )
        return Rendered(domain.status_code(phase), html, domain.cache_control(phase))
