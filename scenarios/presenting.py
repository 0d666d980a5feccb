"""From a scenario's result to what its report shows: plain data for :mod:`scenarios.report`.

The engine keeps its figures per stream, commune and day, not per container, so each container
on the map carries its commune's collections and overflow events per container: the map shows
where, commune by commune, a policy leaves bins overflowing. Not responsible for drawing.
"""

from __future__ import annotations

from collections import Counter

from scenarios.report import BinOnMap, ReportInput
from scenarios.runner import ScenarioResult, prepare


def report_input(name: str, result: ScenarioResult) -> ReportInput:
    """The report's view of one scenario run (``name`` identifies it in files and ids)."""
    bins = result.containers if result.containers is not None else prepare(result.scenario).bins
    per_commune = result.by_commune()
    counts = Counter(bins.communes)
    on_map = []
    for code, stream, commune, x, y in zip(bins.codes, bins.streams, bins.communes, bins.x, bins.y, strict=True):
        totals = per_commune.get(commune, {})
        share = 1.0 / counts[commune]
        on_map.append(BinOnMap(code, float(x), float(y), stream, commune,
                               collections=float(totals.get("collections", 0.0)) * share,
                               overflow_events=float(totals.get("overflow_events", 0.0)) * share))
    return ReportInput(
        name=name,
        title=result.scenario.title,
        question=result.scenario.question,
        kpis=result.kpis,
        by_day=result.representative.by_day(),
        bins=on_map,
        focus=tuple(result.scenario.focus),
        economics=result.economics.as_dict() if result.economics else None,
    )
