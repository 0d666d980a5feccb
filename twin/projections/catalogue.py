"""The projections the twin keeps, by name. Not responsible for running them (the runner)."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from twin.errors import InvalidInputError
from twin.projections.assets import AssetState
from twin.projections.energy import EnergyDaily
from twin.projections.fill import BinFillHourly
from twin.projections.footfall import FootfallHourly
from twin.projections.ideas import IdeaRanking
from twin.projections.reports import CitizenReports
from twin.projections.services import ServiceOccupancy

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from twin.projections.base import Projection

PROJECTIONS: Mapping[str, Projection] = MappingProxyType(
    {
        p.name: p
        for p in (
            AssetState(),
            BinFillHourly(),
            FootfallHourly(),
            EnergyDaily(),
            CitizenReports(),
            IdeaRanking(),
            ServiceOccupancy(),
        )
    }
)


def select(names: Iterable[str] | None) -> list[Projection]:
    """The projections with these names (all of them for None), in catalogue order."""
    if names is None:
        return list(PROJECTIONS.values())
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if name not in PROJECTIONS:
            raise InvalidInputError("projection", name, f"one of {', '.join(PROJECTIONS)}")
    return [p for p in PROJECTIONS.values() if p.name in wanted]
