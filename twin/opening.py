"""Opening the twin on the store a URL names: the one place the application is built from settings.

Nothing is constructed at import time anywhere in the project; callers (the front door, tests,
benchmarks) come here with a store URL. Not responsible for what each backend builds
(:mod:`twin.storage`).
"""

from __future__ import annotations

import sqlite3

from eventsourcing.persistence import PersistenceError

from twin.application import ValleyTwin
from twin.config import POSTGRES_MODULE, StoreConfig, parse_store_url, resolve_store_url
from twin.errors import StoreUnavailableError


def store_config(url: str | None = None) -> StoreConfig:
    """Resolve and parse the store URL (argument, ``$TWIN_STORE`` or the default)."""
    return parse_store_url(resolve_store_url(url))


def open_twin(url: str | None = None, *, create: bool = True) -> ValleyTwin:
    """Open the twin on the configured event store, creating its tables if needed.

    ``create=False`` is for commands that only read or amend what is there: an SQLite file
    that does not exist is then an error (a mistyped path must not answer "unknown asset"
    from a store made empty on the spot, nor leave folders behind).
    """
    config = store_config(url)
    if config.sqlite_path is not None:
        if not create and not config.sqlite_path.is_file():
            raise StoreUnavailableError(
                f"event store {config.display} does not exist (no file {config.sqlite_path}); "
                "`twin init` creates one (sqlite:///relative/path, sqlite:////absolute/path)"
            )
        try:
            config.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(
                f"cannot create {config.sqlite_path.parent}: {error}"
            ) from error
    try:
        if config.settings.get("PERSISTENCE_MODULE") == POSTGRES_MODULE:
            # psycopg is an optional dependency: loaded only for a PostgreSQL store.
            from twin.storage.postgres import tables_created_one_at_a_time

            with tables_created_one_at_a_time(config.settings):
                return ValleyTwin(env=config.settings)
        return ValleyTwin(env=config.settings)
    except (PersistenceError, OSError, sqlite3.Error) as error:
        # sqlite3.DatabaseError ("file is not a database") escapes the library untranslated.
        raise StoreUnavailableError(f"cannot open event store {config.display}: {error}") from error
