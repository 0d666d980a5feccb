"""Adapter: collection trucks' lift logs, one line per lift, to ``bin.emptied``.

A truck fitted with bin identification (an RFID reader at the lifter, LF 125/134.2 kHz tags as
EN 14803 asks) and on-board weighing logs every lift: the vehicle, the round, the instant,
the tag read, the position, the gross and tare weight of the lift (so the net mass of waste)
and a status. The on-board unit or the fleet's back office exports that log as delimited text
(semicolons by default, as French and German back offices write it), one header line then
one line per lift::

    vehicle;tour;lift_time;tag;lat;lon;gross_kg;tare_kg;net_kg;side;status
    GE-482-KT;GLA-2024-06-03;2024-06-03T06:42:17+02:00;982000123456789;43.65210;3.54890;212.4;62.0;150.4;L;OK

The header names the columns, in any order; ``vehicle``, ``tour``, ``lift_time``, ``tag`` and
``status`` are required, and a mass from ``net_kg``, or else ``gross_kg`` minus ``tare_kg``.
Configuration maps each tag to its container's asset code (``[adapter.tags]``). A lift whose
tag was not read (status ``NO_TAG``) or is not in the table gives no reading: it cannot be
placed on a container. A lift whose weighing failed (``WEIGH_ERR``, or no mass) takes the
configured ``unweighed_mass_kg`` if there is one, else is refused. Not responsible for
reading the on-board unit itself, nor for the truck's tour (kilometres, tip tickets).
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

MANIFEST = AdapterManifest(
    name="truck-lifts",
    device="collection truck with RFID bin identification and on-board weighing",
    kinds=("bin.emptied",),
    mode="push",
    owner="valley-twin core team",
    description="lift logs of collection trucks (one line per lift) to bins emptied",
)
REQUIRED_COLUMNS = ("vehicle", "tour", "lift_time", "tag", "status")
OK_STATUSES = frozenset({"OK", "WEIGH_ERR"})
_TAG = re.compile(r"[0-9A-Fa-f]{8,20}")  # EM4102 (10 hex digits) to FDX-B (15 decimal digits)
MAX_LIFT_KG = 2_500.0


class TruckLiftsAdapter(Adapter):
    """Turns lift-log lines into ``bin.emptied`` readings."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        tags = config.get("tags")
        if not isinstance(tags, Mapping) or not tags:
            raise ValueError("config: 'tags' must map RFID tags to bins' asset codes")
        self.tags: dict[str, str] = {}
        for tag, bin_code in tags.items():
            if not isinstance(tag, str) or _TAG.fullmatch(tag) is None:
                raise ValueError(f"config: tags.{tag} is not an RFID tag (8 to 20 hex digits)")
            if not isinstance(bin_code, str) or not bin_code.strip():
                raise ValueError(f"config: tags.{tag} must be a bin's asset code, not {bin_code!r}")
            self.tags[tag.upper()] = bin_code.strip()
        delimiter = config.get("delimiter", ";")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ValueError(f"config: delimiter must be one character, not {delimiter!r}")
        self.delimiter = delimiter
        unweighed = config.get("unweighed_mass_kg")
        if unweighed is not None and (
            isinstance(unweighed, bool)
            or not isinstance(unweighed, int | float)
            or not 0 <= unweighed <= MAX_LIFT_KG
        ):
            raise ValueError(f"config: unweighed_mass_kg must be 0 to {MAX_LIFT_KG:g} kg")
        self.unweighed_mass_kg = None if unweighed is None else float(unweighed)
        self.columns: list[str] | None = None  # from the export's header line

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        rows = list(csv.reader([text.strip()], delimiter=self.delimiter))
        values = [value.strip() for value in rows[0]] if rows else []
        if "lift_time" in values and "tag" in values:
            missing = [name for name in REQUIRED_COLUMNS if name not in values]
            if missing:
                raise PayloadError("header", text.strip(), f"no column {', '.join(missing)}")
            self.columns = values
            return []
        if self.columns is None:
            raise PayloadError("header", text.strip(), "a lift line before the header line")
        if len(values) != len(self.columns):
            raise PayloadError(
                "line", text.strip(), f"{len(self.columns)} values, as the header has"
            )
        lift = dict(zip(self.columns, values, strict=True))
        status = lift["status"].upper()
        tag = lift["tag"].upper()
        if status == "NO_TAG" or not tag:
            return []  # no container was identified: nothing to place the lift on
        if status not in OK_STATUSES:
            raise PayloadError(
                "status", lift["status"], f"one of NO_TAG, {', '.join(sorted(OK_STATUSES))}"
            )
        bin_code = self.tags.get(tag)
        if bin_code is None:
            return []  # a tag this installation does not follow (another operator's bin)
        for name in ("vehicle", "tour"):
            if not lift[name]:
                raise PayloadError(name, lift[name], "a value")
        reading = Reading(
            device=lift["vehicle"],
            asset=bin_code,
            kind="bin.emptied",
            observed_at=_instant(lift["lift_time"]),
            body={"round_id": lift["tour"], "mass_kg": self._mass(lift, status)},
        )
        return [reading]

    def _mass(self, lift: dict[str, str], status: str) -> float:
        mass = None
        if status == "OK":
            if lift.get("net_kg"):
                mass = _kilograms("net_kg", lift["net_kg"])
            elif lift.get("gross_kg") and lift.get("tare_kg"):
                mass = _kilograms("gross_kg", lift["gross_kg"]) - _kilograms(
                    "tare_kg", lift["tare_kg"]
                )
        if mass is None:
            if self.unweighed_mass_kg is None:
                raise PayloadError(
                    "net_kg",
                    lift.get("net_kg", ""),
                    "a weighed lift (or unweighed_mass_kg in the config)",
                )
            return self.unweighed_mass_kg
        if not 0 <= mass <= MAX_LIFT_KG:
            raise PayloadError(
                "net_kg", round(mass, 1), f"0 to {MAX_LIFT_KG:g} kg of waste in one lift"
            )
        return round(mass, 1)


def _kilograms(name: str, text: str) -> float:
    try:
        value = float(text.replace(",", "."))  # a decimal comma, as French exports write it
    except ValueError:
        raise PayloadError(name, text, "a number of kg") from None
    if not math.isfinite(value):
        raise PayloadError(name, text, "a finite number of kg")
    return value


def _instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError("lift_time", text, "an ISO-8601 instant with its offset") from None
    if instant.tzinfo is None:
        raise PayloadError("lift_time", text, "an instant with Z or a UTC offset")
    return instant.astimezone(UTC)
