"""The twin: the valley's event store and what it answers.

The application over ``eventsourcing`` with its storage wing (SQLite embedded by default,
PostgreSQL for scale, in memory for tests), the commands that record field facts, ingest,
time travel, read models, exports, the valley's real geography and spatial queries. It
imports ``domain`` and, for the wire, ``adapters.wire`` — never ``simulation``,
``scenarios`` or the front door (``valley_twin``, which holds the ``twin`` command).
"""

from __future__ import annotations

from eventsourcing.utils import get_topic

from twin.alerts import Alert, alert_history, current_alerts
from twin.application import ValleyTwin
from twin.asof import ASSET_KINDS
from twin.citizens import Citizens, Forgotten, PersonalData, describe_personal_data
from twin.config import (
    AlertThresholds,
    StoreConfig,
    default_store_url,
    load_alert_thresholds,
    parse_store_url,
    resolve_store_url,
)
from twin.data_catalogue import data_catalogue
from twin.dead_letters import (
    LetterFilter,
    RetryOutcome,
    dead_letters,
    discard,
    parse_receipt_id,
    retry,
)
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
from twin.events import aggregate_event
from twin.fleet import RecordedTours, recorded_tours
from twin.geography import Commune, Geography, load_geography
from twin.health import DataHealth, data_health
from twin.importing import DEFAULT_SOURCE as DEFAULT_IMPORT_SOURCE
from twin.importing import FILE_FORMATS as IMPORT_FILE_FORMATS
from twin.importing import Fact, ImportFileError, ImportSummary, import_facts, read_facts
from twin.ingest import IngestProcessor
from twin.ingest_server import (
    DEFAULT_ENDPOINT,
    AllowList,
    IngestServer,
    ServerSettings,
    allow_list_entry,
    read_status,
)
from twin.inventory import COMMISSIONED_AT, RULE_BY_STREAM, plan_inventory, summarise
from twin.opening import open_twin, store_config
from twin.plausibility import ImplausibleFactError, Plausibility, load_plausibility
from twin.present import (
    asset_view,
    event_view,
    format_event,
    format_state,
    history_view,
    parse_instant,
)
from twin.spatial import PlacedAsset, SpatialIndex

__all__ = [
    "ASSET_KINDS",
    "Alert",
    "AlertThresholds",
    "AllowList",
    "AlreadyExistsError",
    "COMMISSIONED_AT",
    "Citizens",
    "Commune",
    "ConcurrentChangeError",
    "DEFAULT_ENDPOINT",
    "DEFAULT_IMPORT_SOURCE",
    "DataHealth",
    "Fact",
    "Forgotten",
    "Geography",
    "IMPORT_FILE_FORMATS",
    "ImplausibleFactError",
    "ImportFileError",
    "ImportSummary",
    "IngestProcessor",
    "IngestServer",
    "InvalidInputError",
    "LetterFilter",
    "NotFoundError",
    "OutsideValleyError",
    "PersonalData",
    "PlacedAsset",
    "Plausibility",
    "RULE_BY_STREAM",
    "RecordedTours",
    "RetryOutcome",
    "ServerSettings",
    "SpatialIndex",
    "StoreConfig",
    "StoreConfigError",
    "StoreUnavailableError",
    "TwinError",
    "ValleyTwin",
    "aggregate_event",
    "alert_history",
    "allow_list_entry",
    "asset_view",
    "current_alerts",
    "data_catalogue",
    "data_health",
    "dead_letters",
    "default_store_url",
    "describe_personal_data",
    "discard",
    "event_topics",
    "event_view",
    "format_event",
    "format_state",
    "history_view",
    "import_facts",
    "load_alert_thresholds",
    "load_geography",
    "load_plausibility",
    "open_twin",
    "parse_instant",
    "parse_receipt_id",
    "parse_store_url",
    "plan_inventory",
    "read_facts",
    "read_status",
    "recorded_tours",
    "resolve_store_url",
    "retry",
    "store_config",
    "summarise",
]


def event_topics(*event_classes: type) -> tuple[str, ...]:
    """The stored topics of these domain event classes, to read only them from the log.

    ``twin.domain_events(topics=event_topics(Site.Registered, Site.Closed))``: a caller names
    the events by their domain classes and never spells the event store's topics itself.
    """
    return tuple(get_topic(cls) for cls in event_classes)
