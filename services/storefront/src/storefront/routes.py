"""The pages (HTML, not part of the API's OpenAPI): the campaign page at the gateway's root
and the hashed static assets. Later slices add the order page, the pay-later page and the
unsubscribe page here (before the catch-all ``/{slug}``)."""

from typing import Annotated

from dropwave_runtime.bootstrap import provided
from fastapi import APIRouter, Request
from starlette.responses import Response

from .pages import Storefront

router = APIRouter(include_in_schema=False)

StorefrontDep = Annotated[Storefront, provided("storefront")]


@router.get("/static/{name}")
async def static_asset(name: str, storefront: StorefrontDep) -> Response:
    """An asset by its hashed name: cached for a year, immutable."""
    return storefront.assets.response(name)


@router.get("/{slug}")
async def campaign_page(slug: str, request: Request, storefront: StorefrontDep) -> Response:
    """The drop's page; ``?ref=<code>`` is carried into it for the checkout."""
    return await storefront.page(slug, request.query_params.get("ref"))
