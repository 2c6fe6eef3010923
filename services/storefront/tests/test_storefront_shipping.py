"""A drop that ships: its checkout renders the address fields and a country select limited
to the countries it ships to (from CampaignPublished); a digital drop asks for none."""

import re

import httpx
from dropwave_runtime.db import Database

from .test_storefront_handlers import row
from .test_storefront_pages import app, client, drop  # noqa: F401  (fixtures)


async def test_the_checkout_asks_for_an_address_in_a_country_the_drop_ships_to(
    client: httpx.AsyncClient,  # noqa: F811
    db: Database,
) -> None:
    cid, slug, _ = await drop(db, ship_to_countries=["US", "DE"])
    assert (await row(db, cid)).ship_to_countries == ["US", "DE"]
    html = (await client.get(f"/{slug}")).text
    form = html[html.index('<form id="checkout-form"') : html.index("</form>")]
    assert '<fieldset id="shipping"' in form
    for name in ("ship_name", "ship_line1", "ship_line2", "ship_city", "ship_region"):
        assert f'name="{name}"' in form
    assert 'name="ship_postal_code"' in form
    options = re.findall(r'<option value="([A-Z]{2})">([^<]+)</option>', form)
    assert options == [("DE", "Germany"), ("US", "United States")]


async def test_a_digital_drop_asks_for_no_address(
    client: httpx.AsyncClient,  # noqa: F811
    db: Database,
) -> None:
    _, slug, _ = await drop(db)
    html = (await client.get(f"/{slug}")).text
    assert '<form id="checkout-form"' in html
    assert "ship_" not in html
    assert "<select" not in html
