"""The web view: a map of the valley with its assets live, alerts, data health, the data
catalogue and the scenario reports, over a read-only JSON API and a server-sent event stream.

``create_app(twin, WebSettings(...))`` builds the Starlette application; ``twin serve`` runs it
with uvicorn. The API is documented in ``docs/web-api.md``. Not responsible for recording
anything (ingest, import and the CLI do) nor for binding sockets (the command does).
"""

from __future__ import annotations

from twin.web.app import LOOPBACK_HOSTS, TokenGate, WebSettings, create_app
from twin.web.assets import MapSettings
from twin.web.feed import AssetFeed, FeedSettings

__all__ = [
    "LOOPBACK_HOSTS",
    "AssetFeed",
    "FeedSettings",
    "MapSettings",
    "TokenGate",
    "WebSettings",
    "create_app",
]
