"""The Bin aggregate: a waste container and everything that happens to it.

Not responsible for converting sensor distances to fill levels (the adapters do) nor for
finding which commune a position lies in (the twin's geography does).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Self

from domain._aggregate import ValleyAggregate
from domain._checks import member, number_in_range, text, whole_number
from domain.errors import InvalidValueError
from domain.ids import normalise_code
from domain.overflows import (
    Episode,
    add_emptying,
    add_sign,
    episodes,
    is_overflow_reading,
    open_since,
)
from domain.values import Position, WasteStream

MAX_CAPACITY_L = 5_000  # largest buried column is about 5 m³
MAX_DEPTH_CM = 400.0
MAX_EMPTIED_MASS_KG = 2_500.0
MAX_DISTANCE_MM = 10_000  # what an ultrasonic level sensor can measure, with margin


class Bin(ValleyAggregate):
    """A waste container: a wheeled bin or a drop-off column."""

    KIND = "bin"

    DATED = ("sensor_battery_percent", "last_sensor_fault")
    if TYPE_CHECKING:
        _sensor_periods: list[tuple[str, datetime, datetime | None]] | None
    # Which sensor was fitted when (device, since, until): a late reading is checked against
    # its own time. None in a snapshot taken before it was kept: then the current sensor.
    _sensor_periods = None
    if TYPE_CHECKING:
        _emptyings: list[datetime] | None
        _overflow_signs: list[datetime] | None
    # What counting overflow episodes needs (domain.overflows), rebuilt by applying events: the
    # instants of every emptying and of every sign of overflowing, sorted. None in a snapshot
    # taken before they were kept: then counting goes on from that snapshot's count, knowing
    # only its last emptying.
    _emptyings = None
    _overflow_signs = None

    class Installed(ValleyAggregate.Created):
        code: str
        stream: str
        capacity_l: int
        depth_cm: float | None
        x_l93: float
        y_l93: float
        commune_insee: str

    def __init__(
        self,
        code: str,
        stream: str,
        capacity_l: int,
        depth_cm: float | None,
        x_l93: float,
        y_l93: float,
        commune_insee: str,
    ) -> None:
        self.code = code
        self.stream = stream
        self.capacity_l = capacity_l
        self.depth_cm = depth_cm
        self.x_l93 = x_l93
        self.y_l93 = y_l93
        self.commune_insee = commune_insee
        self.sensor_device_id: str | None = None
        self.fill_percent: float | None = None
        self.fill_measured_at: datetime | None = None
        self.emptied_count = 0
        self.emptied_mass_kg = 0.0
        self.last_emptied_at: datetime | None = None
        self.overflow_count = 0
        self.sensor_battery_percent: float | None = None
        self.sensor_fault_count = 0
        self.last_sensor_fault: str | None = None
        self.retired = False
        self._sensor_periods = []
        self._emptyings = []
        self._overflow_signs = []

    @classmethod
    def install(
        cls,
        *,
        code: str,
        stream: str,
        capacity_l: int,
        position: Position,
        commune_insee: str,
        at: datetime,
        depth_cm: float | None = None,
    ) -> Self:
        """Install a container at a position in a commune."""
        return cls._begin(
            cls.Installed,
            at,
            code=normalise_code("code", code),
            stream=member("stream", stream, WasteStream).value,
            capacity_l=whole_number("capacity_l", capacity_l, low=1, high=MAX_CAPACITY_L),
            depth_cm=None
            if depth_cm is None
            else number_in_range("depth_cm", depth_cm, 1.0, MAX_DEPTH_CM),
            x_l93=position.x,
            y_l93=position.y,
            commune_insee=text("commune_insee", commune_insee, max_length=5),
        )

    class SensorAttached(ValleyAggregate.Event):
        device_id: str

        def apply(self, aggregate: Bin) -> None:
            aggregate.sensor_device_id = self.device_id
            if aggregate._sensor_periods is not None:
                aggregate._sensor_periods = [
                    *aggregate._sensor_periods,
                    (self.device_id, self.timestamp, None),
                ]

    def attach_sensor(self, device_id: str, at: datetime) -> None:
        """Fit a fill-level sensor (e.g. a LoRaWAN DevEUI) to the container."""
        device_id = normalise_code("device_id", device_id)
        if self.sensor_device_id is not None:
            raise InvalidValueError(
                "a sensor is already attached; detach it first",
                "sensor_device_id",
                self.sensor_device_id,
            )
        self._record(self.SensorAttached, at, device_id=device_id)

    class SensorDetached(ValleyAggregate.Event):
        device_id: str

        def apply(self, aggregate: Bin) -> None:
            aggregate.sensor_device_id = None
            periods = aggregate._sensor_periods
            if periods:
                device, since, _ = periods[-1]
                aggregate._sensor_periods = [*periods[:-1], (device, since, self.timestamp)]

    def detach_sensor(self, at: datetime) -> None:
        """Take the sensor off the container."""
        if self.sensor_device_id is None:
            raise InvalidValueError("no sensor is attached", "sensor_device_id", None)
        self._record(self.SensorDetached, at, device_id=self.sensor_device_id)

    class FillLevelMeasured(ValleyAggregate.Event):
        LATE_ALLOWED = True
        CORRECTABLE = {
            "fill_percent": lambda field, value: number_in_range(field, value, 0.0, 100.0)
        }
        fill_percent: float
        # The echo distance the fill level came from, kept for calibration. Absent from the
        # facts recorded before it was kept: those read None, as do sensors that measure none.
        distance_mm: int | None = None

        def apply(self, aggregate: Bin) -> None:
            current = aggregate.fill_measured_at
            # A reading and a lift at the same instant: the lift wins, whatever came first.
            tie = self.timestamp == current and aggregate.last_emptied_at == current
            if (
                current is None
                or self.timestamp > current
                or (self.timestamp == current and not tie)
            ):
                aggregate.fill_percent = self.fill_percent
                aggregate.fill_measured_at = self.timestamp
            if is_overflow_reading(self.fill_percent):
                aggregate._note_overflow_sign(self.timestamp)

    def measure_fill_level(
        self,
        fill_percent: float,
        at: datetime,
        device_id: str | None = None,
        distance_mm: int | None = None,
    ) -> None:
        """Record a fill level between 0 and 100 % (100 % is a sign of overflowing: see
        :mod:`domain.overflows`), and the echo distance it was measured from, if any.

        With ``device_id``, the reading comes from that sensor: the first reading of a bin
        without a sensor attaches it; a reading from any other device is refused.
        """
        fill = number_in_range("fill_percent", fill_percent, 0.0, 100.0)
        distance = (
            None
            if distance_mm is None
            else whole_number("distance_mm", distance_mm, low=0, high=MAX_DISTANCE_MM)
        )
        if device_id is not None:
            self._attach_reporting_device(device_id, at)
        self._record(self.FillLevelMeasured, at, fill_percent=fill, distance_mm=distance)

    def _attach_reporting_device(self, device_id: str, at: datetime) -> None:
        # The first message a sensor sends about a bin is what fits it in the twin. A late one
        # fits nothing: it is checked against the sensor fitted at its own time, if any.
        if at < self.modified_on and self._sensor_periods is not None:
            device = normalise_code("device_id", device_id)
            fitted = self._sensor_at(at)
            if fitted not in (None, device):
                raise InvalidValueError(
                    f"bin {self.code} reported through sensor {fitted} at {at.isoformat()}, "
                    "not this device",
                    "device_id",
                    device,
                )
            return
        device = self._check_reporting_device(device_id)
        if self.sensor_device_id is None:
            self.attach_sensor(device, at)

    def _sensor_at(self, at: datetime) -> str | None:
        """The sensor fitted to the bin at ``at``, if any."""
        for device, since, until in reversed(self._sensor_periods or []):
            if since <= at and (until is None or at < until):
                return device
        return None

    def _check_reporting_device(self, device_id: str) -> str:
        device = normalise_code("device_id", device_id)
        if self.sensor_device_id not in (None, device):
            raise InvalidValueError(
                f"bin {self.code} reports through sensor {self.sensor_device_id}, not this device",
                "device_id",
                device,
            )
        return device

    class SensorBatteryReported(ValleyAggregate.Event):
        LATE_ALLOWED = True
        CORRECTABLE = {
            "battery_percent": lambda field, value: number_in_range(field, value, 0.0, 100.0)
        }
        battery_percent: float

        def apply(self, aggregate: Bin) -> None:
            if aggregate._newest("sensor_battery_percent", self.timestamp):
                aggregate.sensor_battery_percent = self.battery_percent

    def report_sensor_battery(
        self, battery_percent: float, at: datetime, device_id: str | None = None
    ) -> None:
        """Record the sensor's battery level in percent (``device_id`` as in :meth:`measure_fill_level`)."""
        level = number_in_range("battery_percent", battery_percent, 0.0, 100.0)
        if device_id is not None:
            self._attach_reporting_device(device_id, at)
        elif self.sensor_device_id is None:
            raise InvalidValueError("no sensor is attached", "sensor_device_id", None)
        self._record(self.SensorBatteryReported, at, battery_percent=level)

    class Emptied(ValleyAggregate.Event):
        LATE_ALLOWED = True
        CORRECTABLE = {
            "mass_kg": lambda field, value: number_in_range(field, value, 0.0, MAX_EMPTIED_MASS_KG)
        }
        round_id: str
        mass_kg: float

        def apply(self, aggregate: Bin) -> None:
            aggregate._note_emptying(self.timestamp)
            aggregate.emptied_count += 1
            aggregate.emptied_mass_kg += self.mass_kg
            if aggregate.last_emptied_at is None or self.timestamp > aggregate.last_emptied_at:
                aggregate.last_emptied_at = self.timestamp
            if aggregate.fill_measured_at is None or self.timestamp >= aggregate.fill_measured_at:
                aggregate.fill_percent = 0.0
                aggregate.fill_measured_at = self.timestamp

    def empty(self, round_id: str, mass_kg: float, at: datetime) -> None:
        """Record that a collection round emptied the container, with its estimated mass."""
        self._record(
            self.Emptied,
            at,
            round_id=text("round_id", round_id, max_length=64),
            mass_kg=number_in_range("mass_kg", mass_kg, 0.0, MAX_EMPTIED_MASS_KG),
        )

    class OverflowReported(ValleyAggregate.Event):
        LATE_ALLOWED = True
        reported_by: str

        def apply(self, aggregate: Bin) -> None:
            aggregate._note_overflow_sign(self.timestamp)

    def report_overflow(self, reported_by: str, at: datetime) -> None:
        """Record that the container was seen overflowing (by a sensor, a crew or a citizen).

        ``overflow_count`` counts episodes, not reports: a report in an episode already
        counted (by another report or a full reading) adds nothing (see :mod:`domain.overflows`).
        """
        self._record(
            self.OverflowReported, at, reported_by=text("reported_by", reported_by, max_length=64)
        )

    class Moved(ValleyAggregate.Event):
        x_l93: float
        y_l93: float
        commune_insee: str

        def apply(self, aggregate: Bin) -> None:
            aggregate.x_l93 = self.x_l93
            aggregate.y_l93 = self.y_l93
            aggregate.commune_insee = self.commune_insee

    def move(self, position: Position, commune_insee: str, at: datetime) -> None:
        """Move the container to another position."""
        self._record(
            self.Moved,
            at,
            x_l93=position.x,
            y_l93=position.y,
            commune_insee=text("commune_insee", commune_insee, max_length=5),
        )

    class SensorFaultReported(ValleyAggregate.Event):
        LATE_ALLOWED = True
        fault: str

        def apply(self, aggregate: Bin) -> None:
            aggregate.sensor_fault_count += 1
            if aggregate._newest("last_sensor_fault", self.timestamp):
                aggregate.last_sensor_fault = self.fault

    def report_sensor_fault(self, fault: str, at: datetime, device_id: str | None = None) -> None:
        """Record a fault raised by the sensor (tilt, reading error, …); ``device_id`` as in :meth:`measure_fill_level`."""
        checked = text("fault", fault, max_length=120)
        if device_id is not None:
            self._attach_reporting_device(device_id, at)
        elif self.sensor_device_id is None:
            raise InvalidValueError("no sensor is attached", "sensor_device_id", None)
        self._record(self.SensorFaultReported, at, fault=checked)

    class Removed(ValleyAggregate.Event):
        RETIRES = True  # nothing may follow it: checked against every fact, late ones too
        reason: str

        def apply(self, aggregate: Bin) -> None:
            aggregate.retired = True

    def remove(self, reason: str, at: datetime) -> None:
        """Take the container out of service for good."""
        self._record(self.Removed, at, reason=text("reason", reason, max_length=200))

    # ---- overflow episodes (domain.overflows) ------------------------------------------------
    def _overflow_memory(self) -> tuple[list[datetime], list[datetime]]:
        """Copies of the emptyings and signs kept so far (a snapshot of before they were kept:
        its last emptying only), to change and set back: events share no list with a snapshot."""
        if self._emptyings is None or self._overflow_signs is None:
            since = self.last_emptied_at
            return ([] if since is None else [since]), []
        return list(self._emptyings), list(self._overflow_signs)

    def _note_overflow_sign(self, at: datetime) -> None:
        emptyings, signs = self._overflow_memory()
        self.overflow_count += add_sign(emptyings, signs, at)
        self._emptyings, self._overflow_signs = emptyings, signs

    def _note_emptying(self, at: datetime) -> None:
        emptyings, signs = self._overflow_memory()
        self.overflow_count += add_emptying(emptyings, signs, at)
        self._emptyings, self._overflow_signs = emptyings, signs

    def overflow_episodes(self) -> list[Episode]:
        """Every overflow episode, oldest first: its first sign and the emptying that ended it."""
        return episodes(*self._overflow_memory())

    def overflowing_since(self) -> datetime | None:
        """The first sign of the episode still open (none since the last emptying: None)."""
        return open_since(*self._overflow_memory())

    def fill_litres(self) -> float | None:
        """Return the measured fill in litres, if any measurement exists."""
        if self.fill_percent is None:
            return None
        return self.capacity_l * self.fill_percent / 100.0
