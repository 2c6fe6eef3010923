"""The pages (HTML, not part of the API's OpenAPI): the campaign page at the gateway's root,
the order page, the pay-later page and the hashed static assets (every fixed path before the
catch-all ``/{slug}``)."""

from typing import Annotated
from urllib.parse import urlsplit

from dropwave_runtime.bootstrap import provided
from fastapi import APIRouter, Request
from starlette.responses import Response

from . import domain
from .pages import Storefront

router = APIRouter(include_in_schema=False)

StorefrontDep = Annotated[Storefront, provided("storefront")]


@router.get("/static/{name}")
async def static_asset(name: str, storefront: StorefrontDep) -> Response:
    """An asset by its hashed name: cached for a year, immutable."""
    return storefront.assets.response(name)


@router.get("/orders/{order_id}")
async def order_page(order_id: str, storefront: StorefrontDep) -> Response:
    """The buyer's order (the confirmation mail links here with the token in the fragment):
    the buyer number, the state as it changes, the cancel button."""
    return storefront.buyer_page("order.html.j2", order_id)


@router.get("/pay/{order_id}")
async def pay_page(order_id: str, storefront: StorefrontDep) -> Response:
    """The pay-later page (the capture-failed mail links here with the link's token in the
    fragment): pay with a card through Stripe.js, 3-D Secure included."""
    return storefront.buyer_page("pay.html.j2", order_id)


@router.get("/{slug}")
async def campaign_page(request: Request) -> Response:
    """The drop's page; ``?ref=<code>`` and where the visitor came from (``?utm_source=``
    or ``?source=``, else the ``Referer``'s site) are carried into it for its view, share
    and checkout (the creator's stats).

    Served directly (``Service.direct_routes``: ten views per order in a drop), so it reads
    its path and dependency itself."""
    slug: str = request.path_params["slug"]
    storefront: Storefront = request.app.state.deps["storefront"]
    query = request.query_params
    source = domain.visitor_source(
        query.get("utm_source") or query.get("source"),
        request.headers.get("referer"),
        urlsplit(storefront.base_url).hostname,
    )
    return await storefront.page(slug, query.get("ref"), source)
