"""The durable outbox: queue order, attempts, answers, rejections kept, and a file that outlives the process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.sdk import Outbox


class Seconds:
    def __init__(self) -> None:
        self.now = 1_714_557_600.0

    def __call__(self) -> float:
        return self.now


def ids(rows: list[tuple[str, bytes, int]]) -> list[str]:
    return [row[0] for row in rows]


def test_put_queues_once_and_counts_the_new(tmp_path: Path) -> None:
    with Outbox(tmp_path / "a.outbox") as outbox:
        assert outbox.put([("m1", b"one"), ("m2", b"two")]) == 2
        assert outbox.put([("m2", b"two"), ("m3", b"three")]) == 1
        assert outbox.put([]) == 0
        assert outbox.pending() == 3
        assert outbox.head(10) == [("m1", b"one", 0), ("m2", b"two", 0), ("m3", b"three", 0)]


def test_head_is_queue_order_and_limited() -> None:
    with Outbox() as outbox:
        outbox.put([(f"m{n}", bytes([n])) for n in range(6)])
        assert ids(outbox.head(3)) == ["m0", "m1", "m2"]
        outbox.settle([("m1", None), ("m5", None)])
        outbox.put([("m9", b"late")])  # queued after everything still waiting
        assert ids(outbox.head(10)) == ["m0", "m2", "m3", "m4", "m9"]


def test_mark_sent_counts_attempts() -> None:
    with Outbox() as outbox:
        outbox.put([("m1", b"x"), ("m2", b"y")])
        outbox.mark_sent(["m1"])
        outbox.mark_sent(["m1", "m2"])
        assert [(row[0], row[2]) for row in outbox.head(10)] == [("m1", 2), ("m2", 1)]
        assert outbox.pending() == 2  # sent is not answered


def test_settle_forgets_answers_and_keeps_rejections_with_reason() -> None:
    clock = Seconds()
    with Outbox(clock=clock) as outbox:
        outbox.put([("m1", b"a"), ("m2", b"b"), ("m3", b"c")])
        outbox.settle([("m1", None)])
        clock.now += 1
        outbox.settle([("m2", "body.fill_percent: above the physical maximum 100")])
        clock.now += 1
        outbox.settle([("m3", "unknown asset"), ("never-queued", "whatever")])
        assert outbox.pending() == 0
        assert outbox.rejections() == [
            ("m2", "body.fill_percent: above the physical maximum 100"),
            ("m3", "unknown asset"),
        ]


def test_a_failed_put_leaves_nothing_half_written() -> None:
    with Outbox() as outbox:
        outbox.put([("m1", b"a")])
        with pytest.raises(sqlite3.Error):
            outbox.put([("m2", b"b"), ("m3", object())])  # type: ignore[list-item]
        assert ids(outbox.head(10)) == ["m1"]
        assert outbox.put([("m2", b"b")]) == 1  # and the outbox is still usable


def test_everything_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "deep" / "gw.outbox"  # folders are created
    with Outbox(path) as outbox:
        outbox.put([("m1", b"a"), ("m2", b"b"), ("m3", b"c")])
        outbox.mark_sent(["m1", "m2"])
        outbox.settle([("m2", "refused")])
    with Outbox(path) as reopened:
        assert reopened.pending() == 2
        assert reopened.head(10) == [("m1", b"a", 1), ("m3", b"c", 0)]
        assert reopened.rejections() == [("m2", "refused")]
        assert reopened.put([("m1", b"a")]) == 0  # still known: not queued twice


def test_a_string_path_works_too(tmp_path: Path) -> None:
    with Outbox(str(tmp_path / "s.outbox")) as outbox:
        outbox.put([("m1", b"a")])
    with Outbox(str(tmp_path / "s.outbox")) as outbox:
        assert outbox.pending() == 1


def test_closing_closes_the_file() -> None:
    outbox = Outbox()
    with outbox:
        outbox.put([("m1", b"a")])
    with pytest.raises(sqlite3.ProgrammingError):
        outbox.pending()


def test_queueing_is_synced_and_bookkeeping_leaves_it_so(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox") as outbox:
        synchronous = lambda: outbox._db.execute("PRAGMA synchronous").fetchone()[0]  # noqa: E731
        assert synchronous() == 2  # FULL
        outbox.put([("m1", b"x")])
        outbox.mark_sent(["m1"])
        outbox.settle([("m1", None)])
        assert synchronous() == 2 and outbox.pending() == 0
