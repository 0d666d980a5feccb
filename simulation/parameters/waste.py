"""Real-world figures of the waste model, each with its public source or the reason it is assumed.

One documented place for densities, volumes per inhabitant, costs per tonne and the overflow
penalty (see ../shared/data/PARAMETERS.md for the sources). Not responsible for trucks, fuel,
speeds or the depot (``simulation.parameters.fleet``) nor for where containers stand.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.values import WasteStream
from simulation.parameters import fleet as _fleet

STREAMS: tuple[str, ...] = ("residual", "packaging", "glass", "paper", "biowaste")
"""The valley's waste streams, in a fixed order used as array index everywhere in the engine."""


@dataclass(frozen=True)
class Figure:
    """A number standing for the real world, with its unit and where it comes from."""

    value: float
    unit: str
    source: str


# Loose density in the container (Vesilind et al., Environmental Engineering, 1998, table 4.22:
# food 290, paper 70, plastic 60, glass 200 kg/m³; loose municipal waste 60–120 kg/m³). The
# numbers are held once, in simulation.parameters.fleet (trucks are sized against them); this
# table adds their units and sources for the report.
LOOSE_DENSITY_KG_M3: dict[str, Figure] = {
    "residual": Figure(
        _fleet.LOOSE_DENSITY_KG_M3[WasteStream.RESIDUAL],
        "kg/m3",
        "Vesilind 1998 t.4.22, upper half of the 60–120 loose MSW range (assumed: residual holds "
        "food); the same number as simulation.parameters.fleet, which sizes trucks against it",
    ),
    "packaging": Figure(
        _fleet.LOOSE_DENSITY_KG_M3[WasteStream.PACKAGING], "kg/m3", "Vesilind 1998 t.4.22, plastic"
    ),
    "glass": Figure(
        _fleet.LOOSE_DENSITY_KG_M3[WasteStream.GLASS], "kg/m3", "Vesilind 1998 t.4.22, glass"
    ),
    "paper": Figure(
        _fleet.LOOSE_DENSITY_KG_M3[WasteStream.PAPER], "kg/m3", "Vesilind 1998 t.4.22, paper"
    ),
    "biowaste": Figure(
        _fleet.LOOSE_DENSITY_KG_M3[WasteStream.BIOWASTE],
        "kg/m3",
        "Vesilind 1998 t.4.22, food waste",
    ),
}

# Volume put out at home per inhabitant per day (Citeo, via placedupro.com: residual 5.5–6 L,
# packaging + paper about the same together, glass 0.4–0.8 L).
LITRES_PER_INHABITANT_DAY: dict[str, Figure] = {
    "residual": Figure(5.75, "L/inh/day", "Citeo: 5.5–6 L, midpoint"),
    "packaging": Figure(
        4.0, "L/inh/day", "Citeo: packaging + paper ≈ residual; split 4.0 / 1.75 assumed"
    ),
    "glass": Figure(0.6, "L/inh/day", "Citeo: 0.4–0.8 L, midpoint"),
    "paper": Figure(
        1.75, "L/inh/day", "Citeo: packaging + paper ≈ residual; split 4.0 / 1.75 assumed"
    ),
    "biowaste": Figure(
        1.0, "L/inh/day", "assumed: separate biowaste collection is recent and partial"
    ),
}

# Full cost of the service per tonne (ADEME Référentiel national des coûts, 2012 data).
COST_EUR_PER_TONNE: dict[str, Figure] = {
    "residual": Figure(
        209.0, "EUR/t", "derived: ADEME net cost 53 EUR/inh/yr over MODECOM 2017 OMR 254 kg/inh/yr"
    ),
    "packaging": Figure(
        147.0, "EUR/t", "assumed: ADEME door-to-door glass full cost, no packaging figure"
    ),
    "glass": Figure(65.0, "EUR/t", "ADEME Référentiel 2012 via CNR: glass drop-off full cost"),
    "paper": Figure(147.0, "EUR/t", "assumed: as packaging"),
    "biowaste": Figure(147.0, "EUR/t", "assumed: as door-to-door collection"),
}

OVERFLOW_PENALTY_EUR = Figure(
    40.0,
    "EUR/event",
    "assumed: one extra crew call-out or cleaning of the spot (about one hour of a crew of two); "
    "no public figure, make it a scenario parameter",
)
OVERFLOW_PENALTY_EUR_PER_HOUR = Figure(
    0.5,
    "EUR/bin-hour",
    "assumed: nuisance of an overflowing container per hour (litter, complaints); scenario parameter",
)

COLLECTION_HOUR = Figure(
    8.0,
    "h UTC",
    "assumed: tours start about 06:00 local and a container is emptied on average mid-way "
    "through the shift, about 09:30 local: 07:30 UTC in summer, 08:30 UTC in winter",
)


def density_kg_per_l(stream: str) -> float:
    """Loose density of a stream in kg per litre."""
    return LOOSE_DENSITY_KG_M3[stream].value / 1000.0


def table() -> list[dict[str, object]]:
    """Every figure of this module as rows (name, stream, value, unit, source) for a report."""
    rows: list[dict[str, object]] = []
    for name, figures in (
        ("loose density", LOOSE_DENSITY_KG_M3),
        ("volume per inhabitant per day", LITRES_PER_INHABITANT_DAY),
        ("full cost per tonne", COST_EUR_PER_TONNE),
    ):
        for stream, f in figures.items():
            rows.append(
                {
                    "name": name,
                    "stream": stream,
                    "value": f.value,
                    "unit": f.unit,
                    "source": f.source,
                }
            )
    for name, f in (
        ("overflow penalty", OVERFLOW_PENALTY_EUR),
        ("overflow penalty per hour", OVERFLOW_PENALTY_EUR_PER_HOUR),
        ("mean collection hour", COLLECTION_HOUR),
    ):
        rows.append(
            {"name": name, "stream": "", "value": f.value, "unit": f.unit, "source": f.source}
        )
    return rows
