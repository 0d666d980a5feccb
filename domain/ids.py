"""Deterministic aggregate ids derived from external identifiers.

The same asset code, DevEUI or pseudonym always yields the same UUID, so ingest and the CLI
find an aggregate without a lookup table. External ids are normalised (trimmed, upper-cased)
before hashing so that ``ab-12`` and ``AB-12`` name the same asset.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from domain._checks import text

VALLEY_NAMESPACE = UUID("6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b")

KINDS = ("bin", "beacon", "site", "service", "citizen", "idea", "device", "truck")


def normalise_code(field: str, code: object) -> str:
    """Return the canonical form of an external identifier."""
    return text(field, code, max_length=64).upper()


def aggregate_id(kind: str, code: str) -> UUID:
    """Return the UUID of the aggregate of ``kind`` known outside as ``code``."""
    if kind not in KINDS:
        raise ValueError(f"unknown aggregate kind {kind!r}; expected one of {KINDS}")
    return uuid5(VALLEY_NAMESPACE, f"{kind}/{normalise_code(kind + '_code', code)}")
