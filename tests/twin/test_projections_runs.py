"""Projection runs: live == rebuilt, crashes and Ctrl-C resume without applying twice, loud stops.

Every test runs on the embedded SQLite store and on PostgreSQL (``store_url``).
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from domain import Bin, Citizen
from tests.twin.test_projections import record_valley, t
from twin import ValleyTwin, open_twin
from twin.projections import (
    PROJECTIONS,
    ProjectionError,
    catch_up,
    follow,
    rebuild,
    status,
    view_store,
)
from twin.projections.assets import AssetState
from valley_twin.cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator

ASSET_TOPICS = set(PROJECTIONS["asset_state"].topics)


class Crash(BaseException):
    """Stands for the process dying mid-page (nothing catches it but the transaction)."""


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    twin = open_twin(store_url)
    try:
        yield twin
    finally:
        twin.close()


def dump(twin: ValleyTwin) -> dict[str, list[tuple[Any, ...]]]:
    """Every view table's rows (every column), in key order."""
    store = view_store(twin)
    tables = {}
    with store.read() as db:
        for projection in PROJECTIONS.values():
            for table in projection.tables:
                order = ", ".join(table.key)
                tables[table.name] = db.fetch(
                    f"SELECT * FROM {store.dialect.table(table.name)} ORDER BY {order}"
                )
    return tables


def positions(twin: ValleyTwin) -> dict[str, int]:
    return {s.name: s.position for s in status(twin)}


def versions_in_log(twin: ValleyTwin, up_to: int) -> dict[str, int]:
    """Each asset's version counting only the log's events at or before ``up_to``."""
    return {
        str(n.originator_id): n.originator_version
        for n in twin.notifications(0, 10_000)
        if n.id <= up_to and n.topic in ASSET_TOPICS
    }


def test_views_kept_live_equal_views_rebuilt_from_zero(twin: ValleyTwin) -> None:
    record_valley(twin, after_batch=lambda: catch_up(twin, page_size=4))
    live = dump(twin)
    assert (
        sum(map(len, live.values())) == 36
    )  # 4 of them the meter readings energy_daily keeps (energy_meter_marks)
    applied = rebuild(twin)
    assert applied["asset_state"] == sum(
        1 for n in twin.notifications(0, 10_000) if n.topic in ASSET_TOPICS
    )
    assert dump(twin) == live


def test_a_crash_mid_run_loses_no_page_and_applies_none_twice(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_valley(twin)
    calls = 0
    original = AssetState.handlers[Bin.FillLevelMeasured]

    def crash_on_the_third_reading(page: Any, event: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Crash
        original(page, event)

    monkeypatch.setitem(AssetState.handlers, Bin.FillLevelMeasured, crash_on_the_third_reading)
    with pytest.raises(Crash):
        catch_up(twin, page_size=5)
    stopped = positions(twin)
    at = stopped["asset_state"]
    assert 0 < at < twin.recorder.max_notification_id()
    assert set(stopped.values()) == {at}  # one transaction per page for every projection
    rows = {r[0]: r[-1] for r in dump(twin)["asset_state"]}  # aggregate id → version
    assert rows == versions_in_log(twin, at)  # exactly the committed pages, nothing of the next

    monkeypatch.setitem(AssetState.handlers, Bin.FillLevelMeasured, original)
    catch_up(twin, page_size=5)  # resumes: a repeated event would break asset_state's version check
    resumed = dump(twin)
    rebuild(twin)
    assert dump(twin) == resumed


def test_ctrl_c_during_a_rebuild_leaves_tracking_consistent(
    store_url: str,
    twin: ValleyTwin,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_valley(twin)
    catch_up(twin)
    before = dump(twin)
    calls = 0
    original = AssetState.handlers[Bin.FillLevelMeasured]

    def interrupted(page: Any, event: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        original(page, event)

    monkeypatch.setitem(AssetState.handlers, Bin.FillLevelMeasured, interrupted)
    assert main(["--store", store_url, "projections", "rebuild", "--page-size", "6"]) == 130
    assert "interrupted" in capsys.readouterr().err
    at = positions(twin)["asset_state"]
    assert {r[0]: r[-1] for r in dump(twin)["asset_state"]} == versions_in_log(twin, at)

    monkeypatch.setitem(AssetState.handlers, Bin.FillLevelMeasured, original)
    assert main(["--store", store_url, "projections", "run", "--once"]) == 0
    assert dump(twin) == before


def test_two_runners_at_once_apply_each_event_once(store_url: str, twin: ValleyTwin) -> None:
    record_valley(twin)
    twins = [open_twin(store_url) for _ in range(2)]
    errors: list[BaseException] = []

    def run(other: ValleyTwin) -> None:
        try:
            catch_up(other, page_size=3)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(other,)) for other in twins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in twins:
        other.close()
    assert errors == []
    concurrent = dump(twin)
    rebuild(twin)
    assert dump(twin) == concurrent


def test_a_runner_overtaken_between_reading_and_writing_resumes_from_the_new_position(
    store_url: str, twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_valley(twin)
    other = open_twin(store_url)
    read = twin.notifications
    overtaken = []

    def read_then_be_overtaken(after: int, limit: int, topics: Any = ()) -> Any:
        page = read(after, limit, topics)
        if page and not overtaken:
            # Another runner, with other page boundaries, applies part of this page first.
            overtaken.append(catch_up(other, page_size=2, stop=_after_pages(2)))
        return page

    monkeypatch.setattr(twin, "notifications", read_then_be_overtaken)
    try:
        catch_up(twin, page_size=5)
    finally:
        other.close()
    assert overtaken and overtaken[0]["asset_state"] > 0
    raced = dump(twin)
    rebuild(twin)
    assert dump(twin) == raced


class _after_pages(threading.Event):  # noqa: N801 - reads as what it does at the call site
    """A stop flag that sets itself after it has been asked ``pages`` times."""

    def __init__(self, pages: int) -> None:
        super().__init__()
        self.left = pages

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def test_following_the_log_keeps_up_with_a_writer_until_stopped(
    store_url: str, twin: ValleyTwin
) -> None:
    follower = open_twin(store_url)  # as `twin projections run` would, on its own connections
    stop = threading.Event()
    applied: dict[str, int] = {}
    thread = threading.Thread(
        target=lambda: applied.update(follow(follower, stop=stop, interval=0.01, page_size=7))
    )
    thread.start()
    try:
        record_valley(twin)  # five commits while the follower polls
        head = twin.recorder.max_notification_id()
        deadline = time.monotonic() + 10
        while min(positions(twin).values()) < head and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join()
        follower.close()
    assert min(positions(twin).values()) == head
    assert applied["asset_state"] == sum(
        1 for n in twin.notifications(0, 10_000) if n.topic in ASSET_TOPICS
    )
    followed = dump(twin)
    rebuild(twin)
    assert dump(twin) == followed


def test_an_event_that_cannot_be_applied_stops_its_projection_loudly(twin: ValleyTwin) -> None:
    record_valley(twin)
    citizen = Citizen.id_for("CIT-1")
    (last,) = twin.recorder.select_events(citizen, desc=True, limit=1)
    stray = Citizen.ReportStatusChanged(  # a status change for a report the log never filed
        originator_id=citizen,
        originator_version=last.originator_version + 1,
        timestamp=t(31, 23),
        report_ref="R-404",
        status="acknowledged",
        note="",
    )
    (bad,) = twin.recorder.insert_events([twin.mapper.to_stored_event(stray)])
    assert bad is not None
    with pytest.raises(ProjectionError) as raised:
        catch_up(twin, page_size=1_000)
    error = raised.value
    assert (error.projection, error.position) == ("citizen_reports", bad)
    assert "R-404" in str(error) and f"at event {bad}" in str(error) and "never filed" in str(error)
    standing = positions(twin)
    assert standing["citizen_reports"] < bad
    assert all(
        p == bad for n, p in standing.items() if n != "citizen_reports"
    )  # the others went on
    with pytest.raises(ProjectionError):
        catch_up(twin, ["citizen_reports"])  # and it stays stopped: no silent skip


def test_tables_built_by_another_version_ask_for_a_rebuild(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_valley(twin)
    catch_up(twin)
    monkeypatch.setattr(AssetState, "version", AssetState.version + 1)
    with pytest.raises(ProjectionError, match="rebuild asset_state"):
        catch_up(twin, ["asset_state"])
    assert next(s for s in status(twin) if s.name == "asset_state").lag is None
    rebuild(twin, "asset_state")
    assert next(s for s in status(twin) if s.name == "asset_state").state == "up to date"


def test_cli_status_rebuild_and_run(
    store_url: str, twin: ValleyTwin, capsys: pytest.CaptureFixture[str]
) -> None:
    record_valley(twin)
    head = twin.recorder.max_notification_id()
    assert main(["--store", store_url, "projections", "status", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in before] == list(PROJECTIONS)
    assert all(s["position"] == 0 and s["lag"] == head and s["state"] == "behind" for s in before)

    assert main(["--store", store_url, "projections", "rebuild", "bin_fill_hourly"]) == 0
    out, err = capsys.readouterr()
    assert "rebuilt bin_fill_hourly" in out and "events/s" in err and "left" in err
    assert main(["--store", store_url, "projections", "run", "--once"]) == 0
    capsys.readouterr()
    assert main(["--store", store_url, "projections", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["projection", "position", "head", "lag", "rows"]
    assert all(line.split()[3] == "0" and line.endswith("up to date") for line in lines[1:])
    with pytest.raises(SystemExit) as bad_name:
        main(["--store", store_url, "projections", "rebuild", "no_such_view"])
    assert bad_name.value.code == 2


def test_cli_says_which_event_stopped_a_projection(
    store_url: str, twin: ValleyTwin, capsys: pytest.CaptureFixture[str]
) -> None:
    record_valley(twin)
    last = twin.recorder.select_events(Bin.id_for("B-1"), desc=True, limit=1)[0]
    gap = Bin.FillLevelMeasured(  # a version gap: an event went missing upstream
        originator_id=last.originator_id,
        originator_version=last.originator_version + 2,
        timestamp=t(31, 23),
        fill_percent=1.0,
    )
    (bad,) = twin.recorder.insert_events([twin.mapper.to_stored_event(gap)])
    assert main(["--store", store_url, "projections", "run", "--once"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"twin: projection asset_state stopped at event {bad} (domain.bins:Bin.FillLevelMeasured)"
    )
    assert "cannot follow it" in err and "Traceback" not in err
