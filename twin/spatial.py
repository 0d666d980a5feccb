"""Spatial index of the valley's placed assets, kept in step with the event store.

The index follows the notification log: it reads only the events that place, move or retire
assets (by topic), from where it last stopped, so every query sees what the store holds.
Positions are Lambert-93 metres; distances are Euclidean in that projection. Not responsible
for projecting lon/lat (:mod:`twin.geography`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import shapely
from eventsourcing.utils import get_topic
from rtree.index import Index

from domain import Beacon, Bin, Service, Site

if TYPE_CHECKING:
    from uuid import UUID

    from twin.application import ValleyTwin
    from twin.geography import Commune

_PLACING = (Bin.Installed, Beacon.Installed, Site.Registered, Service.Opened)
_MOVING = (Bin.Moved, Beacon.Moved)
_RETIRING = (Bin.Removed, Beacon.Decommissioned, Site.Closed, Service.Closed)
_TOPICS = tuple(get_topic(cls) for cls in (*_PLACING, *_MOVING, *_RETIRING))
_KIND_BY_TOPIC = {get_topic(cls): cls.__qualname__.split(".")[0].lower() for cls in _PLACING}
_BATCH = 5_000


@dataclass(frozen=True)
class PlacedAsset:
    """An asset with a position: what the spatial queries return."""

    aggregate_id: UUID
    kind: str
    code: str
    x: float
    y: float
    commune_insee: str
    stream: str | None = None

    def distance_to(self, x: float, y: float) -> float:
        """Distance in metres (Lambert-93) to a point."""
        return math.hypot(self.x - x, self.y - y)


class SpatialIndex:
    """An rtree over every placed asset, one tree per kind (and per waste stream for bins)."""

    def __init__(self) -> None:
        self._assets: dict[UUID, PlacedAsset] = {}
        self._keys: dict[UUID, int] = {}
        self._ids: dict[int, UUID] = {}
        self._trees: dict[str, Index] = {}
        self.position = 0  # last notification id applied

    def __len__(self) -> int:
        return len(self._assets)

    def catch_up(self, twin: ValleyTwin) -> int:
        """Apply the placing, moving and retiring events recorded since the last call."""
        applied = 0
        while batch := twin.notifications(self.position, _BATCH, topics=_TOPICS):
            for notification in batch:
                self._apply(twin.mapper.to_domain_event(notification), notification.topic)
            self.position = batch[-1].id
            applied += len(batch)
        return applied

    def _apply(self, event: object, topic: str) -> None:
        if isinstance(event, _PLACING):
            self._put(
                PlacedAsset(
                    aggregate_id=event.originator_id,
                    kind=_KIND_BY_TOPIC[topic],
                    code=event.code,
                    x=event.x_l93,
                    y=event.y_l93,
                    commune_insee=event.commune_insee,
                    stream=getattr(event, "stream", None),
                )
            )
        elif isinstance(event, _MOVING):
            old = self._assets[event.originator_id]
            self._drop(old)
            self._put(replace(old, x=event.x_l93, y=event.y_l93, commune_insee=event.commune_insee))
        elif isinstance(event, _RETIRING) and event.originator_id in self._assets:
            self._drop(self._assets[event.originator_id])

    def _tree_name(self, asset: PlacedAsset) -> str:
        return f"bin:{asset.stream}" if asset.kind == "bin" else asset.kind

    def _put(self, asset: PlacedAsset) -> None:
        key = self._keys.setdefault(asset.aggregate_id, len(self._keys))
        self._ids[key] = asset.aggregate_id
        self._assets[asset.aggregate_id] = asset
        tree = self._trees.setdefault(self._tree_name(asset), Index())
        tree.insert(key, (asset.x, asset.y, asset.x, asset.y))

    def _drop(self, asset: PlacedAsset) -> None:
        key = self._keys[asset.aggregate_id]
        self._trees[self._tree_name(asset)].delete(key, (asset.x, asset.y, asset.x, asset.y))
        del self._assets[asset.aggregate_id]

    def _trees_for(self, kind: str | None, stream: str | None) -> list[Index]:
        if stream is not None:
            names = [f"bin:{stream}"]
        elif kind == "bin":
            names = [name for name in self._trees if name.startswith("bin:")]
        elif kind is not None:
            names = [kind]
        else:
            names = list(self._trees)
        return [self._trees[name] for name in names if name in self._trees]

    def nearest(
        self, x: float, y: float, k: int = 5, kind: str | None = "bin", stream: str | None = None
    ) -> list[tuple[PlacedAsset, float]]:
        """The ``k`` assets nearest to a point, with their distances in metres, nearest first."""
        candidates: list[PlacedAsset] = []
        for tree in self._trees_for(kind, stream):
            candidates.extend(self._assets[self._ids[key]] for key in tree.nearest((x, y, x, y), k))
        ranked = sorted(candidates, key=lambda a: (a.distance_to(x, y), a.code))
        return [(asset, asset.distance_to(x, y)) for asset in ranked[:k]]

    def within(
        self,
        x: float,
        y: float,
        radius_m: float,
        kind: str | None = None,
        stream: str | None = None,
    ) -> list[tuple[PlacedAsset, float]]:
        """Every asset within ``radius_m`` metres of a point, nearest first."""
        box = (x - radius_m, y - radius_m, x + radius_m, y + radius_m)
        found = []
        for tree in self._trees_for(kind, stream):
            for key in tree.intersection(box):
                asset = self._assets[self._ids[key]]
                distance = asset.distance_to(x, y)
                if distance <= radius_m:
                    found.append((asset, distance))
        return sorted(found, key=lambda pair: (pair[1], pair[0].code))

    def inside(
        self, commune: Commune, kind: str | None = None, stream: str | None = None
    ) -> list[PlacedAsset]:
        """Every asset whose position lies inside a commune's boundary."""
        found = []
        for tree in self._trees_for(kind, stream):
            for key in tree.intersection(commune.boundary.bounds):
                asset = self._assets[self._ids[key]]
                if shapely.intersects_xy(commune.boundary, asset.x, asset.y):
                    found.append(asset)
        return sorted(found, key=lambda a: (a.kind, a.code))
