"""The CLI's contract: outputs, JSON shapes, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import T0, a_town_hall
from twin import open_twin
from twin.storage import drop_memory_store
from valley_twin.cli import main


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'twin.sqlite'}"


@pytest.fixture
def valley(store: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--store", store, "init", "--seed", "5"]) == 0
    capsys.readouterr()
    return store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_communes_json_lists_the_28_communes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "communes", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 28
    assert set(rows[0]) == {"insee", "name", "population", "area_km2"}
    assert {"insee": "34114", "name": "Gignac", "population": 6650, "area_km2": 29.87} in rows


@pytest.mark.slow
def test_init_twice_installs_nothing_twice(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, first, _ = run(capsys, "--store", store, "init", "--seed", "5")
    assert code == 0 and " 0 already present" in first
    code, second, _ = run(capsys, "--store", store, "init", "--seed", "5")
    assert code == 0 and ": 0 assets installed" in second


@pytest.mark.slow
def test_show_and_at(valley: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--store", valley, "show", "b-34114-gla-0001", "--json")
    shown = json.loads(out)
    assert code == 0
    assert (
        shown["state"]["code"] == "B-34114-GLA-0001" and shown["state"]["commune_insee"] == "34114"
    )
    assert 3.4 < shown["state"]["lon"] < 3.8 and 43.5 < shown["state"]["lat"] < 43.8
    assert [e["event"] for e in shown["history"]] == ["Bin.Installed"]
    code, out, _ = run(
        capsys, "--store", valley, "at", shown["state"]["id"], "2023-12-31T23:00:00Z", "--json"
    )
    assert code == 0 and json.loads(out)["state"] is None
    code, out, _ = run(
        capsys, "--store", valley, "at", "B-34114-GLA-0001", "2024-06-01T12:00:00+02:00"
    )
    assert code == 0 and "as of 2024-06-01T10:00:00+00:00" in out


@pytest.mark.slow
def test_near_lists_bins_by_distance(valley: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--store",
        valley,
        "near",
        "3.5489",
        "43.6535",
        "--stream",
        "glass",
        "-k",
        "4",
        "--json",
    )
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4
    assert all(r["stream"] == "glass" for r in rows)
    assert [r["distance_m"] for r in rows] == sorted(r["distance_m"] for r in rows)


def test_where_names_the_commune(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "where", "3.5494", "43.7335") == (0, "34261 Saint-Guilhem-le-Désert\n", "")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["show", "NO-SUCH-BIN"],
            "no bin, beacon, site, service, citizen or truck is known as 'NO-SUCH-BIN'",
        ),
        (["at", "B-34114-GLA-0001", "yesterday"], "instant='yesterday'"),
        (["at", "B-34114-GLA-0001", "2024-06-01T12:00:00"], "with a UTC offset"),
        (["where", "3.88", "43.61"], "outside the 28 communes"),
        (["near", "3.88", "43.61"], "outside the 28 communes"),
        (["near", "3.55", "43.65", "-k", "0"], "-k=0"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_1(
    valley: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "--store", valley, *argv)
    assert code == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_unreachable_database_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "--store", "postgresql://postgres@127.0.0.1:1/test?connect_timeout=1", "show", "X"
    )
    assert code == 3 and "cannot open event store" in err and len(err.strip().splitlines()) == 1


def test_unsupported_store_url_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--store", "mysql://x/y", "show", "X")
    assert code == 3 and "scheme 'mysql' is not supported" in err


@pytest.mark.slow
def test_store_comes_from_the_environment(
    valley: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_STORE", valley)
    code, out, _ = run(capsys, "show", "MAIRIE-34114")
    assert code == 0 and "Mairie de Gignac" in out


@pytest.mark.slow
@pytest.mark.subprocess
def test_installed_entry_point_runs_demo(tmp_path: Path) -> None:
    twin = Path(sys.executable).with_name("twin")
    environment = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    result = subprocess.run(
        [str(twin), "demo"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "28 communes, 41,320 inhabitants" in result.stdout
    assert "34261  Saint-Guilhem-le-Désert" in result.stdout
    # Two weeks of device traffic went through the adapters and ingest, all of it recorded.
    feed = re.search(
        r"ingest: (\d+) messages received, (\d+) committed, (\d+) duplicates, (\d+) dead letters",
        result.stdout,
    )
    assert feed, result.stdout
    received, committed, duplicates, dead = map(int, feed.groups())
    assert committed > 50_000 and committed + duplicates == received and dead == 0
    assert re.search(r"B-34114-GLA-0001 now: fill [\d.]+ % measured 2024-05", result.stdout)
    # Then the what-if: the shipped comparison of collection policies, and where its report is.
    report = re.search(r"report: (\S+index\.html)", result.stdout)
    assert report and Path(report.group(1)).is_file() and str(tmp_path) in report.group(1)
    assert (Path(report.group(1)).parent / "kpis.csv").is_file()
    # The store stays where the demo says, and the command it prints works as printed.
    kept = re.search(
        r"the store stays: try  twin --store (\S+) show B-34114-GLA-0001", result.stdout
    )
    assert (
        kept and kept.group(1) == f"sqlite:///{tmp_path / 'data' / 'valley-twin' / 'demo.sqlite'}"
    )
    shown = subprocess.run(
        [str(twin), "--store", kept.group(1), "show", "B-34114-GLA-0001"],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert shown.returncode == 0 and "fill" in shown.stdout, shown.stderr
    bad = subprocess.run(
        [str(twin), "where", "0", "0"], capture_output=True, text=True, env=environment, check=False
    )
    assert bad.returncode == 1 and bad.stderr.startswith("twin: point lon=0.0, lat=0.0")


def test_keys_new_prints_the_allow_list_line_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "keys", "new", "gw-1", "--dir", str(tmp_path))
    assert code == 0
    line = out.strip().splitlines()[-1]
    key, name = line.split()
    assert name == "gw-1" and len(key) == 40
    assert (tmp_path / "gw-1.key").exists() and (
        tmp_path / "gw-1.key_secret"
    ).stat().st_mode & 0o077 == 0
    code, _, err = run(capsys, "keys", "new", "gw-1", "--dir", str(tmp_path))
    assert code == 1 and "NAME='gw-1'" in err


def test_ingest_refuses_to_start_without_keys_or_in_the_clear_on_a_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store: str
) -> None:
    code, _, err = run(capsys, "--store", store, "ingest", "--keys", str(tmp_path / "none"))
    assert code == 1 and "twin keys new ingest" in err
    code, _, err = run(
        capsys, "--store", store, "ingest", "--plaintext", "--endpoint", "tcp://0.0.0.0:5555"
    )
    assert code == 1 and "--endpoint='tcp://0.0.0.0:5555'" in err and "loopback" in err


def test_ingest_stats_without_a_running_ingest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "ingest", "--stats", "--status-file", str(tmp_path / "status.json"))
    assert code == 1 and "is `twin ingest` running?" in err


@pytest.mark.slow
def test_deadletters_of_a_store_without_any(
    valley: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--store", valley, "deadletters")
    assert code == 0 and out.strip() == "no dead letters"
    code, out, _ = run(capsys, "--store", valley, "deadletters", "--json")
    assert code == 0 and json.loads(out) == []


def test_ingest_on_an_endpoint_in_use_says_so(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import zmq

    context = zmq.Context()
    taken = context.socket(zmq.ROUTER)
    port = taken.bind_to_random_port("tcp://127.0.0.1")
    try:
        code, _, err = run(
            capsys,
            "--store",
            store,
            "ingest",
            "--plaintext",
            "--endpoint",
            f"tcp://127.0.0.1:{port}",
        )
    finally:
        taken.close(linger=0)
        context.term()
    assert (
        code == 1 and f"cannot listen on tcp://127.0.0.1:{port}" in err and "Traceback" not in err
    )


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    # `twin communes | head -1`: the pipe closes before twin writes; no traceback, exit 0.
    process = subprocess.Popen(
        [sys.executable, "-m", "valley_twin", "communes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in errors, errors


def test_correct_retract_and_known_at_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"memory://cli-amend-{tmp_path.name}"
    twin = open_twin(store)
    try:
        twin.add(a_town_hall())
        twin.meter_energy("EP-1", 16_000.0, T0 + timedelta(days=1))
        twin.meter_energy("EP-1", 16_535.0, T0 + timedelta(days=2))  # two digits swapped
        twin.meter_energy("EP-1", 16_700.0, T0 + timedelta(days=3))
        before_correction = datetime.now(UTC)
        code, out, _ = run(
            capsys,
            "--store",
            store,
            "correct",
            "EP-1",
            "--version",
            "3",
            "index_kwh=16355",
            "--by",
            "agent-technique",
            "--reason",
            "digits swapped",
            "--json",
        )
        assert code == 0
        assert json.loads(out)["state"]["consumption_kwh"] == pytest.approx(700.0)
        code, out, _ = run(capsys, "--store", store, "show", "EP-1", "--json")
        history = json.loads(out)["history"]
        assert history[2]["amended"] == "corrected"
        assert history[-1]["event"] == "Site.FactCorrected" and history[-1]["recorded_at"]
        at = (T0 + timedelta(days=2, hours=1)).isoformat()
        code, out, _ = run(
            capsys,
            "--store",
            store,
            "at",
            "EP-1",
            at,
            "--known-at",
            before_correction.isoformat(),
            "--json",
        )
        assert json.loads(out)["state"]["meter_index_kwh"] == 16_535.0
        code, out, _ = run(capsys, "--store", store, "at", "EP-1", at, "--json")
        assert json.loads(out)["state"]["meter_index_kwh"] == 16_355.0
        code, out, _ = run(
            capsys,
            "--store",
            store,
            "retract",
            "EP-1",
            "--version",
            "4",
            "--by",
            "agent",
            "--reason",
            "another meter",
        )
        assert code == 0 and "retracted" in out
        code, _, err = run(
            capsys,
            "--store",
            store,
            "correct",
            "EP-1",
            "--version",
            "2",
            "index_kwh=oops",
            "--by",
            "a",
            "--reason",
            "b",
        )
        assert code == 1 and "index_kwh=oops" in err
    finally:
        twin.close()
        drop_memory_store(store.removeprefix("memory://"))
