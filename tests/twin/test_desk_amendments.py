"""The service desk's corrections and retractions, read by its adapter and handed to ingest
in-process (the same frames the live path sends over ZeroMQ; see
tests/end_to_end/test_desk_corrections_live.py for the real processes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.door_counter import DoorCounterAdapter
from adapters.energy_meter import EnergyMeterAdapter
from adapters.sdk import Adapter, AdapterRunner, Outbox
from adapters.service_desk import ServiceDeskAdapter
from adapters.wire import InMemoryTransport
from domain import Site
from tests.conftest import T0, a_town_hall
from twin import ValleyTwin, load_geography, open_twin
from twin.ingest import Incoming, IngestProcessor

DAY = timedelta(days=1)
NOW = T0 + 30 * DAY


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(a_town_hall())
    yield application
    application.close()


def send(
    processor: IngestProcessor, adapter: Adapter, source: str, *documents: dict[str, Any]
) -> list[str]:
    """The documents read by ``adapter`` as ``source``'s runner queues them, handed to ingest:
    the replies' statuses, in order."""
    transport = InMemoryTransport()
    runner = AdapterRunner(adapter, transport, Outbox(), source, clock=lambda: NOW)
    assert runner.submit_many([json.dumps(d) for d in documents]) == len(documents)
    runner.pump()
    replies = processor.process([Incoming(frame) for frame in transport.sent])
    return [reply.status if reply else "none" for reply in replies]


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def test_the_desk_corrects_an_index_by_its_message_and_an_occupancy_by_its_version(
    twin: ValleyTwin,
) -> None:
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    indexes = [(1, 16_000), (2, 16_200), (3, 16_535)]  # 16,355 with two digits swapped
    assert (
        send(
            processor,
            EnergyMeterAdapter({}),
            "meters",
            *[
                {"meter": "M-1", "site": "EP-1", "read_at": iso(T0 + d * DAY), "index_kwh": i}
                for d, i in indexes
            ],
        )
        == ["ack"] * 3
    )
    assert send(
        processor,
        DoorCounterAdapter({}),
        "doors",
        {"counter": "DC-1", "site": "EP-1", "at": iso(T0 + 3 * DAY), "inside": 40},
    ) == ["ack"]
    history = twin.history(Site.id_for("EP-1"))
    typo = next(e for e in history if getattr(e, "index_kwh", None) == 16_535)
    counted = next(e for e in history if isinstance(e, Site.OccupancyCounted))
    desk = ServiceDeskAdapter({"desk_id": "desk-ccvh"})
    amended = {"by": "agent-technique", "at": iso(NOW), "asset": "EP-1", "type": "correct"}
    assert send(
        processor,
        desk,
        "desk",
        {
            **amended,
            "original_message": vars(typo)["message"],
            "field": "index_kwh",
            "value": 16_355,
            "reason": "two digits swapped",
        },
        {
            **amended,
            "original_version": counted.originator_version,
            "field": "occupancy",
            "value": 14.0,  # JSON has no integers apart: sent to the twin as the whole 14
            "reason": "the counter's door was propped open",
        },
    ) == ["ack", "ack"]
    site = twin.get(Site, "EP-1")
    assert (site.meter_index_kwh, site.consumption_kwh) == (16_355.0, pytest.approx(355.0))
    assert site.occupancy == 14
    corrections = [
        e for e in twin.history(Site.id_for("EP-1")) if isinstance(e, Site.FactCorrected)
    ]
    assert [(c.original_version, c.changes, c.corrected_by) for c in corrections] == [
        (typo.originator_version, {"index_kwh": 16_355.0}, "agent-technique"),
        (counted.originator_version, {"occupancy": 14}, "agent-technique"),
    ]
    assert isinstance(corrections[1].changes["occupancy"], int)
    # Retracted, the corrected index goes too; the reading before it stands.
    assert send(
        processor,
        desk,
        "desk",
        {
            "type": "retract",
            "asset": "EP-1",
            "original_version": typo.originator_version,
            "by": "agent-technique",
            "reason": "the neighbouring cabinet's meter after all",
            "at": iso(NOW + timedelta(minutes=1)),
        },
    ) == ["ack"]
    site = twin.get(Site, "EP-1")
    assert (site.meter_index_kwh, site.consumption_kwh) == (16_200.0, pytest.approx(200.0))
