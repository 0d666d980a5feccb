"""The waste wing: collection of the valley's containers, replayed, re-run and projected.

From the twin's log to collection KPIs, one module per step: ``history`` (each container's
recorded series, read in one pass), ``inflow`` (what was thrown in, whatever was collected),
``fitting`` (fill models by weekday and season), ``policies`` (which containers to empty
today), ``planning`` (the day's tours per stream and what they cost the fleet), ``engine``
(``simulate``: the counterfactual replay and the projection, one SimPy process for every
container), ``log_replay`` (``replay``: the recorded log, at its event times) and ``kpis``
(the ledger, the figures per stream, commune, container and day, Monte Carlo estimates).

Not responsible for the real-world figures (:mod:`simulation.parameters`), for solving a
vehicle-routing problem (:mod:`simulation.routing`, shared with other subjects), for the
confidence intervals themselves (:mod:`simulation.montecarlo`) nor for other subjects
(footfall, lighting and energy, services). Like the rest of ``simulation`` it is handed a
plain iterable of domain events and never imports ``twin``; SciPy and OR-Tools are loaded
where used, so importing it stays cheap.
"""

from __future__ import annotations

from simulation.waste.engine import Bins, ProjectedInflow, RecordedInflow, levels_at, simulate
from simulation.waste.fitting import (
    FillModel,
    FillModels,
    constant_models,
    fit_fill_models,
    fit_table,
)
from simulation.waste.history import BinRecord, History, UnknownBinError, read_history
from simulation.waste.inflow import Inflow, derive_inflow
from simulation.waste.kpis import KPIS, WasteKpis, monte_carlo
from simulation.waste.log_replay import lateness_needed, replay
from simulation.waste.planning import FleetRouter, Routed, Router, default_fleets, service_minutes
from simulation.waste.policies import (
    DEFAULT_ROUNDS,
    DayView,
    FixedSchedule,
    Integrated,
    Policy,
    Predictive,
    Round,
    SelectingPolicy,
    Selection,
    Threshold,
    prize_km,
)

__all__ = [
    "BinRecord",
    "Bins",
    "DEFAULT_ROUNDS",
    "DayView",
    "FillModel",
    "FillModels",
    "FixedSchedule",
    "FleetRouter",
    "History",
    "Inflow",
    "Integrated",
    "KPIS",
    "Policy",
    "Predictive",
    "ProjectedInflow",
    "RecordedInflow",
    "Round",
    "Routed",
    "Router",
    "SelectingPolicy",
    "Selection",
    "Threshold",
    "UnknownBinError",
    "WasteKpis",
    "constant_models",
    "default_fleets",
    "derive_inflow",
    "fit_fill_models",
    "fit_table",
    "lateness_needed",
    "levels_at",
    "monte_carlo",
    "prize_km",
    "read_history",
    "replay",
    "service_minutes",
    "simulate",
]
