"""The report's charts as inline SVG strings: KPI bars with CI error bars, daily series, the map.

Matplotlib is used through ``matplotlib.figure.Figure`` only (never ``pyplot``), so nothing
selects a GUI backend or keeps global figures. Text stays text in the SVG (``svg.fonttype``
``none``) so the page is light and searchable. Not responsible for the page around the charts.
"""

from __future__ import annotations

import io
import math
import re
from datetime import date
from typing import TYPE_CHECKING

import matplotlib as mpl
import numpy as np
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter

from scenarios._report_text import bounded_interval, number, shown, spec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes

    from scenarios.report import ReportInput
    from twin import Geography

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
_DAILY = ("truck_km", "collections", "overflow_events")
_SUBJECT_DAILY = ("electricity_kwh", "visitors", "peak_present", "waiting_list")
"""The daily figures of lighting, footfall and childcare runs (``scenarios._subject_run``)."""
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_FRENCH = FuncFormatter(lambda value, _pos: number(value, None if value % 1 else 0))


def colour(index: int) -> str:
    """The colour of the index-th scenario, the same in every chart."""
    return _COLOURS[index % len(_COLOURS)]


def _svg(figure: Figure, salt: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, DOCTYPE or RDF metadata)."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = _METADATA.sub("", _PROLOG.sub("", buffer.getvalue(), count=1))
    return text.replace("<svg ", '<svg role="img" ', 1)


def kpi_bars(results: Sequence[ReportInput], kpis: Sequence[str]) -> str:
    """Small multiples: one panel per KPI, one bar per scenario, 95 % CI as error bars."""
    columns = min(3, len(kpis))
    rows = math.ceil(len(kpis) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, kpi in zip(axes, kpis, strict=False):
        means: list[float] = []
        errors: list[list[float]] = [[], []]
        for result in results:
            est = result.kpis.get(kpi)
            mean = shown(kpi, est.mean) if est else math.nan
            bounds = bounded_interval(kpi, est.low, est.high) if est else (math.nan, math.nan)
            low, high = shown(kpi, bounds[0]), shown(kpi, bounds[1])
            means.append(mean)
            errors[0].append(max(mean - low, 0.0) if math.isfinite(low) else 0.0)
            errors[1].append(max(high - mean, 0.0) if math.isfinite(high) else 0.0)
        positions = np.arange(len(results))
        ax.bar(
            positions,
            means,
            yerr=errors,
            capsize=4,
            color=[colour(i) for i in range(len(results))],
            edgecolor="none",
        )
        unit = spec(kpi).unit
        ax.set_title(spec(kpi).label + (f" ({unit})" if unit else ""), fontsize=9, wrap=True)
        ax.set_xticks(positions, [r.title for r in results], fontsize=8, rotation=15, ha="right")
        ax.tick_params(axis="y", labelsize=8)
        ax.yaxis.set_major_formatter(_FRENCH)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[len(kpis) :]:
        ax.set_visible(False)
    return _svg(figure, "kpi-bars")


def daily_series(results: Sequence[ReportInput]) -> str | None:
    """Daily series, one line per scenario (None without days): a waste run's truck km,
    collections, overflows and fill; a lighting run's kWh per night, a footfall run's visitors
    and people present, a childcare run's waiting list.

    The fill panel shows ``mean_fill`` (solid, in % of capacity) and, where present,
    ``share_above_80`` (dashed, in % of the containers), as the engine measures them once a day.
    """
    fill = ("mean_fill", "share_above_80")
    candidates = (*_DAILY, *_SUBJECT_DAILY, fill[0])
    present = [k for k in candidates if any(k in row for r in results for row in r.by_day)]
    if not present:
        return None
    figure = Figure(figsize=(8, 2.2 * len(present)), layout="constrained")
    axes = figure.subplots(len(present), 1, sharex=True, squeeze=False).ravel()
    line = mpl.lines.Line2D
    scenarios = [
        (line([], [], color=colour(i), linewidth=1.5), r.title)
        for i, r in enumerate(results)
        if r.by_day
    ]
    styles = [
        (line([], [], color="#444444", linestyle="-", linewidth=1.5), "mean fill"),
        (line([], [], color="#444444", linestyle="--", linewidth=1.0), "containers over 80 % full"),
    ]
    for ax, kpi in zip(axes, present, strict=True):
        keys = fill if kpi == fill[0] else (kpi,)
        for i, result in enumerate(results):
            for key, style in zip(keys, ("-", "--"), strict=False):
                points = [
                    (date.fromisoformat(str(row["day"])[:10]), float(row[key]))  # type: ignore[arg-type]
                    for row in result.by_day
                    if key in row and "day" in row
                ]
                if not points:
                    continue
                days, values = zip(*sorted(points), strict=True)
                if kpi == fill[0]:
                    values = tuple(100.0 * v for v in values)  # shares in 0–1 shown in %
                ax.plot(
                    days,
                    values,
                    color=colour(i),
                    linestyle=style,
                    linewidth=1.5 if style == "-" else 1.0,
                )
        if kpi == fill[0]:
            ax.set_ylabel("Fill before collection (%)", fontsize=8)
            ax.set_ylim(0, 100)
        else:
            unit = spec(kpi).unit
            ax.set_ylabel(spec(kpi).label + (f" ({unit})" if unit else ""), fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", linewidth=0.3)
        ax.yaxis.set_major_formatter(_FRENCH)
    # The scenarios' colours on the first panel; the fill panel (always last) tells its lines apart.
    legends = {0: list(scenarios)}
    if present[-1] == fill[0]:
        legends.setdefault(len(present) - 1, []).extend(styles)
    for k, entries in legends.items():
        axes[k].legend(
            [h for h, _ in entries],
            [t for _, t in entries],
            fontsize=8,
            frameon=False,
            loc="upper left",
            bbox_to_anchor=(1, 1),
        )
    # Dates on the shared x axis (day/month, the year in the label), at whole days.
    first = min(
        (
            date.fromisoformat(str(row["day"])[:10])
            for r in results
            for row in r.by_day
            if "day" in row
        ),
        default=None,
    )
    axes[-1].xaxis.set_major_locator(
        AutoDateLocator(minticks=4, maxticks=10, interval_multiples=True)
    )
    axes[-1].xaxis.set_major_formatter(DateFormatter("%d/%m"))
    last = max(
        (
            date.fromisoformat(str(row["day"])[:10])
            for r in results
            for row in r.by_day
            if "day" in row
        ),
        default=None,
    )
    if first is not None and last is not None and last > first:
        axes[-1].set_xlim(first, last)
    years = (
        ""
        if first is None or last is None
        else (str(first.year) if first.year == last.year else f"{first.year}–{last.year}")
    )
    axes[-1].set_xlabel(f"Date ({years})" if years else "Date", fontsize=8)
    return _svg(figure, "daily")


def _path(geometry: object) -> MplPath:
    """A shapely (Multi)Polygon as one compound matplotlib path, holes included."""
    polygons = getattr(geometry, "geoms", [geometry])
    parts = []
    for polygon in polygons:
        for ring in (polygon.exterior, *polygon.interiors):
            coords = np.asarray(ring.coords)
            codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
            codes[0], codes[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            parts.append(MplPath(coords, codes))
    return MplPath.make_compound_path(*parts)


def _nice_length(width_m: float) -> float:
    """A round scale-bar length near a fifth of the map's width, in metres."""
    target = width_m / 5
    base: float = 10 ** math.floor(math.log10(target))
    return max(step * base for step in (1, 2, 5) if step * base <= target)


def _draw_places(ax: Axes, result: ReportInput, map_id: str, largest: float) -> None:
    """Cabinets, a site or a crèche as discs whose area is proportional to their value.

    ``largest`` is the value drawn at the biggest size: the same on every map of a report, so
    that the maps compare.
    """
    places = result.places
    largest = largest or max((p.value for p in places), default=0.0) or 1.0
    sizes = [20 + 580 * max(p.value, 0.0) / largest for p in places]
    ax.scatter(
        [p.x for p in places],
        [p.y for p in places],
        s=sizes,
        color="#d9822b",
        alpha=0.65,
        edgecolors="#7a3f00",
        linewidths=0.5,
        zorder=3,
        gid=f"{map_id}-places",
        label=f"sized by {result.place_value}" if result.place_value else None,
    )
    if len(places) <= 6:  # a few named places are labelled; a valley of cabinets is not
        for place in places:
            ax.annotate(
                f"{place.name}\n{number(place.value, 0)} {result.place_value}".strip(),
                (place.x, place.y),
                xytext=(8, 8),
                textcoords="offset points",
                fontsize=7,
                color="#5a2d00",
                zorder=5,
            )
    if result.place_value:
        ax.legend(loc="lower right", fontsize=7, frameon=False)


def valley_map(
    geography: Geography,
    result: ReportInput,
    colour_by: str,
    vmax: float,
    map_id: str,
    place_max: float = 0.0,
) -> str:
    """The valley's 28 communes, bins coloured by ``colour_by``, tours as lines, scale, north.

    Each commune outline is an SVG group ``id="{map_id}-commune-{insee}"``, the tours the group
    ``id="{map_id}-tours"``; a legend names the tours' day (``result.tours_day``) when known.
    """
    figure = Figure(figsize=(7.5, 8), layout="constrained")
    ax = figure.add_subplot()
    for commune in geography.communes:
        ax.add_patch(
            PathPatch(
                _path(commune.boundary),
                facecolor="#f3f1ea",
                edgecolor="#7a7a7a",
                linewidth=0.6,
                gid=f"{map_id}-commune-{commune.insee}",
            )
        )
    drawn = [list(tour) for tour in result.tours if len(tour) > 1]
    if drawn:
        ax.add_collection(
            mpl.collections.LineCollection(
                drawn,
                colors="#3b6ea5",
                linewidths=0.8,
                alpha=0.6,
                zorder=2,
                gid=f"{map_id}-tours",
                label=f"tours of {result.tours_day or 'a typical day'}",
            )
        )
        # Tours start and end at the depot: mark it (the tip may lie beyond the valley's frame).
        depot = drawn[0][0]
        ax.plot(
            [depot[0]],
            [depot[1]],
            marker="s",
            markersize=5,
            color="#1d232a",
            zorder=4,
            linestyle="none",
            label="depot",
        )
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    if result.places:
        _draw_places(ax, result, map_id, place_max)
    if result.bins:
        values = [float(getattr(b, colour_by)) for b in result.bins]
        points = ax.scatter(
            [b.x for b in result.bins],
            [b.y for b in result.bins],
            c=values,
            s=9,
            cmap="YlOrRd" if colour_by == "overflow_events" else "viridis",
            vmin=0,
            vmax=max(vmax, 1.0),
            edgecolors="#444444",
            linewidths=0.2,
            zorder=3,
            rasterized=len(result.bins) > 1500,
            gid=f"{map_id}-bins",
        )
        figure.colorbar(
            points,
            ax=ax,
            shrink=0.5,
            label="overflows per container"
            if colour_by == "overflow_events"
            else "collections per container",
        )
    for commune in geography.communes:
        point = commune.boundary.representative_point()
        ax.annotate(
            commune.name,
            (point.x, point.y),
            fontsize=6,
            ha="center",
            va="center",
            color="#333333",
            zorder=4,
        )
    xmin, ymin, xmax, ymax = geography.outline.bounds
    margin = 0.04 * max(xmax - xmin, ymax - ymin)
    ax.set_xlim(xmin - margin, xmax + margin)
    ax.set_ylim(ymin - margin, ymax + margin)
    ax.set_aspect("equal")
    ax.set_axis_off()
    # Scale bar (Lambert-93 is in metres) and north arrow (the grid's north, within 1° here).
    length = _nice_length(xmax - xmin)
    x0, y0 = xmin, ymin - margin / 2
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=3, solid_capstyle="butt")
    ax.plot([x0, x0 + length / 2], [y0, y0], color="white", linewidth=1.5, solid_capstyle="butt")
    ax.annotate("0", (x0, y0), xytext=(0, 5), textcoords="offset points", ha="center", fontsize=7)
    ax.annotate(
        f"{number(length / 1000, 0)} km",
        (x0 + length, y0),
        xytext=(0, 5),
        textcoords="offset points",
        ha="center",
        fontsize=7,
    )
    ax.annotate(
        "",
        xy=(0.95, 0.97),
        xytext=(0.95, 0.89),
        xycoords="axes fraction",
        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.2},
    )
    ax.annotate(
        "N",
        (0.95, 0.86),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
    )
    return _svg(figure, map_id)
