"""The field facts as commands: the one path from a fact to the aggregate that records it.

Ingest (a batch of wire messages) and the Python API (:class:`twin.ValleyTwin`'s methods,
which the command line calls) both run these functions, each handing over where aggregates
are found and kept (:class:`Aggregates`): ingest's batch, saved in one transaction with the
receipts, or the twin itself, saving at once. A command loads, checks through the domain and
records; it never saves. Not responsible for transactions (the caller's) nor for decoding
messages (:mod:`twin.ingest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from domain import AGGREGATE_CLASSES, Beacon, Bin, Citizen, Service, Site, ValleyAggregate
from domain.citizens import idea_id
from domain.history import as_they_stand, refresh
from domain.ids import normalise_code
from domain.sites import MeterMark, MeterNeighbours
from domain.trucks import Truck
from twin import citizens
from twin.errors import InvalidInputError, NotFoundError
from twin.events import message_of

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from twin.geography import Geography
    from twin.privacy import CitizenKeys

A = TypeVar("A", bound=ValleyAggregate)


class Aggregates(Protocol):
    """Where a command finds the aggregates it changes, and puts the ones it creates."""

    def load(self, aggregate_class: type[A], code: str) -> A:
        """The aggregate of this class and code (``NotFoundError`` if there is none)."""
        ...

    def create(self, aggregate: ValleyAggregate) -> None:
        """Take a new aggregate (``AlreadyExistsError`` if one with its id exists)."""
        ...


class RecordedAggregates(Aggregates, Protocol):
    """Aggregates whose recorded history can be read: what corrections need."""

    def recorded_facts(self, aggregate: ValleyAggregate) -> list[Any]:
        """Every event of ``aggregate``, recorded or pending, in recorded order."""
        ...


def measure_fill_level(
    aggregates: Aggregates,
    bin_code: str,
    fill_percent: float,
    at: datetime,
    device_id: str | None = None,
    distance_mm: int | None = None,
) -> Bin:
    """A container's fill level, as its sensor measured it (from ``distance_mm``, if given)."""
    bin_ = aggregates.load(Bin, bin_code)
    bin_.measure_fill_level(fill_percent, at, device_id=device_id, distance_mm=distance_mm)
    return bin_


def empty_bin(
    aggregates: Aggregates, bin_code: str, round_id: str, mass_kg: float, at: datetime
) -> Bin:
    """A container emptied by a collection round."""
    bin_ = aggregates.load(Bin, bin_code)
    bin_.empty(round_id, mass_kg, at)
    return bin_


def count_footfall(
    aggregates: Aggregates, beacon_code: str, start: datetime, end: datetime, count: int
) -> Beacon:
    """A beacon's count of visitors over an interval."""
    beacon = aggregates.load(Beacon, beacon_code)
    beacon.count_footfall(start, end, count)
    return beacon


def meter_energy(
    aggregates: RecordedAggregates, site_code: str, index_kwh: float, at: datetime
) -> Site:
    """A site's cumulative energy index; a late one is judged against the indexes around it."""
    site = aggregates.load(Site, site_code)
    neighbours = meter_neighbours(aggregates, site, at) if site.reads_late(at) else None
    site.meter_energy(index_kwh, at, neighbours)
    return site


def meter_neighbours(
    aggregates: RecordedAggregates, site: Site, at: datetime, leaving: int | None = None
) -> MeterNeighbours:
    """The site's meter facts just before and after ``at`` in world time, from its history as
    it now stands (linear in it: only a late or corrected index needs this). ``leaving``: the
    version of an index being corrected, whose own place decides its neighbours. Among facts
    at one instant, the order is the one they were recorded in, as the site applies them."""
    marks: list[tuple[datetime, int, MeterMark]] = []
    for fact in as_they_stand(aggregates.recorded_facts(site)):
        if isinstance(fact, Site.EnergyMetered):
            mark = MeterMark(fact.timestamp, fact.index_kwh, fact.index_kwh)
        elif isinstance(fact, Site.MeterReplaced):
            mark = MeterMark(fact.timestamp, fact.final_index_kwh, fact.new_index_kwh)
        else:
            continue
        marks.append((fact.timestamp, fact.originator_version, mark))
    marks.sort(key=lambda entry: (entry[0], entry[1]))
    if leaving is None:
        place = sum(1 for when, _, _ in marks if when <= at)  # after those at the same instant
        before, after = marks[:place], marks[place:]
    else:
        place = next(i for i, (_, version, _) in enumerate(marks) if version == leaving)
        before, after = marks[:place], marks[place + 1 :]
    return MeterNeighbours(
        before=before[-1][2] if before else None, after=after[0][2] if after else None
    )


def replace_meter(
    aggregates: Aggregates,
    site_code: str,
    final_index_kwh: float,
    new_index_kwh: float,
    at: datetime,
) -> Site:
    """A site's meter replaced: the old one's last index and the new one's first."""
    site = aggregates.load(Site, site_code)
    site.replace_meter(final_index_kwh, new_index_kwh, at)
    return site


def report_battery(
    aggregates: Aggregates,
    asset_code: str,
    battery_percent: float,
    at: datetime,
    device_id: str | None = None,
) -> Beacon | Bin:
    """A device's battery level: a beacon's own, or a container's sensor's."""
    asset: Beacon | Bin
    try:
        asset = aggregates.load(Beacon, asset_code)
    except NotFoundError:
        asset = aggregates.load(Bin, asset_code)
    if isinstance(asset, Beacon):
        asset.report_battery(battery_percent, at)
    else:
        asset.report_sensor_battery(battery_percent, at, device_id=device_id)
    return asset


def report_sensor_fault(
    aggregates: Aggregates, bin_code: str, fault: str, at: datetime, device_id: str | None = None
) -> Bin:
    """A fault raised by a container's sensor."""
    bin_ = aggregates.load(Bin, bin_code)
    bin_.report_sensor_fault(fault, at, device_id=device_id)
    return bin_


def register_citizen(
    aggregates: Aggregates, geography: Geography, pseudonym: str, commune_insee: str, at: datetime
) -> Citizen:
    """A citizen joining under a pseudonym, in one of the valley's communes."""
    commune = geography.commune(commune_insee)
    citizen = Citizen.register(pseudonym=pseudonym, commune_insee=commune.insee, at=at)
    aggregates.create(citizen)
    return citizen


def file_report(
    aggregates: Aggregates,
    keys: CitizenKeys,
    geography: Geography,
    pseudonym: str,
    report_ref: str,
    category: str,
    lon: object,
    lat: object,
    text: object,
    at: datetime,
    photo_ref: object = None,
) -> Citizen:
    """A citizen's report: its text sealed with their key, its place coarsened."""
    citizen = aggregates.load(Citizen, pseudonym)
    citizens.file_report(
        keys, geography, citizen, report_ref, category, lon, lat, text, at, photo_ref=photo_ref
    )
    return citizen


def submit_idea(
    aggregates: Aggregates,
    keys: CitizenKeys,
    pseudonym: str,
    idea_ref: str,
    title: object,
    text: object,
    at: datetime,
) -> Citizen:
    """A citizen's idea, its title and text sealed with their key."""
    citizen = aggregates.load(Citizen, pseudonym)
    citizens.submit_idea(keys, citizen, idea_ref, title, text, at)
    return citizen


REPORT_STATUSES = ("acknowledged", "resolved", "rejected")
PLACE_ACTIONS = ("requested", "granted", "released")
ATTENDANCE_ACTIONS = ("enrolled", "attended")


def move_report(
    aggregates: Aggregates,
    keys: CitizenKeys,
    pseudonym: str,
    report_ref: str,
    status: str,
    at: datetime,
    note: object = "",
) -> Citizen:
    """The service desk's answer to a citizen's report; its note sealed with their key."""
    if status not in REPORT_STATUSES:
        raise InvalidInputError("status", status, " or ".join(REPORT_STATUSES))
    citizen = aggregates.load(Citizen, pseudonym)
    citizens.move_report(keys, citizen, cast("citizens.ReportStatus", status), report_ref, at, note)
    return citizen


def vote_idea(
    aggregates: Aggregates, voter: str, author: str, idea_ref: str, at: datetime
) -> Citizen:
    """A citizen's vote for another's idea, which must exist; once per idea."""
    submitted = aggregates.load(Citizen, author)
    idea = submitted.ideas.get(normalise_code("idea_ref", idea_ref))
    if idea is None:
        raise InvalidInputError("idea_ref", idea_ref, f"an idea {author} submitted")
    if at < idea["submitted_at"]:
        raise InvalidInputError(
            "at",
            at.isoformat(),
            f"an instant after the idea was submitted ({idea['submitted_at']})",
        )
    citizen = aggregates.load(Citizen, voter)
    citizen.vote_idea(idea_id(author, idea_ref), at)
    return citizen


def move_place(
    aggregates: Aggregates, service_code: str, request_ref: str, action: str, at: datetime
) -> Service:
    """A place at a service (a crèche): requested, granted within capacity, or released."""
    service = aggregates.load(Service, service_code)
    if action == "requested":
        service.request_place(request_ref, at)
    elif action == "granted":
        service.grant_place(request_ref, at)
    elif action == "released":
        service.release_place(request_ref, at)
    else:
        raise InvalidInputError("action", action, " or ".join(PLACE_ACTIONS))
    return service


def schedule_session(
    aggregates: Aggregates,
    service_code: str,
    session_ref: str,
    starts_at: datetime,
    seats: int,
    at: datetime,
) -> Service:
    """A session of a service (a digital-skills workshop) with its seats."""
    service = aggregates.load(Service, service_code)
    service.schedule_session(session_ref, starts_at, seats, at)
    return service


def record_participation(
    aggregates: Aggregates,
    service_code: str,
    session_ref: str,
    participant_ref: str,
    action: str,
    at: datetime,
) -> Service:
    """A participant enrolled in a session, or attending it once it has started."""
    service = aggregates.load(Service, service_code)
    if action == "enrolled":
        service.enrol(session_ref, participant_ref, at)
    elif action == "attended":
        service.record_attendance(session_ref, participant_ref, at)
    else:
        raise InvalidInputError("action", action, " or ".join(ATTENDANCE_ACTIONS))
    return service


def count_occupancy(aggregates: Aggregates, site_code: str, occupancy: int, at: datetime) -> Site:
    """How many people are on a site (a third place, a coworking space), by its door counter."""
    site = aggregates.load(Site, site_code)
    site.count_occupancy(occupancy, at)
    return site


def record_tour(
    aggregates: Aggregates,
    geography: Geography,
    truck_code: str,
    *,
    round_id: str,
    stream: str,
    started_at: datetime,
    ended_at: datetime,
    km: float | None = None,
    odometer_start_km: float | None = None,
    odometer_end_km: float | None = None,
    tips: Sequence[tuple[str, datetime, float]] = (),
    depot_insee: str | None = None,
) -> Truck:
    """A collection truck's tour, once over: its km and its tip tickets.

    A truck the twin does not know yet is registered by its first tour if the tour names its
    depot's commune (``depot_insee``), and refused otherwise, as an unknown bin is. For a known
    truck, a ``depot_insee`` other than its depot's is refused: the twin never guesses which.
    """

    def record(truck: Truck) -> None:
        truck.record_tour(
            round_id=round_id,
            stream=stream,
            started_at=started_at,
            ended_at=ended_at,
            km=km,
            odometer_start_km=odometer_start_km,
            odometer_end_km=odometer_end_km,
            tips=tips,
        )

    try:
        truck = aggregates.load(Truck, truck_code)
    except NotFoundError:
        if depot_insee is None:
            raise NotFoundError(
                truck_code, "a truck's first tour registers it when it names its depot's commune"
            ) from None
        try:
            depot = geography.commune(depot_insee)
        except InvalidInputError:
            raise InvalidInputError(
                "depot_insee", depot_insee, "the INSEE code of one of the 28 communes"
            ) from None
        truck = Truck.register(code=truck_code, commune_insee=depot.insee, at=started_at)
        record(truck)  # before the truck is handed over: a refused tour registers nothing
        aggregates.create(truck)
        return truck
    if depot_insee is not None and depot_insee != truck.commune_insee:
        raise InvalidInputError(
            "depot_insee", depot_insee, f"{truck.commune_insee}, where truck {truck.code} is based"
        )
    record(truck)
    return truck


# ---- corrections and retractions ---------------------------------------------------------
# A fact is named by its version in the asset's history or by the wire message that brought it
# ("SOURCE/MESSAGE_ID"; ingest stamps each fact with it, see ``twin.events.message_of``).
def correct_fact(
    aggregates: RecordedAggregates,
    asset_code: str,
    changes: Mapping[str, object],
    by: str,
    reason: str,
    *,
    version: int | None = None,
    message: str | None = None,
) -> ValleyAggregate:
    """Correct the values of an asset's earlier fact; state follows at once."""
    aggregate = _load_asset(aggregates, asset_code)
    original = _original_fact(aggregates, aggregate, version, message)
    context = None
    if isinstance(aggregate, Site) and isinstance(original, Site.EnergyMetered):
        context = meter_neighbours(
            aggregates, aggregate, original.timestamp, leaving=original.originator_version
        )
    aggregate.correct(original, changes, by, reason, context)
    refresh(aggregate, aggregates.recorded_facts(aggregate))
    return aggregate


def retract_fact(
    aggregates: RecordedAggregates,
    asset_code: str,
    by: str,
    reason: str,
    *,
    version: int | None = None,
    message: str | None = None,
) -> ValleyAggregate:
    """Withdraw an asset's earlier fact; state follows at once, history keeps both."""
    aggregate = _load_asset(aggregates, asset_code)
    original = _original_fact(aggregates, aggregate, version, message)
    aggregate.retract(original, by, reason)
    refresh(aggregate, aggregates.recorded_facts(aggregate))
    return aggregate


def _load_asset(aggregates: Aggregates, code: str) -> ValleyAggregate:
    for aggregate_class in AGGREGATE_CLASSES:
        if aggregate_class is Citizen:
            continue  # what a citizen wrote is theirs to change, through their own commands
        try:
            return aggregates.load(aggregate_class, code)
        except NotFoundError:
            continue
    raise NotFoundError(code)


def _original_fact(
    aggregates: RecordedAggregates,
    aggregate: ValleyAggregate,
    version: int | None,
    message: str | None,
) -> object:
    if (version is None) == (message is None):
        raise InvalidInputError(
            "original",
            f"version={version} message={message}",
            "exactly one of a version or a message",
        )
    facts = aggregates.recorded_facts(aggregate)
    if version is not None:
        for fact in facts:
            if fact.originator_version == version:
                return fact
        raise InvalidInputError(
            "original_version", version, f"a version of {aggregate.KIND} {aggregate.code}'s history"
        )
    # One message may record several facts (a sensor's first reading also fits it to its bin):
    # the one a correction can mean is the measurement among them.
    brought = [fact for fact in facts if message_of(fact) == message]
    for fact in brought:
        if getattr(fact, "CORRECTABLE", None):
            return fact
    if brought:
        return brought[0]
    raise InvalidInputError(
        "original_message", message, f"a message that recorded a fact of {aggregate.code}"
    )
