"""The data catalogue (issue 15): the valley's exports in DCAT-AP, with the data health's figures,
their download links served by the web view, and ``twin catalogue``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld  # type: ignore[import-untyped]
from starlette.testclient import TestClient

from tests.twin.health_valley import NOW, record_valley
from twin import ASSET_KINDS, DataHealth, ValleyTwin, aggregate_event, data_catalogue, open_twin
from twin.asof import kind_topics
from twin.data_catalogue import LICENCE_OUVERTE_2
from twin.errors import InvalidInputError
from twin.health import data_health
from twin.storage import drop_memory_store
from twin.web import WebSettings, create_app
from valley_twin.cli import main

pytestmark = pytest.mark.slow  # recording the valley and its read models takes about a second

BASE = "http://testserver"  # Starlette's TestClient's own address
DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
DQV = "http://www.w3.org/ns/dqv#"


@pytest.fixture(scope="module")
def store() -> Iterator[str]:
    name = f"catalogue-{uuid.uuid4().hex}"
    application = open_twin(f"memory://{name}")
    record_valley(application)
    application.close()
    yield f"memory://{name}"
    drop_memory_store(name)


@pytest.fixture
def twin(store: str) -> Iterator[ValleyTwin]:
    application = open_twin(store, create=False)
    yield application
    application.close()


@pytest.fixture
def health(twin: ValleyTwin) -> DataHealth:
    return data_health(twin, NOW)


@pytest.fixture
def catalogue(twin: ValleyTwin, health: DataHealth) -> dict[str, Any]:
    return data_catalogue(twin, health, BASE)


def by_kind(catalogue: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["dct:identifier"].rsplit("-", 1)[-1]: d for d in catalogue["dcat:dataset"]}


def test_catalogue_datasets_and_distributions_carry_the_dcat_ap_properties(
    catalogue: dict[str, Any],
) -> None:
    assert set(catalogue["@context"]) >= {"dcat", "dct", "dqv", "foaf", "xsd", "vcard"}
    assert catalogue["@type"] == "dcat:Catalog"
    for key in ("dct:title", "dct:description", "dct:publisher", "dct:language", "dct:license"):
        assert catalogue[key], key
    assert catalogue["dct:publisher"]["@type"] == "foaf:Agent"
    datasets = by_kind(catalogue)
    assert sorted(datasets) == sorted(ASSET_KINDS)
    for kind, dataset in datasets.items():
        assert dataset["@type"] == "dcat:Dataset"
        for key in ("dct:identifier", "dct:title", "dct:description", "dct:spatial"):
            assert dataset[key], (kind, key)
        assert dataset["dct:accrualPeriodicity"]["@id"].startswith(
            "http://publications.europa.eu/resource/authority/frequency/"
        )
        formats = set()
        for distribution in dataset["dcat:distribution"]:
            assert distribution["@type"] == "dcat:Distribution"
            assert distribution["dcat:downloadURL"] == distribution["dcat:accessURL"]
            assert distribution["dcat:mediaType"]["@id"].startswith(
                "https://www.iana.org/assignments/media-types/"
            )
            formats.add(distribution["dct:format"]["@id"].rsplit("/", 1)[-1])
        assert formats == {"CSV", "GEOJSON", "JSON_LD"}
    assert catalogue["dct:spatial"]["dcat:bbox"]["@value"].startswith("POLYGON((3.42902 43.50363")


def test_licences_are_etalab_licence_ouverte_2(catalogue: dict[str, Any]) -> None:
    assert LICENCE_OUVERTE_2 == "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    assert catalogue["dct:license"] == {"@id": LICENCE_OUVERTE_2}
    for dataset in catalogue["dcat:dataset"]:
        assert dataset["dct:license"] == {"@id": LICENCE_OUVERTE_2}
        assert all(
            d["dct:license"] == {"@id": LICENCE_OUVERTE_2} for d in dataset["dcat:distribution"]
        )
    assert "IGN – ADMIN EXPRESS" in catalogue["dct:rights"]


def first_and_last_fact(twin: ValleyTwin, kind: str) -> tuple[datetime, datetime]:
    times = [aggregate_event(e).timestamp for e in twin.facts(topics=kind_topics((kind,)))]
    return min(times), max(times)


def test_the_period_of_each_kind_is_its_first_and_last_fact_in_the_store(
    twin: ValleyTwin, catalogue: dict[str, Any]
) -> None:
    datasets = by_kind(catalogue)
    for kind in ("bin", "beacon", "site"):
        first, last = first_and_last_fact(twin, kind)
        period = datasets[kind]["dct:temporal"]
        assert period["@type"] == "dct:PeriodOfTime"
        assert datetime.fromisoformat(period["dcat:startDate"]["@value"]) == first
        assert datetime.fromisoformat(period["dcat:endDate"]["@value"]) == last
    assert last.isoformat() == "2024-06-08T06:00:00+00:00"  # sites: the cabinet's last index
    assert "dct:temporal" not in datasets["service"]  # the valley has no service: no period


def measured(dataset: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (m["dct:title"], m["dqv:isMeasurementOf"]["skos:prefLabel"]): m["dqv:value"]["@value"]
        for m in dataset["dqv:hasQualityMeasurement"]
    }


def test_quality_figures_are_the_data_healths(
    catalogue: dict[str, Any], health: DataHealth
) -> None:
    datasets = by_kind(catalogue)
    fill = health.kind("fill_sensor").figures
    assert measured(datasets["bin"]) == {
        ("fill_sensor", "share-reporting"): fill.share_in_interval,
        ("fill_sensor", "freshness-median"): fill.freshness_median_s,
        ("fill_sensor", "freshness-worst"): fill.freshness_worst_s,
        ("fill_sensor", "gap-hours"): fill.gap_hours,
        ("fill_sensor", "gap-share"): fill.gap_share,
    }
    assert fill.share_in_interval == pytest.approx(2 / 3) and fill.gap_hours == 90
    sites = measured(datasets["site"])
    assert sites[("energy_meter", "gap-hours")] == health.kind("energy_meter").figures.gap_hours
    door = health.kind("door_counter").figures
    assert sites[("door_counter", "freshness-worst")] == door.freshness_worst_s == 48 * 3600
    assert ("door_counter", "gap-hours") not in sites  # no read model keeps its hours
    assert measured(datasets["service"]) == {}


def test_the_json_ld_expands_to_dcat_terms(catalogue: dict[str, Any]) -> None:
    (node,) = jsonld.expand(json.loads(json.dumps(catalogue)))
    assert node["@type"] == [f"{DCAT}Catalog"]
    datasets = node[f"{DCAT}dataset"]
    assert len(datasets) == len(ASSET_KINDS)
    bins = next(d for d in datasets if d["@id"].endswith(":bin"))
    assert bins[f"{DCT}temporal"][0][f"{DCAT}startDate"][0]["@type"] == (
        "http://www.w3.org/2001/XMLSchema#dateTime"
    )
    (measurement, *_) = bins[f"{DQV}hasQualityMeasurement"]
    assert measurement[f"{DQV}isMeasurementOf"][0]["@id"].endswith("share-reporting")
    urls = {d[f"{DCAT}downloadURL"][0]["@id"] for d in bins[f"{DCAT}distribution"]}
    assert urls == {f"{BASE}/download/bin/{fmt}" for fmt in ("csv", "geojson", "ngsi-ld")}


def test_without_a_base_url_there_is_no_link_and_a_bad_one_is_refused(
    twin: ValleyTwin, health: DataHealth
) -> None:
    plain = data_catalogue(twin, health, None)
    for dataset in plain["dcat:dataset"]:
        assert all("dcat:downloadURL" not in d for d in dataset["dcat:distribution"])
    with pytest.raises(InvalidInputError, match="base_url.*ftp://x"):
        data_catalogue(twin, health, "ftp://x")


def test_download_links_resolve_through_the_web_view_and_the_page_lists_them(
    twin: ValleyTwin, tmp_path: Path
) -> None:
    settings = WebSettings(reports_dir=tmp_path, clock=lambda: NOW)
    with TestClient(create_app(twin, settings)) as client:
        served = client.get("/api/catalogue")
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("application/ld+json")
        catalogue = served.json()
        for dataset in catalogue["dcat:dataset"]:
            for distribution in dataset["dcat:distribution"]:
                url = distribution["dcat:downloadURL"]["@id"]
                answer = client.get(url)
                assert answer.status_code == 200, url
                media = distribution["dcat:mediaType"]["@id"].rsplit("media-types/", 1)[-1]
                assert answer.headers["content-type"].split(";")[0] == media
        bins = client.get("/download/bin/csv").text.splitlines()
        assert len(bins) == 1 + 4  # header and the four containers
        assert client.get("/download/bin/geojson").json()["type"] == "FeatureCollection"
        assert client.get("/download/citizen/csv").status_code == 404
        assert client.get("/download/bin/xlsx").status_code == 404
        page = client.get("/catalogue")
    assert page.status_code == 200
    assert "Waste containers" in page.text
    assert 'href="http://testserver/download/bin/csv"' in page.text
    assert page.text.count('href="http://testserver/download/') == 3 * len(ASSET_KINDS)


def test_twin_catalogue_prints_the_datasets_or_their_json_ld(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = ["--at", NOW.isoformat()]
    assert main(["--store", store, "catalogue", *at]) == 0
    text = capsys.readouterr().out
    assert "Waste containers (ccvh-valley-twin-bin)" in text
    assert "period:    2024-01-01T00:00:00Z to 2024-06-08T07:00:00Z" in text
    assert "download:  CSV      http://127.0.0.1:8000/download/bin/csv" in text
    assert "fill_sensor share-reporting = 67%" in text
    assert "door_counter freshness-worst = 48.0 h" in text
    assert LICENCE_OUVERTE_2 in text

    base = ["--base-url", "https://twin.example.org/"]
    assert main(["--store", store, "catalogue", *at, "--json-ld", *base]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["@type"] == "dcat:Catalog"
    first = document["dcat:dataset"][0]["dcat:distribution"][0]
    assert first["dcat:downloadURL"]["@id"] == "https://twin.example.org/download/bin/csv"

    assert main(["--store", store, "catalogue", "--base-url", "nowhere"]) == 1
    assert "base_url" in capsys.readouterr().err
    assert main(["--store", store, "catalogue", "--at", "yesterday"]) == 1
