"""Alerts now and their history, on a valley with known devices (see health_valley)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from domain import Bin
from tests.twin.health_valley import NOW, day, record_valley
from twin import ValleyTwin, open_twin
from twin.alerts import alert_history, current_alerts
from twin.config import AlertThresholds, load_alert_thresholds
from twin.errors import InvalidInputError
from twin.projections import catch_up
from valley_twin.cli import main


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    record_valley(application)
    yield application
    application.close()


def _held(alerts: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(a.kind, a.asset_code) for a in alerts}


@pytest.mark.slow
def test_current_alerts_name_what_needs_attention_and_since_when(twin: ValleyTwin) -> None:
    alerts = current_alerts(twin, NOW)
    report = next(a for a in alerts if a.kind == "report")
    assert _held(alerts) == {
        ("overflow", "B-FAULT"),
        ("fill", "B-FAULT"),
        ("fault", "B-FAULT"),
        ("battery", "B-FAULT"),
        ("battery", "B-SILENT"),
        ("silent", "B-SILENT"),
        ("silent", "EP-2"),
        ("quarantine", "B-OK"),
        ("report", report.asset_code),
    }
    since = {(a.kind, a.asset_code): a.since for a in alerts}
    assert since[("overflow", "B-FAULT")] == day(8, 6)
    assert since[("fill", "B-FAULT")] == day(7, 18)
    assert since[("fault", "B-FAULT")] == day(8, 7)
    assert since[("silent", "B-SILENT")] == day(5, 6)  # two 12-hour intervals after 4 June 06:00
    assert since[("quarantine", "B-OK")] == day(8, 8)
    assert report.since == day(8, 10)  # filed 6 June 10:00, 48 h without acknowledgement
    assert "CIT-1" not in report.message and "overflowing_bin" in report.message
    assert alerts[0].severity == "critical" and alerts[-1].severity == "info"
    assert all(a.cleared is None for a in alerts)
    # Higher thresholds: later and fewer alerts (85 % at 18:00 is under 90 %, 100 % is over).
    relaxed = current_alerts(twin, NOW, AlertThresholds(fill_percent=90.0, battery_percent=5.0))
    assert next(a.since for a in relaxed if a.kind == "fill") == day(8, 6)
    assert ("battery", "B-FAULT") not in _held(relaxed)


@pytest.mark.slow
def test_alerts_raised_and_cleared_are_kept_as_history(twin: ValleyTwin) -> None:
    bin_ = twin.get(Bin, "B-FAULT")
    bin_.empty("round-1", 300.0, day(8, 9))
    bin_.measure_fill_level(5.0, day(8, 10), device_id="DEV-FAULT")
    twin.save(bin_)
    catch_up(twin)
    assert not {"overflow", "fill", "fault"} & {
        a.kind for a in current_alerts(twin, NOW) if a.asset_code == "B-FAULT"
    }
    history = {
        (a.kind, a.asset_code): (a.since, a.cleared)
        for a in alert_history(twin, day(7), NOW)
        if a.kind != "report"
    }
    assert history[("overflow", "B-FAULT")] == (day(8, 6), day(8, 9))
    assert history[("fill", "B-FAULT")] == (day(7, 18), day(8, 9))  # the emptying's hour
    assert history[("fault", "B-FAULT")] == (day(8, 7), day(8, 10))
    assert history[("silent", "B-SILENT")] == (day(5, 6), None)
    # Outside the period asked for: nothing of it.
    assert ("overflow", "B-FAULT") not in _held(alert_history(twin, day(1), day(3)))
    assert json.loads(json.dumps(alert_history(twin, day(7), NOW)[0].as_dict()))


def test_thresholds_from_the_alerts_section(tmp_path: Path) -> None:
    settings = tmp_path / "twin.toml"
    settings.write_text("[alerts]\nfill_percent = 90\nsilent_intervals = 3\n", encoding="utf-8")
    assert load_alert_thresholds(settings) == AlertThresholds(
        fill_percent=90.0, silent_intervals=3.0
    )
    assert load_alert_thresholds(None) == AlertThresholds()
    settings.write_text("[alerts]\nfill_percent = 120\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"alerts\.fill_percent=120"):
        load_alert_thresholds(settings)
    settings.write_text("[alerts]\nfill = 80\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"alerts\.fill=80.*fill_percent"):
        load_alert_thresholds(settings)
    settings.write_text("[alerts]\nbattery_percent = true\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="battery_percent"):
        load_alert_thresholds(settings)


@pytest.mark.slow
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_twin_alerts_command(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    application = open_twin(store_url)
    record_valley(application)
    application.close()
    at = ["--at", NOW.isoformat()]
    assert main(["--store", store_url, "alerts", *at, "--json"]) == 0
    kinds = {a["kind"] for a in json.loads(capsys.readouterr().out)}
    assert kinds == {"overflow", "fill", "fault", "battery", "silent", "quarantine", "report"}
    since = (NOW - timedelta(days=2)).isoformat()
    assert main(["--store", store_url, "alerts", *at, "--since", since]) == 0
    assert "B-FAULT" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[alerts]\nfill_percent = -1\n", encoding="utf-8")
    assert main(["--store", store_url, "alerts", "--config", str(bad)]) == 1
    assert "alerts.fill_percent" in capsys.readouterr().err
