"""Which IP addresses a copy of a remote source may connect to: the special-purpose table.

``special_purpose(address)`` names the special-purpose range an address is in (the IANA IPv4
and IPv6 Special-Purpose Address Registries, plus multicast and everything outside IPv6's
global unicast space), or returns None for an ordinary public address. Addresses that embed an
IPv4 address (NAT64's well-known prefix, 6to4) are judged by the IPv4 address they reach.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4: Final = [
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private-use"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private-use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private-use"),
    ("192.175.48.0/24", "direct delegation AS112 service"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
]

_V6: Final = [
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("::ffff:0:0:0/96", "IPv4-translated (SIIT)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"),
    ("2001::/23", "IETF protocol assignments (Teredo, ORCHID, benchmarking...)"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
]

#: (network, name) rows, most specific first within each family
SPECIAL_PURPOSE: Final = [
    (ipaddress.ip_network(net), name)
    for net, name in sorted(_V4 + _V6, key=lambda row: -ipaddress.ip_network(row[0]).prefixlen)
]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def special_purpose(address: str | IPAddress) -> str | None:
    """The name of the special-purpose range ``address`` is in, or None if it is public.

    Raises ValueError if ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(ip.compressed.split("%", 1)[0])
        if ip in _NAT64:  # the well-known NAT64 prefix reaches the embedded IPv4 address
            inner = special_purpose(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
            return f"NAT64 of {inner}" if inner else None
        if ip in _SIX_TO_FOUR:
            embedded = ip.sixtofour
            inner = special_purpose(embedded) if embedded is not None else "invalid"
            return f"6to4 of {inner}" if inner else None
    for network, name in SPECIAL_PURPOSE:
        if ip.version == network.version and ip in network:
            return name
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST:
        return "outside IPv6 global unicast (reserved)"
    return None


def is_public(address: str | IPAddress) -> bool:
    """True for an ordinary public unicast address a copy may connect to."""
    return special_purpose(address) is None


def ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is an IP literal (brackets allowed), else None."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
