"""Is it this machine? The loopback checks behind every rule that trusts a local caller.

A collector without a tokens file serves only this machine: it binds loopback addresses
(:func:`is_loopback_bind`), answers only loopback peers that no proxy relays (:func:`is_loopback_client`),
and refuses a ``Host`` header naming another machine (:func:`is_loopback_host`), which is what a
browser page rebinding its DNS name to 127.0.0.1 sends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

__all__ = ["is_loopback_bind", "is_loopback_client", "is_loopback_host", "local_request_refusal"]

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback_client(host: str | None, headers: Mapping[str, str] | None = None) -> bool:
    """True when the request comes straight from this machine: a loopback peer address (IPv4,
    IPv6 or IPv4-mapped IPv6) and no sign of a proxy relaying someone else's request."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_loopback:
        return False
    return not any(name in (headers or {}) for name in _FORWARDING_HEADERS)


def is_loopback_host(host_header: str) -> bool:
    """True for ``localhost``, ``127.x.y.z`` or ``[::1]``, with or without a port."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_bind(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1): a bind only this machine reaches."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a wildcard (0.0.0.0, ::) or another host name: reachable from elsewhere


def local_request_refusal(peer_host: str | None, headers: Mapping[str, str], what: str) -> str | None:
    """Why a request to a route that serves only this machine is refused, or None.

    A web page open in the user's browser can reach 127.0.0.1 too (a form POST needs no preflight; a
    DNS-rebinding page even reads answers under a foreign host name): no local tool sends an
    ``Origin``, and a local tool addresses a loopback host name.
    """
    if not is_loopback_client(peer_host, headers):
        return f"{what} only serves clients on this machine"
    if headers.get("origin") is not None:
        return f"{what} does not serve web pages (the request has an Origin header)"
    if not is_loopback_host(headers.get("host", "")):
        return f"{what} answers only requests addressed to a loopback host name"
    return None
