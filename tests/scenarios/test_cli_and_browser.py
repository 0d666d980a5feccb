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
horizon_days = 7
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
        [sys.executable, "-m", "twin.cli", "scenario", "compare", str(baseline), str(folder / "threshold.toml"),
         "--out", str(folder / "report"), "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    kpis = json.loads(result.stdout)
    assert [row["scenario"] for row in kpis] == ["baseline", "threshold"]
    assert kpis[0]["kpis"]["truck_km"]["n"] == 2 and "replications [" in result.stderr
    return folder / "report"


def test_a_bad_scenario_names_file_key_and_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace('kind = "fixed"', 'kind = "fixed"\nthreshhold = 0.7'), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "twin.cli", "scenario", "run", str(bad)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1 and "bad.toml" in result.stderr and "policy.threshhold" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_report_loads_in_a_headless_browser_without_console_errors(report: Path, chromium: str,
                                                                       tmp_path: Path) -> None:
    page = (report / "index.html").as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120,
                         check=True)
    assert "Glass &lt;columns&gt; &amp; paper" in dom.stdout  # escaped, as the browser parsed it
    assert dom.stdout.count("<svg") >= 3 and "<table" in dom.stdout
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *flags, "--window-size=1400,2400", f"--screenshot={shot}", page],
                   capture_output=True, text=True, timeout=120, check=True)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1400) and pixels.std() > 0.05  # drawn, not a blank page
