"""Adapter: door counters of the third place and coworking spaces, to ``site.occupancy``.

A people counter over the door (infrared beam or stereo camera; it counts, it never
identifies) posts its totals since it was last reset, or how many are inside. Occupancy is
entries minus exits, never below zero (a counter misses a few people in a crowd). Payload::

    {"counter": "DC-TL-1", "site": "TL-34114-01", "at": "2024-06-03T10:00:00+02:00", "entries": 57, "exits": 41}
    {"counter": "DC-TL-1", "site": "TL-34114-01", "at": "...", "inside": 16}
"""

from __future__ import annotations

from datetime import datetime

from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.sdk.json_payload import (
    instant_field,
    json_object,
    text_field,
    whole_number_field,
)

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
            inside = whole_number_field(document, "inside", 0, "people")
        else:
            entries = whole_number_field(document, "entries", 0, "people")
            inside = max(0, entries - whole_number_field(document, "exits", 0, "people"))
        return [Reading(counter, site, "site.occupancy", at, {"occupancy": inside})]
