"""The web application: pages, the JSON API and the live stream, read-only, on Starlette.

Every route only reads: facts are recorded by ingest, import and the CLI, never here. The one
thing the server writes is the read models it shows (the projections' ``catch_up``, the same
the CLI runs), unless told another process keeps them current. Blocking reads run in worker
threads; the live feed is one background task (:mod:`twin.web.feed`). A token, when set, is
required on every request (``Authorization: Bearer``, or once as ``?token=`` which leaves an
HTTP-only cookie for the page and its stream). Not responsible for binding sockets (the
``twin serve`` command) nor for what the pages say (:mod:`twin.web.pages`).
"""

from __future__ import annotations

import asyncio
import hmac
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from twin.asof import ASSET_KINDS
from twin.data_catalogue import EXPORT_FORMATS
from twin.errors import InvalidInputError, NotFoundError
from twin.export.files import render, standing_assets
from twin.geography import Geography, load_geography
from twin.present import parse_instant
from twin.projections.base import id_text
from twin.web import pages, queries
from twin.web.assets import AssetMarks, MapSettings
from twin.web.feed import AssetFeed, FeedSettings

if TYPE_CHECKING:
    from twin.application import ValleyTwin

HEARTBEAT_S = 15.0  # a comment on an idle stream: proxies keep it open, dead pages are found
TOKEN_COOKIE = "twin_token"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}


@dataclass
class WebSettings:
    """What ``twin serve`` hands the application."""

    reports_dir: Path = Path("reports")
    token: str | None = None
    feed: FeedSettings = field(default_factory=FeedSettings)
    map: MapSettings = field(default_factory=MapSettings)
    alert_thresholds: Any = None  # handed to twin.alerts.current_alerts as they are
    kept_s: float = 10.0  # health, alerts and catalogue are computed at most this often
    clock: Callable[[], datetime] | None = None  # "now": the valley's newest fact by default
    # The Host names a request may carry; None: any. Without a token `twin serve` allows only
    # loopback names, so a page from elsewhere cannot read the view by DNS rebinding.
    allowed_hosts: tuple[str, ...] | None = None


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class TokenGate:
    """ASGI middleware: every request carries the token, or is answered 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        bearer = headers.get("authorization", "")
        cookie = SimpleCookie(headers.get("cookie", "")).get(TOKEN_COOKIE)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if self._matches(bearer.removeprefix("Bearer ").strip() or None) or (
            cookie is not None and self._matches(cookie.value)
        ):
            await self.app(scope, receive, send)
            return
        if self._matches(query):  # once, from a link: the cookie carries it from then on
            response: Response = RedirectResponse(scope["path"], status_code=303)
            response.set_cookie(TOKEN_COOKIE, query or "", httponly=True, samesite="strict")
        else:
            response = PlainTextResponse(
                "a token is required: open the page once as /?token=TOKEN, or send "
                "'Authorization: Bearer TOKEN'",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)


class WebView:
    """The routes over one twin (see the module docstring)."""

    def __init__(
        self, twin: ValleyTwin, settings: WebSettings, geography: Geography | None = None
    ) -> None:
        self.twin = twin
        self.settings = settings
        self.geography = geography or load_geography()
        self.feed = AssetFeed(twin, AssetMarks(settings.map), settings.feed, settings.clock)
        self.kept = queries.Kept(settings.kept_s)

    # ---- the map and its API -------------------------------------------------------------
    async def map_page(self, request: Request) -> Response:
        return HTMLResponse(pages.map_page(self.geography))

    async def api_assets(self, request: Request) -> Response:
        rows = [row for row in self.feed.rows.values() if not row["retired"]]
        return JSONResponse(
            {"now": self.feed.now.isoformat(), "position": self.feed.position, "assets": rows}
        )

    async def api_stream(self, request: Request) -> Response:
        limit = _whole(request.query_params.get("max_events"), "max_events")
        page = self.feed.open_page()
        if page is None:
            return JSONResponse({"error": "too many open streams; try again later"}, 503)
        return StreamingResponse(
            self._events(page, limit),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _events(self, page: Any, limit: int | None) -> AsyncIterator[str]:
        try:
            yield f'retry: 2000\nevent: ready\ndata: {{"position": {self.feed.position}}}\n\n'
            sent = 0
            while limit is None or sent < limit:
                try:
                    message = await asyncio.wait_for(page.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                yield message
                sent += 1
                page.delivered += 1
        finally:
            self.feed.close_page(page)

    # ---- an asset ------------------------------------------------------------------------
    async def _asset(self, code: str) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(queries.asset_state, self.twin, self.geography, code)

    async def _asset_with_series(self, code: str) -> tuple[dict[str, Any], Any]:
        state = await self._asset(code)
        series = await anyio.to_thread.run_sync(
            queries.asset_series,
            self.twin,
            state["kind"],
            id_text(self.twin.resolve(code)),
            self.feed.now,
        )
        return state, series

    async def api_asset(self, request: Request) -> Response:
        state, series = await self._asset_with_series(request.path_params["code"])
        return JSONResponse({"state": state, "series": series, "now": self.feed.now.isoformat()})

    async def api_asset_at(self, request: Request) -> Response:
        code = request.path_params["code"]
        text = request.query_params.get("instant")
        if text is None:
            raise InvalidInputError("instant", None, "an ISO 8601 instant, e.g. 2024-05-01T12:00Z")
        instant = parse_instant(text)
        state = await anyio.to_thread.run_sync(
            queries.asset_state_at, self.twin, self.geography, code, instant
        )
        return JSONResponse({"instant": instant.isoformat(), "state": state})

    async def asset_page(self, request: Request) -> Response:
        code = request.path_params["code"]
        state, series = await self._asset_with_series(code)
        return HTMLResponse(pages.asset_page(code, state, series, self.feed.now))

    async def find_asset(self, request: Request) -> Response:
        code = request.query_params.get("code", "").strip()
        return RedirectResponse(f"/asset/{quote(code)}", status_code=303)

    # ---- alerts, health, catalogue -------------------------------------------------------
    async def _kept(self, key: str, compute: Callable[[], Any]) -> tuple[Any, str | None]:
        try:
            return await anyio.to_thread.run_sync(self.kept.get, key, compute), None
        except queries.Unavailable as missing:
            return None, str(missing)

    def _health(self) -> Any:
        return queries.data_health(self.twin, self.feed.now)

    def _alerts(self) -> Any:
        return queries.alerts(self.twin, self.feed.now, self.settings.alert_thresholds)

    def _catalogue(self, base_url: str) -> Callable[[], Any]:
        return lambda: queries.catalogue(self.twin, self.feed.now, base_url)

    async def api_alerts(self, request: Request) -> Response:
        alerts, problem = await self._kept("alerts", self._alerts)
        if problem is not None:
            return JSONResponse({"error": problem}, 501)
        return JSONResponse({"now": self.feed.now.isoformat(), "alerts": alerts})

    async def alerts_page(self, request: Request) -> Response:
        alerts, problem = await self._kept("alerts", self._alerts)
        return HTMLResponse(pages.alerts_page(alerts, problem))

    async def api_health(self, request: Request) -> Response:
        health, problem = await self._kept("health", self._health)
        if problem is not None:
            return JSONResponse({"error": problem}, 501)
        return JSONResponse(health)

    async def health_page(self, request: Request) -> Response:
        health, problem = await self._kept("health", self._health)
        return HTMLResponse(pages.health_page(health, problem))

    async def api_catalogue(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        catalogue, problem = await self._kept(f"catalogue {base}", self._catalogue(base))
        if problem is not None:
            return JSONResponse({"error": problem}, 501)
        return JSONResponse(catalogue, media_type="application/ld+json")

    async def catalogue_page(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        catalogue, problem = await self._kept(f"catalogue {base}", self._catalogue(base))
        return HTMLResponse(pages.catalogue_page(catalogue, problem))

    async def download(self, request: Request) -> Response:
        """One export (``/download/{kind}/{format}``) as ``twin export`` writes it."""
        kind, fmt = request.path_params["kind"], request.path_params["fmt"]
        if kind not in ASSET_KINDS or fmt not in EXPORT_FORMATS:
            known = f"kinds {', '.join(ASSET_KINDS)}; formats {', '.join(EXPORT_FORMATS)}"
            return HTMLResponse(pages.not_found_page(f"No export {kind}/{fmt} ({known})."), 404)
        text = await anyio.to_thread.run_sync(self._export_text, kind, fmt)
        served = EXPORT_FORMATS[fmt]
        name = f"valley-{kind}.{served.extension}"
        return Response(
            text,
            media_type=served.media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    def _export_text(self, kind: str, fmt: str) -> str:
        handle = io.StringIO()
        render(fmt, standing_assets(self.twin, None, kind), self.geography, None, handle)
        return handle.getvalue()

    # ---- scenario reports ----------------------------------------------------------------
    def _reports(self) -> list[dict[str, Any]]:
        root = self.settings.reports_dir
        if not root.is_dir():
            return []
        found = []
        for index in sorted(root.glob("*/index.html")) + sorted(root.glob("*/*/index.html")):
            if index.is_file():
                written = datetime.fromtimestamp(index.stat().st_mtime, UTC)
                name = index.parent.relative_to(root).as_posix()
                found.append({"name": name, "written_at": written.isoformat()})
        return found

    async def api_reports(self, request: Request) -> Response:
        reports = await anyio.to_thread.run_sync(self._reports)
        return JSONResponse({"folder": str(self.settings.reports_dir), "reports": reports})

    async def reports_page(self, request: Request) -> Response:
        reports = await anyio.to_thread.run_sync(self._reports)
        return HTMLResponse(pages.reports_page(reports, str(self.settings.reports_dir)))

    async def report_file(self, request: Request) -> Response:
        root = self.settings.reports_dir.resolve()
        wanted = (root / request.path_params["path"]).resolve()
        # Only regular files inside the reports folder: no "..", no link out of it.
        if not wanted.is_relative_to(root) or not wanted.is_file():
            return HTMLResponse(pages.not_found_page("No such report file."), 404)
        return FileResponse(wanted)

    # ---- the page's own files ------------------------------------------------------------
    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return PlainTextResponse("not found", 404)
        text = (files("twin.web") / "static" / name).read_text(encoding="utf-8")
        return Response(text, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})

    # ---- errors --------------------------------------------------------------------------
    async def not_found(self, request: Request, error: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(error)}, 404)
        return HTMLResponse(pages.not_found_page(str(error)), 404)

    async def invalid(self, request: Request, error: Exception) -> Response:
        return JSONResponse({"error": str(error)}, 400)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.map_page),
            Route("/asset", self.find_asset),
            Route("/asset/{code}", self.asset_page),
            Route("/alerts", self.alerts_page),
            Route("/health", self.health_page),
            Route("/catalogue", self.catalogue_page),
            Route("/download/{kind}/{fmt}", self.download),
            Route("/reports", self.reports_page),
            Route("/reports/{path:path}", self.report_file),
            Route("/static/{name}", self.static),
            Route("/api/assets", self.api_assets),
            Route("/api/assets/{code}", self.api_asset),
            Route("/api/assets/{code}/at", self.api_asset_at),
            Route("/api/alerts", self.api_alerts),
            Route("/api/health", self.api_health),
            Route("/api/catalogue", self.api_catalogue),
            Route("/api/reports", self.api_reports),
            Route("/api/stream", self.api_stream),
        ]


def _whole(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(name, text, "a whole number of 1 or more")
    return int(text)


def create_app(twin: ValleyTwin, settings: WebSettings | None = None) -> Starlette:
    """The application over ``twin``; its lifespan loads the map and runs the live feed."""
    view = WebView(twin, settings or WebSettings())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(view.feed.load)
        task = asyncio.create_task(view.feed.run())
        try:
            yield
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    app = Starlette(
        routes=view.routes(),
        lifespan=lifespan,
        exception_handlers={NotFoundError: view.not_found, InvalidInputError: view.invalid},
    )
    app.state.view = view
    if view.settings.token:
        app.add_middleware(TokenGate, token=view.settings.token)
    if view.settings.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(view.settings.allowed_hosts))
    return app
