"""The twin: the valley's event store and what it answers.

The application over ``eventsourcing`` with its storage wing (SQLite embedded by default,
PostgreSQL for scale, in memory for tests), the commands that record field facts, ingest,
time travel, read models, exports, the valley's real geography and spatial queries. It
imports ``domain`` and, for the wire, ``adapters.wire`` — never ``simulation``,
``scenarios`` or the front door (``valley_twin``, which holds the ``twin`` command).
"""

from __future__ import annotations

from eventsourcing.utils import get_topic

from twin.application import ValleyTwin
from twin.config import StoreConfig, default_store_url, parse_store_url, resolve_store_url
from twin.errors import (
    AlreadyExistsError,
    ConcurrentChangeError,
    InvalidInputError,
    NotFoundError,
    OutsideValleyError,
    StoreConfigError,
    StoreUnavailableError,
    TwinError,
)
from twin.geography import Commune, Geography, load_geography
from twin.inventory import plan_inventory, summarise
from twin.opening import open_twin, store_config
from twin.spatial import PlacedAsset, SpatialIndex

__all__ = [
    "AlreadyExistsError",
    "Commune",
    "ConcurrentChangeError",
    "Geography",
    "InvalidInputError",
    "NotFoundError",
    "OutsideValleyError",
    "PlacedAsset",
    "SpatialIndex",
    "StoreConfig",
    "StoreConfigError",
    "StoreUnavailableError",
    "TwinError",
    "ValleyTwin",
    "default_store_url",
    "event_topics",
    "load_geography",
    "open_twin",
    "parse_store_url",
    "plan_inventory",
    "resolve_store_url",
    "store_config",
    "summarise",
]


def event_topics(*event_classes: type) -> tuple[str, ...]:
    """The stored topics of these domain event classes, to read only them from the log.

    ``twin.domain_events(topics=event_topics(Site.Registered, Site.Closed))``: a caller names
    the events by their domain classes and never spells the event store's topics itself.
    """
    return tuple(get_topic(cls) for cls in event_classes)
