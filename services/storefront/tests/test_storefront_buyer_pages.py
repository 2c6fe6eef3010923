"""The order page and the pay-later page in-process: a 404 for an id that is not an order id,
never cached, no Referer, a CSP nonce on every script (no inline code), and the token never
needed by (nor asked of) the server: it stays in the URL's fragment for the page's script."""

import re
import uuid

import httpx
import pytest

from .test_storefront_pages import SCRIPT, app, client  # noqa: F401  (fixtures)

PAGES = [("/orders/{}", "order.", "Your order"), ("/pay/{}", "pay.", "Pay for your order")]


@pytest.mark.parametrize(("path", "script", "heading"), PAGES)
async def test_a_buyer_page_is_the_same_shell_for_everyone_and_never_cached(
    client: httpx.AsyncClient,  # noqa: F811
    path: str,
    script: str,
    heading: str,
) -> None:
    order = uuid.uuid4()
    r = await client.get(path.format(order))
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    (nonce,) = set(re.findall(r"'nonce-([^']+)'", csp))
    html = r.text
    assert f'<h1 id="{"order" if "order" in script else "pay"}-title">{heading}</h1>' in html
    assert f'data-order-id="{order}"' in html
    scripts = SCRIPT.findall(html)
    assert scripts, html
    for attributes, body in scripts:
        assert body == ""  # no inline code
        assert f'nonce="{nonce}"' in attributes
    assert any(f"/static/{script}" in attributes for attributes, _ in scripts)
    assert "<noscript>" in html  # says what to do without JavaScript
    assert not re.search(r"<[^>]+\son[a-z]+=", html)


@pytest.mark.parametrize(("path", "script", "heading"), PAGES)
async def test_a_path_that_names_no_order_is_a_404(
    client: httpx.AsyncClient,  # noqa: F811
    path: str,
    script: str,
    heading: str,
) -> None:
    for bad in ("not-an-order", "1234", str(uuid.uuid4()).upper().replace("-", "")):
        r = await client.get(path.format(bad))
        assert r.status_code == 404, bad
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "We can't find this page" in r.text
        assert "content-security-policy" in r.headers


SCRIPTS = [("/orders/{}", "order", "X-Order-Token"), ("/pay/{}", "pay", "X-Pay-Token")]


@pytest.mark.parametrize(("path", "name", "header"), SCRIPTS)
async def test_the_scripts_keep_the_token_out_of_urls(
    client: httpx.AsyncClient,  # noqa: F811
    path: str,
    name: str,
    header: str,
) -> None:
    """The scripts read the token from the fragment, take it out of the address bar and send
    it only as a header, never in a URL they request."""
    html = (await client.get(path.format(uuid.uuid4()))).text
    (src,) = re.findall(rf'src="(/static/{name}\.[0-9a-f]{{16}}\.js)"', html)
    (shared,) = re.findall(r'src="(/static/link\.[0-9a-f]{16}\.js)"', html)
    assert html.index(shared) < html.index(src)  # the shared part first (both deferred)
    js = (await client.get(src)).text
    link = (await client.get(shared)).text
    assert f"dropwaveLink.token('{name}'" in js
    assert "location.hash" in link
    assert "history.replaceState" in link
    assert "sessionStorage" in link
    assert "token=" not in js + link
    assert f"'{header}': token" in js
