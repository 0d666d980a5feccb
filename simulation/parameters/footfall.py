"""Real-world figures behind the footfall model: detection ratio, seasons, the valley's sites.

Every figure carries its public source (as listed in ``../shared/data/PARAMETERS.md``) or the
word "assumed" with the reason. Nothing here computes: ``simulation/footfall.py`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- From counted devices to visitors -------------------------------------------------------

# Share of real visitors whose phone a Bluetooth scanner detects, measured with classic
# Bluetooth in 2010–11: ≈7 % at the Louvre, ≈11 % at the Ghent festival, ≈35 % at a trade fair.
# Sources: Yoshimura et al., ENTER 2012 (Louvre); Versichele et al., Applied Geography 32(2),
# 2012 (Ghent festival); the trade-fair figure as cited in PARAMETERS.md.
DETECTION_RATIO_STUDIES: dict[str, float] = {
    "louvre_museum": 0.07,
    "ghent_festival": 0.11,
    "trade_fair": 0.35,
}
# Default ratio. Assumed: the valley's sites are outdoor crowds like the Ghent festival, so its
# 11 % is taken. BLE phones advertise more often than classic Bluetooth did and rotate their
# random address every 5–15 minutes, which may push the ratio either way: calibrate it against
# a manual count (``simulation.footfall.detection_ratio_from``) before trusting visitor figures.
DEFAULT_DETECTION_RATIO = DETECTION_RATIO_STUDIES["ghent_festival"]

# --- Seasons --------------------------------------------------------------------------------

# Hérault overnight stays by season (2018): summer 58 %, spring 20 %, autumn 13 %, winter 7 %
# (as published; they sum to 98 %). Source: Hérault Tourisme.
HERAULT_SEASON_SHARES: dict[str, float] = {
    "winter": 0.07,
    "spring": 0.20,
    "summer": 0.58,
    "autumn": 0.13,
}
# Months of each season. Assumed: meteorological seasons (Dec–Feb, Mar–May, Jun–Aug, Sep–Nov);
# the source does not say which months it counts in each.
SEASON_MONTHS: dict[str, tuple[int, ...]] = {
    "winter": (12, 1, 2),
    "spring": (3, 4, 5),
    "summer": (6, 7, 8),
    "autumn": (9, 10, 11),
}


def herault_month_factors() -> tuple[float, ...]:
    """Twelve month factors (January first, mean 1) from the Hérault seasonal shares.

    Overnight stays stand in for day visits here (assumed: no monthly visitor series of the
    valley is public). Shares are rescaled to sum to 1 and spread evenly over their months.
    """
    total = sum(HERAULT_SEASON_SHARES.values())
    factors = [0.0] * 12
    for season, months in SEASON_MONTHS.items():
        for month in months:
            factors[month - 1] = HERAULT_SEASON_SHARES[season] / total / len(months) * 12
    return tuple(factors)


# --- The valley's remarkable sites ----------------------------------------------------------


@dataclass(frozen=True)
class SiteVisitors:
    """Published visitor figures of a site, with their source, and an assumed mean stay."""

    name: str
    visitors_per_year: float
    source: str
    mean_stay_hours: float
    stay_source: str


# Pont du Diable (Aniane / Saint-Jean-de-Fos): 270,000 visitors/yr (up to ~1 M cited in 2024);
# 27 t of waste over a 4.5-month season. Sources: francebleu.fr; france3-regions.
PONT_DU_DIABLE = SiteVisitors(
    name="Pont du Diable",
    visitors_per_year=270_000.0,
    source="francebleu.fr; france3-regions (up to ~1 M cited in 2024)",
    mean_stay_hours=2.0,
    stay_source="assumed: a bathing and picnic spot by the bridge, visited for a couple of hours",
)

# Grand Site Saint-Guilhem-le-Désert – Gorges de l'Hérault: 650,000–800,000 visitors/yr.
# Source: saintguilhem-valleeherault.fr; francetvinfo.fr.
SAINT_GUILHEM_GRAND_SITE = SiteVisitors(
    name="Grand Site Saint-Guilhem – Gorges de l'Hérault",
    visitors_per_year=650_000.0,
    source="saintguilhem-valleeherault.fr; francetvinfo.fr (650,000–800,000; low end taken)",
    mean_stay_hours=3.0,
    stay_source="assumed: a village walk with the abbey, half a day at most",
)

# --- Shape of a day and a week, before any beacon has counted ----------------------------------

# Relative arrivals by local hour (0–23) at an open-air site. Assumed: visitors come between
# about 09:00 and 20:00 with a plateau from late morning to mid-afternoon, as day trippers do;
# no public hourly series of the valley's sites exists. Replaced by the fitted shape as soon
# as a site's beacons have counted (``simulation.footfall.fit_arrivals``).
ASSUMED_HOUR_SHAPE: tuple[float, ...] = (
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.1,
    0.3,
    0.7,
    1.0,
    1.3,
    1.4,
    1.4,
    1.5,
    1.5,
    1.3,
    1.0,
    0.7,
    0.4,
    0.2,
    0.1,
    0.0,
    0.0,
)
# Relative arrivals Monday → Sunday. Assumed: weekends about 1.6 times a weekday, a usual
# ratio for leisure sites near a city (Montpellier is 40 km away).
ASSUMED_WEEKDAY_SHAPE: tuple[float, ...] = (0.85, 0.85, 0.85, 0.85, 0.95, 1.35, 1.4)

# --- Waste left by visitors -------------------------------------------------------------------

# 27 t of waste collected at the Pont du Diable over a 4.5-month season with 270,000 visitors a
# year: 0.1 kg a visitor. Sources: as PONT_DU_DIABLE above. Assumed: the year's visitors all
# come in that season (most do), so this is an upper bound of waste per visitor.
WASTE_KG_PER_VISITOR = 27_000.0 / PONT_DU_DIABLE.visitors_per_year
