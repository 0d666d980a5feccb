"""Plausibility: field facts that break no rule of the domain but that no device could report.

A meter index typed with a digit too many, or a fill level jumping by more than a container
can take in the time since the last reading, passes the domain's rules (an index only grows,
a fill lies between 0 and 100 %) and would then make every correct reading after it look
wrong. Ingest asks these rules first: a fact that fails is **quarantined**, a dead letter
whose reason starts with ``implausible:`` and names the rule and its setting; it is not
recorded, so the facts after it are judged without it, and it can be retried once the rule's
settings change (``twin deadletters retry --reason implausible``). The defaults are what a
field engineer would defend; a TOML file changes them (:func:`load_plausibility`). Not
responsible for the domain's own rules (``domain``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from twin.errors import InvalidInputError, TwinError

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from domain import Bin, Site
    from domain.sites import MeterMark

IMPLAUSIBLE = "implausible"


class ImplausibleFactError(TwinError):
    """A fact no device could report: quarantined, not recorded."""

    def __init__(self, field: str, value: object, why: str) -> None:
        self.field = field
        super().__init__(f"{IMPLAUSIBLE}: {field}={value!r}: {why}")


@dataclass(frozen=True)
class Plausibility:
    """The limits, per kind of fact; every one can be set in the file (same names)."""

    # bin.fill: a container takes at most this many points an hour, plus a margin for the
    # sensor's noise (an ultrasonic echo off a bag wobbles by a few centimetres).
    fill_rise_percent_per_hour: float = 40.0
    fill_rise_margin_percent: float = 15.0
    # site.energy: the power the index implies since the last reading may not pass the site's
    # rated power (its lighting points × their wattage) times this margin, or, for a site with
    # no rating, the largest supply a public building of the valley has (a 250 kVA
    # "tarif jaune" connection).
    power_margin: float = 2.0
    unrated_max_kw: float = 250.0
    # site.energy: an index ten times the last one, once it is past a first few hundred kWh, is a
    # digit typed too many, whatever the time between them.
    step_factor: float = 10.0
    step_floor_kwh: float = 100.0

    def check_fill(
        self,
        bin_: Bin,
        fill_percent: float,
        at: datetime,
        before: tuple[float, datetime] | None = None,
    ) -> None:
        """Quarantine a fill level rising faster than the container can fill since the reading
        before it in world time: the bin's newest, or ``before`` for a late reading."""
        last, last_at = bin_.fill_percent, bin_.fill_measured_at
        if last_at is not None and at <= last_at:
            if before is None:
                return
            last, last_at = before
        if last is None or last_at is None or at <= last_at or fill_percent <= last:
            return
        hours = (at - last_at).total_seconds() / 3600.0
        allowed = self.fill_rise_margin_percent + self.fill_rise_percent_per_hour * hours
        if fill_percent - last > allowed:
            raise ImplausibleFactError(
                "fill_percent",
                fill_percent,
                f"a rise of {fill_percent - last:.1f} points in {hours:.2f} h from {last} % "
                f"(at most {allowed:.1f}: fill_rise_percent_per_hour="
                f"{self.fill_rise_percent_per_hour:g}, fill_rise_margin_percent="
                f"{self.fill_rise_margin_percent:g})",
            )

    def check_index(
        self, site: Site, index_kwh: float, at: datetime, before: MeterMark | None = None
    ) -> None:
        """Quarantine an index a digit too long, or implying more power than the site has,
        judged against the index read before it in world time: ``before`` for a late index
        (:func:`twin.commands.meter_neighbours`), else the site's newest."""
        if site.reads_late(at):
            if before is None:
                return
            last, last_at = before.index_out, before.at
        elif site.meter_index_kwh is None or site.meter_read_at is None:
            return
        else:
            last, last_at = site.meter_index_kwh, site.meter_read_at
        if index_kwh <= last:
            return
        if last >= self.step_floor_kwh and index_kwh >= self.step_factor * last:
            raise ImplausibleFactError(
                "index_kwh",
                index_kwh,
                f"{index_kwh / last:.1f} times the last index {last} "
                f"(step_factor={self.step_factor:g} from step_floor_kwh={self.step_floor_kwh:g})",
            )
        if at <= last_at:
            return
        hours = (at - last_at).total_seconds() / 3600.0
        rated_kw = site.light_points * site.point_power_w / 1000.0
        limit = rated_kw * self.power_margin if rated_kw > 0 else self.unrated_max_kw
        power = (index_kwh - last) / hours
        if power > limit:
            basis = (
                f"{rated_kw:g} kW rated × power_margin={self.power_margin:g}"
                if rated_kw > 0
                else f"unrated_max_kw={self.unrated_max_kw:g}"
            )
            raise ImplausibleFactError(
                "index_kwh",
                index_kwh,
                f"{index_kwh - last:g} kWh in {hours:.2f} h since {last} is {power:,.0f} kW, "
                f"more than the site can draw ({limit:g} kW: {basis})",
            )


def load_plausibility(path: Path | None) -> Plausibility:
    """The limits of a TOML file (top-level keys named as :class:`Plausibility`'s), else the
    defaults; a wrong key or value names it."""
    if path is None:
        return Plausibility()
    try:
        with path.open("rb") as handle:
            document: dict[str, Any] = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInputError(
            "--plausibility", str(path), f"a readable TOML file ({error})"
        ) from None
    known = {f.name for f in fields(Plausibility)}
    settings: dict[str, float] = {}
    for key, value in document.items():
        if key not in known:
            raise InvalidInputError(f"{path}: {key}", value, f"one of {', '.join(sorted(known))}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidInputError(f"{path}: {key}", value, "a number, zero or more")
        settings[key] = float(value)
    return replace(Plausibility(), **settings)
