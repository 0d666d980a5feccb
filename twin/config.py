"""Which event store the twin uses, from a URL.

``sqlite:///path/to/file`` (the default, one file in the user's data directory) or
``postgresql://user:password@host:port/dbname?schema=name``; ``memory://NAME`` for tests and
benchmarks (gone with the process). The URL comes from the command
line, else the ``TWIN_STORE`` environment variable, else the default. This module builds the
``eventsourcing`` settings; it opens no connection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import platformdirs

from twin.errors import StoreConfigError

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
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["5"])[0],
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
