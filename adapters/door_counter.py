"""Adapter: door counters of the third place and coworking spaces, to ``site.occupancy``.

A people counter over the door (infrared beam or stereo camera; it counts, it never
identifies) posts its totals since it was last reset, or how many are inside. Occupancy is
entries minus exits, never below zero (a counter misses a few people in a crowd). Payload::

    {"counter": "DC-TL-1", "site": "TL-34114-01", "at": "2024-06-03T10:00:00+02:00", "entries": 57, "exits": 41}
    {"counter": "DC-TL-1", "site": "TL-34114-01", "at": "...", "inside": 16}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.payloads import PayloadError
from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.sdk.json_payload import instant_field, json_object, number_field, text_field

MANIFEST = AdapterManifest(
    name="door-counter",
    device="people counter over a door (counts, never identifies)",
    kinds=("site.occupancy",),
    mode="push",
    owner="valley-twin core team",
    description="how many people are in the third place or a coworking space",
)


class DoorCounterAdapter(Adapter):
    """Turns a door counter's totals into the site's occupancy."""

    manifest = MANIFEST

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        document = json_object(payload)
        counter = text_field(document, "counter")
        site = text_field(document, "site")
        assert counter is not None and site is not None
        at = instant_field(document, "at")
        if "inside" in document:
            inside = _count(document, "inside")
        else:
            inside = max(0, _count(document, "entries") - _count(document, "exits"))
        return [Reading(counter, site, "site.occupancy", at, {"occupancy": inside})]


def _count(document: dict[str, Any], name: str) -> int:
    value = number_field(document, name)
    if value is None or not float(value).is_integer() or value < 0:
        raise PayloadError(name, value, "must be a whole number of people, 0 or more")
    return int(value)
