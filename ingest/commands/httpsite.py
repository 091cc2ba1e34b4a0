"""One HTTP listener for the long-running commands (daemon, worker): start it or say why not."""

from __future__ import annotations

from aiohttp import web

from ..errors import ConfigError


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on ``host:port``; a busy port or a name that does not resolve is a
    ConfigError naming the address. The caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot serve on {host}:{port}: {exc}") from exc
    return runner
