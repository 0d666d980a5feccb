"""`twin export`: CSV and GeoJSON for open-data portals, as of an instant, without personal data."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

import pytest
import shapely
from shapely.geometry import shape

from tests.twin import valley_sample as sample
from tests.twin.valley_sample import day
from twin import load_geography, open_twin
from twin.analysis import asset_history, time_series, valley_state
from valley_twin.cli import main

if TYPE_CHECKING:
    from pathlib import Path

STANDING_NOW = {
    sample.GLASS,
    sample.RESIDUAL,
    sample.PACKAGING,
    sample.SCANNER,
    sample.CABINET,
    sample.DARK_CABINET,
    sample.HALL,
    sample.ABBEY,
    sample.CRECHE,
    sample.TRAINING,
}


@pytest.fixture(scope="module")
def sample_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'valley.sqlite'}"
    sample.build_sample(url)
    return url


def run(url: str, *arguments: str) -> int:
    return main(["--store", url, "export", *arguments])


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_csv_has_one_row_per_standing_asset_in_wgs84(
    sample_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "valley.csv"
    assert run(sample_url, "--format", "csv", "--out", str(out)) == 0
    assert f"10 csv records to {out}" in capsys.readouterr().out
    rows = read_csv(out)
    assert {row["code"] for row in rows} == STANDING_NOW  # the removed paper column is gone
    geography = load_geography()
    for row in rows:
        lon, lat = geography.to_wgs84(float(row["x_l93"]), float(row["y_l93"]))
        assert (float(row["lon"]), float(row["lat"])) == (round(lon, 6), round(lat, 6))
        assert 3.3 < float(row["lon"]) < 3.8 and 43.5 < float(row["lat"]) < 43.9
        installed = (
            "2024-01-11T00:00:00Z" if row["code"] == sample.PACKAGING else "2024-01-01T00:00:00Z"
        )
        assert row["installed_at"] == installed
    glass = next(row for row in rows if row["code"] == sample.GLASS)
    assert (glass["fill_percent"], glass["fill_measured_at"], glass["commune"]) == (
        "35.0",
        "2024-01-07T00:00:00Z",
        "Gignac",
    )
    assert "version" not in rows[0] and "retired" not in rows[0]


def test_csv_as_of_an_instant_and_of_some_kinds(sample_url: str, tmp_path: Path) -> None:
    out = tmp_path / "day2.csv"
    assert (
        run(
            sample_url,
            "--format",
            "csv",
            "--at",
            "2024-01-03T00:00:00+00:00",
            "--kind",
            "bin",
            "--kind",
            "service",
            "--out",
            str(out),
        )
        == 0
    )
    rows = {row["code"]: row for row in read_csv(out)}
    assert set(rows) == {
        sample.GLASS,
        sample.RESIDUAL,
        sample.PAPER,
        sample.CRECHE,
        sample.TRAINING,
    }
    assert rows[sample.GLASS]["fill_percent"] == "45.0"  # the day 2 reading
    assert (
        rows[sample.CRECHE]["places_granted"] == "1" and rows[sample.CRECHE]["waiting_list"] == "1"
    )
    assert "zone_code" not in rows[sample.GLASS]  # only the exported kinds' columns


def test_geojson_is_rfc_7946(sample_url: str, tmp_path: Path) -> None:
    out = tmp_path / "valley.geojson"
    assert (
        run(sample_url, "--format", "geojson", "--at", "2024-02-01T00:00:00Z", "--out", str(out))
        == 0
    )
    collection = json.loads(out.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection" and "crs" not in collection
    assert collection["as_of"] == "2024-02-01T00:00:00Z"
    features = {feature["id"]: feature for feature in collection["features"]}
    assert set(features) == STANDING_NOW
    geography = load_geography()
    for feature in features.values():
        assert feature["type"] == "Feature" and "lon" not in feature["properties"]
        geometry = shape(feature["geometry"])
        lon, lat = geometry.representative_point().coords[0]
        assert 3.3 < lon < 3.8 and 43.5 < lat < 43.9  # lon first
        commune = geography.commune(feature["properties"]["commune_insee"])
        assert geography.boundary_wgs84(commune).buffer(0.001).contains(geometry)
    abbey = features[sample.ABBEY]["geometry"]
    assert abbey["type"] == "Polygon"
    ring = abbey["coordinates"][0]
    assert ring[0] == ring[-1] and shapely.LinearRing(ring).is_ccw  # exterior counter-clockwise
    assert features[sample.GLASS]["geometry"]["type"] == "Point"
    assert features[sample.GLASS]["properties"]["stream"] == "glass"


def test_export_to_standard_output(sample_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(sample_url, "--format", "ngsi-ld", "--kind", "beacon", "--out", "-") == 0
    captured = capsys.readouterr()
    entities = json.loads(captured.out)
    assert {entity["type"] for entity in entities} == {"Device", "CrowdFlowObserved"}
    assert "2 ngsi-ld records (1 Device, 1 CrowdFlowObserved) to -" in captured.err


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--format", "csv", "--at", "yesterday", "--out", "x.csv"], 1, "instant"),
        (["--format", "csv", "--at", "2024-01-02T00:00:00", "--out", "x.csv"], 1, "UTC offset"),
        (["--format", "csv", "--out", "/no/such/folder/x.csv"], 1, "existing folder"),
        (["--format", "csv", "--kind", "citizen", "--out", "x.csv"], 2, "invalid choice"),
        (["--format", "xml", "--out", "x.csv"], 2, "invalid choice"),
    ],
)
def test_mistakes_are_one_line_and_an_exit_code(
    sample_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    code: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    if code == 2:
        with pytest.raises(SystemExit) as exit_:
            run(sample_url, *arguments)
        assert exit_.value.code == 2
    else:
        assert run(sample_url, *arguments) == code
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not list(tmp_path.iterdir())  # nothing half-written


# ---- personal data ----------------------------------------------------------------------------
def test_the_log_does_hold_personal_data(sample_url: str) -> None:
    twin = open_twin(sample_url)
    try:
        recorded = " ".join(str(vars(event)) for event in twin.domain_events())
    finally:
        twin.close()
    assert all(secret in recorded for secret in sample.SECRETS)  # so the next test means something


@pytest.mark.parametrize("fmt", ["csv", "geojson", "ngsi-ld"])
@pytest.mark.parametrize("at", [None, "2024-01-05T00:00:00Z"])
def test_no_export_contains_personal_data(
    sample_url: str, tmp_path: Path, fmt: str, at: str | None
) -> None:
    out = tmp_path / f"valley.{fmt}"
    assert run(sample_url, "--format", fmt, *(["--at", at] if at else []), "--out", str(out)) == 0
    text = out.read_text(encoding="utf-8")
    assert text.strip()
    leaked = [
        secret for secret in sample.SECRETS if secret in text or _json_escaped(secret) in text
    ]
    assert leaked == []
    assert "citizen" not in text.lower()


def test_no_analysts_frame_contains_personal_data(sample_url: str) -> None:
    twin = open_twin(sample_url)
    try:
        frames: list[Any] = [valley_state(twin), valley_state(twin, at=day(4))]
        frames += [asset_history(twin, code) for code in STANDING_NOW | {sample.PAPER}]
        frames += [
            time_series(twin, "bin", None, None, field="overflows"),
            time_series(twin, "service", None, None, field="waiting_list"),
        ]
    finally:
        twin.close()
    text = "\n".join(frame.to_csv() for frame in frames)
    assert [secret for secret in sample.SECRETS if secret in text] == []


def _json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]
