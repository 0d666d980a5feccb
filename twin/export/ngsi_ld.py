"""The valley's assets as NGSI-LD entities (normalized form) following the FIWARE Smart Data Models.

Each entity is ``{"id": "urn:ngsi-ld:<Type>:<code>", "type": <Type>, <attributes>, "@context":
<URL>}``: Properties carry ``value`` (and ``observedAt`` when the value was measured),
Relationships ``object``, the GeoProperty ``location`` a GeoJSON geometry in WGS84. The
``@context`` is the model's own Smart Data Models context, named by URL and never fetched.
Only attributes the models define are used (the tests check every one against the models
shipped in the ``pysmartdatamodels`` package, offline).

Which model for what, and why:

==========================  =================================================================
bin                         ``WasteContainer`` (fill as 0–1, waste kind and EU List of Waste
                            code, capacity in litres, last emptying, safety status)
a bin's fill-level sensor   ``Device`` (fillingLevel; battery as 0–1), linked by ``refDevice``
beacon (a BLE scanner)      ``Device`` (occupancy counting, zone in ``areaServed``) and
                            ``CrowdFlowObserved`` for its last counted interval: the package's
                            only model of people counted passing a point (there is no
                            ``PeopleFlowObserved``); ``peopleCount`` over
                            ``dateObservedFrom``–``dateObservedTo``
lighting cabinet            ``StreetlightControlCabinet`` (the cabinet and its energy meter)
                            controlling one ``StreetlightGroup`` (its light points, switching
                            and dimming schedule): the twin knows cabinets, not single lamps,
                            so ``Streetlight`` would invent lamps
public building             ``Building`` (category ``public``)
remarkable site, activity   ``PointOfInterest`` (category = the twin's site kind, the site's
zone, third place           own area as location, occupancy when counted):
                            ``TouristDestination`` describes a whole destination (a region or
                            town) and defines almost nothing else
service (crèche, …)         ``PointOfInterest`` with ``capacity`` (and places granted as
                            ``occupancy`` for childcare): ``PublicService`` (CPSV-AP) requires a
                            competent authority entity and has no capacity
citizen                     never exported, nor anything a citizen wrote
==========================  =================================================================

Not responsible for choosing the assets or the instant (:mod:`twin.export.files`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from domain import Beacon, Bin, Service, ServiceKind, Site, SiteKind
from twin.errors import TwinError
from twin.export.open_data import geometry_wgs84, iso_z

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from twin.asof import AssetAsOf
    from twin.geography import Geography

_SDM = "https://raw.githubusercontent.com/smart-data-models/{}/master/context.jsonld"
# Each model's context, as its Smart Data Models subject publishes it (checked against the
# package's model-assets/datamodels_metadata.json by the tests).
CONTEXTS = {
    "WasteContainer": _SDM.format("dataModel.WasteManagement"),
    "Device": _SDM.format("dataModel.Device"),
    "CrowdFlowObserved": _SDM.format("dataModel.Transportation"),
    "StreetlightControlCabinet": _SDM.format("dataModel.Streetlighting"),
    "StreetlightGroup": _SDM.format("dataModel.Streetlighting"),
    "Building": _SDM.format("dataModel.Building"),
    "PointOfInterest": _SDM.format("dataModel.PointOfInterest"),
}

# WasteContainer.storedWasteKind takes one of the model's kinds; the EU List of Waste code
# (storedWasteCode, "for Europe" says the model) names the stream exactly.
WASTE_KIND = {
    "residual": "other",
    "packaging": "plastic",
    "glass": "glass",
    "paper": "paper",
    "biowaste": "organic",
}
WASTE_CODE = {
    "residual": "20 03 01",
    "packaging": "15 01 06",
    "glass": "15 01 07",
    "paper": "20 01 01",
    "biowaste": "20 01 08",
}
# UN/CEFACT common codes, as NGSI-LD's unitCode expects.
LITRE, KILOWATT_HOUR = "LTR", "KWH"
COUNTRY, REGION = "FR", "Occitanie"


def urn(entity_type: str, code: str) -> str:
    """``urn:ngsi-ld:<Type>:<code>``, the code percent-encoded where a URN would not take it."""
    return f"urn:ngsi-ld:{entity_type}:{quote(code, safe='-._~')}"


def prop(
    value: Any, observed_at: datetime | None = None, unit: str | None = None
) -> dict[str, Any]:
    """An NGSI-LD Property."""
    attribute: dict[str, Any] = {"type": "Property", "value": value}
    if observed_at is not None:
        attribute["observedAt"] = iso_z(observed_at)
    if unit is not None:
        attribute["unitCode"] = unit
    return attribute


def date_prop(instant: datetime) -> dict[str, Any]:
    """A Property whose value is an instant, typed so brokers index it as one."""
    return {"type": "Property", "value": {"@type": "DateTime", "@value": iso_z(instant)}}


def rel(target: str | list[str]) -> dict[str, Any]:
    """An NGSI-LD Relationship to one entity (or, for the models' list relationships, several)."""
    return {"type": "Relationship", "object": target}


class DuplicateEntityError(TwinError):
    """Two assets would become one NGSI-LD entity (e.g. a site and a service sharing a code)."""


def entities(assets: Sequence[AssetAsOf], geography: Geography) -> list[dict[str, Any]]:
    """The NGSI-LD entities of these assets (the caller leaves out retired ones)."""
    found: dict[str, dict[str, Any]] = {}
    for asset in assets:
        for entity in _entities_of(asset, geography):
            earlier = found.get(entity["id"])
            if earlier is None:
                found[entity["id"]] = entity
            elif entity["type"] == "Device" and "controlledAsset" in earlier:
                # One sensor recorded on two bins (moved without being detached): one device
                # controlling both, as the model's list allows, rather than two clashing entities.
                earlier["controlledAsset"]["value"].extend(entity["controlledAsset"]["value"])
            else:
                raise DuplicateEntityError(
                    f"two assets would both be exported as {entity['id']}; rename one of them"
                )
    return list(found.values())


def _entities_of(asset: AssetAsOf, geography: Geography) -> list[dict[str, Any]]:
    aggregate = asset.aggregate
    if isinstance(aggregate, Bin):
        return _bin(asset, geography)
    if isinstance(aggregate, Beacon):
        return _beacon(asset, geography)
    if isinstance(aggregate, Site):
        return _site(asset, geography)
    if isinstance(aggregate, Service):
        return [_service(asset, geography)]
    return []  # citizens and anything unknown: never exported


def _entity(entity_type: str, code: str, attributes: dict[str, Any]) -> dict[str, Any]:
    kept = {name: value for name, value in attributes.items() if value is not None}
    return {
        "id": urn(entity_type, code),
        "type": entity_type,
        **kept,
        "@context": CONTEXTS[entity_type],
    }


def _place(asset: AssetAsOf, geography: Geography) -> dict[str, Any]:
    """location and address, which every exported model defines."""
    address: dict[str, str] = {"addressCountry": COUNTRY, "addressRegion": REGION}
    insee = asset.aggregate.commune_insee
    if any(commune.insee == insee for commune in geography.communes):
        address["addressLocality"] = geography.commune(insee).name
    return {
        "location": {"type": "GeoProperty", "value": geometry_wgs84(asset)},
        "address": prop(address),
    }


def _bin(asset: AssetAsOf, geography: Geography) -> list[dict[str, Any]]:
    bin_ = asset.aggregate
    assert isinstance(bin_, Bin)
    times = asset.times
    device = bin_.sensor_device_id
    reading_at, fault_at = times.get("reading_at"), times.get("fault_at")
    # The model's status is about safety (ok, lidOpen, dropped…). A level sensor under the lid
    # that reads normally says the lid is shut and the container upright: "ok". With no sensor,
    # or when its latest word is a fault (a tilt may be an open lid or a container on its side,
    # the twin cannot tell which), "unknown".
    healthy = (
        device is not None
        and reading_at is not None
        and (fault_at is None or fault_at < reading_at)
    )
    container = _entity(
        "WasteContainer",
        bin_.code,
        {
            "name": prop(bin_.code),
            **_place(asset, geography),
            "storedWasteKind": prop(WASTE_KIND[bin_.stream]),
            "storedWasteCode": prop(WASTE_CODE[bin_.stream]),
            "storedWasteOrigin": prop("household"),
            "binCapacity": prop(bin_.capacity_l, unit=LITRE),
            "dateServiceStarted": date_prop(bin_.created_on),
            "fillingLevel": None
            if bin_.fill_percent is None
            else prop(round(bin_.fill_percent / 100, 4), observed_at=bin_.fill_measured_at),
            "dateLastEmptying": None
            if bin_.last_emptied_at is None
            else date_prop(bin_.last_emptied_at),
            "status": prop("ok" if healthy else "unknown"),
            "refDevice": None if device is None else rel([urn("Device", device)]),
        },
    )
    if device is None:
        return [container]
    battery = bin_.sensor_battery_percent
    sensor = _entity(
        "Device",
        device,
        {
            "serialNumber": prop(device),
            "deviceCategory": prop(["sensor"]),
            "controlledProperty": prop(["fillingLevel"]),
            "controlledAsset": prop([container["id"]]),
            **_place(asset, geography),
            "batteryLevel": None
            if battery is None
            else prop(round(battery / 100, 4), observed_at=times.get("battery_at")),
            "dateLastValueReported": None if reading_at is None else date_prop(reading_at),
        },
    )
    return [container, sensor]


def _beacon(asset: AssetAsOf, geography: Geography) -> list[dict[str, Any]]:
    beacon = asset.aggregate
    assert isinstance(beacon, Beacon)
    battery = beacon.battery_percent
    scanner = _entity(
        "Device",
        beacon.code,
        {
            "name": prop(beacon.code),
            "description": prop(f"BLE scanner counting footfall in zone {beacon.zone_code}"),
            "deviceCategory": prop(["sensor"]),
            "controlledProperty": prop(["occupancy"]),
            "areaServed": prop(beacon.zone_code),
            **_place(asset, geography),
            "batteryLevel": None
            if battery is None
            else prop(round(battery / 100, 4), observed_at=asset.times.get("battery_at")),
            "dateInstalled": date_prop(beacon.created_on),
            "dateLastValueReported": None
            if beacon.counted_until is None
            else date_prop(beacon.counted_until),
        },
    )
    start, end = asset.times.get("interval_start"), beacon.counted_until
    if start is None or end is None or beacon.last_count is None:
        return [scanner]
    flow = _entity(
        "CrowdFlowObserved",
        beacon.code,
        {
            "name": prop(f"Footfall, zone {beacon.zone_code}"),
            "description": prop(f"People counted by scanner {beacon.code} over its last interval"),
            **_place(asset, geography),
            "dateObserved": prop(
                f"{iso_z(start)}/{iso_z(end)}"
            ),  # an ISO 8601 interval, as the model allows
            "dateObservedFrom": date_prop(start),
            "dateObservedTo": date_prop(end),
            "peopleCount": prop(beacon.last_count, observed_at=end),
        },
    )
    return [scanner, flow]


def _site(asset: AssetAsOf, geography: Geography) -> list[dict[str, Any]]:
    site = asset.aggregate
    assert isinstance(site, Site)
    occupancy = (
        None
        if site.occupancy is None
        else prop(site.occupancy, observed_at=asset.times.get("occupancy_at"))
    )
    if site.site_kind == SiteKind.LIGHTING_CABINET:
        return _lighting(asset, geography)
    if site.site_kind == SiteKind.PUBLIC_BUILDING:
        return [
            _entity(
                "Building",
                site.code,
                {
                    "name": prop(site.name),
                    "category": prop(["public"]),
                    **_place(asset, geography),
                    "peopleOccupancy": occupancy,
                },
            )
        ]
    return [
        _entity(
            "PointOfInterest",
            site.code,
            {
                "name": prop(site.name),
                "category": prop([site.site_kind]),
                **_place(asset, geography),
                "occupancy": occupancy,
            },
        )
    ]


def _lighting(asset: AssetAsOf, geography: Geography) -> list[dict[str, Any]]:
    site = asset.aggregate
    assert isinstance(site, Site)
    times = asset.times
    metered = site.meter_index_kwh is not None
    read_at = times.get("meter_read_at")
    cabinet = _entity(
        "StreetlightControlCabinet",
        site.code,
        {
            "name": prop(site.name),
            **_place(asset, geography),
            "refStreetlightGroup": rel([urn("StreetlightGroup", site.code)]),
            "workingMode": prop("automatic"),  # astronomical clocks switch the valley's lights
            "dateServiceStarted": date_prop(site.created_on),
            "dateMeteringStarted": date_prop(times["metering_started"]) if metered else None,
            "energyConsumed": prop(
                round(site.consumption_kwh, 3), observed_at=read_at, unit=KILOWATT_HOUR
            )
            if metered
            else None,
            "lastMeterReading": prop(site.meter_index_kwh, observed_at=read_at, unit=KILOWATT_HOUR)
            if metered
            else None,
        },
    )
    schedule = site.lighting_schedule or {}
    dimmed = schedule.get("dim_from") is not None and schedule.get("dim_percent", 100.0) < 100.0
    modes = (
        ["night-ON"]
        + (["night-LOW"] if dimmed else [])
        + (["night-OFF"] if schedule.get("off_from") else [])
    )
    group = _entity(
        "StreetlightGroup",
        site.code,
        {
            "name": prop(site.name),
            "description": prop(f"{site.light_points} light points of {site.point_power_w:g} W"),
            **_place(asset, geography),
            "refStreetlightControlCabinet": rel(cabinet["id"]),
            "switchingMode": prop(modes),
            # The level the group is dimmed to inside its dimming window.
            "illuminanceLevel": prop(
                round(schedule["dim_percent"] / 100, 4), observed_at=times.get("schedule_at")
            )
            if dimmed
            else None,
        },
    )
    return [cabinet, group]


def _service(asset: AssetAsOf, geography: Geography) -> dict[str, Any]:
    service = asset.aggregate
    assert isinstance(service, Service)
    return _entity(
        "PointOfInterest",
        service.code,
        {
            "name": prop(service.name),
            "category": prop([service.service_kind]),
            **_place(asset, geography),
            "capacity": prop(service.capacity),
            # Places granted: children in the crèche. A count, never who.
            "occupancy": prop(len(service.granted))
            if service.service_kind == ServiceKind.CHILDCARE
            else None,
        },
    )
