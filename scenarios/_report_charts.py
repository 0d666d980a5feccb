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
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter

from scenarios._report_text import number, shown, spec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scenarios.report import ReportInput
    from twin import Geography

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
_DAILY = ("truck_km", "collections", "overflow_events")
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
        means, errors = [], [[], []]
        for result in results:
            est = result.kpis.get(kpi)
            mean = shown(kpi, est.mean) if est else math.nan
            low = shown(kpi, est.low) if est else math.nan
            high = shown(kpi, est.high) if est else math.nan
            means.append(mean)
            errors[0].append(mean - low if math.isfinite(low) else 0.0)
            errors[1].append(high - mean if math.isfinite(high) else 0.0)
        positions = np.arange(len(results))
        ax.bar(
            positions, means, yerr=errors, capsize=4,
            color=[colour(i) for i in range(len(results))], edgecolor="none",
        )
        unit = spec(kpi).unit
        ax.set_title(spec(kpi).label + (f" ({unit})" if unit else ""), fontsize=9, wrap=True)
        ax.set_xticks(positions, [r.title for r in results], fontsize=8, rotation=15, ha="right")
        ax.tick_params(axis="y", labelsize=8)
        ax.yaxis.set_major_formatter(_FRENCH)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[len(kpis):]:
        ax.set_visible(False)
    return _svg(figure, "kpi-bars")


def daily_series(results: Sequence[ReportInput]) -> str | None:
    """Daily truck km, collections and overflows, one line per scenario (None without days)."""
    present = [k for k in _DAILY if any(k in row for r in results for row in r.by_day)]
    if not present:
        return None
    figure = Figure(figsize=(8, 2.2 * len(present)), layout="constrained")
    axes = figure.subplots(len(present), 1, sharex=True, squeeze=False).ravel()
    for ax, kpi in zip(axes, present, strict=True):
        for i, result in enumerate(results):
            points = [
                (date.fromisoformat(str(row["day"])[:10]), float(row[kpi]))  # type: ignore[arg-type]
                for row in result.by_day
                if kpi in row and "day" in row
            ]
            if points:
                days, values = zip(*sorted(points), strict=True)
                ax.plot(days, values, color=colour(i), label=result.title, linewidth=1.5)
        unit = spec(kpi).unit
        ax.set_ylabel(spec(kpi).label + (f" ({unit})" if unit else ""), fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", linewidth=0.3)
        ax.yaxis.set_major_formatter(_FRENCH)
    axes[0].legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    axes[-1].xaxis.set_major_formatter(mpl.dates.DateFormatter("%d/%m"))
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
    base = 10 ** math.floor(math.log10(target))
    return max(step * base for step in (1, 2, 5) if step * base <= target)


def valley_map(
    geography: Geography,
    result: ReportInput,
    colour_by: str,
    vmax: float,
    map_id: str,
) -> str:
    """The valley's 28 communes, bins coloured by ``colour_by``, tours as lines, scale, north.

    Each commune outline is an SVG group ``id="{map_id}-commune-{insee}"``.
    """
    figure = Figure(figsize=(7.5, 8), layout="constrained")
    ax = figure.add_subplot()
    for commune in geography.communes:
        ax.add_patch(PathPatch(
            _path(commune.boundary), facecolor="#f3f1ea", edgecolor="#7a7a7a", linewidth=0.6,
            gid=f"{map_id}-commune-{commune.insee}",
        ))
    for tour in result.tours:
        if len(tour) > 1:
            xs, ys = zip(*tour, strict=True)
            ax.plot(xs, ys, color="#3b6ea5", linewidth=0.8, alpha=0.6, zorder=2)
    if result.bins:
        values = [float(getattr(b, colour_by)) for b in result.bins]
        points = ax.scatter(
            [b.x for b in result.bins], [b.y for b in result.bins], c=values, s=9,
            cmap="YlOrRd" if colour_by == "overflow_events" else "viridis",
            vmin=0, vmax=max(vmax, 1.0), edgecolors="#444444", linewidths=0.2, zorder=3,
            rasterized=len(result.bins) > 1500, gid=f"{map_id}-bins",
        )
        figure.colorbar(
            points, ax=ax, shrink=0.5,
            label="overflows per container" if colour_by == "overflow_events"
            else "collections per container",
        )
    for commune in geography.communes:
        point = commune.boundary.representative_point()
        ax.annotate(
            commune.name, (point.x, point.y), fontsize=6, ha="center", va="center",
            color="#333333", zorder=4,
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
        f"{number(length / 1000, 0)} km", (x0 + length, y0), xytext=(0, 5),
        textcoords="offset points", ha="center", fontsize=7,
    )
    ax.annotate(
        "", xy=(0.95, 0.97), xytext=(0.95, 0.89), xycoords="axes fraction",
        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.2},
    )
    ax.annotate("N", (0.95, 0.86), xycoords="axes fraction", ha="center", va="center",
                fontsize=10, fontweight="bold")
    return _svg(figure, map_id)
