"""Exports of the valley for open-data portals and FIWARE context brokers.

``twin export --format csv|geojson|ngsi-ld [--at INSTANT] [--kind K] --out PATH``, or from
Python :func:`export_valley`. CSV and GeoJSON (RFC 7946, WGS84) carry one record per asset;
NGSI-LD follows the FIWARE Smart Data Models (see :mod:`twin.export.ngsi_ld` for which model
each asset becomes). Every export is of the assets standing at an instant (default: now) and
never contains personal data: citizens are not read at all, and services give counts of
places, never who holds them. Not responsible for analysts' DataFrames (:mod:`twin.analysis`).
"""

from __future__ import annotations

from twin.export.files import FORMATS, STDOUT, ExportSummary, export_valley, standing_assets

__all__ = [
    "ExportSummary",
    "FORMATS",
    "STDOUT",
    "export_valley",
    "standing_assets",
]
