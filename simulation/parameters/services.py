"""Real-world figures behind the public-service queues: childcare places and the drop-off centre.

``../shared/data/PARAMETERS.md`` lists no figure for these services, so almost everything here
is assumed, with the reason; the legal facts that bound a childcare stay are public. A scenario
should replace the assumptions with the service's own records (requests, grants and releases
in the twin's log). Nothing here computes: ``simulation/services.py`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 365.25 * HOURS_PER_DAY

# --- Childcare (crèche) places --------------------------------------------------------------

# The legal bounds of a stay: a child cannot take a place before the end of maternity leave,
# 16 weeks for a first or second child (Code du travail, art. L1225-17), of which 10 after
# birth — so from about 2.5 months; schooling is compulsory from age 3 (Loi n° 2019-791 du
# 26 juillet 2019), which ends a crèche stay at the latest at the September after the third
# birthday.


@dataclass(frozen=True)
class ChildcareDefaults:
    """Assumed figures for one multi-place crèche of the valley."""

    # Assumed: a typical municipal or intercommunal crèche has 20–60 places; 30 is taken.
    places: int = 30
    # Assumed: requests equal to about half the places each year, as families apply before a
    # birth and many are placed elsewhere; a scenario should count the recorded requests.
    requests_per_year: float = 15.0
    # Assumed: 2 years on average, within the legal bounds above (≈0.2 to 3.7 years).
    mean_stay_years: float = 2.0
    # Assumed: the waiting list is not capped (families stay on it until a place or school).
    waiting_list_limit: int | None = None


CHILDCARE = ChildcareDefaults()

# --- Drop-off centre (déchèterie) -----------------------------------------------------------


@dataclass(frozen=True)
class DropOffCentreDefaults:
    """Assumed figures for a drop-off centre on a busy opening hour."""

    # Assumed: 8 unloading bays along the quay of skips, a usual layout for a rural centre.
    bays: int = 8
    # Assumed: 30 cars an hour at a busy Saturday peak.
    arrivals_per_hour: float = 30.0
    # Assumed: 12 minutes to park, unload and sort a car boot.
    mean_unload_minutes: float = 12.0
    # Assumed: room for 10 waiting cars at the gate before the queue spills onto the road; a
    # car arriving to a full queue is counted as turned away.
    waiting_list_limit: int | None = 10


DROP_OFF_CENTRE = DropOffCentreDefaults()
