"""``twin serve``: the web view (map, live stream, alerts, data health, catalogue, reports).

Binds 127.0.0.1 by default. Any other address is reachable from other machines, so it needs a
token (``--token`` or ``$TWIN_WEB_TOKEN``, at least 16 characters): the command refuses to
start without one. TLS is the reverse proxy's job (README, "Live view"). Not responsible for
the application itself (:mod:`twin.web`).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
from pathlib import Path
from typing import Any

from twin import InvalidInputError, open_twin
from twin.web import LOOPBACK_HOSTS, FeedSettings, WebSettings, create_app
from valley_twin.arguments import whole_number

TOKEN_VARIABLE = "TWIN_WEB_TOKEN"
MIN_TOKEN_LENGTH = 16
DEFAULT_PORT = 8000


def add_commands(subparsers: Any) -> None:
    """Add ``serve`` to the ``twin`` program's sub-commands (an argparse subparsers action)."""
    serve = subparsers.add_parser(
        "serve",
        help="the web view: the valley's map live, alerts, data health, catalogue, reports",
        description="Serve the read-only web view of the store. It binds 127.0.0.1 unless "
        f"--host says otherwise; any other address needs --token (or ${TOKEN_VARIABLE}).",
    )
    serve.add_argument("--store", dest="serve_store", metavar="URL", help="as twin --store")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument(
        "--port",
        type=whole_number(1, 65535),
        default=DEFAULT_PORT,
        help="port (default %(default)s)",
    )
    serve.add_argument(
        "--token",
        help=f"required on every request (default ${TOKEN_VARIABLE}); needed for any host "
        "other than loopback; pass it once to a browser as /?token=TOKEN",
    )
    serve.add_argument(
        "--reports",
        type=Path,
        default=Path("reports"),
        help="folder of the reports `twin scenario` writes (default %(default)s)",
    )
    serve.add_argument(
        "--no-follow",
        dest="follow",
        action="store_false",
        help="do not keep the read models current here (`twin projections run --follow` does)",
    )
    serve.set_defaults(handler=_serve)


def check_binding(host: str, token: str | None) -> None:
    """Refuse an address other machines can reach unless a long enough token guards it."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise InvalidInputError(
            "--token",
            "…",
            f"at least {MIN_TOKEN_LENGTH} characters (e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe())'`)",
        )
    if token is None and not _is_loopback(host):
        raise InvalidInputError(
            "--host",
            host,
            f"127.0.0.1 (or ::1, localhost), or a token with --token or ${TOKEN_VARIABLE}: "
            "any other address is reachable from other machines",
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def serve_hint(store: str, reports: Path | None = None) -> str:
    """The command that opens the web view on ``store`` (what ``twin demo`` ends by printing)."""
    command = f"twin --store {shlex.quote(store)} serve"
    if reports is not None:
        command += f" --reports {shlex.quote(str(reports))}"
    return f"see it live: {command}   then open http://127.0.0.1:{DEFAULT_PORT}/"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    check_binding(args.host, token)
    twin = open_twin(args.serve_store or args.store, create=False)
    settings = WebSettings(
        reports_dir=args.reports,
        token=token,
        feed=FeedSettings(keep_views_current=args.follow),
        allowed_hosts=None if token else (*LOOPBACK_HOSTS, args.host),
    )
    try:
        app = create_app(twin, settings)
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"the valley's web view on http://{shown}:{args.port}/ (Ctrl-C stops it)", flush=True)
        # Open streams never end by themselves: give them 2 s at Ctrl-C, then close them.
        uvicorn.run(
            app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=2
        )
    finally:
        twin.close()
    return 0
