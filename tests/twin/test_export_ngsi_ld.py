"""NGSI-LD exports follow the FIWARE Smart Data Models, as pysmartdatamodels defines them.

Checked offline: the models come from the installed package's model-assets, the network is
cut while they are read and used, and every exported entity is validated — its type is a
model of the package, its @context that model's, every attribute one the model defines, with
the NGSI type, JSON type, format and allowed values the model gives.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

import pytest

from domain import Bin, Service, Site
from tests.twin import valley_sample as sample
from tests.twin.smart_data_models import SmartDataModels, check_entity
from tests.twin.valley_sample import day
from twin import load_geography, open_twin, plan_inventory
from twin.asof import AssetAsOf
from twin.export import export_valley
from twin.export.ngsi_ld import CONTEXTS, DuplicateEntityError, entities

# The Smart Data Models' schemas and a seeded valley are built once for the module (about 3 s).
pytestmark = pytest.mark.slow

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

MODELS = set(CONTEXTS)


def _refuse(*_: object, **__: object) -> None:
    raise AssertionError("the Smart Data Models tests must not touch the network")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket can connect nor resolve a name while the test runs."""
    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, _refuse)
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)


@pytest.fixture(scope="session")
def models() -> SmartDataModels:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "create_connection", _refuse)
        patch.setattr(socket, "getaddrinfo", _refuse)
        patch.setattr(socket.socket, "connect", _refuse)
        return SmartDataModels(MODELS)


@pytest.fixture(scope="module")
def sample_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('ngsi') / 'valley.sqlite'}"
    sample.build_sample(url)
    return url


def exported(
    url: str, path: Path, at: datetime | None = None, kinds: list[str] | None = None
) -> list[dict[str, Any]]:
    twin = open_twin(url)
    try:
        export_valley(twin, "ngsi-ld", path, at=at, kinds=kinds)
    finally:
        twin.close()
    entities = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(entities, list)
    return entities


# The models' descriptions give these as fractions: "0.0 … 1.0" (Device.batteryLevel,
# StreetlightGroup.illuminanceLevel) and parts per one (WasteContainer.fillingLevel).
FRACTIONS = ("fillingLevel", "batteryLevel", "illuminanceLevel")


def out_of_unit_range(entities: list[dict[str, Any]]) -> list[str]:
    return [
        f"{entity['id']} {name}"
        for entity in entities
        for name in FRACTIONS
        if name in entity and not 0.0 <= entity[name]["value"] <= 1.0
    ]


def by_id(entities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entity["id"]: entity for entity in entities}


def test_each_context_is_the_one_the_package_publishes_for_the_model(
    models: SmartDataModels, offline: None
) -> None:
    for name, context in CONTEXTS.items():
        model = models.model(name, context)
        assert model.schema["properties"], name


@pytest.mark.parametrize(
    "instant", [None, day(2), day(3, hours=12), day(5)], ids=["now", "day2", "day3.5", "day5"]
)
def test_every_entity_of_the_sample_uses_only_what_its_model_defines(
    models: SmartDataModels,
    offline: None,
    sample_url: str,
    tmp_path: Path,
    instant: datetime | None,
) -> None:
    entities = exported(sample_url, tmp_path / "valley.jsonld", at=instant)
    assert entities
    problems = [problem for entity in entities for problem in check_entity(entity, models)]
    assert problems == []
    assert out_of_unit_range(entities) == []
    assert len(by_id(entities)) == len(entities)
    if instant is None:
        assert {entity["type"] for entity in entities} == MODELS  # every mapping is exercised


def test_the_whole_seeded_valley_conforms(
    models: SmartDataModels, offline: None, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'seeded.sqlite'}"
    twin = open_twin(url)
    try:
        planned = plan_inventory(load_geography(), 42)
        twin.add_missing(planned)
    finally:
        twin.close()
    entities = exported(url, tmp_path / "valley.jsonld")
    problems = [problem for entity in entities for problem in check_entity(entity, models)]
    assert problems[:20] == []
    assert out_of_unit_range(entities) == []
    bins = sum(1 for asset in planned if asset.KIND == "bin")
    assert sum(1 for entity in entities if entity["type"] == "WasteContainer") == bins


def test_the_validator_catches_what_a_model_does_not_allow(
    models: SmartDataModels, offline: None, sample_url: str, tmp_path: Path
) -> None:
    container = by_id(exported(sample_url, tmp_path / "bins.jsonld", kinds=["bin"]))[
        f"urn:ngsi-ld:WasteContainer:{sample.GLASS}"
    ]
    assert check_entity(container, models) == []
    broken = {
        "an attribute the model lacks": {"colour": {"type": "Property", "value": "green"}},
        "a number as text": {"fillingLevel": {"type": "Property", "value": "high"}},
        "a value outside the enum": {"status": {"type": "Property", "value": "full"}},
        "an item outside the enum": {"category": {"type": "Property", "value": ["bucket"]}},
        "a date that is not one": {
            "dateLastEmptying": {
                "type": "Property",
                "value": {"@type": "DateTime", "@value": "yesterday"},
            }
        },
        "a relationship as a property": {
            "refDevice": {"type": "Property", "value": ["urn:ngsi-ld:Device:X"]}
        },
        "a bad observedAt": {
            "fillingLevel": {"type": "Property", "value": 0.5, "observedAt": "noon"}
        },
        "a context as a list": {"@context": [CONTEXTS["WasteContainer"]]},
    }
    for change, attributes in broken.items():
        assert check_entity({**container, **attributes}, models), change
    assert check_entity({**container, "type": "Poubelle"}, models)
    with pytest.raises(AssertionError, match="the package knows"):
        check_entity({**container, "@context": CONTEXTS["Device"]}, models)
    missing_location = {k: v for k, v in container.items() if k != "location"}
    assert any("location" in problem for problem in check_entity(missing_location, models))


def test_values_carry_the_twins_state_as_of_the_instant(sample_url: str, tmp_path: Path) -> None:
    now = by_id(exported(sample_url, tmp_path / "now.jsonld"))
    glass = now[f"urn:ngsi-ld:WasteContainer:{sample.GLASS}"]
    assert glass["fillingLevel"] == {
        "type": "Property",
        "value": 0.35,
        "observedAt": "2024-01-07T00:00:00Z",
    }
    assert glass["storedWasteKind"]["value"] == "glass"
    assert glass["storedWasteCode"]["value"] == "15 01 07"
    assert glass["binCapacity"] == {"type": "Property", "value": 3000, "unitCode": "LTR"}
    assert glass["dateLastEmptying"]["value"] == {
        "@type": "DateTime",
        "@value": "2024-01-04T12:00:00Z",
    }
    assert glass["status"]["value"] == "unknown"  # a tilt was the sensor's latest word
    sensor = now[glass["refDevice"]["object"][0]]
    assert sensor["controlledAsset"]["value"] == [glass["id"]]
    assert sensor["batteryLevel"]["value"] == pytest.approx(0.91)
    assert now[f"urn:ngsi-ld:WasteContainer:{sample.RESIDUAL}"]["status"]["value"] == "unknown"
    assert f"urn:ngsi-ld:WasteContainer:{sample.PAPER}" not in now  # removed on day 5

    flow = now[f"urn:ngsi-ld:CrowdFlowObserved:{sample.SCANNER}"]
    assert flow["peopleCount"] == {
        "type": "Property",
        "value": sample.FOOTFALL[2][-1],
        "observedAt": "2024-01-04T00:00:00Z",
    }
    assert flow["dateObserved"]["value"] == "2024-01-03T23:00:00Z/2024-01-04T00:00:00Z"
    assert now[f"urn:ngsi-ld:Device:{sample.SCANNER}"]["areaServed"]["value"] == sample.ZONE

    cabinet = now[f"urn:ngsi-ld:StreetlightControlCabinet:{sample.CABINET}"]
    used = (
        (1125.0 - 1000.0)
        + (sample.REPLACED[1] - 1125.0)
        + (sample.AFTER_REPLACEMENT[1] - sample.REPLACED[2])
    )
    assert cabinet["energyConsumed"]["value"] == pytest.approx(used)
    assert cabinet["lastMeterReading"]["value"] == sample.AFTER_REPLACEMENT[1]
    group = now[cabinet["refStreetlightGroup"]["object"][0]]
    assert group["refStreetlightControlCabinet"]["object"] == cabinet["id"]
    assert group["switchingMode"]["value"] == ["night-ON", "night-LOW", "night-OFF"]
    assert group["illuminanceLevel"]["value"] == 0.5
    dark = now[f"urn:ngsi-ld:StreetlightControlCabinet:{sample.DARK_CABINET}"]
    assert "energyConsumed" not in dark and "dateMeteringStarted" not in dark

    assert now[f"urn:ngsi-ld:Building:{sample.HALL}"]["peopleOccupancy"]["value"] == 23
    abbey = now[f"urn:ngsi-ld:PointOfInterest:{sample.ABBEY}"]
    assert abbey["location"]["value"]["type"] == "Polygon"
    assert abbey["address"]["value"]["addressLocality"] == "Saint-Guilhem-le-Désert"
    creche = now[f"urn:ngsi-ld:PointOfInterest:{sample.CRECHE}"]
    assert (creche["capacity"]["value"], creche["occupancy"]["value"]) == (36, 1)
    assert "occupancy" not in now[f"urn:ngsi-ld:PointOfInterest:{sample.TRAINING}"]

    then = by_id(exported(sample_url, tmp_path / "day4.jsonld", at=day(4, hours=12)))
    assert then[f"urn:ngsi-ld:WasteContainer:{sample.GLASS}"]["status"]["value"] == "ok"
    assert then[f"urn:ngsi-ld:WasteContainer:{sample.GLASS}"]["fillingLevel"]["value"] == 0.1
    assert f"urn:ngsi-ld:WasteContainer:{sample.PACKAGING}" not in then  # installed on day 10
    assert f"urn:ngsi-ld:WasteContainer:{sample.PAPER}" in then  # removed on day 5: standing then


def test_a_sensor_on_two_bins_is_one_device_and_a_shared_code_is_refused() -> None:
    geography = load_geography()
    here = sample.position_in(sample.GIGNAC)
    first, second = (
        Bin.install(
            code=code,
            stream="glass",
            capacity_l=3000,
            position=here,
            commune_insee=sample.GIGNAC,
            at=day(0),
        )
        for code in ("B-34114-GLA-0101", "B-34114-GLA-0102")
    )
    for bin_ in (first, second):  # moved without being detached: both claim the sensor
        bin_.measure_fill_level(50.0, day(1), device_id=sample.SENSOR)
    found = entities([AssetAsOf(first), AssetAsOf(second)], geography)
    (device,) = [entity for entity in found if entity["type"] == "Device"]
    assert device["controlledAsset"]["value"] == [
        "urn:ngsi-ld:WasteContainer:B-34114-GLA-0101",
        "urn:ngsi-ld:WasteContainer:B-34114-GLA-0102",
    ]
    site = Site.register(
        code="SHARED",
        name="Tiers-lieu",
        site_kind="third_place",
        geometry_wkt=f"POINT ({here.x} {here.y})",
        commune_insee=sample.GIGNAC,
        at=day(0),
    )
    service = Service.open(
        code="SHARED",
        name="Ateliers",
        service_kind="digital_training",
        capacity=10,
        position=here,
        commune_insee=sample.GIGNAC,
        at=day(0),
    )
    with pytest.raises(DuplicateEntityError, match="urn:ngsi-ld:PointOfInterest:SHARED"):
        entities([AssetAsOf(site), AssetAsOf(service)], geography)
