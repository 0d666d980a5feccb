"""Declarative what-if scenarios that planners run and compare.

A scenario is a TOML file (``scenarios/files/``) validated before anything runs, inheriting
from a baseline with ``extends``; the runner hands the twin's log or the valley's inventory to
the simulation and returns every KPI with its confidence interval; the report is a
self-contained HTML page with the KPI table as CSV and JSON. A what-if never touches hardware:
this package never imports ``adapters``.
"""

from __future__ import annotations

from scenarios._report_planner import short_table
from scenarios.economics import Economics, RolloutCosts, evaluate
from scenarios.errors import ScenarioError, SweepError
from scenarios.loader import (
    SHIPPED,
    Sweep,
    SweepPoint,
    load_scenario,
    load_sweep,
    shipped_scenarios,
)
from scenarios.presenting import report_input
from scenarios.recorded import Recorded, recorded, recorded_fleet, same_history
from scenarios.report import BinOnMap, ReportInput, write_report
from scenarios.runner import ScenarioResult, run_scenario
from scenarios.schema import Scenario
from scenarios.sweep import (
    DaskExecutor,
    LocalExecutor,
    SweepResult,
    compare_at_equal_service,
    report_inputs,
    run_sweep,
    write_sweep_tables,
)

__all__ = [
    "BinOnMap",
    "DaskExecutor",
    "Economics",
    "LocalExecutor",
    "Recorded",
    "ReportInput",
    "RolloutCosts",
    "SHIPPED",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "Sweep",
    "SweepError",
    "SweepPoint",
    "SweepResult",
    "compare_at_equal_service",
    "evaluate",
    "load_scenario",
    "load_sweep",
    "recorded",
    "recorded_fleet",
    "report_input",
    "report_inputs",
    "run_scenario",
    "run_sweep",
    "same_history",
    "shipped_scenarios",
    "short_table",
    "write_report",
    "write_sweep_tables",
]
