"""Device simulators: realistic payload streams for the valley, in the devices' own formats.

They produce what the real devices and gateways would send — LoRaWAN uplink JSON carrying
EM310-UDL frames, BLE sightings, meter readings, citizen-app posts — so that a demo or a test
exercises the real adapters and the real wire. Assets come in as plain specs (adapters never
import the twin). Same seed, same streams.

Shapes, from the public figures in ``../shared/data/PARAMETERS.md``:
* fill: residual ~5.75 L per inhabitant per day at home, glass ~0.6 L, packaging and paper
  about the residual volume; +15 % at weekends, summer +20 % (tourism), noise ±25 %;
* footfall: Hérault overnight stays 58 % in summer, 7 % in winter; daily shape peaking
  mid-afternoon at sites, at noon in the activity zone;
* lighting: burning hours from the night length at the valley's latitude (43.65° N).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

LATITUDE_DEG = 43.65
# The valley's local time, as the trucks' on-board units stamp their logs (CET / CEST; the
# exact switch dates do not matter to a simulation).
_PARIS_WINTER = timezone(timedelta(hours=1))
_PARIS_SUMMER = timezone(timedelta(hours=2))
COLLECTION_HOUR = 6  # rounds start early in the morning
SEASON_FACTOR = {
    12: 0.7,
    1: 0.6,
    2: 0.7,
    3: 0.9,
    4: 1.0,
    5: 1.1,
    6: 1.4,
    7: 1.9,
    8: 2.0,
    9: 1.3,
    10: 1.0,
    11: 0.7,
}


@dataclass(frozen=True)
class SimulatedBin:
    """A bin fitted with an ultrasonic sensor."""

    code: str
    dev_eui: str
    capacity_l: int
    depth_mm: int
    litres_per_day: float
    collection_weekdays: tuple[int, ...]  # Monday = 0
    kg_per_litre: float = 0.1  # loose density of its waste, for the truck's weighing
    tag: str = ""  # the RFID tag on the container (made from its code when empty)


@dataclass(frozen=True)
class SimulatedScanner:
    """A BLE scanner and how many distinct devices pass at its busiest hour."""

    scanner: str
    beacon_code: str
    peak_devices_per_hour: float
    peak_hour: int


@dataclass(frozen=True)
class SimulatedMeter:
    """A meter on a site: a lighting cabinet (kW when lit) or a building (kWh per day)."""

    meter: str
    site_code: str
    lighting_kw: float = 0.0
    building_kwh_per_day: float = 0.0


def night_hours(day: datetime, latitude_deg: float = LATITUDE_DEG) -> float:
    """Hours between sunset and sunrise (sun's centre at the horizon) on a day."""
    day_of_year = day.timetuple().tm_yday
    declination = math.radians(-23.44) * math.cos(2 * math.pi * (day_of_year + 10) / 365)
    cos_hour_angle = -math.tan(math.radians(latitude_deg)) * math.tan(declination)
    hour_angle = math.degrees(math.acos(max(-1.0, min(1.0, cos_hour_angle))))
    return 24.0 - 2 * hour_angle / 15.0


def em310_udl_frame(distance_mm: int, battery_percent: int, tilted: bool = False) -> bytes:
    """An EM310-UDL uplink frame: battery, distance and position channels."""
    return (
        bytes([0x01, 0x75, battery_percent])
        + bytes([0x03, 0x82])
        + distance_mm.to_bytes(2, "little")
        + bytes([0x04, 0x00, 1 if tilted else 0])
    )


def lorawan_uplink(dev_eui: str, frame: bytes, at: datetime, f_cnt: int, network: str) -> str:
    """The JSON a network server publishes on MQTT for one uplink (ChirpStack v4 or TTS v3)."""
    data = base64.b64encode(frame).decode("ascii")
    stamp = at.isoformat().replace("+00:00", "Z")
    if network == "chirpstack":
        document = {
            "deduplicationId": f"{dev_eui}-{f_cnt}",
            "time": stamp,
            "deviceInfo": {
                "tenantName": "CCVH",
                "applicationName": "dechets",
                "deviceName": dev_eui,
                "devEui": dev_eui.lower(),
            },
            "fCnt": f_cnt,
            "fPort": 85,
            "data": data,
        }
    else:
        document = {
            "end_device_ids": {
                "device_id": f"em310-{dev_eui.lower()}",
                "dev_eui": dev_eui,
                "application_ids": {"application_id": "ccvh-dechets"},
            },
            "received_at": stamp,
            "uplink_message": {"f_port": 85, "f_cnt": f_cnt, "frm_payload": data},
        }
    return json.dumps(document)


def fill_uplinks(
    bins: Sequence[SimulatedBin], start: datetime, days: int, every_hours: int, seed: int
) -> Iterator[tuple[datetime, str]]:
    """Uplinks of every bin over ``days``, in time order; bins are emptied on collection days."""
    for step in _fill_simulation(bins, start, days, every_hours, seed):
        if isinstance(step, _Reading):
            frame = em310_udl_frame(step.distance_mm, step.battery_percent)
            network = "chirpstack" if step.counter % 2 else "ttn"
            yield step.at, lorawan_uplink(step.bin.dev_eui, frame, step.at, step.counter, network)


LIFT_LOG_HEADER = "vehicle;tour;lift_time;tag;lat;lon;gross_kg;tare_kg;net_kg;side;status"
TRUCK = "GE-482-KT"
TARE_KG = 62.0
ROUND_STOPS = 120  # containers one truck empties in a morning's round  # the lifter's cradle and the container's own weight, as the weighing sees them


def truck_lift_log(
    bins: Sequence[SimulatedBin], start: datetime, days: int, every_hours: int, seed: int
) -> Iterator[tuple[datetime, str]]:
    """The collection truck's lift log over the same days: a header, then one line per
    container emptied, with the waste the fill simulation had put in it (same seed, same
    collections as :func:`fill_uplinks`), its tag and its weighing; times in Paris time."""
    yield start, LIFT_LOG_HEADER
    order = {spec.code: number for number, spec in enumerate(bins)}
    for step in _fill_simulation(bins, start, days, every_hours, seed):
        if isinstance(step, _Collection):
            # The rounds visit the containers in the plan's order, two minutes apart, each truck
            # taking up to 120 containers (four hours) from 06:00.
            lifted_at = step.at + timedelta(minutes=2 * (order[step.bin.code] % ROUND_STOPS))
            net = round(step.litres * step.bin.kg_per_litre, 1)
            local = lifted_at.astimezone(
                _PARIS_SUMMER if 4 <= lifted_at.month <= 10 else _PARIS_WINTER
            )
            weekdays = "".join(str(d) for d in step.bin.collection_weekdays)
            tour = f"R{weekdays}-{local:%Y-%m-%d}"
            yield (
                lifted_at,
                ";".join(
                    [
                        TRUCK,
                        tour,
                        local.isoformat(timespec="seconds"),
                        tag_of(step.bin),
                        "",
                        "",
                        _comma(net + TARE_KG),
                        _comma(TARE_KG),
                        _comma(net),
                        "L" if order[step.bin.code] % 2 else "R",
                        "OK",
                    ]
                ),
            )


def tag_of(spec: SimulatedBin) -> str:
    """The container's RFID tag: its own, or a stable FDX-B number (15 digits) from its code."""
    if spec.tag:
        return spec.tag
    digest = int(hashlib.sha256(spec.code.encode()).hexdigest()[:12], 16) % 10**12
    return f"982{digest:012d}"  # 982: a manufacturer code, as ISO 11784 tags carry


def _comma(kilograms: float) -> str:
    return f"{kilograms:.1f}".replace(".", ",")  # French exports write decimal commas


@dataclass(frozen=True)
class _Reading:
    at: datetime
    bin: SimulatedBin
    distance_mm: int
    battery_percent: int
    counter: int


@dataclass(frozen=True)
class _Collection:
    at: datetime  # the round's start (06:00) that day
    bin: SimulatedBin
    litres: float  # what the truck lifted out


def _fill_simulation(
    bins: Sequence[SimulatedBin], start: datetime, days: int, every_hours: int, seed: int
) -> Iterator[_Reading | _Collection]:
    """What the bins hold, reading by reading, with the collections that emptied them."""
    rng = random.Random(seed)
    fill_l = {b.code: rng.uniform(0, 0.3) * b.capacity_l for b in bins}
    counters = dict.fromkeys((b.code for b in bins), 0)
    step = timedelta(hours=every_hours)
    at = start
    while at < start + timedelta(days=days):
        for spec in bins:
            weekend = 1.15 if at.weekday() >= 5 else 1.0
            season = 1.2 if at.month in (7, 8) else 1.0
            added = (
                spec.litres_per_day * every_hours / 24 * weekend * season * rng.uniform(0.75, 1.25)
            )
            fill_l[spec.code] = min(spec.capacity_l * 1.1, fill_l[spec.code] + added)
            collected = _collection_in(at - step, at, spec.collection_weekdays)
            if collected is not None:
                yield _Collection(collected, spec, fill_l[spec.code])
                fill_l[spec.code] = rng.uniform(0.0, 0.03) * spec.capacity_l
            level = min(1.0, fill_l[spec.code] / spec.capacity_l)
            distance = max(250, int(spec.depth_mm * (1 - level) + rng.gauss(0, 8)))
            counters[spec.code] += 1
            battery = max(1, 100 - counters[spec.code] // 400)
            yield _Reading(at, spec, distance, battery, counters[spec.code])
        at += step


def _collection_in(after: datetime, until: datetime, weekdays: tuple[int, ...]) -> datetime | None:
    """The collection round (06:00 on a collection weekday) in ``(after, until]``, if any."""
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= until:
        collection = day.replace(hour=COLLECTION_HOUR)
        if day.weekday() in weekdays and after < collection <= until:
            return collection
        day += timedelta(days=1)
    return None


def ble_sightings(
    scanners: Sequence[SimulatedScanner], start: datetime, days: int, seed: int
) -> Iterator[tuple[datetime, str]]:
    """Sightings of phones (random addresses) by each scanner, in time order."""
    rng = random.Random(seed)
    for hour in range(days * 24):
        at = start + timedelta(hours=hour)
        sightings = []
        for scanner in scanners:
            shape = math.exp(-(((at.hour - scanner.peak_hour) / 3.0) ** 2))
            expected = scanner.peak_devices_per_hour * shape * SEASON_FACTOR[at.month] / 2.0
            for _ in range(_poisson(rng, expected)):
                seen = at + timedelta(seconds=rng.uniform(0, 3600))
                address = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
                sightings.append(
                    (
                        seen,
                        json.dumps(
                            {
                                "scanner": scanner.scanner,
                                "seen_at": seen.isoformat().replace("+00:00", "Z"),
                                "address": address,
                                "adv": "0201061aff4c000215"
                                + "".join(f"{rng.randrange(256):02x}" for _ in range(21)),
                            }
                        ),
                    )
                )
        yield from sorted(sightings)


def meter_readings(
    meters: Sequence[SimulatedMeter], start: datetime, days: int, seed: int
) -> Iterator[tuple[datetime, str]]:
    """One cumulative index reading per meter and day at 06:00 UTC."""
    rng = random.Random(seed)
    index = {m.meter: rng.uniform(1_000, 50_000) for m in meters}
    for day in range(days):
        at = start + timedelta(days=day, hours=6)
        for meter in meters:
            index[meter.meter] += meter.lighting_kw * night_hours(
                at
            ) + meter.building_kwh_per_day * rng.uniform(0.8, 1.2)
            yield (
                at,
                json.dumps(
                    {
                        "meter": meter.meter,
                        "site": meter.site_code,
                        "read_at": at.isoformat().replace("+00:00", "Z"),
                        "index_kwh": round(index[meter.meter], 3),
                    }
                ),
            )


def citizen_posts(
    pseudonyms: Sequence[tuple[str, str, float, float]], start: datetime, days: int, seed: int
) -> Iterator[tuple[datetime, str]]:
    """Registrations, then a few reports and ideas; each pseudonym comes with its commune and home lon/lat."""
    rng = random.Random(seed)
    categories = ("overflowing_bin", "illegal_dumping", "street_light", "road", "green_space")
    posts = []
    for number, (citizen, insee, lon, lat) in enumerate(pseudonyms):
        joined = start + timedelta(hours=rng.uniform(0, 24))
        posts.append(
            (
                joined,
                {"type": "register", "citizen": citizen, "sent_at": joined, "commune_insee": insee},
            )
        )
        for report in range(rng.randrange(0, 3)):
            at = joined + timedelta(days=rng.uniform(0, days - 1))
            posts.append(
                (
                    at,
                    {
                        "type": "report",
                        "citizen": citizen,
                        "sent_at": at,
                        "report_ref": f"r-{number}-{report}",
                        "category": rng.choice(categories),
                        "lon": round(lon + rng.uniform(-0.002, 0.002), 6),
                        "lat": round(lat + rng.uniform(-0.002, 0.002), 6),
                        "text": "Signalé depuis l'application",
                    },
                )
            )
        if rng.random() < 0.3:
            at = joined + timedelta(days=rng.uniform(0, days - 1))
            posts.append(
                (
                    at,
                    {
                        "type": "idea",
                        "citizen": citizen,
                        "sent_at": at,
                        "idea_ref": f"i-{number}",
                        "title": "Plus de composteurs partagés",
                        "text": "Un composteur par quartier",
                    },
                )
            )
    for at, post in sorted(posts, key=lambda pair: pair[0]):
        post["sent_at"] = at.isoformat().replace("+00:00", "Z")
        yield at, json.dumps(post)


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is enough for the small hourly means here.
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def utc(year: int, month: int, day: int) -> datetime:
    """Midnight UTC of a date."""
    return datetime(year, month, day, tzinfo=UTC)


def write_simulated_payloads(devices: dict[str, Any], out: Path) -> dict[str, int]:
    """Write one payload file per adapter for the devices described; return line counts.

    ``devices`` holds ``start`` (ISO instant), ``days``, ``seed``, ``fill_every_hours`` and lists
    ``bins``, ``scanners``, ``meters`` (fields of the Simulated* classes) and ``citizens``
    (``[pseudonym, insee, lon, lat]``).
    """
    start = datetime.fromisoformat(devices["start"])
    # Devices and network servers stamp in UTC; an instant without an offset is taken as UTC.
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    days, seed = int(devices["days"]), int(devices["seed"])
    bins = [
        SimulatedBin(**{**b, "collection_weekdays": tuple(b["collection_weekdays"])})
        for b in devices["bins"]
    ]
    every_hours = int(devices.get("fill_every_hours", 12))
    streams = {
        "fill.jsonl": fill_uplinks(bins, start, days, every_hours, seed),
        "ble.jsonl": ble_sightings(
            [SimulatedScanner(**s) for s in devices["scanners"]], start, days, seed + 1
        ),
        "energy.jsonl": meter_readings(
            [SimulatedMeter(**m) for m in devices["meters"]], start, days, seed + 2
        ),
        "citizen.jsonl": citizen_posts(
            [tuple(c) for c in devices["citizens"]], start, days, seed + 3
        ),
        # The trucks that emptied the same bins, on the same days: the same simulation.
        "lifts.csv": truck_lift_log(bins, start, days, every_hours, seed),
    }
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, lines in streams.items():
        with (out / name).open("w", encoding="utf-8") as handle:
            count = 0
            for _, line in lines:
                handle.write(line + "\n")
                count += 1
        counts[name] = count
    return counts
