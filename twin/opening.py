"""Opening the twin on the store a URL names: the one place the application is built from settings.

Nothing is constructed at import time anywhere in the project; callers (the front door, tests,
benchmarks) come here with a store URL. Not responsible for what each backend builds
(:mod:`twin.storage`).
"""

from __future__ import annotations

from eventsourcing.persistence import PersistenceError

from twin.application import ValleyTwin
from twin.config import StoreConfig, parse_store_url, resolve_store_url
from twin.errors import StoreUnavailableError


def store_config(url: str | None = None) -> StoreConfig:
    """Resolve and parse the store URL (argument, ``$TWIN_STORE`` or the default)."""
    return parse_store_url(resolve_store_url(url))


def open_twin(url: str | None = None) -> ValleyTwin:
    """Open (creating its tables if needed) the twin on the configured event store."""
    config = store_config(url)
    if config.sqlite_path is not None:
        try:
            config.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(
                f"cannot create {config.sqlite_path.parent}: {error}"
            ) from error
    try:
        return ValleyTwin(env=config.settings)
    except (PersistenceError, OSError) as error:
        raise StoreUnavailableError(f"cannot open event store {config.display}: {error}") from error
