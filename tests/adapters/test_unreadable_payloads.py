"""Unreadable payloads are kept for review (not a citizen's), and the counters show while running."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.citizen_app import CitizenAppAdapter
from adapters.sdk import AdapterRunner, Outbox
from adapters.service import AdapterService, _StatsLog, run_service
from adapters.wire import InMemoryTransport, Reply, decode, encode_reply
from tests.adapters.test_sdk_runner import FillAdapter, payload
from valley_twin.adapter_commands import main

NOW = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_logging_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)


def fill_runner(outbox: Outbox, transport: InMemoryTransport | None = None) -> AdapterRunner:
    return AdapterRunner(
        FillAdapter({}), transport or InMemoryTransport(), outbox, "gw-test", clock=lambda: NOW
    )


def test_each_unreadable_payload_is_kept_raw_with_its_reason() -> None:
    with Outbox() as outbox:
        runner = fill_runner(outbox)
        queued = runner.submit_many(
            [
                payload("s1"),
                "{not json",
                payload("s2", fill=250.0),  # read, but the wire schema refuses the reading
                payload("s3", crash=True),  # an adapter bug
                b"\xff\xfe binary",
            ]
        )
        assert queued == 1
        review = outbox.unreadable()
    assert review.kept == 4 and dict(runner.stats.unreadable) == {
        "payload": 2,
        "body.fill_percent": 1,
        "KeyError": 1,
    }
    by_field = {kept.field: kept for kept in reversed(review.payloads)}
    assert by_field["payload"].payload == b"\xff\xfe binary"  # the latest of the two
    assert review.payloads[-1].payload == b"{not json" and "JSON" in review.payloads[-1].reason
    refused = by_field["body.fill_percent"]
    assert json.loads(refused.payload or b"")["fill"] == 250.0  # the payload, not the reading
    assert "body.fill_percent" in refused.reason
    assert "an adapter bug" in by_field["KeyError"].reason


def test_a_reading_refused_without_a_payload_is_kept_as_the_reading() -> None:
    with Outbox() as outbox:
        runner = fill_runner(outbox)
        runner.submit(payload("s1", fill=250.0, hold=True))  # held back, flushed later
        assert outbox.unreadable().kept == 0
        runner.flush()
        kept = outbox.unreadable().payloads[0]
    assert json.loads(kept.payload or b"")["body"] == {"fill_percent": 250.0}


def test_a_citizens_unreadable_message_keeps_its_reason_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = {
        "type": "report",
        "citizen": "c-8f3a",
        "sent_at": "2024-05-01T10:00:00Z",
        "report_ref": "r-1",
        "category": "overflowing_bin",
        "lon": 3.5489,
        "lat": 43.6535,
    }
    with Outbox() as outbox, caplog.at_level(logging.DEBUG):
        runner = AdapterRunner(
            CitizenAppAdapter({}), InMemoryTransport(), outbox, "gw-app", clock=lambda: NOW
        )
        runner.submit_many(
            [
                json.dumps({**report, "text": "mon mail: jean.dupont@example.fr"}),
                json.dumps({**report, "text": "chez Jeanne Martin", "lon": 200.0}),
                '{"type": "report", "citizen": "Jeanne Martin 12 rue',  # broken JSON
            ]
        )
        review = outbox.unreadable()
    assert review.kept == 3
    assert all(kept.payload is None for kept in review.payloads)
    assert all("value withheld: personal data" in kept.reason for kept in review.payloads)
    assert {kept.field for kept in review.payloads} == {"text", "body.lon", "payload"}
    kept_text = " ".join(kept.reason for kept in review.payloads) + caplog.text
    for personal in ("jean.dupont", "Jeanne", "Martin", "200.0"):
        assert personal not in kept_text
    assert review.payloads[0].payload_bytes > 0  # the size is no secret


def test_the_report_adds_the_outbox_to_the_counters() -> None:
    with Outbox(unreadable_kept=1) as outbox:
        runner = fill_runner(outbox)
        runner.submit_many([payload("s1"), "{bad", "{worse"])
        report = runner.report()
    assert report["payloads"] == 3 and report["queued"] == 1 and report["pending"] == 1
    assert report["unreadable"] == {"payload": 2}
    assert (report["unreadable_kept"], report["unreadable_dropped"]) == (1, 1)
    assert report["in_flight"] == 0


# -- the counters while it runs ------------------------------------------------------------------


class AnsweringTransport(InMemoryTransport):
    """Ingest answering every message at once."""

    def send(self, frame: bytes) -> None:
        super().send(frame)
        self.replies.append(encode_reply(Reply("ack", decode(frame, NOW).message_id)))


def replay_service(tmp_path: Path, stats_every_s: float) -> AdapterService:
    lines = tmp_path / "payloads.jsonl"
    lines.write_text(payload("s1") + "\n{bad\n", encoding="utf-8")
    runner = fill_runner(Outbox(tmp_path / "gw.outbox"), AnsweringTransport())
    return AdapterService(runner, {"type": "jsonl", "path": str(lines)}, stats_every_s)


def stats_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        json.loads(record.getMessage().split(": ", 1)[1])
        for record in caplog.records
        if record.getMessage().startswith("stats gw-test:")
    ]


@pytest.mark.slow
def test_asked_for_the_counters_the_service_logs_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = replay_service(tmp_path, stats_every_s=0)
    service.stats_wanted.set()  # what SIGUSR1 does
    with caplog.at_level(logging.INFO, logger="adapters.service"):
        run_service(service, threading.Event())
    logged = stats_lines(caplog)
    assert len(logged) == 1 and not service.stats_wanted.is_set()
    assert {"payloads", "acknowledged", "pending", "unreadable_kept"} <= set(logged[0])


def test_the_counters_are_logged_every_so_often(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1_000.0]
    monkeypatch.setattr("adapters.service.time.monotonic", lambda: now[0])
    with Outbox() as outbox:
        service = AdapterService(fill_runner(outbox), {}, stats_every_s=60)
        stats = _StatsLog(service)
        with caplog.at_level(logging.INFO, logger="adapters.service"):
            for _step in range(13):  # two minutes in 10 s steps
                stats.maybe()
                now[0] += 10
    assert len(stats_lines(caplog)) == 2


def test_stats_every_zero_logs_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1_000.0]
    monkeypatch.setattr("adapters.service.time.monotonic", lambda: now[0])
    with Outbox() as outbox:
        service = AdapterService(fill_runner(outbox), {}, stats_every_s=0)
        stats = _StatsLog(service)
        with caplog.at_level(logging.INFO, logger="adapters.service"):
            now[0] += 10_000
            stats.maybe()
            service.stats_wanted.set()
            stats.maybe()
    assert len(stats_lines(caplog)) == 1


# -- twin adapter unreadable ---------------------------------------------------------------------


def outbox_with_unreadables(path: Path) -> None:
    with Outbox(path) as outbox:
        fill_runner(outbox).submit_many(["{not json", payload("s2", fill=250.0), "x" * 1_000])


@pytest.mark.slow
def test_the_command_lists_them_from_the_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outbox_with_unreadables(tmp_path / "state" / "gw-test.outbox")
    config = tmp_path / "adapter.toml"
    config.write_text('source = "gw-test"\noutbox = "state/gw-test.outbox"\n', encoding="utf-8")
    assert main(["unreadable", "--config", str(config), "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "3 unreadable payload(s) kept, 0 dropped" in lines[0]
    assert len(lines) == 1 + 2 * 2  # two payloads, two lines each
    assert "  payload: not JSON" in lines[1] and "value 'xxxxxxxx" in lines[1]
    assert "payload (1000 bytes, utf-8)" in lines[2] and lines[2].endswith("…")
    assert "body.fill_percent" in lines[3]


@pytest.mark.slow
def test_the_command_in_json_from_the_outbox_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outbox_with_unreadables(tmp_path / "gw.outbox")
    assert main(["unreadable", "--outbox", str(tmp_path / "gw.outbox"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["kept"], document["dropped"]) == (3, 0)
    oldest = document["payloads"][-1]
    assert oldest["payload"] == "{not json" and oldest["encoding"] == "utf-8"
    assert oldest["payload_bytes"] == oldest["kept_bytes"] == 9
    assert oldest["field"] == "payload" and oldest["received_at"].endswith("+00:00")


def test_the_command_without_an_outbox_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["unreadable", "--outbox", str(tmp_path / "none.outbox")]) == 1
    assert "no outbox at" in capsys.readouterr().err
    assert not (tmp_path / "none.outbox").exists()


@pytest.mark.parametrize(
    "arguments",
    [
        ["unreadable"],
        ["unreadable", "--outbox", "a", "--config", "b"],
        ["unreadable", "--outbox", "a", "--limit", "0"],
        ["run", "energy-meter", "--config", "a.toml", "--stats-every", "-1"],
    ],
)
def test_bad_command_lines_exit_2(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(arguments)
    assert caught.value.code == 2
    capsys.readouterr()


@pytest.mark.slow
def test_run_refuses_an_outbox_another_instance_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "adapter.toml"
    config.write_text(
        'source = "gw-1"\nplaintext = true\nendpoint = "tcp://127.0.0.1:9"\n'
        'outbox = "gw-1.outbox"\n[input]\ntype = "jsonl"\npath = "-"\n',
        encoding="utf-8",
    )
    with Outbox(tmp_path / "gw-1.outbox"):
        assert main(["run", "energy-meter", "--config", str(config)]) == 1
    error = capsys.readouterr().err
    assert "is in use by another adapter process" in error and "Traceback" not in error
