"""Backfill with `twin import`: files of facts recorded with their own times, through ingest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from domain import Beacon, Bin, Site
from tests.adapters.test_fill_level_adapter import EM310, chirpstack, frame, tts
from tests.conftest import T0
from tests.twin.test_ingest import a_bin_a_beacon_and_a_site
from twin import (
    ImportFileError,
    ValleyTwin,
    dead_letters,
    import_facts,
    load_geography,
    open_twin,
    read_facts,
)
from valley_twin.cli import main

SENSOR = "A84041000181C9B2"


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(*a_bin_a_beacon_and_a_site())
    yield application
    application.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def fills_file(tmp_path: Path) -> Path:
    # Rows out of order, one with an offset, one refused by the domain (over 100 %... no: the
    # wire's own limit) and one for a bin the twin does not have.
    return write(
        tmp_path / "fills.csv",
        "asset,observed_at,device,fill_percent\n"
        f"B-1,2024-01-03T10:00:00Z,{SENSOR},30\n"
        f"B-1,2024-01-02T11:00:00+01:00,{SENSOR},20.5\n"
        f"B-1,2024-01-04T10:00:00Z,{SENSOR},45\n"
        f"B-9,2024-01-04T10:00:00Z,{SENSOR},45\n",
    )


def test_rows_in_any_order_are_recorded_in_world_time_order(
    twin: ValleyTwin, tmp_path: Path
) -> None:
    facts = read_facts(fills_file(tmp_path), "bin.fill")
    assert [fact.line for fact in facts] == [2, 3, 4, 5]
    summary = import_facts(twin, load_geography(), facts, clock=lambda: T0 + timedelta(days=30))
    assert (summary.read, summary.recorded, summary.duplicates) == (4, 3, 0)
    assert summary.rejected == {"bin.fill:NotFoundError": 1}
    assert [line for line, _ in summary.examples] == [5]
    bin_ = twin.get(Bin, "B-1")
    assert bin_.fill_percent == 45.0 and bin_.sensor_device_id == SENSOR
    history = [e for e in twin.history(bin_.id) if type(e).__name__ == "FillLevelMeasured"]
    assert [e.fill_percent for e in history] == [20.5, 30.0, 45.0]  # type: ignore[attr-defined]
    assert history[0].timestamp == T0 + timedelta(days=1, hours=10)  # 11:00+01:00 is 10:00 UTC
    # The refused fact is a dead letter like any refused wire message.
    assert [letter.source for letter in dead_letters(twin)] == ["import"]


def test_importing_again_records_nothing_twice(twin: ValleyTwin, tmp_path: Path) -> None:
    facts = read_facts(fills_file(tmp_path), "bin.fill")
    first = import_facts(twin, load_geography(), facts, clock=lambda: T0 + timedelta(days=30))
    version = twin.get(Bin, "B-1").version
    again = import_facts(twin, load_geography(), facts, clock=lambda: T0 + timedelta(days=30))
    assert (again.recorded, again.duplicates) == (0, first.recorded)
    assert twin.get(Bin, "B-1").version == version
    # The unknown bin is refused again, not stored again.
    assert again.as_dict()["rejected"] == 1 and again.refused_before == 1
    assert len(list(dead_letters(twin))) == 1


def test_json_lines_of_energy_and_footfall(twin: ValleyTwin, tmp_path: Path) -> None:
    energy = write(
        tmp_path / "energy.jsonl",
        '{"asset": "EP-1", "observed_at": "2024-01-03T00:00:00Z", "index_kwh": 1060}\n'
        "\n"
        '{"asset": "EP-1", "observed_at": "2024-01-02T00:00:00Z", "index_kwh": "1000.5"}\n',
    )
    footfall = write(
        tmp_path / "footfall.csv",
        "asset,observed_at,interval_start,count\n"
        "BLE-1,2024-01-02T11:00:00Z,2024-01-02T10:00:00Z,12\n",
    )
    geography = load_geography()
    clock = lambda: T0 + timedelta(days=30)  # noqa: E731
    assert (
        import_facts(twin, geography, read_facts(energy, "site.energy"), clock=clock).recorded == 2
    )
    assert (
        import_facts(twin, geography, read_facts(footfall, "footfall.count"), clock=clock).recorded
        == 1
    )
    site = twin.get(Site, "EP-1")
    assert site.meter_index_kwh == 1060.0 and site.consumption_kwh == pytest.approx(59.5)
    assert twin.get(Beacon, "BLE-1").total_count == 12


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("asset,observed_at,device,fill\nB-1,2024-01-02T10:00:00Z,S,3\n", 1, "column"),
        ("asset,observed_at,device,fill_percent\nB-1,2024-01-02T10:00:00,S,3\n", 2, "observed_at"),
        (
            "asset,observed_at,device,fill_percent\nB-1,2024-01-02T10:00:00Z,S,30%\n",
            2,
            "fill_percent",
        ),
        ("asset,observed_at,device,fill_percent\nB-1,2024-01-02T10:00:00Z,S,3\nB-1,x\n", 3, "row"),
        ("asset,observed_at,fill_percent\nB-1,2024-01-02T10:00:00Z,3\n", 2, "device"),
        ("asset,observed_at,device\nB-1,2024-01-02T10:00:00Z,S\n", 2, "fill_percent"),
    ],
)
def test_a_malformed_file_names_line_and_field_and_records_nothing(
    tmp_path: Path, text: str, line: int, field: str
) -> None:
    with pytest.raises(ImportFileError) as refused:
        read_facts(write(tmp_path / "bad.csv", text), "bin.fill")
    assert (refused.value.line, refused.value.field) == (line, field)
    assert f"bad.csv:{line}: {field}=" in str(refused.value)


def test_the_command_prints_a_summary_and_a_bad_file_exits_1(
    store_url: str, twin: ValleyTwin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "--store",
                store_url,
                "import",
                str(fills_file(tmp_path)),
                "--kind",
                "bin.fill",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["recorded"], summary["rejected"]) == (4, 3, 1)
    bad = write(tmp_path / "bad.csv", "asset,observed_at,device,fill\n")
    assert main(["--store", store_url, "import", str(bad), "--kind", "bin.fill"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("twin: ") and "bad.csv:1: column='fill'" in error and "\n" not in error
    assert main(["--store", store_url, "import", str(bad)]) == 1  # no --kind for a CSV
    assert "--kind" in capsys.readouterr().err


def test_network_server_exports_through_the_adapter(
    store_url: str, twin: ValleyTwin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "lorawan.toml",
        f'[adapter.devices.{EM310}]\nbin = "B-1"\ndepth_mm = 2500\nmodel = "em310-udl"\n',
    )
    level = frame("01755C 03824408 040000")  # 92 % battery, 2,116 mm: 15.4 % full
    up = json.loads(chirpstack(EM310, level))
    up["time"] = "2024-02-01T10:00:00.123456789Z"
    uplink = json.loads(tts(EM310, level))
    uplink["received_at"] = "2024-02-02T10:00:00Z"
    chirpstack_export = write(tmp_path / "chirpstack.jsonl", json.dumps(up) + "\n")
    tts_export = write(tmp_path / "tts.json", json.dumps([uplink]))
    for export in (chirpstack_export, tts_export):
        argv = ["--store", store_url, "import", str(export), "--adapter", "lorawan-ultrasonic"]
        assert main([*argv, "--config", str(config), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert (summary["read"], summary["recorded"], summary["rejected"]) == (2, 2, 0)
    bin_ = twin.get(Bin, "B-1")
    assert bin_.fill_percent == 15.4 and bin_.sensor_battery_percent == 92.0
    # The readings keep the times the network servers stamped them with.
    assert bin_.fill_measured_at == T0 + timedelta(days=32, hours=10)
    garbled = write(tmp_path / "garbled.jsonl", chirpstack(EM310, level) + "\n{not json\n")
    argv = ["--store", store_url, "import", str(garbled), "--adapter", "lorawan-ultrasonic"]
    assert main([*argv, "--config", str(config)]) == 1
    assert "garbled.jsonl:2: payload=" in capsys.readouterr().err
