"""``twin adapter list|simulate|run``: output, files and exit codes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.adapters.test_simulators import devices_file
from valley_twin.adapter_commands import main

BUILT_IN_NAMES = {
    "lorawan-ultrasonic",
    "ble-footfall",
    "energy-meter",
    "citizen-app",
    "truck-lifts",
    "truck-tours",
    "service-desk",
    "door-counter",
    "lorawan-paxcounter",
}


@pytest.fixture(autouse=True)
def no_logging_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run`` configures logging for a process; a test must not leave handlers behind."""
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    by_name = {entry["name"]: entry for entry in listed}
    assert BUILT_IN_NAMES <= set(by_name)
    fill = by_name["lorawan-ultrasonic"]
    assert fill["kinds"] == ["bin.fill", "device.battery", "device.fault"]
    assert fill["mode"] == "push" and fill["wire_version"] == 1
    assert by_name["energy-meter"]["mode"] == "poll"
    assert set(fill) == {
        "name",
        "device",
        "kinds",
        "mode",
        "owner",
        "description",
        "wire_version",
        "personal_data",
    }
    assert fill["personal_data"] is False and by_name["citizen-app"]["personal_data"] is True


def test_list_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in lines} >= BUILT_IN_NAMES
    assert any(line.startswith("citizen-app") and "citizen.report" in line for line in lines)


def test_simulate_writes_the_files_and_prints_the_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps(devices_file()), encoding="utf-8")
    assert main(["simulate", "--devices", str(devices), "--out", str(tmp_path / "payloads")]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert set(counts) == {"fill.jsonl", "ble.jsonl", "energy.jsonl", "citizen.jsonl", "lifts.csv"}
    for name, count in counts.items():
        assert count > 0
        assert len((tmp_path / "payloads" / name).read_text(encoding="utf-8").splitlines()) == count


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (None, "devices.json"),  # no such file
        ("{not json", "devices.json"),
        (json.dumps({"days": 1, "seed": 1}), "missing 'start'"),
        (
            json.dumps({**devices_file(), "bins": [{"code": "B-1"}]}),
            "missing 'collection_weekdays'",
        ),
        (
            json.dumps({**devices_file(), "bins": [{"code": "B-1", "collection_weekdays": []}]}),
            "dev_eui",
        ),
        (json.dumps({**devices_file(), "start": "next monday"}), "next monday"),
    ],
)
def test_simulate_with_a_bad_devices_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, named: str
) -> None:
    devices = tmp_path / "devices.json"
    if content is not None:
        devices.write_text(content, encoding="utf-8")
    assert main(["simulate", "--devices", str(devices), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("twin adapter simulate:") and named in error


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "adapter.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "config", "named"),
    [
        ("lorawan-ultrasonique", 'source = "gw-1"\n', "no adapter named 'lorawan-ultrasonique'"),
        ("lorawan-ultrasonic", 'source = "gw-1"\n[adapter]\n', "'devices'"),
        (
            "lorawan-ultrasonic",
            'source = "gw-1"\n[adapter.devices.24E124713B200001]\nbin = "B-1"\ndepth_mm = -3\n',
            "devices.24E124713B200001.depth_mm",
        ),
        ("ble-footfall", '[adapter]\nsalt = "short"\nscanners = { gw = "BLE-1" }\n', "salt"),
        ("energy-meter", "plaintext = true\n", "'source' is required"),
        ("energy-meter", 'source = "gw-1"\nplaintext = true\n', "'endpoint' is required"),
        ("energy-meter", "source = [unclosed\n", "adapter.toml"),
        (
            "energy-meter",
            'source = "gw-1"\nendpoint = "tcp://127.0.0.1:5555"\nclient_key = "none.key_secret"\n'
            'server_key = "none.key"\n',
            "none.key_secret",
        ),
    ],
)
def test_run_with_a_bad_config_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, config: str, named: str
) -> None:
    path = write_config(tmp_path, config)
    assert main(["run", name, "--config", str(path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("twin adapter:")
    assert named in error
    assert "Traceback" not in error


def test_unknown_adapter_lists_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, 'source = "gw-1"\n')
    assert main(["run", "nope", "--config", str(path)]) == 1
    error = capsys.readouterr().err
    assert all(known in error for known in BUILT_IN_NAMES)
    assert '"no adapter' not in error  # the message, not the KeyError's repr


def test_run_with_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "energy-meter", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "missing.toml" in capsys.readouterr().err


def test_a_malformed_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    capsys.readouterr()
