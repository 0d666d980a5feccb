"""Which event store the twin uses, from a URL.

``sqlite:///path/to/file`` (the default, one file in the user's data directory) or
``postgresql://user:password@host:port/dbname?schema=name``; ``memory://NAME`` for tests and
benchmarks (gone with the process). The URL comes from the command
line, else the ``TWIN_STORE`` environment variable, else the default. This module builds the
``eventsourcing`` settings; it opens no connection.

Also the alert thresholds: the ``[alerts]`` section of a TOML settings file
(:func:`load_alert_thresholds`), every key optional, with defaults in :class:`AlertThresholds`.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import platformdirs

from twin.errors import InvalidInputError, StoreConfigError

STORE_ENV_VAR = "TWIN_STORE"
SNAPSHOT_INTERVAL = 100
# Durability of the embedded store, decided here rather than left to SQLite's defaults:
# write-ahead log, synced on every commit, so an acknowledged message survives a power cut
# and not only a crash of the process (WAL with synchronous=NORMAL may lose the last commits).
SQLITE_JOURNAL_MODE = "wal"
SQLITE_SYNCHRONOUS = "FULL"
SQLITE_SYNCHRONOUS_LEVEL = 2  # what ``PRAGMA synchronous`` reads back for FULL
SQLITE_FACTORY_TOPIC = "twin.storage.sqlite:DurableSQLiteFactory"
MEMORY_FACTORY_TOPIC = "twin.storage.memory:SharedMemoryFactory"
POSTGRES_MODULE = "eventsourcing.postgres"


def default_store_url() -> str:
    """Return the embedded SQLite store in the user's data directory."""
    data_dir = Path(platformdirs.user_data_dir("valley-twin", appauthor=False))
    return f"sqlite:///{data_dir / 'twin.sqlite'}"


def resolve_store_url(url: str | None) -> str:
    """Return the URL given, else ``$TWIN_STORE``, else the default embedded store."""
    return url or os.environ.get(STORE_ENV_VAR) or default_store_url()


@dataclass(frozen=True)
class StoreConfig:
    """The settings of one event store."""

    url: str
    settings: dict[str, str]
    sqlite_path: Path | None = None

    @property
    def is_embedded(self) -> bool:
        """True for the embedded SQLite store."""
        return self.sqlite_path is not None

    @property
    def display(self) -> str:
        """The URL without its password, fit to print."""
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.url


def _connect_timeout(url: str, query: dict[str, list[str]]) -> str:
    """The URL's ``connect_timeout``: whole seconds, 1 or more (PostgreSQL's own rule)."""
    value = query.get("connect_timeout", ["5"])[0]
    if not (value.isascii() and value.isdigit() and int(value) >= 1):
        raise StoreConfigError(
            f"store URL {url!r}: connect_timeout={value!r} is not a whole number of seconds, "
            "1 or more"
        )
    return value


def parse_store_url(url: str) -> StoreConfig:
    """Turn a store URL into ``eventsourcing`` settings, or explain what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc:
            raise StoreConfigError(
                f"store URL {url!r}: write sqlite:///relative/path or sqlite:////absolute/path"
            )
        raw_path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not raw_path:
            raise StoreConfigError(f"store URL {url!r}: no database file given")
        path = Path(raw_path).expanduser()
        return StoreConfig(
            url=url,
            settings={
                "PERSISTENCE_MODULE": SQLITE_FACTORY_TOPIC,
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "10",
            },
            sqlite_path=path,
        )
    if parts.scheme in ("postgresql", "postgres"):
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise StoreConfigError(f"store URL {url!r}: no database name given")
        query = parse_qs(parts.query)
        settings = {
            "PERSISTENCE_MODULE": POSTGRES_MODULE,
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": _connect_timeout(url, query),
        }
        if "schema" in query:
            settings["POSTGRES_SCHEMA"] = query["schema"][0]
        return StoreConfig(url=url, settings=settings)
    if parts.scheme == "memory":
        settings = {"PERSISTENCE_MODULE": MEMORY_FACTORY_TOPIC}
        name = unquote(parts.netloc + parts.path)
        if name:
            settings["MEMORY_STORE"] = name
        return StoreConfig(url=url, settings=settings)
    raise StoreConfigError(
        f"store URL {url!r}: scheme {parts.scheme!r} is not supported; "
        "use sqlite:///path or postgresql://user@host:port/dbname"
    )


@dataclass(frozen=True)
class AlertThresholds:
    """When the twin raises an alert; each can be set under ``[alerts]`` (same names)."""

    # A container this full (percent) needs a collection soon: 80 % leaves a day or two at the
    # valley's fill rates, the margin collection services plan on.
    fill_percent: float = 80.0
    # A sensor is silent after this many of its expected intervals without a reading: LoRaWAN
    # loses an uplink now and then, and one missed reading is no fault.
    silent_intervals: float = 2.0
    # A battery this low (percent) should be changed on the next round, before it dies.
    battery_percent: float = 20.0
    # A citizen's report should be acknowledged within this many hours (two working days).
    report_unacknowledged_hours: float = 48.0


# (lowest, highest) allowed for each threshold.
_ALERT_BOUNDS = {
    "fill_percent": (0.0, 100.0),
    "silent_intervals": (1.0, 1000.0),
    "battery_percent": (0.0, 100.0),
    "report_unacknowledged_hours": (0.0, 24.0 * 365),
}


def load_alert_thresholds(path: Path | None) -> AlertThresholds:
    """The ``[alerts]`` section of a TOML settings file, over the defaults (None: defaults).

    A missing section means the defaults; an unknown key, or a value that is not a number in
    its range, is refused naming the file, the key and the value.
    """
    if path is None:
        return AlertThresholds()
    try:
        with path.open("rb") as handle:
            document: dict[str, Any] = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInputError("--config", str(path), f"a readable TOML file ({error})") from None
    section = document.get("alerts", {})
    if not isinstance(section, dict):
        raise InvalidInputError(f"{path}: alerts", section, "a table of thresholds")
    known = {f.name for f in fields(AlertThresholds)}
    settings: dict[str, float] = {}
    for key, value in section.items():
        if key not in known:
            raise InvalidInputError(
                f"{path}: alerts.{key}", value, f"one of {', '.join(sorted(known))}"
            )
        low, high = _ALERT_BOUNDS[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise InvalidInputError(
                f"{path}: alerts.{key}", value, f"a number from {low:g} to {high:g}"
            )
        settings[key] = float(value)
    return replace(AlertThresholds(), **settings)
