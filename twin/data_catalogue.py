"""The valley's datasets described in DCAT-AP (JSON-LD), the vocabulary open-data portals read.

One ``dcat:Dataset`` per kind of asset (the exports ``twin export --kind K`` writes), each with
the period the store covers for that kind (its first and newest fact in world time, from the
``asset_state`` read model, which must be caught up), how often it changes, where it lies, its
licence, one ``dcat:Distribution`` per export format (a download link when the address of the
web view is known) and quality measurements (DQV) taken from the data health: share of devices
reporting in their expected interval, freshness of their newest reading, and gap hours.

Identifiers (``@id``) are URNs, the same whichever address serves the catalogue; only the
links (``dcat:accessURL``, ``dcat:downloadURL``, ``dcat:landingPage``) use ``base_url``.

Licence: the communes' names and boundaries come from IGN ADMIN EXPRESS and INSEE's COG under
Etalab's Licence Ouverte; the twin's own measurements are published under the same Licence
Ouverte 2.0, so every export (which mixes both) carries one licence, with the attribution in
``dct:rights``. Not responsible for writing the exports (:mod:`twin.export`), computing the
health figures (:mod:`twin.health`) nor serving the download links (:mod:`twin.web`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from twin.asof import ASSET_KINDS
from twin.devices import DEVICE_KINDS, select_rows
from twin.errors import InvalidInputError
from twin.export import FORMATS
from twin.geography import load_geography
from twin.projections import PROJECTIONS, view_store
from twin.projections.assets import ASSET_STATE

if TYPE_CHECKING:
    from twin.application import ValleyTwin
    from twin.health import DataHealth

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dqv": "http://www.w3.org/ns/dqv#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
}
LICENCE_OUVERTE_2 = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
ATTRIBUTION = (
    "Measurements: Communauté de communes Vallée de l'Hérault, valley twin, Licence Ouverte 2.0. "
    "Commune names and boundaries: IGN – ADMIN EXPRESS COG 2018; INSEE COG 2018; via "
    "gregoiredavid/france-geojson (Licence Ouverte)."
)
PUBLISHER = "Communauté de communes Vallée de l'Hérault"
PUBLISHER_SIREN = "243400694"  # the EPCI's SIREN (shared/data/README.md)
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
LANGUAGE = "http://publications.europa.eu/resource/authority/language/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "https://www.iana.org/assignments/media-types/"
WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"
URN = "urn:ccvh:valley-twin"
DOWNLOAD_ROUTE = "/download"  # the web view's route: /download/{kind}/{format}


@dataclass(frozen=True)
class ExportFormat:
    """How one ``twin export`` format is described and served."""

    name: str  # as ``twin export --format`` spells it
    media_type: str
    file_type: str  # EU file-type authority code
    extension: str


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("csv", "text/csv", "CSV", "csv"),
    "geojson": ExportFormat("geojson", "application/geo+json", "GEOJSON", "geojson"),
    # NGSI-LD entities (FIWARE Smart Data Models) are JSON-LD documents.
    "ngsi-ld": ExportFormat("ngsi-ld", "application/ld+json", "JSON_LD", "jsonld"),
}
assert tuple(EXPORT_FORMATS) == FORMATS, "a new export format needs its description here"


@dataclass(frozen=True)
class KindDataset:
    """What the catalogue says of one kind of asset that is not read from the store."""

    title: str
    description: str
    frequency: str  # EU frequency authority code
    why_frequency: str


DATASETS: dict[str, KindDataset] = {
    "bin": KindDataset(
        "Waste containers",
        "Every waste container standing in the valley: stream, capacity, position, commune, "
        "latest fill level, emptyings and overflow episodes.",
        "CONT",
        "fill-level sensors report as they read, each twice a day, staggered across the valley",
    ),
    "beacon": KindDataset(
        "Footfall beacons",
        "BLE footfall scanners: zone, position, commune, people counted (never tracked: no "
        "phone identifier is kept) and battery.",
        "CONT",
        "counts arrive every 15 minutes",
    ),
    "site": KindDataset(
        "Sites: lighting cabinets, public buildings, third places, zones",
        "Sites of the valley with their energy meter (index and consumption) or door counter "
        "(occupancy), position or area, commune.",
        "DAILY",
        "meters publish one index a day; door counters are expected at least daily",
    ),
    "service": KindDataset(
        "Public services",
        "Public services (childcare, ...): capacity and places taken, as counts only; never "
        "who holds them.",
        "CONT",
        "places taken change as the service desk records them",
    ),
}
assert tuple(DATASETS) == ASSET_KINDS, "a new kind of asset needs its dataset here"

# The quality metrics (DQV) taken from the data health, with the health field each reads.
METRICS: tuple[tuple[str, str, str, str], ...] = (
    (
        "share-reporting",
        "share_in_interval",
        "xsd:double",
        "Share (0 to 1) of the devices expected to report whose newest reading is younger "
        "than their expected interval.",
    ),
    (
        "freshness-median",
        "freshness_median_s",
        "xsd:double",
        "Median age in seconds of the devices' newest reading, over those that reported.",
    ),
    (
        "freshness-worst",
        "freshness_worst_s",
        "xsd:double",
        "Age in seconds of the oldest newest reading among the devices that reported.",
    ),
    (
        "gap-hours",
        "gap_hours",
        "xsd:integer",
        "Hours over the health window with no data where data was expected.",
    ),
    (
        "gap-share",
        "gap_share",
        "xsd:double",
        "Gap hours as a share (0 to 1) of the hours where data was expected.",
    ),
)


@dataclass(frozen=True)
class Period:
    """The first and newest fact of a kind of asset, in world time."""

    start: datetime
    end: datetime


def data_catalogue(twin: ValleyTwin, health: DataHealth, base_url: str | None) -> dict[str, Any]:
    """The valley's datasets as a DCAT-AP ``dcat:Catalog`` in JSON-LD.

    ``health``: the data health whose figures become the quality measurements. ``base_url``:
    the address of the web view (``http://127.0.0.1:8000``) the download links point at; None
    leaves the links out.
    """
    base = _checked_base(base_url)
    periods = store_periods(twin)
    catalogue: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{URN}:catalogue",
        "@type": "dcat:Catalog",
        "dct:title": "Valley twin of the Vallée de l'Hérault: open datasets",
        "dct:description": (
            "The assets of the 28 communes of the Communauté de communes Vallée de l'Hérault "
            "(waste containers, footfall beacons, sites, public services) as the valley's "
            "digital twin records them from its sensors, with the quality of their data. "
            "No personal data: citizens appear nowhere."
        ),
        "dct:publisher": _publisher(),
        "dct:language": [{"@id": f"{LANGUAGE}FRA"}, {"@id": f"{LANGUAGE}ENG"}],
        "dct:license": {"@id": LICENCE_OUVERTE_2},
        "dct:rights": ATTRIBUTION,
        "dct:spatial": _territory(),
        "dct:modified": _instant(health.now),
        "dcat:dataset": [_dataset(kind, periods.get(kind), health, base) for kind in ASSET_KINDS],
    }
    if base is not None:
        catalogue["foaf:homepage"] = {"@id": f"{base}/catalogue"}
    return catalogue


def store_periods(twin: ValleyTwin) -> dict[str, Period]:
    """Per kind of asset, the first and newest fact the store holds (kinds with none left out).

    Read from the ``asset_state`` read model (each asset's creation and newest fact), not by
    replaying the log: the catalogue is asked for often.
    """
    store = view_store(twin)
    store.ensure([PROJECTIONS[ASSET_STATE.name]])
    with store.read() as db:
        rows = select_rows(db, store.dialect, ASSET_STATE, "1 = 1", ())
    periods: dict[str, Period] = {}
    for row in rows:
        start, end = row["created_at"], row["last_event_at"] or row["created_at"]
        known = periods.get(row["kind"])
        if known is not None:
            start, end = min(start, known.start), max(end, known.end)
        periods[row["kind"]] = Period(start, end)
    return periods


def download_path(kind: str, fmt: str) -> str:
    """The web view's path of one export (``/download/bin/csv``)."""
    return f"{DOWNLOAD_ROUTE}/{kind}/{fmt}"


def _checked_base(base_url: str | None) -> str | None:
    if base_url is None:
        return None
    base = base_url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")) or len(base) <= len("https://"):
        raise InvalidInputError(
            "base_url", base_url, "an http:// or https:// address, e.g. http://127.0.0.1:8000"
        )
    return base


def _publisher() -> dict[str, Any]:
    return {
        "@id": f"{URN}:publisher",
        "@type": "foaf:Agent",
        "foaf:name": PUBLISHER,
        "dct:identifier": PUBLISHER_SIREN,
    }


def _territory() -> dict[str, Any]:
    """The CCVH as a ``dct:Location``: its bounding box and centroid in WGS84 (lon lat)."""
    geography = load_geography()
    bounds = [geography.boundary_wgs84(c).bounds for c in geography.communes]
    west, south = min(b[0] for b in bounds), min(b[1] for b in bounds)
    east, north = max(b[2] for b in bounds), max(b[3] for b in bounds)
    centre = geography.outline.centroid
    lon, lat = geography.to_wgs84(centre.x, centre.y)
    box = (
        f"POLYGON(({west:.5f} {south:.5f}, {east:.5f} {south:.5f}, {east:.5f} {north:.5f}, "
        f"{west:.5f} {north:.5f}, {west:.5f} {south:.5f}))"
    )
    return {
        "@id": f"{URN}:territory",
        "@type": "dct:Location",
        "skos:prefLabel": f"{PUBLISHER} ({len(geography.communes)} communes)",
        "dct:identifier": PUBLISHER_SIREN,
        "dcat:bbox": {"@value": box, "@type": WKT},
        "dcat:centroid": {"@value": f"POINT({lon:.5f} {lat:.5f})", "@type": WKT},
    }


def _instant(when: datetime) -> dict[str, str]:
    text = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"@value": text, "@type": "xsd:dateTime"}


def _dataset(
    kind: str, period: Period | None, health: DataHealth, base: str | None
) -> dict[str, Any]:
    described = DATASETS[kind]
    identifier = f"{URN}:dataset:{kind}"
    dataset: dict[str, Any] = {
        "@id": identifier,
        "@type": "dcat:Dataset",
        "dct:identifier": f"ccvh-valley-twin-{kind}",
        "dct:title": described.title,
        "dct:description": described.description,
        "dct:publisher": {"@id": f"{URN}:publisher"},
        "dct:accrualPeriodicity": {"@id": f"{FREQUENCY}{described.frequency}"},
        "dct:spatial": {"@id": f"{URN}:territory"},
        "dct:license": {"@id": LICENCE_OUVERTE_2},
        "dcat:contactPoint": {"@type": "vcard:Organization", "vcard:fn": PUBLISHER},
        "dcat:distribution": [
            _distribution(kind, export_format, base) for export_format in EXPORT_FORMATS.values()
        ],
        "dqv:hasQualityMeasurement": _measurements(identifier, kind, health),
    }
    if period is not None:
        dataset["dct:temporal"] = {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": _instant(period.start),
            "dcat:endDate": _instant(period.end),
        }
    if base is not None:
        dataset["dcat:landingPage"] = {"@id": f"{base}/catalogue"}
    return dataset


def _distribution(kind: str, export_format: ExportFormat, base: str | None) -> dict[str, Any]:
    distribution: dict[str, Any] = {
        "@id": f"{URN}:dataset:{kind}:{export_format.name}",
        "@type": "dcat:Distribution",
        "dct:title": f"{DATASETS[kind].title} ({export_format.name})",
        "dct:description": (
            f"The {kind} assets standing now; also written by "
            f"`twin export --format {export_format.name} --kind {kind} --out FILE`."
        ),
        "dct:format": {"@id": f"{FILE_TYPE}{export_format.file_type}"},
        "dcat:mediaType": {"@id": f"{IANA}{export_format.media_type}"},
        "dct:license": {"@id": LICENCE_OUVERTE_2},
    }
    if base is not None:
        url = {"@id": f"{base}{download_path(kind, export_format.name)}"}
        distribution["dcat:accessURL"] = url
        distribution["dcat:downloadURL"] = url
    return distribution


def _measurements(dataset_id: str, kind: str, health: DataHealth) -> list[dict[str, Any]]:
    """The health figures of each kind of device reporting about this kind of asset."""
    found = []
    for device in DEVICE_KINDS:
        if device.asset_kind != kind:
            continue
        figures = health.kind(device.name).figures
        for metric, field, datatype, definition in METRICS:
            value = getattr(figures, field)
            if value is None:
                continue  # no device reported, or no read model keeps its hours
            found.append(
                {
                    "@id": f"{dataset_id}:quality:{device.name}:{metric}",
                    "@type": "dqv:QualityMeasurement",
                    "dqv:computedOn": {"@id": dataset_id},
                    "dqv:isMeasurementOf": {
                        "@id": f"{URN}:metric:{metric}",
                        "@type": "dqv:Metric",
                        "skos:prefLabel": metric,
                        "skos:definition": definition,
                        "dqv:expectedDataType": {"@id": datatype},
                    },
                    "dqv:value": {"@value": value, "@type": datatype},
                    "dct:title": device.name,
                    "dct:description": f"{device.label}, at {health.now.isoformat()}",
                }
            )
    return found
