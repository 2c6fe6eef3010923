"""The pages: Jinja2 templates (HTML autoescaped, undefined is an error), the hashed static
assets, and the per-response parts (CSP nonce, referral code) put into cached renders.

A page is rendered once per change of its campaign (``cache.py``) with two markers, random
per process, where the response's nonce and the visitor's referral code go; a response is
then two string replacements. The referral code is ``[A-Za-z0-9_-]`` only and the nonce
URL-safe base64, so neither needs escaping where it lands (an attribute value).
"""

import hashlib
import mimetypes
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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

    async def page(self, slug: str, ref: str | None) -> Response:
        valid = domain.slug_or_none(slug)
        rendered = await self.cache.get(valid) if valid is not None else self.not_found()
        nonce = secrets.token_urlsafe(16)
        html = rendered.html.replace(NONCE_MARK, nonce).replace(REF_MARK, domain.clean_ref(ref))
        return Response(
            html,
            rendered.status,
            headers={
                "Content-Security-Policy": self.policy.header(nonce),
                "Referrer-Policy": "strict-origin-when-cross-origin",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": rendered.cache_control,
            },
            media_type="text/html; charset=utf-8",
        )

    async def _load(self, slug: str) -> Rendered:
        return self.render(await self.fetch(slug))

    def not_found(self) -> Rendered:
        html = self.env.get_template("not_found.html.j2").render(nonce=NONCE_MARK)
        return Rendered(404, html, domain.CACHE_NOT_FOUND)

    def render(self, row: CampaignPage | None) -> Rendered:
        if row is None or row.slug is None:
            return self.not_found()
        phase = domain.phase(row.status, row.deadline, self.clock())
        if phase == "unpublished" or row.deadline is None or row.min_orders is None:
            return self.not_found()
        template = "gone.html.j2" if phase == "cancelled" else "campaign.html.j2"
        canonical = f"{self.base_url}/{row.slug}"
        html = self.env.get_template(template).render(
            nonce=NONCE_MARK,
            ref=REF_MARK,
            phase=phase,
            canonical=canonical,
            title=row.title,
            summary=_summary(row.description),
            paragraphs=[p.strip() for p in row.description.split("\n\n") if p.strip()],
            images=row.images,
            price=format_money(row.price_cents or 0, row.currency or "usd"),
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
        )
        return Rendered(domain.status_code(phase), html, domain.cache_control(phase))
