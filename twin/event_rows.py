"""Stored rows for a batch of domain events, written faster than the library's mapper, to the byte.

Ingest saves thousands of events a second, each an aggregate's event or a message's receipt.
The library's mapper encodes every value it does not know natively through a Python callback
(two datetimes per event: the fact's time and when it was recorded). Here a batch's events
are encoded with the same JSON settings, the datetimes turned into the library's
``datetime_iso`` form before the C encoder runs (the batch's recording instant once for all). The rows are exactly those the mapper writes (checked by the tests on
every kind of event), so everything that reads the store is unchanged. Whatever this does not
know how to write exactly (a cipher or compressor in the settings, a value of another type) is
handed to the mapper. Not responsible for writing rows (:meth:`twin.storage.Storage.insert_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

_DATETIME = DatetimeAsISO.name


class _NotPlain(Exception):
    """A value the fast path does not write itself: the mapper will."""


def _refuse(value: object) -> Any:
    raise _NotPlain(type(value).__name__)


class EventRows:
    """Encodes events into stored rows exactly as ``mapper`` would, faster."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        transcoder = mapper.transcoder
        self._exact = (
            mapper.cipher is None
            and mapper.compressor is None
            and isinstance(transcoder, JSONTranscoder)
            and isinstance(transcoder.types.get(datetime), DatetimeAsISO)
        )
        # The mapper's own JSON settings; any value needing a transcoding other than a
        # top-level datetime is refused here and left to the mapper.
        self._encoder = json.JSONEncoder(default=_refuse, separators=(",", ":"), ensure_ascii=False)
        self._topics: dict[type, tuple[str, int]] = {}

    @property
    def exact(self) -> bool:
        """True when the fast path applies (no cipher, no compressor, the usual transcoder)."""
        return self._exact

    def rows(self, events: Iterable[Any], recorded_at: datetime) -> list[StoredEvent]:
        """The stored rows of ``events``; each not yet stamped is recorded at ``recorded_at``."""
        stamp = {"_type_": _DATETIME, "_data_": recorded_at.isoformat()}
        rows = []
        for event in events:
            event.__dict__.setdefault("recorded_at", recorded_at)
            rows.append(self._row(event, recorded_at, stamp))
        return rows

    def _row(self, event: Any, recorded_at: datetime, stamp: dict[str, str]) -> StoredEvent:
        if not self._exact:
            return self._mapper.to_stored_event(event)
        cls = type(event)
        known = self._topics.get(cls)
        if known is None:
            known = self._topics[cls] = (get_topic(cls), getattr(cls, "class_version", 1))
        topic, class_version = known
        state = dict(event.__dict__)
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        if class_version > 1:
            state["class_version"] = class_version
        for name, value in state.items():
            if type(value) is datetime:
                state[name] = (
                    stamp
                    if value is recorded_at
                    else {"_type_": _DATETIME, "_data_": value.isoformat()}
                )
        try:
            encoded = self._encoder.encode(state).encode("utf8")
        except _NotPlain:
            return self._mapper.to_stored_event(event)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=encoded,
        )
