"""The web app: a JSON REST API and server-rendered pages to browse and edit FrameGroups.

``make_app(settings, token)`` builds the aiohttp application; ``run_server(host, port, token)``
serves it until Ctrl-C. See docs/web.md.
"""

from .app import make_app
from .server import run_server

__all__ = ["make_app", "run_server"]
