"""The live demo: the valley built, then weeks of device traffic through the real path.

Simulated devices write payloads in their own formats; each reference adapter runs as its own
process (``twin adapter run``), authenticates with its CURVE key and sends over ZeroMQ to an
ingest service running here, which commits in batches and acknowledges. Nothing is faked
between the payload and the store. The adapters run as ``python -m valley_twin adapter``, in
processes of their own, as they would on a gateway.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import tomli_w

from adapters.simulators import SimulatedBin, tag_of
from adapters.wire import create_keypair
from domain import Beacon, Bin, Site, SiteKind, ValleyAggregate, WasteStream
from scenarios import SHIPPED
from simulation.parameters import fleet as fleet_figures
from simulation.parameters import waste as waste_figures
from twin import (
    COMMISSIONED_AT,
    RULE_BY_STREAM,
    Geography,
    ServerSettings,
    TwinError,
    ValleyTwin,
    allow_list_entry,
    load_geography,
)
from valley_twin.bootstrap import ingest_service, load_credentials

SENSOR_STREAMS = (WasteStream.GLASS, WasteStream.PACKAGING, WasteStream.PAPER)
COLLECTION_DAYS = {"glass": (1,), "packaging": (0, 3), "paper": (2,)}  # assumed rounds
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # as scenario files name days
DEMO_ROUND_CYCLE_DAYS = 7  # COLLECTION_DAYS are weekly: a fixed run covers at least one week
# Distinct phones per hour at the busiest hour, per place (assumed, scaled on visitor counts
# in PARAMETERS.md: Saint-Guilhem 650–800 k visitors/yr, Pont du Diable 270 k).
PEAK_DEVICES = {
    "ZAE-CAMALCE": (120, 12),
    "SITE-SAINT-GUILHEM": (260, 15),
    "SITE-PONT-DU-DIABLE": (180, 15),
    "SITE-CLAMOUSE": (60, 15),
}
BUILDING_KWH_PER_DAY = 205.0  # 500 m² town hall at ≈150 kWh/m²/yr (ADEME)
ADAPTERS = {
    "lorawan-ultrasonic": "fill.jsonl",
    "ble-footfall": "ble.jsonl",
    "energy-meter": "energy.jsonl",
    "citizen-app": "citizen.jsonl",
    "truck-lifts": "lifts.csv",
    "truck-tours": "tours.csv",
}
FEED_STARTS_AFTER_COMMISSIONING = timedelta(days=120)  # the devices' traffic begins then
TIP_SITE = "SCH-ASPIRAN"  # the weighbridge of the Syndicat Centre Hérault's site at Aspiran


def feed_start() -> datetime:
    """The first instant of the live feed's traffic (midnight UTC)."""
    return COMMISSIONED_AT + FEED_STARTS_AFTER_COMMISSIONING


def history_scenarios(
    store: str, days: int, fleet: dict[str, int], folder: Path, policies: tuple[str, ...]
) -> list[Path]:
    """The shipped collection policies over the demo's own days, read from its store.

    One file per shipped policy file (``policies``, names in ``scenarios/files``), each
    extending it with a ``[history]`` pointing at ``store``: the demo's days from the feed's
    start, its sensor streams in every commune, one replication (the comparison ends a demo),
    the trucks the tours show (``fleet``), and for fixed rounds the demo's own rounds
    (``COLLECTION_DAYS``), so that "fixed" is what the trucks were sent to do. Written into
    ``folder``, so a planner can run them again (``twin scenario compare``) while the store
    lasts.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in policies:
        parent = SHIPPED / name
        doc: dict[str, Any] = {
            "extends": str(parent),
            "run": {
                "start": feed_start().date(),
                "horizon_days": days,
                "replications": 1,
            },
            "history": {"store": store, "fit_days": 28},
            "inventory": {
                "communes": sorted(c.insee for c in load_geography().communes),
                "streams": list(SENSOR_STREAMS),
                "sizing": "as_installed",  # the containers the store recorded
            },
            "fleet": dict(fleet),
        }
        if (
            tomllib.loads(parent.read_text(encoding="utf-8")).get("policy", {}).get("kind")
            == "fixed"
        ):
            doc["title"] = "Fixed rounds (the demo's)"
            doc["policy"] = {
                "rounds": {
                    s: {"weekdays": [DAY_NAMES[d] for d in COLLECTION_DAYS[s]]}
                    for s in SENSOR_STREAMS
                }
            }
        path = folder / name
        path.write_text(
            "# Built by twin demo: the shipped scenario over the demo's store and days.\n"
            + tomli_w.dumps(doc),
            encoding="utf-8",
        )
        paths.append(path)
    return paths


@dataclass
class FeedResult:
    """What the live feed did."""

    payload_lines: dict[str, int]
    seconds: float
    stats: dict[str, Any]
    adapter_stats: dict[str, dict[str, Any]]


def dev_eui(bin_code: str) -> str:
    """A stable, made-up DevEUI for a simulated sensor."""
    return hashlib.sha256(bin_code.encode()).hexdigest()[:16].upper()


def device_plan(
    assets: list[ValleyAggregate], geography: Geography, start: datetime, days: int, seed: int
) -> dict[str, Any]:
    """The simulated devices: sensors on drop-off columns, the beacons, meters, some citizens."""
    bins = [
        {
            "code": a.code,
            "dev_eui": dev_eui(a.code),
            "capacity_l": a.capacity_l,
            "depth_mm": int((a.depth_cm or 100) * 10),
            "litres_per_day": RULE_BY_STREAM[a.stream].litres_per_container_day,
            "kg_per_litre": waste_figures.density_kg_per_l(a.stream),
            "collection_weekdays": list(COLLECTION_DAYS[a.stream]),
            "stream": a.stream,
            "x_l93": a.x_l93,
            "y_l93": a.y_l93,
        }
        for a in assets
        if isinstance(a, Bin) and a.stream in SENSOR_STREAMS
    ]
    beacons = [a for a in assets if isinstance(a, Beacon)]
    scanners = [
        {
            "scanner": f"gw-{b.code.lower()}",
            "beacon_code": b.code,
            "peak_devices_per_hour": PEAK_DEVICES[b.zone_code][0]
            / sum(1 for o in beacons if o.zone_code == b.zone_code),
            "peak_hour": PEAK_DEVICES[b.zone_code][1],
        }
        for b in beacons
    ]
    meters = []
    for site in assets:
        if isinstance(site, Site) and site.site_kind == SiteKind.LIGHTING_CABINET:
            meters.append(
                {
                    "meter": f"M-{site.code}",
                    "site_code": site.code,
                    "lighting_kw": site.light_points * site.point_power_w / 1000,
                }
            )
        elif isinstance(site, Site) and site.site_kind == SiteKind.PUBLIC_BUILDING:
            meters.append(
                {
                    "meter": f"M-{site.code}",
                    "site_code": site.code,
                    "building_kwh_per_day": BUILDING_KWH_PER_DAY,
                }
            )
    citizens = []
    for number, commune in enumerate(geography.communes * 4):
        centre = commune.boundary.representative_point()
        lon, lat = geography.to_wgs84(centre.x, centre.y)
        citizens.append(
            [f"c-{commune.insee}-{number:03d}", commune.insee, round(lon, 6), round(lat, 6)]
        )
    return {
        "start": start.isoformat(),
        "days": days,
        "seed": seed,
        "fill_every_hours": 12,
        "bins": bins,
        "scanners": scanners,
        "meters": meters,
        "citizens": citizens,
        "fleet": simulated_fleet(geography),
    }


def simulated_fleet(geography: Geography) -> dict[str, Any]:
    """The trucks that empty the simulated columns: the fleet's public figures, its depot and
    its tip (``simulation.parameters.fleet``), in the simulator's terms."""
    depot, tip = fleet_figures.DEPOT.position, fleet_figures.TIP.position
    home = geography.commune_at(depot)
    if home is None:
        raise TwinError(f"the depot {fleet_figures.DEPOT.address} lies outside the valley")
    return {
        "depot": [depot.x, depot.y],
        "tip": [tip.x, tip.y],
        "tip_site": TIP_SITE,
        "depot_insee": home.insee,
        "circuity": fleet_figures.ROAD_CIRCUITY,
        "speed_kmh": fleet_figures.AVERAGE_SPEED_KMH,
        "service_min": fleet_figures.SERVICE_MIN_COLUMN,  # the sensors are on drop-off columns
        "tip_min": fleet_figures.TIP_SERVICE_MIN,
        "shift_h": fleet_figures.SHIFT_H,
        "payload_kg": fleet_figures.PAYLOAD_KG,
        "body_m3": fleet_figures.BODY_VOLUME_M3,
        "compacted_kg_m3": fleet_figures.COMPACTED_DENSITY_KG_M3,
        "uncompacted_streams": ["glass"],  # a crane truck, as simulation.waste's fleets have it
    }


def adapter_configs(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each reference adapter's own settings for the simulated devices."""
    return {
        "lorawan-ultrasonic": {
            "devices": {
                b["dev_eui"]: {"bin": b["code"], "depth_mm": b["depth_mm"], "model": "em310-udl"}
                for b in plan["bins"]
            }
        },
        "ble-footfall": {
            "scanners": {s["scanner"]: s["beacon_code"] for s in plan["scanners"]},
            "salt": hashlib.sha256(f"demo-{plan['seed']}".encode()).hexdigest(),
            "interval_s": 900,
        },
        "energy-meter": {},
        "citizen-app": {"app_id": "ccvh-app"},
        "truck-lifts": {"tags": {tag_of(_simulated(b)): b["code"] for b in plan["bins"]}},
        # A truck's first tour registers it, at its depot.
        "truck-tours": {"depot_insee": plan["fleet"]["depot_insee"]},
    }


def _simulated(spec: dict[str, Any]) -> SimulatedBin:
    return SimulatedBin(**{**spec, "collection_weekdays": tuple(spec["collection_weekdays"])})


def run_live_feed(
    twin: ValleyTwin,
    geography: Geography,
    assets: list[ValleyAggregate],
    workdir: Path,
    days: int,
    seed: int,
) -> FeedResult:
    """Simulate ``days`` of traffic after commissioning and push it through adapters and ingest."""
    start = feed_start()
    plan = device_plan(assets, geography, start, days, seed)
    (workdir / "devices.json").write_text(json.dumps(plan), encoding="utf-8")
    # A lift and a sensor's reading of one bin come through different adapters, so they reach
    # ingest out of world-time order: the log takes such late facts in their place.
    lines = json.loads(
        _adapter_command(
            ["simulate", "--devices", str(workdir / "devices.json"), "--out", str(workdir)]
        )
    )

    keys = workdir / "keys"
    create_keypair(keys, "ingest")
    allowed = [allow_list_entry(create_keypair(keys, name)[0], name) for name in ADAPTERS]
    (keys / "allowed").write_text("\n".join(allowed) + "\n", encoding="utf-8")

    server = ingest_service(
        twin,
        geography,
        ServerSettings(endpoint="tcp://127.0.0.1:*", status_path=workdir / "status.json"),
        load_credentials(keys / "ingest.key_secret", keys / "allowed"),
    )
    processor = server.processor
    stop_ingest = server.serve_in_thread()
    started = time.perf_counter()
    processes: list[subprocess.Popen[str]] = []
    try:
        for name, config in adapter_configs(plan).items():
            path = workdir / f"{name}.toml"
            path.write_text(
                _toml(name, server.bound_endpoint or "", config, workdir), encoding="utf-8"
            )
            with (workdir / f"{name}.log").open("w", encoding="utf-8") as log:
                processes.append(_adapter_process(["run", name, "--config", str(path)], log))
        adapter_stats = {}
        for name, process in zip(ADAPTERS, processes, strict=True):
            out, _ = process.communicate(timeout=900)
            if process.returncode != 0:
                log_lines = (
                    (workdir / f"{name}.log").read_text(encoding="utf-8").strip().splitlines()
                )
                raise TwinError(f"adapter {name} failed: {log_lines[-1:]}")
            adapter_stats[name] = json.loads(out)
    finally:
        for process in processes:  # none outlives the demo, whatever happened
            if process.poll() is None:
                process.kill()
                process.wait()
        stop_ingest()
    return FeedResult(
        lines, time.perf_counter() - started, processor.stats.as_dict(), adapter_stats
    )


def _toml(name: str, endpoint: str, adapter: dict[str, Any], workdir: Path) -> str:
    return tomli_w.dumps(
        {
            "source": name,
            "endpoint": endpoint,
            "client_key": f"keys/{name}.key_secret",
            "server_key": "keys/ingest.key",
            "outbox": f"{name}.outbox",
            "input": {
                "type": "jsonl" if ADAPTERS[name].endswith(".jsonl") else "lines",
                "path": str(workdir / ADAPTERS[name]),
            },
            "adapter": adapter,
        }
    )


def _adapter_process(
    arguments: list[str], log: TextIO | int = subprocess.PIPE
) -> subprocess.Popen[str]:
    # The log goes to a file: a chatty adapter must never block on a pipe nobody reads.
    return subprocess.Popen(
        [sys.executable, "-m", "valley_twin", "adapter", *arguments],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )


def _adapter_command(arguments: list[str]) -> str:
    process = _adapter_process(arguments)
    out, errors = process.communicate(timeout=600)
    if process.returncode != 0:
        raise TwinError(f"twin adapter {arguments[0]} failed: {errors.strip()}")
    return out


_INGEST_COUNTS = ("received", "committed", "duplicates", "rejected", "batches")


def feed_summary(feed: FeedResult) -> dict[str, Any]:
    """What the live feed did, as plain values for ``twin demo --json``."""
    return {
        "payload_lines": dict(feed.payload_lines),
        "seconds": round(feed.seconds, 1),
        "ingest": {name: feed.stats.get(name) for name in _INGEST_COUNTS},
        "rejected_by_reason": dict(feed.stats.get("rejected_by_reason", {})),
        "adapters": {name: dict(stats) for name, stats in feed.adapter_stats.items()},
    }


def demo_summary(
    *,
    store: str,
    seed: int,
    days: int,
    facts: dict[str, Any],
    report: Path | None,
    exit_code: int,
) -> dict[str, Any]:
    """The summary ``twin demo --json`` prints: the store, what was built and fed, the comparison.

    ``facts`` holds what the demo gathered as it ran (``assets``, and ``feed`` when devices were
    fed). The comparison is the report's own ``kpis.json`` (one shape with ``twin scenario
    compare --json``), read only when the demo succeeded, so a stale file from an earlier run is
    never passed off as this one's.
    """
    comparison: dict[str, Any] | None = None
    if report is not None:
        kpis_file = report / "kpis.json"
        kpis = None
        if exit_code == 0 and kpis_file.is_file():
            kpis = json.loads(kpis_file.read_text(encoding="utf-8"))
        comparison = {"report": str(report), "kpis": kpis}
    return {
        "store": store,
        "seed": seed,
        "days": days,
        "assets": facts.get("assets"),
        "feed": facts.get("feed"),
        "comparison": comparison,
        "exit_code": exit_code,
    }


def write_demo_summary(summary: dict[str, Any], out: TextIO) -> None:
    """Write the summary as one JSON document (instants and paths as text)."""
    json.dump(summary, out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")
