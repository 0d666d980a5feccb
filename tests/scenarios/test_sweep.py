"""Sweeps: the grid a ``[sweep]`` expands to, its errors, and the same numbers on every executor.

The valley is tiny (Aniane and Saint-Jean-de-Fos, glass only, 7 days, 2 replications, as in
``test_runner.tiny``) so that a local pool, a Dask cluster and a subprocess each take seconds.
"""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from scenarios.errors import ScenarioError, SweepError
from scenarios.loader import MAX_SWEEP_POINTS, Sweep, load_scenario, load_sweep
from scenarios.runner import run_scenario
from scenarios.schema import KPI_NAMES
from scenarios.sweep import DaskExecutor, LocalExecutor, SweepResult, run_sweep

if TYPE_CHECKING:
    from pathlib import Path

BASE = """
title = "Tiny threshold"
question = "Which threshold for glass in two villages?"
[run]
seed = 3
replications = 2
horizon_days = 7
start = 2024-05-27
[inventory]
seed = 20240601
communes = ["34010", "34267"]
streams = ["glass"]
[policy]
kind = "threshold"
threshold = 0.8
"""
SWEEP = """
extends = "base.toml"
title = "Which threshold?"
[sweep]
"policy.threshold" = [0.6, 0.9]
run.horizon_days = [7, 8]
"""


def files(folder: Path, sweep: str = SWEEP) -> Path:
    (folder / "base.toml").write_text(BASE, encoding="utf-8")
    (folder / "sweep.toml").write_text(sweep, encoding="utf-8")
    return folder / "sweep.toml"


def error_of(sweep: str, folder: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_sweep(files(folder, sweep))
    return caught.value


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """Three thresholds, the smallest sweep that still has work for two workers."""
    folder = tmp_path_factory.mktemp("sweep")
    three = 'extends = "base.toml"\n[sweep]\n"policy.threshold" = [0.6, 0.75, 0.9]\n'
    return load_sweep(files(folder, three))


@pytest.fixture(scope="module")
def in_process(small: Sweep) -> SweepResult:
    return run_sweep(small, LocalExecutor(workers=1))


# --- the grid --------------------------------------------------------------------------------


def test_the_grid_is_the_cartesian_product_last_key_fastest(tmp_path: Path) -> None:
    sweep = load_sweep(files(tmp_path))
    assert sweep.parameters == ("policy.threshold", "run.horizon_days")
    assert sweep.title == "Which threshold?" and sweep.source == str(tmp_path / "sweep.toml")
    assert [p.name for p in sweep.points] == ["p01", "p02", "p03", "p04"]
    assert [dict(p.values) for p in sweep.points] == [
        {"policy.threshold": 0.6, "run.horizon_days": 7},
        {"policy.threshold": 0.6, "run.horizon_days": 8},
        {"policy.threshold": 0.9, "run.horizon_days": 7},
        {"policy.threshold": 0.9, "run.horizon_days": 8},
    ]
    assert [(p.scenario.policy.threshold, p.scenario.run.horizon_days) for p in sweep.points] == [
        (0.6, 7),
        (0.6, 8),
        (0.9, 7),
        (0.9, 8),
    ]
    # Everything not swept is the base's, inherited as usual.
    assert {p.scenario.run.seed for p in sweep.points} == {3}
    assert sweep.points[0].scenario.extends == (str(tmp_path / "base.toml"),)
    assert sweep.points[1].label() == "policy.threshold = 0.6, run.horizon_days = 8"


def test_a_nested_sweep_table_means_the_same_as_dotted_keys(tmp_path: Path) -> None:
    nested = 'extends = "base.toml"\n[sweep.policy]\nthreshold = [0.6, 0.9]\n'
    sweep = load_sweep(files(tmp_path, nested))
    assert [p.scenario.policy.threshold for p in sweep.points] == [0.6, 0.9]
    assert sweep.parameters == ("policy.threshold",)


def test_run_on_a_sweep_file_runs_its_base_scenario(tmp_path: Path) -> None:
    scenario = load_scenario(files(tmp_path))
    assert scenario.policy.threshold == 0.8 and scenario.run.horizon_days == 7
    assert scenario.title == "Which threshold?"


@pytest.mark.parametrize(
    ("table", "key", "value", "expected"),
    [
        # A value of the grid is checked by the schema's own rule, blamed on the sweep file
        # although base.toml set the key.
        (
            '"policy.threshold" = [0.7, 1.5]',
            "policy.threshold",
            1.5,
            "a fill fraction with 0 < x <= 1",
        ),
        ('"run.horizon_days" = [7, "long"]', "run.horizon_days", "long", "an integer"),
        ('"policy.treshold" = [0.7]', "policy.treshold", 0.7, "did you mean 'threshold'?"),
        ('"policy.risk" = [0.1]', "policy.risk", 0.1, "no risk for kind 'threshold'"),
        # The [sweep] table itself.
        ('"policy.threshold" = []', 'sweep."policy.threshold"', [], "a non-empty list of values"),
        ('"policy.threshold" = 0.7', 'sweep."policy.threshold"', 0.7, "a non-empty list of values"),
        (
            '"policy.threshold" = [0.7, 0.7]',
            'sweep."policy.threshold"',
            [0.7, 0.7],
            "distinct values",
        ),
        (
            '"policy.kind.name" = ["x"]',
            'sweep."policy.kind.name"',
            ["x"],
            "policy.kind is a value, not a table",
        ),
        ('extends = ["other.toml"]', "sweep.extends", ["other.toml"], "not extends or sweep"),
        (
            'policy = [{kind = "fixed"}]\n"policy.threshold" = [0.7]',
            'sweep."policy.threshold"',
            [0.7],
            "not inside another swept one",
        ),
    ],
)
def test_a_bad_sweep_names_file_key_value_and_what_was_expected(
    tmp_path: Path, table: str, key: str, value: object, expected: str
) -> None:
    error = error_of(f'extends = "base.toml"\n[sweep]\n{table}\n', tmp_path)
    assert (error.file, error.key, error.value) == (str(tmp_path / "sweep.toml"), key, value)
    assert expected in error.expected


def test_a_sweep_that_is_not_a_table_or_too_big_is_refused(tmp_path: Path) -> None:
    error = error_of('extends = "base.toml"\nsweep = [0.7]\n', tmp_path)
    assert error.key == "sweep" and "a [sweep] table" in error.expected
    axis = list(range(1, 33))  # 32 × 32 = 1024 points
    big = f'extends = "base.toml"\n[sweep]\n"run.seed" = {axis}\n"run.horizon_days" = {axis}\n'
    error = error_of(big, tmp_path)
    assert error.value == "32 × 32 = 1024 points"
    assert f"at most {MAX_SWEEP_POINTS} grid points" in error.expected
    with pytest.raises(ScenarioError, match="this file has none"):
        load_sweep(tmp_path / "base.toml")


def test_run_checks_the_sweep_table_too(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(files(tmp_path, 'extends = "base.toml"\n[sweep]\n"policy.threshold" = []\n'))
    assert caught.value.key == 'sweep."policy.threshold"'


# --- the numbers -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_point_of_the_sweep_is_run_scenario_of_that_point(
    small: Sweep, in_process: SweepResult
) -> None:
    point = in_process.points[1]
    alone = run_scenario(small.points[1].scenario)
    assert point.kpis == alone.kpis  # identical Estimates, not merely close
    assert point.replication_seeds == alone.replication_seeds
    assert set(point.kpis) == set(KPI_NAMES) and point.kpis["truck_km"].replications == 2
    # The thresholds do change the outcome (else the comparisons below would prove little).
    assert len({p.kpis["collections"].mean for p in in_process.points}) > 1


@pytest.mark.slow
def test_a_local_pool_gives_the_in_process_numbers(small: Sweep, in_process: SweepResult) -> None:
    seen: list[tuple[int, int]] = []
    pooled = run_sweep(small, LocalExecutor(workers=2), progress=lambda d, of: seen.append((d, of)))
    assert pooled.points == in_process.points
    assert pooled.executor == "local, 2 workers"
    assert seen == [(n, 6) for n in range(1, 7)]


@pytest.mark.slow
def test_a_dask_cluster_gives_the_in_process_numbers(small: Sweep, in_process: SweepResult) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        seen: list[int] = []
        executor = DaskExecutor(cluster.scheduler_address)
        remote = run_sweep(small, executor, progress=lambda done, of: seen.append(done))
    assert remote.points == in_process.points
    assert remote.executor == f"dask at {cluster.scheduler_address}"
    assert sorted(seen) == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_clear_error(small: Sweep) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        SweepError, match=f"cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}'"
    ):
        run_sweep(small, DaskExecutor(f"tcp://127.0.0.1:{port}", timeout=0.5))


def test_without_dask_the_error_says_what_to_install(
    small: Sweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # importing it raises ImportError
    with pytest.raises(SweepError, match=r"pip install 'valley-twin\[dask\]'"):
        run_sweep(small, DaskExecutor("tcp://127.0.0.1:8786"))


def test_ctrl_c_stops_before_the_pending_tasks() -> None:
    ran: list[int] = []

    def task(number: int) -> int:
        ran.append(number)
        return number

    def interrupt(done: int, of: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LocalExecutor(workers=1).map(task, [(n,) for n in range(5)], interrupt)
    assert ran == [0]


def test_results_are_gathered_by_task_not_by_completion() -> None:
    squares = LocalExecutor(workers=2).map(pow, [(n, 2) for n in range(8)])
    assert squares == [n * n for n in range(8)]


# --- the command -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.subprocess
def test_twin_scenario_sweep_writes_the_report_and_sweep_csv(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "valley_twin",
            "scenario",
            "sweep",
            str(files(tmp_path)),
            "--workers",
            "2",
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'index.html'}" in result.stderr and "replications [" in result.stderr
    document = json.loads(result.stdout)
    assert document["points"][1]["values"] == {"policy.threshold": 0.6, "run.horizon_days": 8}
    with (out / "sweep.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "point",
        "policy.threshold",
        "run.horizon_days",
        "kpi",
        "mean",
        "low",
        "high",
        "n",
    ]
    assert len(rows) == 4 * len(KPI_NAMES)
    assert {(r["point"], r["policy.threshold"], r["run.horizon_days"]) for r in rows} == {
        ("p01", "0.6", "7"),
        ("p02", "0.6", "8"),
        ("p03", "0.9", "7"),
        ("p04", "0.9", "8"),
    }
    written = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert written["parameters"] == ["policy.threshold", "run.horizon_days"]
    assert written["points"] == document["points"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "policy.threshold = 0.9, run.horizon_days = 8" in page  # each point titled by its values


@pytest.mark.slow
@pytest.mark.subprocess
def test_twin_scenario_sweep_with_a_bad_value_names_it_and_writes_nothing(tmp_path: Path) -> None:
    bad = files(tmp_path, 'extends = "base.toml"\n[sweep]\n"policy.threshold" = [0.7, 1.5]\n')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "valley_twin",
            "scenario",
            "sweep",
            str(bad),
            "--out",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{bad}: policy.threshold = 1.5: expected a fill fraction" in result.stderr
    assert not (tmp_path / "report").exists()


@pytest.mark.slow
def test_a_childcare_sweep_runs_on_a_pool_with_the_numbers_of_run_scenario(tmp_path: Path) -> None:
    (tmp_path / "creche.toml").write_text(
        'subject = "childcare"\ntitle = "Aniane"\nquestion = "How many places?"\n'
        "[run]\nseed = 4\nreplications = 4\nhorizon_days = 1826\nstart = 2025-01-01\n"
        '[childcare]\ncreche = "CRECHE-34010"\nrequests_per_year = 8.0\n'
        '[sweep]\n"childcare.extra_places" = [0, 4]\n',
        encoding="utf-8",
    )
    sweep = load_sweep(tmp_path / "creche.toml")
    pooled = run_sweep(sweep, LocalExecutor(workers=2))
    for point in pooled.points:
        assert point.kpis == run_scenario(point.point.scenario).kpis
    more, fewer = pooled.points[1].kpis, pooled.points[0].kpis
    assert more["places"].mean == fewer["places"].mean + 4
    assert more["mean_wait_days"].mean < fewer["mean_wait_days"].mean
