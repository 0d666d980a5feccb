"""The durable outbox: queue order, attempts, answers, rejections kept, and a file that outlives the process."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from adapters.sdk import Outbox, OutboxInUseError, UnreadablePayload, review_unreadable


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


# -- unreadable payloads: kept for review, bounded ---------------------------------------------


def unreadable(n: int, size: int = 10) -> UnreadablePayload:
    return UnreadablePayload("payload", f"not JSON #{n}", bytes([65 + n % 26]) * size, size)


def test_unreadable_payloads_are_kept_newest_first_and_survive_reopening(tmp_path: Path) -> None:
    clock = Seconds()
    path = tmp_path / "gw.outbox"
    with Outbox(path, clock=clock) as outbox:
        outbox.keep_unreadable([unreadable(0)])
        clock.now += 60
        outbox.keep_unreadable([unreadable(1), UnreadablePayload("text", "withheld", None, 2_000)])
    with Outbox(path) as reopened:
        review = reopened.unreadable()
    assert (review.kept, review.dropped) == (3, 0)
    assert [(kept.field, kept.reason, kept.payload) for kept in review.payloads] == [
        ("text", "withheld", None),
        ("payload", "not JSON #1", b"B" * 10),
        ("payload", "not JSON #0", b"A" * 10),
    ]
    assert review.payloads[0].payload_bytes == 2_000 and not review.payloads[0].cut
    assert review.payloads[-1].received_at.timestamp() == 1_714_557_600.0
    assert review.payloads[-1].received_at.tzinfo is not None


def test_unreadable_payloads_are_bounded_in_count_and_size() -> None:
    with Outbox(unreadable_kept=5, unreadable_max_bytes=4) as outbox:
        outbox.keep_unreadable([unreadable(n) for n in range(3)])
        outbox.keep_unreadable([unreadable(n) for n in range(3, 9)])
        review = outbox.unreadable(limit=2)
        assert (review.kept, review.dropped) == (5, 4)  # the four oldest dropped, and counted
        assert [kept.reason for kept in review.payloads] == ["not JSON #8", "not JSON #7"]
        assert review.payloads[0].payload == b"IIII" and review.payloads[0].payload_bytes == 10
        assert review.payloads[0].cut
        assert [k.reason for k in outbox.unreadable().payloads][-1] == "not JSON #4"


def test_keeping_none_only_counts() -> None:
    with Outbox(unreadable_kept=0) as outbox:
        outbox.keep_unreadable([unreadable(1), unreadable(2)])
        review = outbox.unreadable()
        assert (review.kept, review.dropped, review.payloads) == (0, 2, [])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_bad_unreadable_bounds_are_refused_by_name(bad: object) -> None:
    with pytest.raises(ValueError, match="unreadable_kept must be a whole number"):
        Outbox(unreadable_kept=bad)  # type: ignore[arg-type]


def test_review_reads_an_outbox_in_use_without_creating_one(tmp_path: Path) -> None:
    path = tmp_path / "gw.outbox"
    with pytest.raises(FileNotFoundError, match="no outbox at"):
        review_unreadable(path)
    assert not path.exists()
    with Outbox(path) as running:  # the adapter runs and holds the outbox
        running.keep_unreadable([unreadable(1)])
        review = review_unreadable(path, limit=10)
        assert review.kept == 1 and review.payloads[0].reason == "not JSON #1"
        running.keep_unreadable([unreadable(2)])  # the review left the file writable
    assert review_unreadable(path).kept == 2


def test_review_of_a_file_that_is_no_outbox(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ValueError, match="is not an adapter's outbox"):
        review_unreadable(other)


# -- one outbox, one runner ----------------------------------------------------------------------


def test_a_second_instance_on_the_same_outbox_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "gw.outbox"
    with Outbox(path) as first:
        first.put([("m1", b"a")])
        with pytest.raises(OutboxInUseError) as refused:
            Outbox(path)
        assert str(path) in str(refused.value) and f"pid {os.getpid()}" in str(refused.value)
        with pytest.raises(OutboxInUseError):
            Outbox(str(path))  # the same file named as a string
        assert first.pending() == 1  # the first one is untouched
    with Outbox(path) as after:  # closing released it
        assert after.pending() == 1


def test_outboxes_in_memory_and_in_other_files_do_not_lock_each_other(tmp_path: Path) -> None:
    with Outbox(), Outbox(), Outbox(tmp_path / "a.outbox"), Outbox(tmp_path / "b.outbox"):
        pass


def test_the_instance_id_is_kept_by_the_file_and_differs_between_files(tmp_path: Path) -> None:
    with Outbox(tmp_path / "a.outbox") as a, Outbox(tmp_path / "b.outbox") as b:
        first_a, first_b = a.instance_id(), b.instance_id()
    assert first_a != first_b and len(first_a) == 12
    with Outbox(tmp_path / "a.outbox") as a:
        assert a.instance_id() == first_a
