"""Implausible facts are quarantined, never recorded, and never block the good ones after them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.wire import Envelope, encode
from domain import Bin, Position, Site
from tests.conftest import T0
from twin import (
    InvalidInputError,
    LetterFilter,
    Plausibility,
    ValleyTwin,
    dead_letters,
    load_geography,
    load_plausibility,
    open_twin,
    retry,
)
from twin.ingest import Incoming, IngestProcessor
from valley_twin.cli import main

HERE = Position(752000.0, 6283000.0)
SENSOR = "A84041000181C9B2"
NOW = T0 + timedelta(days=400)


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(
        Bin.install(
            code="B-1", stream="glass", capacity_l=3000, position=HERE, commune_insee="34114", at=T0
        ),
        Site.register(
            code="EP-1",
            name="Mairie",
            site_kind="public_building",
            geometry_wkt="POINT (752000 6283000)",
            commune_insee="34114",
            at=T0,
        ),
    )
    yield application
    application.close()


def message(number: int, kind: str, asset: str, at_hours: float, **body: object) -> Incoming:
    envelope = Envelope(
        f"m-{number}", "gw-1", SENSOR, asset, kind, T0 + timedelta(hours=at_hours), dict(body)
    )
    return Incoming(encode(envelope))


def test_a_meter_index_typed_ten_times_too_big_blocks_none_of_the_readings_after_it(
    twin: ValleyTwin,
) -> None:
    # A year of daily readings of a town hall's meter, about 50 kWh a day; on day 150 someone
    # typed 163,555 for 16,355 (a digit too many). Without quarantine it would be recorded
    # and every correct reading after it refused as "meter index decreased".
    indexes = [8_855.0 + 50.0 * day for day in range(297)]
    typo_day = 150
    assert indexes[typo_day] == 16_355.0
    messages = [
        message(day, "site.energy", "EP-1", 24.0 * (day + 1), index_kwh=index)
        for day, index in enumerate(indexes)
    ]
    messages[typo_day] = message(
        typo_day, "site.energy", "EP-1", 24.0 * (typo_day + 1), index_kwh=163_555.0
    )
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    replies = processor.process(messages)
    statuses = [reply.status if reply else None for reply in replies]
    assert statuses.count("ack") == 296 and statuses[typo_day] == "rejected"
    assert processor.stats.rejected == {"site.energy:ImplausibleFactError": 1}
    site = twin.get(Site, "EP-1")
    assert site.meter_index_kwh == indexes[-1]
    assert site.consumption_kwh == pytest.approx(indexes[-1] - indexes[0])
    (quarantined,) = dead_letters(twin, which=LetterFilter(reason="implausible"))
    assert quarantined.message_id == f"m-{typo_day}"
    assert quarantined.reason.startswith("implausible: index_kwh=163555.0: 10.0 times")


def test_a_fill_jump_is_quarantined_and_retried_under_looser_limits(
    twin: ValleyTwin, tmp_path: Path
) -> None:
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    replies = processor.process(
        [
            message(1, "bin.fill", "B-1", 10.0, fill_percent=10.0),
            message(2, "bin.fill", "B-1", 10.5, fill_percent=30.0),  # 20 points in 30 min: fine
            message(3, "bin.fill", "B-1", 11.0, fill_percent=95.0),  # 65 points in 30 min: no
        ]
    )
    assert [reply.status for reply in replies if reply] == ["ack", "ack", "rejected"]
    assert twin.get(Bin, "B-1").fill_percent == 30.0
    (letter,) = dead_letters(twin)
    assert "fill_rise_percent_per_hour=40" in letter.reason
    (still,) = retry(twin, load_geography(), [letter.receipt], clock=lambda: NOW)
    assert still.status == "refused" and still.reason == letter.reason
    loose = tmp_path / "plausibility.toml"
    loose.write_text("fill_rise_percent_per_hour = 200\n", encoding="utf-8")
    (applied,) = retry(
        twin, load_geography(), [letter.receipt], lambda: NOW, load_plausibility(loose)
    )
    assert applied.status == "applied" and twin.get(Bin, "B-1").fill_percent == 95.0


def test_the_power_a_rated_site_draws_is_bounded_by_its_rating(twin: ValleyTwin) -> None:
    twin.add(
        Site.register(
            code="EP-2",
            name="Armoire",
            site_kind="lighting_cabinet",
            geometry_wkt="POINT (752000 6283000)",
            commune_insee="34114",
            at=T0,
            light_points=20,
            point_power_w=100.0,  # 2 kW rated: at most 4 kW with the default margin
        )
    )
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    replies = processor.process(
        [
            message(1, "site.energy", "EP-2", 0.0, index_kwh=1_000.0),
            message(2, "site.energy", "EP-2", 10.0, index_kwh=1_030.0),  # 3 kW: fine
            message(3, "site.energy", "EP-2", 20.0, index_kwh=1_090.0),  # 6 kW: no
            message(4, "site.energy", "EP-2", 30.0, index_kwh=1_060.0),  # judged without #3
        ]
    )
    assert [reply.status for reply in replies if reply] == ["ack", "ack", "rejected", "ack"]
    assert "2 kW rated × power_margin=2" in (replies[2].reason if replies[2] else "")


def test_settings_come_from_a_file_and_a_wrong_one_names_itself(tmp_path: Path) -> None:
    assert load_plausibility(None) == Plausibility()
    path = tmp_path / "limits.toml"
    path.write_text("step_factor = 20\nunrated_max_kw = 500\n", encoding="utf-8")
    assert load_plausibility(path) == Plausibility(step_factor=20.0, unrated_max_kw=500.0)
    path.write_text("step_factr = 20\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="step_factr"):
        load_plausibility(path)
    path.write_text("step_factor = -1\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="zero or more"):
        load_plausibility(path)


def test_import_and_retry_take_the_limits_on_the_command_line(
    store_url: str, twin: ValleyTwin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readings = tmp_path / "fills.csv"
    readings.write_text(
        "asset,observed_at,device,fill_percent\n"
        f"B-1,2024-01-02T10:00:00Z,{SENSOR},10\n"
        f"B-1,2024-01-02T10:10:00Z,{SENSOR},90\n",
        encoding="utf-8",
    )
    argv = ["--store", store_url, "import", str(readings), "--kind", "bin.fill", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["rejected_by_reason"] == {
        "bin.fill:ImplausibleFactError": 1
    }
    loose = tmp_path / "loose.toml"
    loose.write_text("fill_rise_margin_percent = 100\n", encoding="utf-8")
    retry_argv = ["--store", store_url, "deadletters", "retry", "--reason", "implausible"]
    assert main([*retry_argv, "--plausibility", str(loose)]) == 0
    assert "  applied" in capsys.readouterr().out
    assert twin.get(Bin, "B-1").fill_percent == 90.0
    bad = tmp_path / "bad.toml"
    bad.write_text("fill_rise = 1\n", encoding="utf-8")
    assert main([*argv[:-1], "--plausibility", str(bad)]) == 1
    assert "fill_rise" in capsys.readouterr().err
