"""Which callback URLs and addresses may be contacted. Pure.

A URL passes when its scheme is ``https`` (or ``http`` with ``CALLBACK_ALLOW_HTTP``), its host is on
``CALLBACK_ALLOWED_HOSTS`` (an exact name, or ``*.domain`` for any name below ``domain``), and every
address it is connected to is public. Addresses are checked after DNS resolution, by the resolver the
HTTP client connects through (``resolver.py``), so a name cannot pass the check and then connect
elsewhere. Cloud metadata, unspecified and multicast addresses are refused even with
``CALLBACK_ALLOW_PRIVATE``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    allowed_hosts: tuple[str, ...]
    allow_http: bool = False
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a destination is refused: ``reason`` is a bounded metric label, ``message`` is for people."""

    reason: str
    message: str


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for raw in patterns:
        pattern = raw.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def check_url(url: str, policy: UrlPolicy) -> Refusal | None:
    """Scheme, allow-list and (for literal IPs, which skip DNS) the address. None = may be tried."""
    try:
        parsed = URL(url)
    except ValueError:
        return Refusal("invalid_url", "callback URL does not parse")
    if parsed.scheme not in ("https", "http") or not parsed.host:
        return Refusal("invalid_url", "callback URL needs an http(s) scheme and a host")
    if parsed.user is not None or parsed.password is not None:
        return Refusal("invalid_url", "callback URL must not carry credentials")
    if parsed.scheme == "http" and not policy.allow_http:
        return Refusal("scheme", "callback URL is http://; only https:// is allowed (CALLBACK_ALLOW_HTTP)")
    if not policy.allowed_hosts:
        return Refusal("callbacks_off", "callbacks are off: CALLBACK_ALLOWED_HOSTS is empty")
    if not host_allowed(parsed.host, policy.allowed_hosts):
        return Refusal("host_not_allowed", f"callback host {parsed.host} is not in CALLBACK_ALLOWED_HOSTS")
    try:
        literal = ipaddress.ip_address(parsed.host.strip("[]"))
    except ValueError:
        return None
    return address_refusal(literal, policy)


def address_refusal(address: IPAddress, policy: UrlPolicy) -> Refusal | None:
    """None when ``address`` may be connected to under ``policy``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return Refusal("metadata_address", f"{address} is a cloud metadata address")
    if address.is_unspecified or address.is_multicast:
        return Refusal("reserved_address", f"{address} is not a unicast address")
    if address.is_global:
        return None
    if policy.allow_private:
        return None
    kind = "loopback" if address.is_loopback else "link_local" if address.is_link_local else "private"
    return Refusal(
        f"{kind}_address", f"{address} is a {kind.replace('_', '-')} address (CALLBACK_ALLOW_PRIVATE)"
    )
