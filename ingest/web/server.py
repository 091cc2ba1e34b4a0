"""``run_server(host, port, token)``: serve the web app until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import ipaddress
import socket

from aiohttp import web

from .. import runtime
from ..config import Settings, load_settings
from ..errors import ConfigError
from .app import make_app


def host_is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback one (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]")
    if not name:
        return False  # "" binds every interface
    if name.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses
    )


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a token (``ConfigError``)."""
    if not token and not host_is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host!r} without an API token: anyone who can reach it could "
            "change or delete frames. Set INGEST_API_TOKEN, or bind to 127.0.0.1"
        )
    if token is not None and token != token.strip():
        raise ConfigError("INGEST_API_TOKEN must not start or end with whitespace")


def run_server(host: str, port: int, token: str | None, settings: Settings | None = None) -> None:
    """Serve the web app on ``host:port``; blocks until Ctrl-C or SIGTERM.

    ``token`` is the bearer token that mutations need (``INGEST_API_TOKEN``). Without one the
    server only binds to a loopback address (else ``ConfigError``).
    """
    token = token or None
    check_bind(host, token)
    app = make_app(settings or load_settings(), token)
    mode = "mutations need the bearer token" if token else "no token: loopback clients only"
    shown = f"[{host}]" if ":" in host else host
    web.run_app(
        app,
        host=host,
        port=port,
        loop=runtime.new_event_loop(),
        print=lambda _: print(
            f"ingest serve: http://{shown}:{port}/ ({mode}); Ctrl-C to stop", flush=True
        ),
        access_log=None,
    )
