"""The adapter registry: the built-in table plus entry points of the group valley_twin.adapters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from importlib.metadata import EntryPoint
from typing import Any

import pytest

import adapters.registry as registry
from adapters.registry import BUILT_IN, ENTRY_POINT_GROUP, adapter_named, available_adapters
from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.wire import KINDS, PROTOCOL_VERSION

BUILT_IN_NAMES = {
    "lorawan-ultrasonic",
    "ble-footfall",
    "energy-meter",
    "citizen-app",
    "truck-lifts",
    "truck-tours",
    "service-desk",
    "door-counter",
    "lorawan-paxcounter",
    "lorawan-smart-plug",
}


class ParkingAdapter(Adapter):
    """What a separate package would ship."""

    manifest = AdapterManifest(
        name="parking-sensor",
        device="magnetometer",
        kinds=("device.battery",),
        mode="push",
        owner="someone else",
        description="parking bays",
    )

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        return []


class ImpostorAdapter(ParkingAdapter):
    """Claims a built-in's name: the built-in wins."""

    manifest = AdapterManifest(
        name="energy-meter",
        device="fake",
        kinds=("site.energy",),
        mode="poll",
        owner="nobody",
        description="must not replace the real one",
    )


NOT_AN_ADAPTER = "just a string"


def fake_entry_points(*references: str) -> Any:
    def entry_points(*, group: str) -> list[EntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return [
            EntryPoint(name=f"ep{n}", value=value, group=group)
            for n, value in enumerate(references)
        ]

    return entry_points


def test_the_built_ins_are_listed_with_valid_manifests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "entry_points", fake_entry_points())
    found = available_adapters()
    assert set(found) == BUILT_IN_NAMES == set(BUILT_IN)
    for name, adapter in found.items():
        assert issubclass(adapter, Adapter)
        manifest = adapter.manifest
        assert manifest.name == name
        assert manifest.kinds and set(manifest.kinds) <= KINDS
        assert manifest.mode in ("push", "poll")
        assert manifest.wire_version == PROTOCOL_VERSION
        assert manifest.device and manifest.owner and manifest.description


def test_adapter_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", fake_entry_points())
    from adapters.ble_footfall import BleFootfallAdapter

    assert adapter_named("ble-footfall") is BleFootfallAdapter


def test_unknown_name_is_a_key_error_naming_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", fake_entry_points())
    with pytest.raises(KeyError) as caught:
        adapter_named("lorawan-ultrasonique")
    message = caught.value.args[0]
    assert "lorawan-ultrasonique" in message
    assert all(name in message for name in BUILT_IN_NAMES)


def test_entry_point_adapters_are_picked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        registry,
        "entry_points",
        fake_entry_points(
            f"{__name__}:ParkingAdapter",
            f"{__name__}:ImpostorAdapter",
            f"{__name__}:NOT_AN_ADAPTER",
        ),
    )
    found = available_adapters()
    assert found["parking-sensor"] is ParkingAdapter
    assert set(found) == BUILT_IN_NAMES | {"parking-sensor"}  # the string is not an adapter
    assert found["energy-meter"] is not ImpostorAdapter
    assert adapter_named("parking-sensor") is ParkingAdapter


def test_real_entry_points_do_not_break_the_listing() -> None:
    # Whatever is installed in this environment, the built-ins are there.
    assert BUILT_IN_NAMES <= set(available_adapters())


def test_manifest_refuses_unknown_kinds_and_modes() -> None:
    with pytest.raises(ValueError, match="bin.colour"):
        AdapterManifest(
            name="x", device="d", kinds=("bin.colour",), mode="push", owner="o", description="d"
        )
    with pytest.raises(ValueError, match="mode"):
        AdapterManifest(
            name="x", device="d", kinds=("bin.fill",), mode="pull", owner="o", description="d"
        )
