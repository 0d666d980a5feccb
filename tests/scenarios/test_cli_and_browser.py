"""`twin scenario` end to end, and the report opened in a real headless browser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO = """
title = "Glass <columns> & paper"
question = "What would a threshold policy change for glass in two villages?"
[run]
seed = 7
replications = 2
horizon_days = 28
start = "2024-05-06"
[inventory]
seed = 20240601
communes = ["34261", "34173"]
streams = ["glass"]
[policy]
kind = "fixed"
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenario")
    baseline = folder / "baseline.toml"
    baseline.write_text(SCENARIO, encoding="utf-8")
    (folder / "threshold.toml").write_text(
        'extends = "baseline.toml"\ntitle = "Threshold"\n[policy]\nkind = "threshold"\nthreshold = 0.7\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "valley_twin",
            "scenario",
            "compare",
            str(baseline),
            str(folder / "threshold.toml"),
            "--out",
            str(folder / "report"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # What --json prints is the report's kpis.json, one shape on stdout and on disk.
    document = json.loads(result.stdout)
    on_disk = json.loads((folder / "report" / "kpis.json").read_text(encoding="utf-8"))
    assert document == on_disk
    assert [s["name"] for s in document["scenarios"]] == ["baseline", "threshold"]
    rows = {(row["scenario"], row["kpi"]): row for row in document["kpis"]}
    assert rows[("baseline", "truck_km")]["n"] == 2 and "replications [" in result.stderr
    return folder / "report"


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_bad_scenario_names_file_key_and_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        SCENARIO.replace('kind = "fixed"', 'kind = "fixed"\nthreshhold = 0.7'), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "valley_twin", "scenario", "run", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (
        result.returncode == 1
        and "bad.toml" in result.stderr
        and "policy.threshhold" in result.stderr
    )
    assert "Traceback" not in result.stderr


FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--hide-scrollbars",
]
COMMUNE_FILL = (0xF3, 0xF1, 0xEA)  # the map's communes
FIRST_SCENARIO = (0x1F, 0x77, 0xB4)  # the first scenario's bars and lines
PLACE_DISC = (0xD9, 0x82, 0x2B)  # a site sized by its figure (drawn at 0.65 alpha on the map)


def _open(chromium: str, page: Path, profile: Path, shot: Path) -> tuple[str, str, object]:
    """The DOM chromium parsed, its log, and a screenshot of the whole page (tall window)."""
    flags = [*FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    subprocess.run(
        [chromium, *flags, "--window-size=1400,9000", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    import matplotlib.image

    return dom.stdout, dom.stderr, matplotlib.image.imread(shot)


def _pixels_near(pixels: object, rgb: tuple[int, int, int], tolerance: float = 0.03) -> int:
    import numpy as np

    image = np.asarray(pixels)[..., :3]
    target = np.array(rgb) / 255
    return int((np.abs(image - target) <= tolerance).all(axis=-1).sum())


def test_the_report_loads_in_a_headless_browser_without_console_errors(
    report: Path, chromium: str, tmp_path: Path
) -> None:
    dom, log, pixels = _open(
        chromium, report / "index.html", tmp_path / "profile", tmp_path / "report.png"
    )
    assert "Glass &lt;columns&gt; &amp; paper" in dom  # escaped, as the browser parsed it
    assert dom.count("<svg") >= 3 and "<table" in dom
    assert 'id="map-0"' in dom and 'id="kpi-charts"' in dom and 'id="daily-series"' in dom
    assert "CONSOLE" not in log and "Uncaught" not in log
    # The screenshot shows the maps (communes' fill) and the charts (the first scenario's colour).
    assert _pixels_near(pixels, COMMUNE_FILL) > 50_000
    assert _pixels_near(pixels, FIRST_SCENARIO) > 2_000


def test_a_festival_report_shows_the_site_sized_by_its_visitors(
    chromium: str, tmp_path: Path
) -> None:
    shipped = Path(__file__).resolve().parents[2] / "scenarios" / "files"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "valley_twin",
            "scenario",
            "compare",
            str(shipped / "saint-guilhem-july.toml"),
            str(shipped / "saint-guilhem-festival.toml"),
            "--out",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    dom, log, pixels = _open(
        chromium,
        tmp_path / "report" / "index.html",
        tmp_path / "profile",
        tmp_path / "festival.png",
    )
    assert 'id="map-0-places"' in dom and 'id="map-1-places"' in dom
    assert "Saint-Guilhem with a summer festival over 31 days: visitors +" in dom
    assert "CONSOLE" not in log and "Uncaught" not in log
    assert (
        _pixels_near(pixels, COMMUNE_FILL) > 50_000 and _pixels_near(pixels, FIRST_SCENARIO) > 2_000
    )
    assert (
        _pixels_near(pixels, PLACE_DISC, tolerance=0.12) > 200
    )  # the site's disc, blended on the map
