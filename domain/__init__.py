"""The valley's domain: six event-sourced aggregates and the rules they keep.

Bins, beacons, sites, services, citizens and collection trucks; every change is a past-tense
event dated with the instant it happened in the world. This package does no I/O and knows
nothing of stores, wires or maps: it imports the standard library, ``eventsourcing.domain``
and shapely only.
"""

from __future__ import annotations

from domain._aggregate import ValleyAggregate, plain_value, recorded_at
from domain.beacons import Beacon
from domain.bins import Bin
from domain.citizens import Citizen, idea_id
from domain.errors import (
    CapacityExceededError,
    DomainError,
    DuplicateError,
    InvalidValueError,
    OutOfOrderError,
    OutOfRangeError,
    RetiredAssetError,
    UnknownReferenceError,
)
from domain.ids import aggregate_id, normalise_code
from domain.services import Service
from domain.sites import Site
from domain.trucks import Tip, Truck
from domain.values import Position, ReportCategory, ServiceKind, SiteKind, WasteStream

AGGREGATE_CLASSES: tuple[type[ValleyAggregate], ...] = (Bin, Beacon, Site, Service, Citizen, Truck)

__all__ = [
    "AGGREGATE_CLASSES",
    "Beacon",
    "Bin",
    "CapacityExceededError",
    "Citizen",
    "DomainError",
    "DuplicateError",
    "InvalidValueError",
    "OutOfOrderError",
    "OutOfRangeError",
    "Position",
    "ReportCategory",
    "RetiredAssetError",
    "Service",
    "ServiceKind",
    "Site",
    "SiteKind",
    "Tip",
    "Truck",
    "UnknownReferenceError",
    "ValleyAggregate",
    "WasteStream",
    "aggregate_id",
    "idea_id",
    "normalise_code",
    "plain_value",
    "recorded_at",
]
