"""Shared fixtures: a clean environment and the event stores every twin test runs against."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain import Site
from twin.storage import drop_memory_store

POSTGRES_URL_VAR = "TWIN_TEST_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# CI sets this so that tests needing a server fail instead of skipping.
REQUIRE_SERVERS_VAR = "TWIN_REQUIRE_SERVERS"

T0 = datetime(2024, 1, 1, tzinfo=UTC)

# The fast tier, `python -m pytest`, leaves these out; `python -m pytest --full` runs them too.
OUTSIDE_THE_FAST_TIER = ("slow", "sqlite", "subprocess", "live", "browser", "postgres", "mqtt")
# A test asking for one of these fixtures needs what the fixture's marker names.
MARKER_OF_FIXTURE = {
    "postgres_server": "postgres",
    "postgres_url": "postgres",
    "mqtt_broker": "mqtt",
    "chromium": "browser",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        help="every tier: also the slow, subprocess, live, browser, PostgreSQL and MQTT tests",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
    # An explicit -m chooses for itself; so does naming tests by node id on the command line.
    named_by_node_id = any("::" in argument for argument in config.args)
    if config.getoption("--full") or config.getoption("markexpr") or named_by_node_id:
        return
    kept, deselected = [], []
    for item in items:
        outside = any(item.get_closest_marker(name) for name in OUTSIDE_THE_FAST_TIER)
        (deselected if outside else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def a_town_hall(code: str = "EP-1") -> Site:
    """Gignac's town hall as a metered site, registered at ``T0``: what the meter tests read."""
    return Site.register(
        code=code,
        name="Mairie",
        site_kind="public_building",
        geometry_wkt="POINT (752000 6283000)",
        commune_insee="34114",
        at=T0,
    )


def at(days: float = 0, hours: float = 0) -> datetime:
    """An instant after the valley's commissioning date."""
    return T0 + timedelta(days=days, hours=hours)


@pytest.fixture(scope="session")
def user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests' "user" keeps configuration and data: never the real home."""
    return tmp_path_factory.mktemp("user-dirs")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, user_dirs: Path) -> None:
    """No test sees the user's twin or eventsourcing settings, nor writes into their folders
    (a default keys folder, an ingest status file, a report: platformdirs reads these)."""
    for name in list(os.environ):
        if name.startswith(("TWIN_STORE", "PERSISTENCE_", "SQLITE_", "POSTGRES_")):
            monkeypatch.delenv(name)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(user_dirs / name.lower()))


def _postgres_base_url() -> str:
    return os.environ.get(POSTGRES_URL_VAR, DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of a reachable PostgreSQL; skips (or fails under CI) when there is none."""
    url = _postgres_base_url()
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            pass
    except Exception as error:  # any failure to connect means "no server here"
        reason = (
            f"PostgreSQL not reachable at {url} ({error.__class__.__name__}); start it on "
            f"127.0.0.1:5432 with a 'test' database, or set {POSTGRES_URL_VAR}=postgresql://…"
        )
        if os.environ.get(REQUIRE_SERVERS_VAR):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty schema on the PostgreSQL server, dropped afterwards."""
    import psycopg

    schema = f"twin_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{postgres_server}?schema={schema}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(
    params=[
        "memory",
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each twin test runs in memory (the fast tier), on SQLite on disk and on real PostgreSQL."""
    if request.param == "memory":
        name = f"test-{uuid.uuid4().hex}"
        yield f"memory://{name}"
        drop_memory_store(name)
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'twin.sqlite'}"
    else:
        yield request.getfixturevalue("postgres_url")


MQTT_HOST_VAR = "TWIN_TEST_MQTT"
DEFAULT_MQTT = "127.0.0.1:1883"


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """(host, port) of a reachable MQTT broker; skips (or fails under CI) when there is none."""
    import socket

    host, _, port = os.environ.get(MQTT_HOST_VAR, DEFAULT_MQTT).rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as error:
        reason = (
            f"MQTT broker not reachable at {host}:{port} ({error.__class__.__name__}); start Mosquitto "
            f"on 127.0.0.1:1883 (mosquitto -d) or set {MQTT_HOST_VAR}=host:port"
        )
        if os.environ.get(REQUIRE_SERVERS_VAR):
            pytest.fail(reason)
        pytest.skip(reason)
    return host, int(port)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's chromium; skips (or fails under CI) when it is not installed."""
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "chromium not found: install Debian's browser (apt-get install chromium) to test the report"
        if os.environ.get(REQUIRE_SERVERS_VAR):
            pytest.fail(reason)
        pytest.skip(reason)
    return path
