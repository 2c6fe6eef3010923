"""The storefront: the buyer-facing pages (``GET /{slug}``), server-rendered from its own
read model of campaigns' and orders' events (docs/adr/0011-storefront.md)."""
