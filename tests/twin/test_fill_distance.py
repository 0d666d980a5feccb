"""The echo distance a fill level came from: carried by the wire, kept on the stored fact,
and absent (None) from facts recorded before it was kept, which still load."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from domain import Bin
from domain.errors import DomainError
from tests.conftest import T0
from tests.twin.test_ingest import NOW, a_bin_a_beacon_and_a_site, message
from twin import ValleyTwin, load_geography, open_twin
from twin.ingest import IngestProcessor


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(*a_bin_a_beacon_and_a_site())
    yield application
    application.close()


def fill_facts(twin: ValleyTwin) -> list[Bin.FillLevelMeasured]:
    bin_id = twin.get(Bin, "B-1").id
    events = [twin.mapper.to_domain_event(s) for s in twin.recorder.select_events(bin_id)]
    return [e for e in events if isinstance(e, Bin.FillLevelMeasured)]


def test_ingest_keeps_the_distance_on_the_stored_fact(twin: ValleyTwin) -> None:
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    replies = processor.process(
        [message(1, fill_percent=15.4, distance_mm=2116), message(2, fill_percent=20.0)]
    )
    assert [r.status for r in replies] == ["ack", "ack"]
    assert [(f.fill_percent, f.distance_mm) for f in fill_facts(twin)] == [
        (15.4, 2116),
        (20.0, None),  # a sensor that sends no distance
    ]


def test_a_fact_stored_before_the_distance_was_kept_still_loads(twin: ValleyTwin) -> None:
    bin_ = twin.get(Bin, "B-1")
    bin_.measure_fill_level(40.0, T0 + timedelta(hours=1))
    (event,) = bin_.collect_events()
    del vars(event)["distance_mm"]  # the shape facts were stored in until now
    twin.recorder.insert_events([twin.mapper.to_stored_event(event)])
    assert twin.get(Bin, "B-1").fill_percent == 40.0
    (old,) = fill_facts(twin)
    assert "distance_mm" not in vars(old) and old.distance_mm is None


@pytest.mark.parametrize("distance", [-1, 10_001, 12.5, True])
def test_an_impossible_distance_is_refused_naming_it(twin: ValleyTwin, distance: object) -> None:
    bin_ = twin.get(Bin, "B-1")
    with pytest.raises(DomainError, match="distance_mm"):
        bin_.measure_fill_level(40.0, T0 + timedelta(hours=1), distance_mm=distance)  # type: ignore[arg-type]
