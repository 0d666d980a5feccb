"""The adapters this installation knows: an explicit table, plus those other packages add.

A separate package adds an adapter by declaring an entry point in the group
``valley_twin.adapters`` whose value is its :class:`adapters.sdk.Adapter` subclass. Nothing
is imported at import time of this module; :func:`available_adapters` does it on demand.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from adapters.sdk import Adapter

ENTRY_POINT_GROUP = "valley_twin.adapters"
BUILT_IN = {
    "lorawan-ultrasonic": "adapters.fill_level:LorawanUltrasonicAdapter",
    "ble-footfall": "adapters.ble_footfall:BleFootfallAdapter",
    "energy-meter": "adapters.energy_meter:EnergyMeterAdapter",
    "citizen-app": "adapters.citizen_app:CitizenAppAdapter",
    "truck-lifts": "adapters.truck_lifts:TruckLiftsAdapter",
    "truck-tours": "adapters.truck_tours:TruckToursAdapter",
    "service-desk": "adapters.service_desk:ServiceDeskAdapter",
    "door-counter": "adapters.door_counter:DoorCounterAdapter",
    "lorawan-paxcounter": "adapters.paxcounter:PaxcounterAdapter",
    "lorawan-smart-plug": "adapters.smart_plug:SmartPlugAdapter",
}


def _load(reference: str) -> type[Adapter]:
    module_name, _, class_name = reference.partition(":")
    adapter = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(adapter, type) and issubclass(adapter, Adapter)):
        raise TypeError(f"{reference} is not an Adapter subclass")
    return adapter


def available_adapters() -> dict[str, type[Adapter]]:
    """Every adapter by name: the built-in ones, then those of installed packages."""
    found = {name: _load(reference) for name, reference in BUILT_IN.items()}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        adapter = entry.load()
        if isinstance(adapter, type) and issubclass(adapter, Adapter):
            found.setdefault(adapter.manifest.name, adapter)
    return found


def adapter_named(name: str) -> type[Adapter]:
    """The adapter class registered under ``name``."""
    adapters = available_adapters()
    try:
        return adapters[name]
    except KeyError:
        raise KeyError(f"no adapter named {name!r}; known: {', '.join(sorted(adapters))}") from None
