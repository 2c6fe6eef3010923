"""Who is calling: the client's address, believed from ``X-Forwarded-For`` only when the
peer is a trusted proxy (the gateway), so per-IP limits are per visitor, not per gateway.

The gateway (Caddy) sets ``X-Forwarded-For`` to the address it saw (an untrusted client's own
header is dropped, not extended); a chain of trusted proxies each append theirs. So the hops
are read right to left, skipping trusted proxies: the first untrusted one is the client. A
client that sends its own ``X-Forwarded-For`` straight to a service (not through a trusted
peer) is identified by its socket address, whatever the header says.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = ["Network", "client_ip", "in_networks", "parse_networks"]


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """``"127.0.0.1/32, 10.0.0.0/8"`` (or a list) -> networks; raises ValueError on garbage."""
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in parts if p.strip())


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` parsed (None if it is no address); cached: every request parses its peer (the
    gateway, the same few addresses) and its client's address several times."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def in_networks(address: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    ip = _address(address)
    return ip is not None and any(ip in net for net in networks)


def client_ip(scope: Scope, trusted: tuple[Network, ...]) -> str:
    """The caller's address for this ASGI ``scope`` (a Starlette ``Request`` has ``.scope``)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not in_networks(peer, trusted):
        return peer
    forwarded = b""
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            forwarded = value if not forwarded else forwarded + b"," + value
    hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
    for hop in reversed(hops):
        hop_ip = _address(hop)
        if hop_ip is None:
            return peer  # a garbled chain: trust only what we saw
        if not any(hop_ip in net for net in trusted):
            return str(hop_ip)
    return hops[0] if hops else peer
