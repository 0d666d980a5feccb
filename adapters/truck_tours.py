"""Adapter: collection trucks' tour reports, one line per tour, to ``truck.tour``.

The on-board computer of a collection truck (or the fleet's back office) closes each round
with a tour report: the vehicle, the round, the stream collected, when the truck left and came
back, the odometer at both ends and the trip distance, and the tip visits with their
weighbridge tickets (the site, the instant and the net weight tipped). Exported as delimited
text (semicolons by default, as French back offices write it), a header line then one line
per tour::

    vehicle;tour;stream;start;end;odo_start_km;odo_end_km;km;tips
    GE-482-KT;VER-2024-06-04-1;VERRE;2024-06-04T06:00:00+02:00;2024-06-04T12:47:00+02:00;184210;184342;131,8;SCH-ASPIRAN@2024-06-04T09:35:12+02:00=7,94|SCH-ASPIRAN@2024-06-04T12:05:40+02:00=5,12

The header names the columns, in any order; ``vehicle``, ``tour``, ``stream``, ``start`` and
``end`` are required, and the distance from ``km`` or ``odo_start_km`` with ``odo_end_km`` (or
all three: the twin checks they agree). ``tips`` holds the tickets as ``SITE@INSTANT=TONNES``
joined by ``|`` (the line's own delimiter is taken); an instant carries its offset, numbers may
use a decimal comma. Streams are the wire's (``glass``…) or the French codes of such exports
(``OMR``, ``EMB``, ``VERRE``, ``PAPIER``, ``BIO``…), extendable in ``[adapter.streams]``. The
vehicle is the truck's asset code unless ``[adapter.vehicles]`` maps it to a fleet code; with
``depot_insee`` every tour carries its depot's commune, so that a truck's first tour registers
it in the twin. A line that cannot be read is refused naming its line (the header is line 1)
and its column. Not responsible for the lifts of the round (``adapters.truck_lifts``).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.payloads import PayloadError
from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.wire import format_tips, to_epoch_ms

MANIFEST = AdapterManifest(
    name="truck-tours",
    device="collection truck's on-board computer (tour reports with weighbridge tickets)",
    kinds=("truck.tour",),
    mode="push",
    owner="valley-twin core team",
    description="tour reports of collection trucks (one line per tour) to tours recorded",
)
REQUIRED_COLUMNS = ("vehicle", "tour", "stream", "start", "end")
TIP_SEPARATOR = "|"
# The wire's streams, and the codes French collection exports use for them.
STREAMS = {
    "residual": "residual",
    "packaging": "packaging",
    "glass": "glass",
    "paper": "paper",
    "biowaste": "biowaste",
    "OMR": "residual",  # ordures ménagères résiduelles
    "EMB": "packaging",  # emballages
    "CS": "packaging",  # collecte sélective
    "VERRE": "glass",
    "PAPIER": "paper",
    "JRM": "paper",  # journaux, revues, magazines
    "BIO": "biowaste",
    "FFOM": "biowaste",  # fraction fermentescible des ordures ménagères
}
_TIP = re.compile(r"(?P<site>[^@=|]+)@(?P<at>[^=]+)=(?P<tonnes>[^=]+)")
_INSEE = re.compile(r"\d[\dAB]\d{3}")  # Corsica's are 2A… and 2B…


class TruckToursAdapter(Adapter):
    """Turns tour-report lines into ``truck.tour`` readings."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        delimiter = config.get("delimiter", ";")
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "|@=":
            raise ValueError(
                f"config: delimiter must be one character other than |, @ and =, not {delimiter!r}"
            )
        self.delimiter = delimiter
        depot = config.get("depot_insee")
        if depot is not None and (not isinstance(depot, str) or _INSEE.fullmatch(depot) is None):
            raise ValueError(f"config: depot_insee must be a commune's INSEE code, not {depot!r}")
        self.depot_insee: str | None = depot
        self.vehicles = _text_table(config, "vehicles")
        self.streams = dict(STREAMS)
        for code, stream in _text_table(config, "streams").items():
            if stream not in STREAMS.values():
                raise ValueError(
                    f"config: streams.{code} must be one of {', '.join(sorted(set(STREAMS.values())))}"
                )
            self.streams[code] = stream
        self.columns: list[str] | None = None  # from the export's header line
        self.line = 0  # lines read so far, the header included

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        self.line += 1
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        rows = list(csv.reader([text.strip()], delimiter=self.delimiter))
        values = [value.strip() for value in rows[0]] if rows else []
        if "vehicle" in values and "start" in values:
            missing = [name for name in REQUIRED_COLUMNS if name not in values]
            if "km" not in values and not {"odo_start_km", "odo_end_km"} <= set(values):
                missing.append("km (or odo_start_km and odo_end_km)")
            if missing:
                raise self._refused("header", text.strip(), f"no column {', '.join(missing)}")
            self.columns = values
            return []
        if self.columns is None:
            raise self._refused("header", text.strip(), "a tour line before the header line")
        if len(values) != len(self.columns):
            raise self._refused(
                "line", text.strip(), f"{len(self.columns)} values, as the header has"
            )
        tour = dict(zip(self.columns, values, strict=True))
        for name in ("vehicle", "tour"):
            if not tour[name]:
                raise self._refused(name, tour[name], "a value")
        stream = self.streams.get(tour["stream"]) or self.streams.get(tour["stream"].upper())
        if stream is None:
            raise self._refused(
                "stream", tour["stream"], f"one of {', '.join(self.streams)} (or [adapter.streams])"
            )
        start, end = self._instant("start", tour["start"]), self._instant("end", tour["end"])
        if end <= start:
            raise self._refused("end", tour["end"], f"an instant after the start, {tour['start']}")
        body: dict[str, Any] = {
            "round_id": tour["tour"],
            "stream": stream,
            "started_at": to_epoch_ms(start),
        }
        for column, field in (
            ("km", "km"),
            ("odo_start_km", "odometer_start_km"),
            ("odo_end_km", "odometer_end_km"),
        ):
            if tour.get(column):
                body[field] = self._number(column, tour[column], "km")
        if "km" not in body and not {"odometer_start_km", "odometer_end_km"} <= set(body):
            raise self._refused("km", tour.get("km", ""), "the km, or the odometer at both ends")
        if tour.get("tips"):
            body["tips"] = format_tips(self._tips(tour["tips"]))
        if self.depot_insee is not None:
            body["depot_insee"] = self.depot_insee
        vehicle = tour["vehicle"]
        return [
            Reading(
                device=vehicle,
                asset=self.vehicles.get(vehicle, vehicle),
                kind="truck.tour",
                observed_at=end,
                body=body,
            )
        ]

    def _tips(self, text: str) -> list[tuple[str, int, float]]:
        tickets = []
        for ticket in text.split(TIP_SEPARATOR):
            match = _TIP.fullmatch(ticket.strip())
            if match is None:
                raise self._refused("tips", ticket, "tickets SITE@INSTANT=TONNES joined by |")
            at = self._instant("tips", match["at"].strip())
            tonnes = self._number("tips", match["tonnes"].strip(), "tonnes")
            tickets.append((match["site"].strip(), to_epoch_ms(at), tonnes))
        return tickets

    def _refused(self, column: str, value: object, expected: str) -> PayloadError:
        return PayloadError(column, value, f"line {self.line}: {expected}")

    def _number(self, column: str, text: str, unit: str) -> float:
        try:
            value = float(text.replace(",", "."))  # a decimal comma, as French exports write it
        except ValueError:
            raise self._refused(column, text, f"a number of {unit}") from None
        if not math.isfinite(value) or value < 0:
            raise self._refused(column, text, f"a finite number of {unit}, 0 or more")
        return value

    def _instant(self, column: str, text: str) -> datetime:
        try:
            instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise self._refused(column, text, "an ISO-8601 instant with its offset") from None
        if instant.tzinfo is None:
            raise self._refused(column, text, "an instant with Z or a UTC offset")
        return instant.astimezone(UTC)


def _text_table(config: Mapping[str, Any], name: str) -> dict[str, str]:
    """An optional ``[adapter.NAME]`` table of text to text."""
    table = config.get(name, {})
    if not isinstance(table, Mapping):
        raise ValueError(f"config: {name} must be a table")
    for key, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"config: {name}.{key} must be text, not {value!r}")
    return {str(key): value.strip() for key, value in table.items()}
