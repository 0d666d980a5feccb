"""The SimPy engine that replays the twin's log or projects it forward.

It is handed a plain iterable of domain events (the twin's log, in order) and never imports
``twin``, ``adapters`` or ``scenarios``. Three ways to run time: **replay** the recorded events
(reproducing the recorded figures), **counterfactual** replay (the waste inflow the log shows,
re-run under another policy) and **projection** (models fitted on the log, sampled with a
seed). Subjects: waste collection (policies, fleet, tours), footfall, public lighting and
buildings' energy, public services as queues. Real-world figures live in
:mod:`simulation.parameters`; Monte Carlo estimates in :mod:`simulation.montecarlo`.
"""

from __future__ import annotations

from simulation._waste_routing import FleetRouter, default_fleets
from simulation.clock import SimClock
from simulation.energy import (
    EnergyReport,
    LightingCabinet,
    LightingSchedule,
    PublicBuilding,
    building_energy,
    cabinets_from_events,
    led_retrofit,
    lighting_energy,
    night_hours,
    recorded_energy,
)
from simulation.energy_fit import LoadModel, fit_load, fit_loads
from simulation.fitting import FillModel, FillModels, fit_fill_models, fit_table
from simulation.footfall import (
    ArrivalModel,
    OneOffEvent,
    TrailLeg,
    assumed_arrivals,
    fit_arrivals,
    footfall_kpis,
    hours_over_capacity,
    recorded_footfall,
    sample_visitors,
    trail_visits,
)
from simulation.history import BinRecord, History, UnknownBinError, read_history
from simulation.inflow import Inflow, derive_inflow
from simulation.kpis import WasteKpis, monte_carlo
from simulation.montecarlo import Estimate, estimate, replicate, replication_seeds
from simulation.policies import FixedSchedule, Predictive, Round, Threshold
from simulation.routing import DayPlan, Stop, Tour, plan_tours, tour_costs
from simulation.services import (
    ServiceModel,
    childcare_places,
    drop_off_centre,
    erlang_b,
    erlang_c,
    observed_services,
    replicate_service,
    run_service,
)
from simulation.waste import Bins, ProjectedInflow, RecordedInflow, levels_at, replay, simulate

__all__ = [
    "ArrivalModel",
    "BinRecord",
    "Bins",
    "DayPlan",
    "EnergyReport",
    "Estimate",
    "FillModel",
    "FillModels",
    "FixedSchedule",
    "FleetRouter",
    "History",
    "Inflow",
    "LightingCabinet",
    "LightingSchedule",
    "LoadModel",
    "OneOffEvent",
    "Predictive",
    "ProjectedInflow",
    "PublicBuilding",
    "RecordedInflow",
    "Round",
    "ServiceModel",
    "SimClock",
    "Stop",
    "Threshold",
    "Tour",
    "TrailLeg",
    "UnknownBinError",
    "WasteKpis",
    "assumed_arrivals",
    "building_energy",
    "cabinets_from_events",
    "childcare_places",
    "default_fleets",
    "derive_inflow",
    "drop_off_centre",
    "erlang_b",
    "erlang_c",
    "estimate",
    "fit_arrivals",
    "fit_fill_models",
    "fit_load",
    "fit_loads",
    "fit_table",
    "footfall_kpis",
    "hours_over_capacity",
    "led_retrofit",
    "levels_at",
    "lighting_energy",
    "monte_carlo",
    "night_hours",
    "observed_services",
    "plan_tours",
    "read_history",
    "recorded_energy",
    "recorded_footfall",
    "replay",
    "replicate",
    "replicate_service",
    "replication_seeds",
    "run_service",
    "sample_visitors",
    "simulate",
    "tour_costs",
    "trail_visits",
]
