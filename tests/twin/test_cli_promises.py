"""Issue 14, items 18-25: every ``twin`` command keeps the README's promise.

One clear line and a documented exit code (0, 1, 2, 3), never a traceback; nothing written
outside what the command names; a device or a symbolic link is written through, never
replaced.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import T0, a_town_hall
from twin import open_twin
from twin.receipts import MessageReceipt, receipt_id
from valley_twin.cli import main

SCENARIO = """
title = "Threshold, tiny"
question = "Does the command line keep its promise?"
[run]
seed = 1
replications = 1
horizon_days = 7
start = 2024-06-03
[inventory]
seed = 1
communes = ["34114"]
streams = ["glass"]
[policy]
kind = "threshold"
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse: help (0) or a malformed command line (2)
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture
def sqlite_store(tmp_path: Path) -> str:
    """An SQLite store on disk holding one metered site, EP-1."""
    url = f"sqlite:///{tmp_path / 'twin.sqlite'}"
    twin = open_twin(url)
    try:
        twin.add(a_town_hall())
        twin.meter_energy("EP-1", 16_000.0, T0 + timedelta(days=1))
    finally:
        twin.close()
    return url


@pytest.fixture
def memory_store(tmp_path: Path) -> str:
    url = f"memory://cli-promises-{tmp_path.name}"
    twin = open_twin(url)
    try:
        twin.add(a_town_hall())
    finally:
        twin.close()
    return url


# --- 18: the sub-programs' own help ---------------------------------------------------------


@pytest.mark.parametrize("name", ["scenario", "adapter"])
def test_the_help_of_scenario_and_adapter_is_their_own(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, _ = run(capsys, name, "-h")
    assert code == 0 and out.startswith(f"usage: twin {name} ")


def test_twin_help_before_a_plugin_name_is_twins_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-h", "scenario")
    assert code == 0 and out.startswith("usage: twin [-h]")


# --- 19: no traceback -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.subprocess
def test_readers_that_stop_early_get_no_traceback(sqlite_store: str, tmp_path: Path) -> None:
    status = _status(tmp_path / "status.json", os.getpid(), 0)  # a live ingest: this process
    for argv in (
        ["--store", sqlite_store, "show", "EP-1"],
        ["--store", sqlite_store, "export", "--format", "csv", "--out", "-"],
        ["adapter", "list", "--json"],
        ["ingest", "--stats", "--status-file", str(status)],
    ):
        reader, writer = os.pipe()
        os.close(reader)  # `| head -0`: nobody reads
        try:
            done = subprocess.run(
                [sys.executable, "-m", "valley_twin", *argv],
                stdout=writer,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            os.close(writer)
        assert done.returncode == 0 and done.stderr == "", (argv, done.stderr)


@pytest.mark.slow
def test_a_damaged_sqlite_file_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"not an SQLite file at all " * 200)
    code, out, err = run(capsys, "--store", f"sqlite:///{damaged}", "show", "EP-1")
    assert code == 3 and out == "" and "file is not a database" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_instants_beyond_the_calendar_in_utc_are_refused(
    memory_store: str, capsys: pytest.CaptureFixture[str], instant: str
) -> None:
    code, _, err = run(capsys, "--store", memory_store, "at", "EP-1", instant)
    assert code == 1 and f"instant='{instant}'" in err and "years 1 and 9999" in err


def test_a_receipts_id_is_not_an_asset(
    memory_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    twin = open_twin(memory_store)
    try:
        receipt = receipt_id("gateway-1", "m-1")
        twin.save(MessageReceipt.applied(receipt, "gateway-1", "m-1", "site.energy", "d", T0))
    finally:
        twin.close()
    for command in ("show", "at"):
        extra = [T0.isoformat()] if command == "at" else []
        code, _, err = run(capsys, "--store", memory_store, command, str(receipt), *extra)
        assert code == 1 and f"known as '{receipt}'" in err


def test_a_negative_dead_letter_limit_is_a_malformed_command_line(
    memory_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--store", memory_store, "deadletters", "--limit", "-1")
    assert code == 2 and "--limit: at least 1, not -1" in err


@pytest.mark.parametrize(
    ("out", "message"), [("FOLDER", "a file, not a folder"), ("", "a file path, or -")]
)
def test_export_to_a_folder_or_nothing_is_refused(
    memory_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, message: str
) -> None:
    target = str(tmp_path) if out == "FOLDER" else out
    code, _, err = run(
        capsys, "--store", memory_store, "export", "--format", "csv", "--out", target
    )
    assert code == 1 and message in err
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


# --- 20: never rename over anything but a regular file ---------------------------------------


def test_export_through_a_symbolic_link_writes_its_target(
    memory_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "published.csv"
    target.write_text("yesterday's export\n", encoding="utf-8")
    link = tmp_path / "latest.csv"
    link.symlink_to(target.name)
    code, _, _ = run(
        capsys, "--store", memory_store, "export", "--format", "csv", "--out", str(link)
    )
    assert code == 0 and link.is_symlink() and os.readlink(link) == target.name
    assert target.read_text(encoding="utf-8").startswith("kind,code,")


def test_export_into_a_fifo_writes_through_and_keeps_the_fifo(
    memory_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A FIFO stands for any node that is not a regular file (/dev/full, /dev/null, a tape).
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code, _, _ = run(
        capsys, "--store", memory_store, "export", "--format", "csv", "--out", str(fifo)
    )
    reader.join(timeout=10)
    assert code == 0 and stat.S_ISFIFO(fifo.stat().st_mode)
    assert received and received[0].startswith(b"kind,code,")


# --- 21: key names the allow-list accepts -----------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "a b", "x" * 65, "a" * 300, ".hidden", "", "a/b"])
def test_key_names_the_allow_list_would_refuse_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    keys = tmp_path / "keys"
    code, _, err = run(capsys, "keys", "new", name, "--dir", str(keys))
    assert code == 1 and "NAME=" in err and len(err.strip().splitlines()) == 1
    assert not keys.exists() and list(tmp_path.iterdir()) == []


def test_key_names_are_at_most_as_long_as_a_wire_source() -> None:
    from adapters.wire.envelope import MAX_ID_LENGTH
    from valley_twin.cli import KEY_NAME_MAX, check_key_name

    assert KEY_NAME_MAX == MAX_ID_LENGTH and check_key_name("k" * MAX_ID_LENGTH)


def test_a_new_keys_allow_list_line_is_accepted_by_the_allow_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from twin import AllowList

    code, out, _ = run(capsys, "keys", "new", "gw-1.north_2", "--dir", str(tmp_path), "--json")
    made = json.loads(out)
    assert code == 0 and made["name"] == "gw-1.north_2"
    allowed = tmp_path / "allowed"
    allowed.write_text(made["allow"] + "\n", encoding="utf-8")
    public_key = made["allow"].split()[0]
    assert AllowList(allowed).name_of(public_key) == "gw-1.north_2"


# --- 22: a store that does not exist ----------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["show", "EP-1"],
        ["at", "EP-1", "2024-01-02T00:00:00Z"],
        ["deadletters"],
        ["projections", "status"],
    ],
)
def test_reading_a_store_that_does_not_exist_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    missing = tmp_path / "no" / "such" / "x.sqlite"
    code, out, err = run(capsys, "--store", f"sqlite:///{missing}", *command)
    assert code == 3 and out == "" and "does not exist" in err and "twin init" in err
    assert list(tmp_path.iterdir()) == []


def test_the_help_explains_three_and_four_slashes(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--help")
    assert "sqlite:///relative/path" in out and "sqlite:////absolute/path" in out


# --- 23: bounds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"), [("0", "1 to 100000, not 0"), ("x", "a whole number, not 'x'")]
)
def test_ingest_batch_max_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    code, _, err = run(capsys, "ingest", "--batch-max", value, "--plaintext")
    assert code == 2 and f"--batch-max: {message}" in err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "horizon_days = 100000000",
            "run.horizon_days = 100000000: expected a number of days from 1 to 3,660",
        ),
        (
            "replications = 1000000000",
            "run.replications = 1000000000: expected 1 to 1,000 replications",
        ),
    ],
)
def test_scenario_runs_are_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    key = line.split(" = ")[0]
    text = "\n".join(line if row.startswith(f"{key} =") else row for row in SCENARIO.splitlines())
    scenario = tmp_path / "huge.toml"
    scenario.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "scenario", "run", str(scenario), "--out", str(tmp_path / "r"))
    assert code == 1 and message in err and not (tmp_path / "r").exists()


# --- 24: what cannot be compared, a dead ingest, the tests' own folders ----------------------


def _scenario_file(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_waste_scenario_is_not_compared_with_a_lighting_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scenarios import SHIPPED

    waste = _scenario_file(tmp_path, "waste", SCENARIO)
    lighting = SHIPPED / "lighting-today.toml"
    out = tmp_path / "report"
    code, _, err = run(capsys, "scenario", "compare", str(waste), str(lighting), "--out", str(out))
    assert code == 1 and "subject = 'lighting': expected 'waste'" in err and not out.exists()


def test_comparing_a_file_with_itself_or_writing_over_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waste = _scenario_file(tmp_path, "waste", SCENARIO)
    code, _, err = run(
        capsys, "scenario", "compare", str(waste), str(waste), "--out", str(tmp_path / "r")
    )
    assert code == 1 and "comparing a file with itself" in err
    readme = tmp_path / "README.md"
    readme.write_text("keep me\n", encoding="utf-8")
    code, _, err = run(capsys, "scenario", "run", str(waste), "--out", str(readme))
    assert code == 1 and "a report folder for --out" in err
    assert readme.read_text(encoding="utf-8") == "keep me\n"


def _status(path: Path, pid: int, updated_ago_s: float) -> Path:
    from datetime import UTC, datetime

    updated = datetime.now(UTC) - timedelta(seconds=updated_ago_s)
    path.write_text(
        json.dumps({"pid": pid, "updated_at": updated.isoformat(), "received": 7}),
        encoding="utf-8",
    )
    return path


def _a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.slow
def test_stats_of_a_dead_ingest_say_it_is_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _status(tmp_path / "status.json", _a_dead_pid(), 0)
    code, out, err = run(capsys, "ingest", "--stats", "--status-file", str(status))
    shown = json.loads(out)
    assert code == 0 and shown["running"] is False and shown["received"] == 7
    assert "ingest is not running (process" in err and "is not running)" in err


def test_stats_of_a_live_ingest_and_of_a_silent_one(tmp_path: Path) -> None:
    from twin import read_status

    live = read_status(_status(tmp_path / "live.json", os.getpid(), 1))
    assert live["running"] is True and "not_running_because" not in live
    silent = read_status(_status(tmp_path / "silent.json", os.getpid(), 60))
    assert silent["running"] is False
    assert "has not updated its status for 60 s" in silent["not_running_because"]


def test_the_users_folders_are_temporary_during_tests(tmp_path: Path) -> None:
    # The default keys folder is where `twin ingest` writes its status file by default.
    from valley_twin.cli import default_demo_store, default_keys_dir, default_report_dir

    base = tmp_path.parents[1]  # pytest's base temporary folder for this session
    for path in (default_keys_dir(), default_report_dir(), default_demo_store()):
        assert base in path.parents, path


# --- 25: --json everywhere, scenario list, the demo's store ----------------------------------


def test_init_export_keys_and_rebuild_answer_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], memory_store: str
) -> None:
    code, out, _ = run(
        capsys,
        "--store",
        memory_store,
        "export",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "a.csv"),
        "--json",
    )
    assert code == 0 and json.loads(out)["assets"] == {"site": 1}
    code, out, _ = run(capsys, "--store", memory_store, "projections", "rebuild", "--json")
    assert code == 0 and "rebuilt" in json.loads(out)
    code, out, _ = run(capsys, "keys", "new", "gw-2", "--dir", str(tmp_path / "keys"), "--json")
    assert code == 0 and json.loads(out)["allow"].endswith(" gw-2")


@pytest.mark.slow
def test_init_answers_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"memory://cli-init-{tmp_path.name}"
    code, out, _ = run(capsys, "--store", store, "init", "--seed", "3", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["installed"] > 3000 and shown["already_present"] == 0


def test_scenario_list_gives_titles_and_questions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scenario", "list", "--json")
    rows = {Path(row["file"]).name: row for row in json.loads(out)}
    assert code == 0 and rows["threshold.toml"]["title"] and rows["threshold.toml"]["question"]
    code, text, _ = run(capsys, "scenario", "list")
    assert code == 0 and rows["threshold.toml"]["question"] in text


def test_the_demo_store_comes_from_the_environment_then_stays_in_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from valley_twin.cli import _demo_store, default_demo_store

    assert _demo_store("memory://given") == "memory://given"
    monkeypatch.setenv("TWIN_STORE", "memory://from-env")
    assert _demo_store(None) == "memory://from-env"
    monkeypatch.delenv("TWIN_STORE")
    default_demo_store().parent.mkdir(parents=True, exist_ok=True)
    default_demo_store().write_text("an earlier demo", encoding="utf-8")
    assert _demo_store(None) == f"sqlite:///{default_demo_store()}"
    assert not default_demo_store().exists()  # each demo run starts from an empty store
