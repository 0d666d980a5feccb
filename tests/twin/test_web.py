"""The web view's API and live feed, in process (Starlette's TestClient), on a memory store."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adapters.wire import Envelope, encode
from domain import Beacon, Bin, Position, Service
from tests.conftest import T0
from twin import IngestProcessor, ValleyTwin, load_geography, open_twin
from twin.ingest import Incoming
from twin.storage import drop_memory_store
from twin.web import AssetFeed, FeedSettings, WebSettings, create_app

HERE = Position(752_000.0, 6_283_000.0)  # in Gignac
SENSOR = "A84041000181C9B2"


def a_small_valley() -> list[Bin | Beacon | Service]:
    return [
        Bin.install(
            code="B-1", stream="glass", capacity_l=3000, position=HERE, commune_insee="34114", at=T0
        ),
        Bin.install(
            code="B-2", stream="paper", capacity_l=3000, position=HERE, commune_insee="34114", at=T0
        ),
        Beacon.install(code="BLE-1", zone_code="ZAE", position=HERE, commune_insee="34114", at=T0),
        Service.open(
            code="SRV-1",
            name="Crèche",
            service_kind="childcare",
            capacity=20,
            position=HERE,
            commune_insee="34114",
            at=T0,
        ),
    ]


@pytest.fixture
def twin() -> Iterator[ValleyTwin]:
    name = f"web-{uuid.uuid4().hex}"
    application = open_twin(f"memory://{name}")
    application.add(*a_small_valley())
    yield application
    application.close()
    drop_memory_store(name)


def fill(twin: ValleyTwin, code: str, percent: float, hours: float, number: int = 1) -> None:
    """A fill reading through the real ingest path (wire message → IngestProcessor)."""
    observed = T0 + timedelta(days=1, hours=hours)
    envelope = Envelope(
        f"m-{code}-{number}",
        "gateway-1",
        SENSOR,
        code,
        "bin.fill",
        observed,
        {"fill_percent": percent},
    )
    processor = IngestProcessor(twin, load_geography(), clock=lambda: observed)
    (reply,) = processor.process([Incoming(encode(envelope))])
    assert reply is not None and reply.status == "ack"


def settings(tmp_path: Path, **feed: float) -> WebSettings:
    return WebSettings(reports_dir=tmp_path / "reports", feed=FeedSettings(**feed))  # type: ignore[arg-type]


@pytest.mark.slow
def test_assets_answer_every_asset_in_wgs84_with_its_mark(twin: ValleyTwin, tmp_path: Path) -> None:
    fill(twin, "B-1", 85.0, hours=1)
    with TestClient(create_app(twin, settings(tmp_path))) as client:
        answer = client.get("/api/assets").json()
    by_code = {row["code"]: row for row in answer["assets"]}
    assert sorted(by_code) == ["B-1", "B-2", "BLE-1", "SRV-1"]
    assert (by_code["B-1"]["band"], by_code["B-1"]["text"]) == (
        "high",
        "fill 85 % at 2024-01-02 01:00 UTC",
    )
    assert by_code["B-2"]["band"] == "nosensor"
    assert by_code["SRV-1"]["text"] == "0 of 20 places taken"
    # Lambert-93 (752000, 6283000) is in Gignac: lon ≈ 3.6, lat ≈ 43.7.
    assert 3.5 < by_code["B-1"]["lon"] < 3.7 and 43.6 < by_code["B-1"]["lat"] < 43.8
    assert answer["now"] == "2024-01-02T01:00:00+00:00"  # the valley's clock: its newest fact


def test_a_step_reads_only_what_changed_since_the_last(twin: ValleyTwin) -> None:
    feed = AssetFeed(twin)
    feed.load()
    assert feed.step() == []
    fill(twin, "B-1", 40.0, hours=1)
    changed = feed.step()
    assert [(row["code"], row["band"]) for row in changed] == [("B-1", "low")]
    assert feed.step() == []  # from its position: nothing is read twice
    assert feed.position == twin.recorder.max_notification_id()


def test_a_silent_sensor_turns_grey_at_the_next_resweep(twin: ValleyTwin) -> None:
    fill(twin, "B-1", 60.0, hours=1)
    clock = [T0 + timedelta(days=1, hours=2)]
    feed = AssetFeed(twin, settings=FeedSettings(resweep_s=0.0), clock=lambda: clock[0])
    feed.load()
    assert feed.rows["B-1"]["band"] == "mid"
    clock[0] += timedelta(days=2)
    assert [(row["code"], row["band"]) for row in feed.step()] == [("B-1", "silent")]


def test_a_page_that_falls_behind_is_told_to_resync_and_holds_no_more_than_its_queue(
    twin: ValleyTwin,
) -> None:
    async def scenario() -> None:
        feed = AssetFeed(twin, settings=FeedSettings(queue_size=3, max_pages=2))
        feed.load()
        slow, other = feed.open_page(), feed.open_page()
        assert slow is not None and other is not None
        assert feed.open_page() is None  # max_pages: the third is refused
        rows = list(feed.rows.values())
        feed.publish(rows[:2])
        feed.publish(rows[2:4])  # the queue of 3 overflows on the 4th change
        messages = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        assert len(messages) <= 3 and messages[0].startswith("event: resync")
        assert slow.resyncs == 1
        feed.close_page(slow)
        assert feed.open_page() is not None

    asyncio.run(scenario())


@pytest.mark.slow
def test_the_stream_sends_one_event_naming_the_container_ingested(
    twin: ValleyTwin, tmp_path: Path
) -> None:
    app = create_app(twin, settings(tmp_path, interval_s=0.05))
    with TestClient(app) as client:
        ingest = threading.Timer(0.3, fill, (twin, "B-1", 100.0, 1))
        ingest.start()
        started = time.monotonic()
        body = client.get("/api/stream?max_events=1").text
        ingest.join()
    events = [block for block in body.split("\n\n") if block]
    assert events[0].startswith("retry: 2000\nevent: ready")
    assert "event: asset" in events[1] and '"code":"B-1"' in events[1]
    assert '"band":"full"' in events[1]
    assert time.monotonic() - started < 2.0
    assert not app.state.view.feed.pages  # the ended stream let go of its queue


@pytest.mark.slow
def test_too_many_streams_are_refused_and_a_bad_limit_is_named(
    twin: ValleyTwin, tmp_path: Path
) -> None:
    web = settings(tmp_path)
    web.feed.max_pages = 0
    with TestClient(create_app(twin, web)) as client:
        assert client.get("/api/stream").status_code == 503
        bad = client.get("/api/stream?max_events=-1")
    assert bad.status_code == 400 and "max_events='-1'" in bad.json()["error"]


@pytest.mark.slow
def test_an_asset_as_of_any_instant(twin: ValleyTwin, tmp_path: Path) -> None:
    fill(twin, "B-1", 30.0, hours=1, number=1)
    fill(twin, "B-1", 90.0, hours=5, number=2)
    with TestClient(create_app(twin, settings(tmp_path))) as client:
        before = client.get("/api/assets/B-1/at", params={"instant": "2023-12-31T00:00Z"}).json()
        middle = client.get("/api/assets/B-1/at", params={"instant": "2024-01-02T03:00Z"}).json()
        now = client.get("/api/assets/B-1").json()
        missing = client.get("/api/assets/NOPE")
        malformed = client.get("/api/assets/B-1/at", params={"instant": "soon"})
        page = client.get("/asset/B-1")
    assert before["state"] is None
    assert middle["state"]["fill_percent"] == 30.0
    assert now["state"]["fill_percent"] == 90.0
    assert [p[1] for p in now["series"]["points"]] == [30.0, 90.0]
    assert missing.status_code == 404 and "NOPE" in missing.json()["error"]
    assert malformed.status_code == 400 and "instant='soon'" in malformed.json()["error"]
    assert page.status_code == 200 and 'id="travel"' in page.text and "<polyline" in page.text


@pytest.mark.slow
def test_a_token_is_required_when_set(twin: ValleyTwin, tmp_path: Path) -> None:
    web = settings(tmp_path)
    web.token = "s3cret"
    with TestClient(create_app(twin, web)) as client:
        assert client.get("/api/assets").status_code == 401
        assert (
            client.get("/api/assets", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
        headers = {"Authorization": "Bearer s3cret"}
        assert client.get("/api/assets", headers=headers).status_code == 200
        link = client.get("/?token=s3cret", follow_redirects=False)
        assert link.status_code == 303 and "twin_token=s3cret" in link.headers["set-cookie"]
        assert "HttpOnly" in link.headers["set-cookie"]
        assert client.get("/api/assets").status_code == 200  # the cookie carries it now


@pytest.mark.slow
def test_reports_are_listed_and_only_their_files_served(twin: ValleyTwin, tmp_path: Path) -> None:
    report = tmp_path / "reports" / "baseline"
    report.mkdir(parents=True)
    (report / "index.html").write_text("<h1>baseline</h1>", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not a report", encoding="utf-8")
    (report / "link.txt").symlink_to(tmp_path / "secret.txt")
    with TestClient(create_app(twin, settings(tmp_path))) as client:
        listed = client.get("/api/reports").json()["reports"]
        opened = client.get("/reports/baseline/index.html")
        escaped = client.get("/reports/baseline/link.txt")
        page = client.get("/reports")
    assert [r["name"] for r in listed] == ["baseline"]
    assert opened.status_code == 200 and "<h1>baseline</h1>" in opened.text
    assert escaped.status_code == 404
    assert 'href="/reports/baseline/index.html"' in page.text


@pytest.mark.slow
def test_pages_render_with_their_legend_and_filters(twin: ValleyTwin, tmp_path: Path) -> None:
    with TestClient(create_app(twin, settings(tmp_path))) as client:
        home = client.get("/").text
        alerts = client.get("/alerts")
        health = client.get("/health")
        api = [client.get(path) for path in ("/api/alerts", "/api/health")]
    assert home.count('class="commune"') == 28
    assert "80–99 %" in home and "sensor silent" in home  # the colours in words
    assert 'name="kind"' in home and 'name="commune"' in home and 'name="subkind"' in home
    assert alerts.status_code == 200 and health.status_code == 200
    assert [response.status_code for response in api] == [200, 200]


def test_a_backlog_of_changes_is_read_as_a_whole_map_not_by_thousands_of_ids(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backlog past MOST_CHANGES_BY_ID changed aggregates (views that stood still while ingest
    # ran) once became one IN (...) of every id, past the databases' limits on parameters.
    import twin.web.feed as feed_module

    monkeypatch.setattr(feed_module, "MOST_CHANGES_BY_ID", 2)
    feed = AssetFeed(twin)
    feed.load()
    asked: list[object] = []
    rows = feed.marks.rows

    def spying_rows(db: object, now: object, ids: object = None) -> object:
        asked.append(ids)
        return rows(db, now, ids)  # type: ignore[arg-type]

    monkeypatch.setattr(feed.marks, "rows", spying_rows)
    for number in range(1, 4):  # three readings: a bin and three receipts changed
        fill(twin, "B-1", 10.0 * number, hours=number, number=number)
    before = feed.rows
    changed = feed.step()
    assert asked == [None]  # the whole map, once
    assert [(row["code"], row["band"]) for row in changed] == [("B-1", "low")]
    # The rows are a new dict swapped in: a reader of the old one never sees it change size.
    assert feed.rows is not before and before["B-1"]["band"] == "nosensor"


def test_without_a_token_only_loopback_host_names_are_answered(
    twin: ValleyTwin, tmp_path: Path
) -> None:
    # DNS rebinding: a page from elsewhere, its name pointed at 127.0.0.1, would otherwise read
    # the view (and each new Host: would have kept one more catalogue in memory).
    from twin.web import LOOPBACK_HOSTS

    web = WebSettings(
        reports_dir=tmp_path / "reports",
        feed=FeedSettings(keep_views_current=False),
        allowed_hosts=LOOPBACK_HOSTS,
    )
    app = create_app(twin, web)
    with TestClient(app, base_url="http://evil.example") as client:
        assert client.get("/api/assets").status_code == 400
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/assets").status_code == 200


def test_kept_answers_are_bounded() -> None:
    from twin.web.queries import KEPT_ANSWERS, Kept

    kept = Kept(seconds=60.0)
    for number in range(KEPT_ANSWERS * 3):
        assert kept.get(f"catalogue http://host-{number}/", lambda n=number: n) == number
    assert len(kept._answers) == KEPT_ANSWERS
