"""What a lighting, footfall or childcare run hands back to the runner: plain data.

Waste runs keep their own richer result (``simulation.WasteKpis``); the other subjects return
their KPI estimates, one run's daily series, the places to draw on the map and, when the
scenario is an investment, its cost-benefit. Not responsible for running anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scenarios.report import PlaceOnMap
from simulation import replicate, replication_seeds

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from scenarios.economics import Economics
    from scenarios.schema import Scenario
    from simulation import Estimate

__all__ = ["PlaceOnMap", "SubjectRun", "replicate_scenario"]  # PlaceOnMap: from scenarios.report


@dataclass(frozen=True)
class SubjectRun:
    """The outcome of a non-waste scenario."""

    kpis: Mapping[str, Estimate]
    replication_seeds: tuple[int, ...]
    series: tuple[Mapping[str, object], ...]
    """Rows with ``day`` (ISO date) and the subject's daily figures, from one run."""
    places: tuple[PlaceOnMap, ...]
    place_value: str
    """What a place's ``value`` is, in words ("kWh over the period")."""
    origin: str
    economics: Economics | None = None


def replicate_scenario(
    one: Callable[[Scenario, int], Mapping[str, float]],
    scenario: Scenario,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Estimate], tuple[int, ...]]:
    """Every replication of ``scenario`` by ``one(scenario, seed)``; estimates and the seeds.

    The seeds are those ``simulation.replication_seeds`` spawns from the scenario's seed, so a
    sweep running ``one`` task by task gets the same numbers.
    """
    total, done = scenario.run.replications, 0

    def counted(seed: int) -> Mapping[str, float]:
        nonlocal done
        figures = one(scenario, seed)
        done += 1
        if progress is not None:
            progress(done, total)
        return figures

    estimates = replicate(counted, scenario.run.seed, total)
    return estimates, tuple(replication_seeds(scenario.run.seed, total))
