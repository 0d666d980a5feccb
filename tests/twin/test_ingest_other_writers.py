"""Ingest beside other writers of the same store: the ingest worker of another shard, the desk.

Each worker caches the aggregates it has touched; another writer may record facts on them
meanwhile. A command that changes a stale aggregate fails at the commit and is judged again;
these tests hold the other case, a refusal made on an outdated state, to the same rule: judged
again on what the store holds, never dead-lettered for what this worker had not yet seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain import Bin, Citizen, Site
from tests.twin.test_ingest import NOW, a_bin_a_beacon_and_a_site, message
from twin import ValleyTwin, load_geography, open_twin
from twin.ingest import Incoming, IngestProcessor


@pytest.fixture
def two_workers(store_url: str) -> Iterator[tuple[IngestProcessor, IngestProcessor, ValleyTwin]]:
    """Two ingest processors on one store, each with its own twin and cache (as two processes)."""
    first, second = open_twin(store_url), open_twin(store_url)
    first.add(*a_bin_a_beacon_and_a_site())
    geography = load_geography()
    yield (
        IngestProcessor(first, geography, clock=lambda: NOW),
        IngestProcessor(second, geography, clock=lambda: NOW),
        first,
    )
    first.close()
    second.close()


def statuses(processor: IngestProcessor, *messages: Incoming) -> list[str]:
    return [reply.status if reply else "none" for reply in processor.process(messages)]


def test_a_vote_for_an_idea_filed_through_another_worker_is_applied(
    two_workers: tuple[IngestProcessor, IngestProcessor, ValleyTwin],
) -> None:
    here, there, twin = two_workers
    registered = statuses(
        here,
        message(1, kind="citizen.register", asset="c-author", commune_insee="34114"),
        message(2, kind="citizen.register", asset="c-voter", commune_insee="34114"),
    )
    assert registered == ["ack", "ack"]  # both citizens now cached here, without ideas
    idea = message(3, kind="citizen.idea", asset="c-author", idea_ref="I1", title="Bancs", text="x")
    assert statuses(there, idea) == ["ack"]
    vote = message(4, kind="citizen.vote", asset="c-voter", author="c-author", idea_ref="I1")
    assert statuses(here, vote) == ["ack"]
    assert here.stats.stale_refusals_rejudged == 1
    assert len(twin.get(Citizen, "c-voter").votes) == 1


def test_a_reading_after_a_meter_swap_recorded_elsewhere_is_judged_on_the_new_meter(
    two_workers: tuple[IngestProcessor, IngestProcessor, ValleyTwin],
) -> None:
    here, there, twin = two_workers
    assert statuses(here, message(1, kind="site.energy", asset="EP-1", index_kwh=5_000.0)) == [
        "ack"
    ]
    swap = message(
        2, kind="site.meter_replaced", asset="EP-1", final_index_kwh=5_010.0, new_index_kwh=0.0
    )
    assert statuses(there, swap) == ["ack"]
    # On the old meter's index, 12 kWh would be a meter running backwards.
    later = message(3, kind="site.energy", asset="EP-1", minutes=120, index_kwh=12.0)
    assert statuses(here, later) == ["ack"]
    assert here.stats.stale_refusals_rejudged == 1
    assert twin.get(Site, "EP-1").consumption_kwh == pytest.approx(22.0)


def test_a_refusal_on_a_current_state_is_dead_lettered_after_one_version_read(
    two_workers: tuple[IngestProcessor, IngestProcessor, ValleyTwin],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here, _, twin = two_workers
    assert statuses(here, message(1, kind="site.energy", asset="EP-1", index_kwh=5_000.0)) == [
        "ack"
    ]
    version_reads: list[object] = []
    latest_version = here.twin.latest_version

    def counted(aggregate_id: object) -> int | None:
        version_reads.append(aggregate_id)
        return latest_version(aggregate_id)  # type: ignore[arg-type]

    monkeypatch.setattr(here.twin, "latest_version", counted)
    backwards = message(2, kind="site.energy", asset="EP-1", minutes=120, index_kwh=12.0)
    assert statuses(here, backwards) == ["rejected"]
    assert version_reads == [twin.get(Site, "EP-1").id]
    assert here.stats.stale_refusals_rejudged == 0


def test_a_change_to_an_aggregate_another_worker_moved_on_is_committed_on_its_stored_state(
    two_workers: tuple[IngestProcessor, IngestProcessor, ValleyTwin],
) -> None:
    here, there, twin = two_workers
    assert statuses(here, message(1, fill_percent=10.0)) == ["ack"]
    assert statuses(there, message(2, fill_percent=20.0)) == ["ack"]
    assert statuses(here, message(3, fill_percent=30.0)) == ["ack"]
    bin_ = twin.get(Bin, "B-1")
    assert bin_.fill_percent == 30.0
    fills = [e for e in twin.events.get(bin_.id) if isinstance(e, Bin.FillLevelMeasured)]
    assert [e.fill_percent for e in fills] == [10.0, 20.0, 30.0]


def test_a_refusal_on_an_author_an_earlier_message_of_the_batch_read_is_judged_again(
    two_workers: tuple[IngestProcessor, IngestProcessor, ValleyTwin],
) -> None:
    here, there, twin = two_workers
    registered = [
        message(1, kind="citizen.register", asset="c-author", commune_insee="34114"),
        message(2, kind="citizen.register", asset="c-voter", commune_insee="34114"),
        message(3, kind="citizen.register", asset="c-other", commune_insee="34114"),
        message(4, kind="citizen.idea", asset="c-author", idea_ref="I1", title="Bancs", text="x"),
    ]
    assert statuses(here, *registered) == ["ack"] * 4
    second_idea = message(
        5, kind="citizen.idea", asset="c-author", idea_ref="I2", title="Arbres", text="y"
    )
    assert statuses(there, second_idea) == ["ack"]
    votes = statuses(
        here,
        message(6, kind="citizen.vote", asset="c-voter", author="c-author", idea_ref="I1"),
        message(7, kind="citizen.vote", asset="c-other", author="c-author", idea_ref="I2"),
    )
    assert votes == ["ack", "ack"] and here.stats.stale_refusals_rejudged == 1
    assert len(twin.get(Citizen, "c-other").votes) == 1
