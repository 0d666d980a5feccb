"""The view's HTML: a map of the valley, an asset's page, alerts, data health, catalogue, reports.

Plain server-rendered HTML with one stylesheet and one small script of our own (``static/``),
nothing from the internet. Every colour on the map has its words in the legend and in each
asset's title; every control is a form element or a link, so the pages work from the keyboard.
Values from the store are escaped here. Not responsible for data (:mod:`twin.web.queries`).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from domain import SiteKind, WasteStream
from twin.geography import Geography
from twin.web.assets import FILL_BANDS, FILL_LOW
from twin.web.geometry import Frame, valley_map
from twin.web.queries import alert_code

NAV = (
    ("/", "Map"),
    ("/alerts", "Alerts"),
    ("/health", "Data health"),
    ("/catalogue", "Data catalogue"),
    ("/reports", "Scenario reports"),
)
KINDS = (
    ("bin", "Containers"),
    ("beacon", "Footfall beacons"),
    ("site", "Sites"),
    ("service", "Services"),
)


def layout(title: str, body: str, current: str = "") -> str:
    """A whole page around ``body``."""
    links = "".join(
        f'<li><a href="{href}"{" aria-current=page" if href == current else ""}>{name}</a></li>'
        for href, name in NAV
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Valley Twin</title>"
        '<link rel="icon" href="data:,">'  # no icon to fetch: nothing outside the view
        '<link rel="stylesheet" href="/static/style.css">'
        '<script src="/static/app.js" defer></script></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header><p class="brand">Valley Twin</p><nav aria-label="Pages"><ul>{links}</ul></nav></header>'
        f'<main id="main" tabindex="-1"><h1>{escape(title)}</h1>{body}</main></body></html>'
    )


def _options(pairs: list[tuple[str, str]], everything: str) -> str:
    return f'<option value="">{everything}</option>' + "".join(
        f'<option value="{escape(value)}">{escape(label)}</option>' for value, label in pairs
    )


def _legend() -> str:
    bands = [(band, f"fill {words}") for _, band, words in FILL_BANDS] + [
        (FILL_LOW[0], f"fill {FILL_LOW[1]}"),
        ("silent", "sensor silent (no reading in the expected interval)"),
        ("nosensor", "no fill sensor"),
    ]
    fills = "".join(
        f'<li><svg class="swatch" aria-hidden="true" viewBox="0 0 10 10"><circle class="mark band-{b}" cx="5" cy="5" r="4"/></svg>{escape(w)}</li>'
        for b, w in bands
    )
    sizes = (
        "<li>Squares: footfall beacons (devices counted today), sites (people counted; lighting "
        "cabinets: kWh last night) and services (share of places taken). Size: small &lt; "
        "medium &lt; large; beacons and sites large from 500 devices or people (medium from "
        "100), cabinets from 50 kWh (medium 10), services from 90 % of places (medium 50 %). "
        "A dotted outline: nothing counted.</li>"
    )
    return f'<section class="legend" aria-labelledby="legend-title"><h2 id="legend-title">Legend</h2><p>Circles: containers, coloured by fill.</p><ul>{fills}{sizes}</ul></section>'


def map_page(geography: Geography) -> str:
    """The valley: communes, every asset, filters, legend, a text list of what is shown."""
    frame, communes = valley_map()
    paths = "".join(
        f'<path class="commune" d="{shape.path}"><title>{escape(shape.name)}</title></path>'
        for shape in communes
    )
    labels = "".join(
        f'<text class="commune-name" x="{s.label_x:.0f}" y="{s.label_y:.0f}">{escape(s.name)}</text>'
        for s in communes
    )
    streams = [(s.value, s.value) for s in WasteStream] + [
        (k.value, k.value.replace("_", " ")) for k in SiteKind
    ]
    filters = (
        '<form class="filters" id="filters" aria-label="Filter the map">'
        f'<label>Kind <select name="kind">{_options(list(KINDS), "all kinds")}</select></label>'
        f'<label>Stream or site kind <select name="subkind">{_options(streams, "all")}</select></label>'
        f'<label>Commune <select name="commune">{_options([(c.insee, c.name) for c in geography.communes], "all 28 communes")}</select></label>'
        "</form>"
        '<form class="find" action="/asset" method="get" role="search">'
        '<label>Asset code <input name="code" required autocomplete="off" spellcheck="false"></label>'
        "<button>Open</button></form>"
    )
    svg = (
        f'<svg id="map" role="img" aria-labelledby="map-title" viewBox="0 0 1000 {frame.height:.0f}" '
        f'{_frame_data(frame)}><title id="map-title">Map of the 28 communes and their assets</title>'
        f'<g class="communes">{paths}</g><g id="assets"></g><g class="labels" aria-hidden="true">{labels}</g></svg>'
    )
    listing = (
        '<details id="listing"><summary>The assets shown, as a list</summary>'
        '<p id="listing-note"></p><ul id="listing-items"></ul></details>'
    )
    body = (
        f"{filters}"
        '<p id="status" role="status" aria-live="polite">Loading the assets…</p>'
        f'<div class="map-and-legend"><div class="map-box">{svg}</div>{_legend()}</div>{listing}'
    )
    return layout("The valley, live", body, "/")


def _frame_data(frame: Frame) -> str:
    return (
        f'data-west="{frame.west}" data-north="{frame.north}" '
        f'data-sx="{frame.scale_x}" data-sy="{frame.scale_y}"'
    )


def _table(rows: list[dict[str, Any]], caption: str) -> str:
    if not rows:
        return f"<p>{escape(caption)}: none.</p>"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    head = "".join(f'<th scope="col">{escape(c.replace("_", " "))}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f'<div class="table-box"><table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict | list):
        return escape(
            ", ".join(f"{k}: {v}" for k, v in value.items())
            if isinstance(value, dict)
            else ", ".join(map(str, value))
        )
    return escape(str(value))


def state_table(state: dict[str, Any], table_id: str, caption: str) -> str:
    """An asset's fields as a two-column table."""
    rows = "".join(
        f'<tr><th scope="row">{escape(k.replace("_", " "))}</th><td>{_cell(v)}</td></tr>'
        for k, v in state.items()
    )
    return f'<table id="{table_id}" class="state"><caption>{escape(caption)}</caption><tbody>{rows}</tbody></table>'


def chart(series: dict[str, Any] | None) -> str:
    """The asset's recent series as an inline SVG line, with its figures in words."""
    if series is None:
        return "<p>This kind of asset has no time series.</p>"
    points = [(p[0], p[1]) for p in series["points"] if p[1] is not None]
    if not points:
        return f"<p>No {escape(series['label'])} in the last 30 days.</p>"
    times = [datetime.fromisoformat(t).timestamp() for t, _ in points]
    values = [v for _, v in points]
    low_t, high_t = times[0], max(times[-1], times[0] + 1)
    top = max(max(values), 1e-9)
    width, height = 600, 200
    coords = " ".join(
        f"{40 + (t - low_t) / (high_t - low_t) * (width - 50):.1f},{height - 20 - v / top * (height - 40):.1f}"
        for t, v in zip(times, values, strict=True)
    )
    summary = (
        f"{len(points)} values of {series['label']} from {points[0][0][:16]} to "
        f"{points[-1][0][:16]} UTC; highest {top:,.1f}, last {values[-1]:,.1f}"
    )
    return (
        f'<figure><svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}">'
        f'<line class="axis" x1="40" y1="{height - 20}" x2="{width - 10}" y2="{height - 20}"/>'
        f'<line class="axis" x1="40" y1="20" x2="40" y2="{height - 20}"/>'
        f'<text x="36" y="24" text-anchor="end">{top:,.0f}</text><text x="36" y="{height - 20}" text-anchor="end">0</text>'
        f'<polyline class="line" points="{coords}"/></svg>'
        f"<figcaption>{escape(summary)}</figcaption></figure>"
    )


def asset_page(
    code: str, state: dict[str, Any], series: dict[str, Any] | None, now: datetime
) -> str:
    """An asset: its state now, its recent series, and a slider through its history."""
    start = datetime.fromisoformat(state["installed_at"])
    slider = (
        '<section aria-labelledby="travel-title"><h2 id="travel-title">As of an instant</h2>'
        f'<form id="travel" data-code="{escape(code)}" data-start="{int(start.timestamp())}" data-end="{int(now.timestamp())}">'
        f'<label for="instant">Instant</label> <input type="range" id="instant" name="instant" '
        f'min="{int(start.timestamp())}" max="{int(now.timestamp())}" step="3600" value="{int(now.timestamp())}">'
        '<output id="instant-text" for="instant"></output></form>'
        '<div id="asof" aria-live="polite"></div></section>'
    )
    body = (
        f'<p><a href="/">← back to the map</a></p>'
        f"{state_table(state, 'now', 'State now')}"
        f'<section aria-labelledby="chart-title"><h2 id="chart-title">History</h2>{chart(series)}</section>'
        f"{slider}"
    )
    return layout(f"{state['kind']} {code}", body)


def _alert_items(alerts: list[dict[str, Any]]) -> str:
    items = []
    for alert in alerts:
        code = alert_code(alert)
        link = f'<a href="/asset/{quote(code)}">{escape(code)}</a>' if code else "—"
        details = ", ".join(
            f"{escape(str(k).replace('_', ' '))}: {_cell(v)}"
            for k, v in alert.items()
            if k not in ("asset_code", "code", "asset") and v is not None
        )
        items.append(f'<li class="alert">{link} — {details}</li>')
    return "".join(items)


def alerts_page(alerts: dict[str, list[dict[str, Any]]] | None, problem: str | None) -> str:
    """Alerts holding now and those cleared lately, each with a link to its asset's page."""
    if problem is not None or alerts is None:
        body = f"<p>Alerts are not available: {escape(problem or '')}.</p>"
        return layout("Alerts", body, "/alerts")
    current, history = alerts["current"], alerts["history"]
    body = (
        f"<h2>Holding now ({len(current)})</h2>"
        f'<ul class="alerts" id="current-alerts">{_alert_items(current) or "<li>No alert.</li>"}</ul>'
        f"<h2>Raised and cleared in the last 30 days ({len(history)})</h2>"
        f'<ul class="alerts" id="past-alerts">{_alert_items(history) or "<li>None.</li>"}</ul>'
    )
    return layout("Alerts", body, "/alerts")


def _nested(value: Any, depth: int = 2) -> str:
    if isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
        parts = [state_table(scalars, "", "Figures")] if scalars else []
        for key, inner in value.items():
            if isinstance(inner, dict | list):
                level = min(depth, 4)
                parts.append(
                    f"<section><h{level}>{escape(str(key).replace('_', ' '))}</h{level}>{_nested(inner, depth + 1)}</section>"
                )
        return "".join(parts)
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            return _table(value, "Rows")
        return f"<p>{_cell(value)}</p>"
    return f"<p>{_cell(value)}</p>"


def health_page(health: Any, problem: str | None) -> str:
    """The territory's data self-diagnosis, as tables."""
    if problem is not None:
        return layout(
            "Data health", f"<p>Data health is not available: {escape(problem)}.</p>", "/health"
        )
    return layout("Data health", _nested(health), "/health")


def _datasets(catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("dcat:dataset", "dataset", "datasets"):
        found = catalogue.get(key)
        if isinstance(found, list):
            return [d for d in found if isinstance(d, dict)]
    graph = catalogue.get("@graph")
    if isinstance(graph, list):
        for node in graph:
            if isinstance(node, dict) and _datasets(node):
                return _datasets(node)
    return []


def _text(node: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = node.get(key)
        if isinstance(value, dict):
            value = value.get("@value", value.get("@id"))
        if isinstance(value, list) and value:
            value = (
                value[0]["@value"]
                if isinstance(value[0], dict) and "@value" in value[0]
                else value[0]
            )
        if value is not None:
            return str(value)
    return ""


def _downloads(dataset: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    distributions = dataset.get("dcat:distribution", dataset.get("distribution", []))
    for distribution in distributions if isinstance(distributions, list) else [distributions]:
        if not isinstance(distribution, dict):
            continue
        url = _text(distribution, "dcat:downloadURL", "downloadURL", "dcat:accessURL", "accessURL")
        if url:
            label = (
                _text(distribution, "dct:title", "title", "dct:format", "format", "dcat:mediaType")
                or url
            )
            found.append((url, label))
    return found


def catalogue_page(catalogue: dict[str, Any] | None, problem: str | None) -> str:
    """The datasets of the DCAT-AP catalogue, with their download links."""
    if problem is not None or catalogue is None:
        return layout(
            "Data catalogue",
            f"<p>The catalogue is not available: {escape(problem or '')}.</p>",
            "/catalogue",
        )
    items = []
    for dataset in _datasets(catalogue):
        title = _text(dataset, "dct:title", "title") or _text(dataset, "@id")
        description = _text(dataset, "dct:description", "description")
        links = "".join(
            f'<li><a href="{escape(url)}">{escape(label)}</a></li>'
            for url, label in _downloads(dataset)
        )
        items.append(
            f'<li class="dataset"><h2>{escape(title)}</h2><p>{escape(description)}</p>'
            f'<ul class="downloads">{links or "<li>no download</li>"}</ul></li>'
        )
    body = (
        '<p>The valley\'s datasets in DCAT-AP (<a href="/api/catalogue">JSON-LD</a>).</p>'
        f'<ul class="datasets">{"".join(items)}</ul>'
    )
    return layout("Data catalogue", body, "/catalogue")


def reports_page(reports: list[dict[str, Any]], folder: str) -> str:
    """The scenario reports found in the reports folder."""
    if not reports:
        body = f"<p>No report in {escape(folder)} yet: <code>twin scenario run FILE</code> writes one.</p>"
    else:
        items = "".join(
            f'<li><a href="/reports/{quote(r["name"])}/index.html">{escape(r["name"])}</a> '
            f"(written {escape(r['written_at'][:16])} UTC)</li>"
            for r in reports
        )
        body = f"<p>Reports in {escape(folder)}:</p><ul>{items}</ul>"
    return layout("Scenario reports", body, "/reports")


def not_found_page(what: str) -> str:
    """A page for a missing asset or file."""
    return layout("Not found", f'<p>{escape(what)}</p><p><a href="/">Back to the map</a></p>')
