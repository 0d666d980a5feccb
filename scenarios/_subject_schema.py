"""The settings and rules of the non-waste subjects: lighting, footfall (festivals) and childcare.

A scenario's ``subject`` (``waste`` by default) says which simulation answers it; each subject
has its own table (``[policy]`` for waste, ``[lighting]``, ``[footfall]`` with an optional
``[festival]``, ``[childcare]``), described here once as field rules so that
``scenarios.schema.validate`` blames the right file, key and value. Every default that is a
real-world figure says whether it is public (with its source) or assumed (with the reason).

Not responsible for walking the document (``scenarios.schema``) or for running
(``scenarios.lighting``, ``scenarios.footfall``, ``scenarios.childcare``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scenarios._fields import Field, non_negative, positive
from simulation.parameters.energy import (
    CO2_KG_PER_KWH,
    DEFAULT_DIM_PERCENT,
    DEFAULT_DIM_WINDOW,
    ELECTRICITY_PRICE_EUR_PER_KWH,
)
from simulation.parameters.footfall import (
    DEFAULT_DETECTION_RATIO,
    PONT_DU_DIABLE,
    SAINT_GUILHEM_GRAND_SITE,
    SiteVisitors,
)

if TYPE_CHECKING:
    from datetime import date

__all__ = [
    "CHILDCARE_KPIS",
    "DEFAULT_FOCUS_BY_SUBJECT",
    "FOOTFALL_KPIS",
    "KPIS_BY_SUBJECT",
    "PUBLISHED_VISITORS",
    "LIGHTING_KPIS",
    "SUBJECTS",
    "SUBJECT_TABLES",
    "ChildcareSettings",
    "FestivalSettings",
    "FootfallSettings",
    "LightingSettings",
]

SUBJECTS = ("waste", "lighting", "footfall", "childcare")
SUBJECT_TABLES = {
    "waste": "policy",
    "lighting": "lighting",
    "footfall": "footfall",
    "childcare": "childcare",
}
"""The table each subject requires."""

LIGHTING_KPIS = (
    "electricity_kwh",
    "electricity_cost_eur",
    "co2_kg",
    "kwh_saved",
    "eur_saved",
    "co2_saved_kg",
    "full_power_hours",
    "light_points",
)
FOOTFALL_KPIS = (
    "visitors",
    "peak_day_visitors",
    "peak_hour_visitors",
    "p95_hour_visitors",
    "peak_present",
    "hours_over_capacity",
    "visitor_waste_kg",
)
CHILDCARE_KPIS = (
    "requests",
    "mean_wait_days",
    "p95_wait_days",
    "share_waited",
    "mean_waiting_list",
    "max_waiting_list",
    "utilisation",
    "turned_away_share",
    "places",
    "running_cost_eur",
)
DEFAULT_FOCUS_BY_SUBJECT = {
    "lighting": ("electricity_kwh", "electricity_cost_eur", "co2_kg", "eur_saved"),
    "footfall": ("visitors", "peak_present", "hours_over_capacity", "visitor_waste_kg"),
    "childcare": ("mean_wait_days", "share_waited", "mean_waiting_list", "running_cost_eur"),
}
PUBLISHED_VISITORS: dict[str, SiteVisitors] = {
    "SITE-SAINT-GUILHEM": SAINT_GUILHEM_GRAND_SITE,
    "SITE-PONT-DU-DIABLE": PONT_DU_DIABLE,
}
"""Sites whose yearly visitors are published (the figure a footfall scenario starts from)."""
KPIS_BY_SUBJECT = {
    "lighting": LIGHTING_KPIS,
    "footfall": FOOTFALL_KPIS,
    "childcare": CHILDCARE_KPIS,
}


@dataclass(frozen=True)
class LightingSettings:
    """A change to the public lighting of the selected communes, and what it costs.

    The baseline is today's stock: the inventory's discharge lamps burning all night. The
    scenario applies ``led`` (every point replaced by an LED of ``led_power_w``, or
    ``LED_POWER_FACTOR`` × the lamp) and the schedule (dimming to ``dim_percent`` between
    ``dim_from`` and ``dim_to``, switched off between ``off_from`` and ``off_to``, local time).
    """

    led: bool = False
    led_power_w: float | None = None
    dim_percent: float = 100.0
    dim_from: str | None = None
    dim_to: str | None = None
    off_from: str | None = None
    off_to: str | None = None
    price_eur_per_kwh: float = ELECTRICITY_PRICE_EUR_PER_KWH
    co2_kg_per_kwh: float = CO2_KG_PER_KWH
    led_eur_per_point: float = 600.0
    """Assumed: an LED street luminaire fitted on an existing mast, 400–800 € a point in
    French communes' tenders; no public source in PARAMETERS.md."""
    controller_eur_per_cabinet: float = 1500.0
    """Assumed: an astronomical clock and dimming controller fitted in a cabinet, about
    1,000–2,000 € installed; paid only when the schedule dims or switches off."""
    lifetime_years: int = 20
    """Assumed: LED luminaires are rated 50,000–100,000 h, 12–25 years at 4,000 h a year."""
    discount_rate: float = 0.04
    """Assumed: 4 % a year, as for the sensor rollout."""

    @property
    def changes_schedule(self) -> bool:
        """Whether the lights are dimmed or switched off part of the night."""
        dims = self.dim_from is not None and self.dim_percent < 100.0
        return dims or self.off_from is not None


@dataclass(frozen=True)
class FestivalSettings:
    """A one-off event multiplying a site's arrivals on some days (local dates, inclusive)."""

    name: str
    first_day: date
    last_day: date
    multiplier: float


@dataclass(frozen=True)
class FootfallSettings:
    """Visitors of one site: how many a year, how long they stay, how many the site holds.

    ``visitors_per_year`` None takes the site's published figure (``scenarios.footfall``);
    without a ``[history]`` store the arrival shape by hour and weekday is assumed and the
    months follow the Hérault seasons.
    """

    site: str
    capacity: float
    visitors_per_year: float | None = None
    stay_hours: float | None = None
    detection_ratio: float = DEFAULT_DETECTION_RATIO
    waste_kg_per_visitor: float | None = None
    festival: FestivalSettings | None = None


@dataclass(frozen=True)
class ChildcareSettings:
    """A crèche's places against the requests for them, over years.

    ``places`` None takes the inventory's places; ``extra_places`` are added to them.
    ``requests_per_year`` None takes the same ratio of requests to places as the assumed
    defaults of ``simulation.parameters.services``.
    """

    creche: str
    places: int | None = None
    extra_places: int = 0
    requests_per_year: float | None = None
    mean_stay_years: float = 2.0
    waiting_list_limit: int | None = None
    warmup_years: float = 10.0
    cost_eur_per_place_year: float = 16_000.0
    """Assumed: the full yearly running cost of a crèche place in France is commonly quoted
    at 15,000–17,000 € (staff are most of it); no public source in PARAMETERS.md."""


def _clock(value: str) -> bool:
    hours, sep, minutes = value.partition(":")
    return (
        bool(sep)
        and hours.isdigit()
        and minutes.isdigit()
        and int(hours) < 24
        and int(minutes) < 60
        and len(minutes) == 2
    )


_PRICE = "a price in € >= 0"
LIGHTING = {
    "led": Field("bool", False),
    "led_power_w": Field("float", None, positive, "an LED power in W > 0"),
    "dim_percent": Field(
        "float", DEFAULT_DIM_PERCENT, lambda v: 0 <= v <= 100, "a share of full power in % (0–100)"
    ),
    "dim_from": Field("clock", None, _clock, f'a local time such as "{DEFAULT_DIM_WINDOW[0]}"'),
    "dim_to": Field("clock", None, _clock, f'a local time such as "{DEFAULT_DIM_WINDOW[1]}"'),
    "off_from": Field("clock", None, _clock, 'a local time such as "01:00"'),
    "off_to": Field("clock", None, _clock, 'a local time such as "05:00"'),
    "price_eur_per_kwh": Field("float", None, non_negative, "a price in € per kWh >= 0"),
    "co2_kg_per_kwh": Field("float", None, non_negative, "kg of CO2 per kWh >= 0"),
    "led_eur_per_point": Field("float", None, non_negative, _PRICE),
    "controller_eur_per_cabinet": Field("float", None, non_negative, _PRICE),
    "lifetime_years": Field("int", None, positive, "a lifetime in years > 0"),
    "discount_rate": Field(
        "float", None, lambda v: 0 <= v < 1, "a yearly rate with 0 <= x < 1 (0.04 for 4 %)"
    ),
}
FOOTFALL = {
    "site": Field("str", check=bool, expected="a site code"),
    "capacity": Field(
        "float", check=positive, expected="the number of people the site holds at once, > 0"
    ),
    "visitors_per_year": Field("float", None, positive, "a number of visitors a year > 0"),
    "stay_hours": Field(
        "float", None, lambda v: 0 < v <= 24, "a mean stay in hours within (0, 24]"
    ),
    "detection_ratio": Field(
        "float", None, lambda v: 0 < v <= 1, "a share of visitors detected within (0, 1]"
    ),
    "waste_kg_per_visitor": Field("float", None, non_negative, "kg of waste per visitor >= 0"),
}
FESTIVAL = {
    "name": Field("str", check=bool, expected="the festival's name"),
    "first_day": Field("date"),
    "last_day": Field("date"),
    "multiplier": Field(
        "float", check=non_negative, expected="a multiplier of the usual arrivals >= 0"
    ),
}
CHILDCARE = {
    "creche": Field("str", check=bool, expected="a crèche code"),
    "places": Field("int", None, positive, "a number of places > 0"),
    "extra_places": Field("int", 0, lambda v: v >= 0, "a number of added places >= 0"),
    "requests_per_year": Field("float", None, positive, "a number of requests a year > 0"),
    "mean_stay_years": Field(
        "float", 2.0, lambda v: 0 < v <= 4, "a mean stay in years within (0, 4] (school at 3)"
    ),
    "waiting_list_limit": Field("int", None, lambda v: v >= 0, "a number of families >= 0"),
    "warmup_years": Field("float", 10.0, non_negative, "a number of years >= 0"),
    "cost_eur_per_place_year": Field(
        "float", None, non_negative, "a price in € per place per year >= 0"
    ),
}
