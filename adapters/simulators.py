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
* lighting: burning hours from the night length at the valley's latitude (43.65° N);
* collection trucks: the containers the fill simulation empties, lifted by trucks that drive
  from the depot to them and to the tip within their shift (:class:`SimulatedFleet`); their
  lift log and their tour reports (km driven, weighbridge tickets) come from the same tours.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
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
    stream: str = "residual"  # what the truck that empties it collects
    x_l93: float | None = None  # where it stands (Lambert-93 m), for the trucks' km
    y_l93: float | None = None


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
TOUR_LOG_HEADER = "vehicle;tour;stream;start;end;odo_start_km;odo_end_km;km;tips"
TRUCK = "GE-482-KT"  # the first truck of the first round; the others get registrations of their own
TARE_KG = 62.0  # the lifter's cradle and the container's own weight, as the weighing sees them
# The codes the trucks' on-board computers export for each stream (the tour adapter knows them).
STREAM_CODES = {
    "residual": "OMR",
    "packaging": "EMB",
    "glass": "VERRE",
    "paper": "PAPIER",
    "biowaste": "BIO",
}


@dataclass(frozen=True)
class SimulatedFleet:
    """The collection trucks that empty the simulated bins, and where they drive.

    Each day's containers of one stream are visited nearest first from the depot, and shared
    among trucks in that order: a truck leaves the depot at the round's start and takes the next
    container while it can still lift it, unload at the tip and be back at the depot within its
    shift; it unloads at the tip
    whenever the next container would overload it (mass, or body volume once compacted), and
    at the end. Distances are straight lines between Lambert-93 positions times the road
    circuity; without the depot's, the tip's and the bins' positions every leg is 0 km, and the
    lifts follow each other by the service time alone.
    """

    depot: tuple[float, float] | None = None  # Lambert-93 m
    tip: tuple[float, float] | None = None
    tip_site: str = "SCH-ASPIRAN"  # the weighbridge's site code on the tickets
    depot_insee: str = ""
    circuity: float = 1.3
    speed_kmh: float = 40.0
    service_min: float = 2.0
    tip_min: float = 20.0
    shift_h: float = 7.0
    payload_kg: float = 8_500.0
    body_m3: float = 15.0
    compacted_kg_m3: float = 350.0
    uncompacted_streams: tuple[str, ...] = ("glass",)  # a crane truck tips glass loose

    @property
    def positioned(self) -> bool:
        """Whether the legs have lengths (the depot and the tip are placed)."""
        return self.depot is not None and self.tip is not None


@dataclass(frozen=True)
class SimulatedTour:
    """One truck's tour: what its on-board computer reports, with the lifts it made."""

    vehicle: str
    round_id: str
    stream: str
    started_at: datetime
    ended_at: datetime
    km: float
    odometer_start_km: float
    odometer_end_km: float
    tips: tuple[tuple[str, datetime, float], ...]  # site, ticket's instant, net tonnes
    lifts: tuple[tuple[datetime, SimulatedBin, float], ...]  # instant, container, net kg


def simulated_tours(
    bins: Sequence[SimulatedBin],
    start: datetime,
    days: int,
    every_hours: int,
    seed: int,
    fleet: SimulatedFleet | None = None,
) -> list[SimulatedTour]:
    """The tours the trucks drove to make the collections of the fill simulation (same seed,
    same collections as :func:`fill_uplinks`), in the order they ended."""
    fleet = fleet or SimulatedFleet()
    if fleet.positioned:
        unplaced = [spec.code for spec in bins if spec.x_l93 is None or spec.y_l93 is None]
        if unplaced:
            raise ValueError(f"bin {unplaced[0]} has no position: the trucks' km need one")
    rounds: dict[tuple[datetime, str], list[_Collection]] = {}
    for step in _fill_simulation(bins, start, days, every_hours, seed):
        if isinstance(step, _Collection):
            rounds.setdefault((step.at, step.bin.stream), []).append(step)
    odometers: dict[str, float] = {}
    tours = []
    for (round_start, stream), collections in rounds.items():
        ordered = _nearest_first(collections, fleet)
        for number, lifts in enumerate(_shares(ordered, round_start, fleet)):
            vehicle = _registration(stream, number)
            odometer = odometers.get(vehicle, _first_odometer(vehicle))
            tour = _drive(vehicle, stream, number, round_start, lifts, odometer, fleet)
            odometers[vehicle] = tour.odometer_end_km
            tours.append(tour)
    return sorted(tours, key=lambda tour: (tour.ended_at, tour.vehicle))


def truck_lift_log(
    bins: Sequence[SimulatedBin],
    start: datetime,
    days: int,
    every_hours: int,
    seed: int,
    fleet: SimulatedFleet | None = None,
) -> Iterator[tuple[datetime, str]]:
    """The collection trucks' lift log over the same days: a header, then one line per
    container emptied, with the waste the fill simulation had put in it, its tag and its
    weighing; times in Paris time. Tour by tour, in the order the tours ended."""
    yield start, LIFT_LOG_HEADER
    yield from _lift_lines(bins, simulated_tours(bins, start, days, every_hours, seed, fleet))


def _lift_lines(
    bins: Sequence[SimulatedBin], tours: Sequence[SimulatedTour]
) -> Iterator[tuple[datetime, str]]:
    order = {spec.code: number for number, spec in enumerate(bins)}
    for tour in tours:
        for lifted_at, spec, net in tour.lifts:
            yield (
                lifted_at,
                ";".join(
                    [
                        tour.vehicle,
                        tour.round_id,
                        _paris(lifted_at).isoformat(timespec="seconds"),
                        tag_of(spec),
                        "",
                        "",
                        _comma(net + TARE_KG),
                        _comma(TARE_KG),
                        _comma(net),
                        "L" if order[spec.code] % 2 else "R",
                        "OK",
                    ]
                ),
            )


def truck_tour_log(tours: Sequence[SimulatedTour]) -> Iterator[tuple[datetime, str]]:
    """The on-board computers' tour reports: a header, then one line per tour, as the
    ``truck-tours`` adapter reads them (times in Paris time, decimal commas)."""
    yield (tours[0].started_at if tours else datetime(2000, 1, 1, tzinfo=UTC)), TOUR_LOG_HEADER
    for tour in tours:
        tickets = "|".join(
            f"{site}@{_paris(at).isoformat(timespec='seconds')}={_comma(tonnes, 2)}"
            for site, at, tonnes in tour.tips
        )
        yield (
            tour.ended_at,
            ";".join(
                [
                    tour.vehicle,
                    tour.round_id,
                    STREAM_CODES[tour.stream],
                    _paris(tour.started_at).isoformat(timespec="seconds"),
                    _paris(tour.ended_at).isoformat(timespec="seconds"),
                    _comma(tour.odometer_start_km),
                    _comma(tour.odometer_end_km),
                    _comma(tour.km),
                    tickets,
                ]
            ),
        )


def _nearest_first(collections: list[_Collection], fleet: SimulatedFleet) -> list[_Collection]:
    """The day's containers in the order the trucks visit them: from the depot, always the
    nearest one not yet visited (the crews' rule of thumb); as given without positions."""
    if not fleet.positioned:
        return collections
    left = list(collections)
    here = fleet.depot or (0.0, 0.0)
    ordered = []
    while left:
        nearest = min(
            range(len(left)), key=lambda n: _leg_km(here, _position(left[n].bin, fleet), fleet)
        )
        ordered.append(left.pop(nearest))
        here = _position(ordered[-1].bin, fleet)
    return ordered


def _shares(
    collections: list[_Collection], round_start: datetime, fleet: SimulatedFleet
) -> list[list[_Collection]]:
    """The day's collections of one stream, cut into one share per truck (see SimulatedFleet)."""
    shares: list[list[_Collection]] = []
    share: list[_Collection] = []
    for collection in collections:
        if share and not _fits(share + [collection], fleet):
            shares.append(share)
            share = []
        share.append(collection)
    if share:
        shares.append(share)
    return shares


def _fits(share: list[_Collection], fleet: SimulatedFleet) -> bool:
    """Whether one truck can make these lifts and be back at the depot within its shift."""
    return _timeline(share, fleet).hours <= fleet.shift_h


@dataclass(frozen=True)
class _Timeline:
    """A truck's day: hours after leaving the depot of each lift and each tip ticket."""

    lift_hours: tuple[float, ...]
    tips: tuple[tuple[float, float], ...]  # hours, net kg
    km: float
    hours: float  # back at the depot


def _timeline(share: list[_Collection], fleet: SimulatedFleet) -> _Timeline:
    depot = fleet.depot or (0.0, 0.0)
    tip = fleet.tip or (0.0, 0.0)
    here, hours, km = depot, 0.0, 0.0
    load_kg, load_l = 0.0, 0.0
    body_l = fleet.body_m3 * 1000.0
    lift_hours: list[float] = []
    tips: list[tuple[float, float]] = []

    def drive(to: tuple[float, float]) -> None:
        nonlocal here, hours, km
        leg = _leg_km(here, to, fleet)
        km, hours, here = km + leg, hours + leg / fleet.speed_kmh, to

    def unload() -> None:
        nonlocal load_kg, load_l, hours
        drive(tip)
        hours += fleet.tip_min / 60.0
        tips.append((hours, load_kg))  # the ticket is printed on the way out, after the tare
        load_kg, load_l = 0.0, 0.0

    for collection in share:
        net = round(collection.litres * collection.bin.kg_per_litre, 1)
        litres = _body_litres(collection, net, fleet)
        if load_kg and (load_kg + net > fleet.payload_kg or load_l + litres > body_l):
            unload()
        drive(_position(collection.bin, fleet))
        lift_hours.append(hours)
        hours += fleet.service_min / 60.0
        load_kg, load_l = load_kg + net, load_l + litres
    if load_kg:
        unload()
    drive(depot)
    return _Timeline(tuple(lift_hours), tuple(tips), km, hours)


def _drive(
    vehicle: str,
    stream: str,
    number: int,
    round_start: datetime,
    share: list[_Collection],
    odometer: float,
    fleet: SimulatedFleet,
) -> SimulatedTour:
    day = _timeline(share, fleet)

    def instant(hours: float) -> datetime:
        return round_start + timedelta(seconds=round(hours * 3600))

    km = round(day.km, 1)
    return SimulatedTour(
        vehicle=vehicle,
        round_id=f"{STREAM_CODES[stream]}-{_paris(round_start):%Y-%m-%d}-{number + 1}",
        stream=stream,
        started_at=round_start,
        ended_at=instant(day.hours),
        km=km,
        odometer_start_km=odometer,
        odometer_end_km=round(odometer + km, 1),
        tips=tuple((fleet.tip_site, instant(h), round(kg / 1000.0, 2)) for h, kg in day.tips),
        lifts=tuple(
            (instant(h), c.bin, round(c.litres * c.bin.kg_per_litre, 1))
            for h, c in zip(day.lift_hours, share, strict=True)
        ),
    )


def _leg_km(a: tuple[float, float], b: tuple[float, float], fleet: SimulatedFleet) -> float:
    if not fleet.positioned:
        return 0.0
    return fleet.circuity * math.hypot(b[0] - a[0], b[1] - a[1]) / 1000.0


def _position(spec: SimulatedBin, fleet: SimulatedFleet) -> tuple[float, float]:
    if spec.x_l93 is None or spec.y_l93 is None:
        return fleet.depot or (0.0, 0.0)  # only without positions at all (checked before)
    return spec.x_l93, spec.y_l93


def _body_litres(collection: _Collection, net_kg: float, fleet: SimulatedFleet) -> float:
    """Litres of the truck's body a lift takes: compacted unless the stream is tipped loose."""
    if collection.bin.stream in fleet.uncompacted_streams:
        return collection.litres
    return min(collection.litres, 1000.0 * net_kg / fleet.compacted_kg_m3)


def _registration(stream: str, number: int) -> str:
    """A stable, made-up French registration (AA-123-AA) for the stream's truck ``number``."""
    if (stream, number) == ("residual", 0):
        return TRUCK
    digest = hashlib.sha256(f"{stream}/{number}".encode()).digest()
    letters = "ABCDEFGHJKLMNPQRSTVWXYZ"  # no I, O or U on French plates
    pick = [letters[b % len(letters)] for b in digest[:4]]
    return f"G{pick[0]}-{100 + int.from_bytes(digest[4:6]) % 900}-{pick[2]}{pick[3]}"


def _first_odometer(vehicle: str) -> float:
    """Where the truck's odometer stood before the simulation: 40,000 to 200,000 km."""
    return float(40_000 + int(hashlib.sha256(vehicle.encode()).hexdigest()[:8], 16) % 160_000)


def _paris(instant: datetime) -> datetime:
    """The instant in the valley's local time, as the trucks' on-board units stamp it."""
    return instant.astimezone(_PARIS_SUMMER if 4 <= instant.month <= 10 else _PARIS_WINTER)


def tag_of(spec: SimulatedBin) -> str:
    """The container's RFID tag: its own, or a stable FDX-B number (15 digits) from its code."""
    if spec.tag:
        return spec.tag
    digest = int(hashlib.sha256(spec.code.encode()).hexdigest()[:12], 16) % 10**12
    return f"982{digest:012d}"  # 982: a manufacturer code, as ISO 11784 tags carry


def _comma(value: float, decimals: int = 1) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")  # French exports write decimal commas


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


def devices_tours(devices: dict[str, Any]) -> list[SimulatedTour]:
    """The tours the trucks of a devices description drove (see
    :func:`write_simulated_payloads`): what ``tours.csv`` reports, with their lifts."""
    start, days, seed, bins, every_hours, fleet = _described(devices)
    return simulated_tours(bins, start, days, every_hours, seed, fleet)


def _described(
    devices: dict[str, Any],
) -> tuple[datetime, int, int, list[SimulatedBin], int, SimulatedFleet | None]:
    """The start, days, seed, bins, fill reading period and fleet of a devices description."""
    start = datetime.fromisoformat(devices["start"])
    # Devices and network servers stamp in UTC; an instant without an offset is taken as UTC.
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    bins = [
        SimulatedBin(**{**b, "collection_weekdays": tuple(b["collection_weekdays"])})
        for b in devices["bins"]
    ]
    fleet = _fleet(devices["fleet"]) if "fleet" in devices else None
    every_hours = int(devices.get("fill_every_hours", 12))
    return start, int(devices["days"]), int(devices["seed"]), bins, every_hours, fleet


def _fleet(settings: dict[str, Any]) -> SimulatedFleet:
    """The fleet of a devices file: its places as (x, y) pairs."""
    places = {
        name: (float(settings[name][0]), float(settings[name][1]))
        for name in ("depot", "tip")
        if settings.get(name) is not None
    }
    uncompacted = tuple(settings.get("uncompacted_streams", SimulatedFleet.uncompacted_streams))
    return SimulatedFleet(**{**settings, **places, "uncompacted_streams": uncompacted})


def utc(year: int, month: int, day: int) -> datetime:
    """Midnight UTC of a date."""
    return datetime(year, month, day, tzinfo=UTC)


def write_simulated_payloads(devices: dict[str, Any], out: Path) -> dict[str, int]:
    """Write one payload file per adapter for the devices described; return line counts.

    ``devices`` holds ``start`` (ISO instant), ``days``, ``seed``, ``fill_every_hours`` and lists
    ``bins``, ``scanners``, ``meters`` (fields of the Simulated* classes) and ``citizens``
    (``[pseudonym, insee, lon, lat]``); with ``fleet`` (fields of :class:`SimulatedFleet`, the
    depot and the tip as ``[x, y]``) the trucks' tour reports are written too, ``tours.csv``.
    """
    start, days, seed, bins, every_hours, fleet = _described(devices)
    tours = simulated_tours(bins, start, days, every_hours, seed, fleet)
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
        "lifts.csv": itertools.chain([(start, LIFT_LOG_HEADER)], _lift_lines(bins, tours)),
    }
    if fleet is not None:  # with a fleet the tours have their km: the on-board computers' reports
        streams["tours.csv"] = truck_tour_log(tours)
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
