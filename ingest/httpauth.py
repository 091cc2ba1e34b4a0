"""The bearer-token check the web app and the daemon's HTTP endpoint share."""

from __future__ import annotations

import hmac


def bearer_ok(authorization: str, token: str) -> bool:
    """``authorization`` (the header's value) is ``Bearer <token>``, compared in constant time."""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )
