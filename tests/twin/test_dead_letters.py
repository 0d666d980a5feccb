"""Dead letters: filtered, retried once their cause is fixed (never stored twice), discarded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.wire import Envelope, encode
from domain import Bin, Position
from tests.conftest import T0
from twin import (
    LetterFilter,
    NotFoundError,
    ValleyTwin,
    dead_letters,
    discard,
    load_geography,
    open_twin,
    retry,
)
from twin.ingest import Incoming, IngestProcessor
from valley_twin.cli import main

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
HERE = Position(752000.0, 6283000.0)


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    yield application
    application.close()


def reading(number: int, asset: str = "B-1", source: str = "gw-1") -> Incoming:
    envelope = Envelope(
        f"m-{number}",
        source,
        "A84041000181C9B2",
        asset,
        "bin.fill",
        NOW - timedelta(hours=10 - number),
        {"fill_percent": 10.0 * number},
    )
    return Incoming(encode(envelope))


def install(twin: ValleyTwin) -> None:
    twin.add(
        Bin.install(
            code="B-1", stream="glass", capacity_l=3000, position=HERE, commune_insee="34114", at=T0
        )
    )


def test_a_reading_for_a_bin_installed_later_is_recorded_on_retry_and_only_once(
    twin: ValleyTwin,
) -> None:
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    replies = processor.process([reading(1), reading(2, asset="B-2", source="gw-2")])
    assert [reply.status for reply in replies if reply] == ["rejected", "rejected"]
    letters = list(dead_letters(twin))
    assert [letter.message_id for letter in letters] == ["m-1", "m-2"]
    assert [x.message_id for x in dead_letters(twin, which=LetterFilter(source="gw-2"))] == ["m-2"]
    assert [x.message_id for x in dead_letters(twin, which=LetterFilter(reason="'B-1'"))] == ["m-1"]
    assert list(dead_letters(twin, which=LetterFilter(since=NOW + timedelta(seconds=1)))) == []

    first = letters[0].receipt
    (outcome,) = retry(twin, load_geography(), [first], clock=lambda: NOW)
    assert outcome.status == "refused" and "'B-1'" in (outcome.reason or "")
    assert len(list(dead_letters(twin))) == 2  # still refused: nothing stored

    install(twin)
    (outcome,) = retry(twin, load_geography(), [first], clock=lambda: NOW)
    assert outcome.status == "applied"
    bin_ = twin.get(Bin, "B-1")
    assert bin_.fill_percent == 10.0 and bin_.fill_measured_at == NOW - timedelta(hours=9)
    assert [letter.message_id for letter in dead_letters(twin)] == ["m-2"]
    settled = {
        x.message_id: x.settled for x in dead_letters(twin, which=LetterFilter(settled=True))
    }
    assert settled == {"m-1": "retried", "m-2": None}

    version = bin_.version
    (again,) = retry(twin, load_geography(), [first], clock=lambda: NOW)
    assert again.status == "settled"
    # The adapter's resend of the original message is now a duplicate, not a second reading.
    fresh = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    (reply,) = fresh.process([reading(1)])
    assert reply is not None and reply.status == "duplicate"
    assert twin.get(Bin, "B-1").version == version


def test_discarding_needs_a_note_and_hides_the_letter(twin: ValleyTwin) -> None:
    IngestProcessor(twin, load_geography(), clock=lambda: NOW).process([reading(1)])
    (letter,) = dead_letters(twin)
    with pytest.raises(Exception, match="--note"):
        discard(twin, [letter.receipt], "  ")
    assert discard(twin, [letter.receipt], "test bin, never installed", clock=lambda: NOW) == 1
    assert list(dead_letters(twin)) == []
    (shown,) = dead_letters(twin, which=LetterFilter(settled=True))
    assert (shown.settled, shown.note) == ("discarded", "test bin, never installed")
    assert discard(twin, [letter.receipt], "again") == 0  # already set aside
    (outcome,) = retry(twin, load_geography(), [letter.receipt])
    assert outcome.status == "settled"


def test_retry_of_an_unknown_id_is_a_clear_error(twin: ValleyTwin) -> None:
    install(twin)
    with pytest.raises(NotFoundError):
        retry(twin, load_geography(), [Bin.id_for("B-9")])


def test_the_commands_list_retry_and_discard(
    store_url: str, twin: ValleyTwin, capsys: pytest.CaptureFixture[str]
) -> None:
    IngestProcessor(twin, load_geography(), clock=lambda: NOW).process(
        [reading(1), reading(2, asset="B-2")]
    )
    assert main(["--store", store_url, "deadletters", "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)
    ids = {letter["message_id"]: letter["id"] for letter in letters}
    assert main(["--store", store_url, "deadletters", "--reason", "b-2"]) == 0
    out = capsys.readouterr().out
    assert ids["m-2"] in out and ids["m-1"] not in out

    install(twin)
    assert main(["--store", store_url, "deadletters", "retry", "--reason", "'B-1'"]) == 0
    assert f"{ids['m-1']}  applied" in capsys.readouterr().out
    assert main(["--store", store_url, "deadletters", "discard", ids["m-2"], "--note", "typo"]) == 0
    assert "1 dead letter(s) set aside" in capsys.readouterr().out
    assert main(["--store", store_url, "deadletters"]) == 0
    assert capsys.readouterr().out.strip() == "no dead letters"
    assert main(["--store", store_url, "deadletters", "--all"]) == 0
    out = capsys.readouterr().out
    assert "[retried: -]" in out and "[discarded: typo]" in out

    assert main(["--store", store_url, "deadletters", "retry", "not-an-id"]) == 1
    assert "ID='not-an-id'" in capsys.readouterr().err
    assert main(["--store", store_url, "deadletters", "retry"]) == 1
    capsys.readouterr()


def test_a_message_sent_under_another_keys_name_is_never_retried(twin: ValleyTwin) -> None:
    install(twin)
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    forged = Incoming(reading(1).raw, peer="intruder")  # says it is gw-1
    (reply,) = processor.process([forged])
    assert reply is not None and reply.status == "rejected"
    (letter,) = dead_letters(twin)
    (outcome,) = retry(twin, load_geography(), [letter.receipt], clock=lambda: NOW)
    assert outcome.status == "refused" and "must send the message again" in (outcome.reason or "")
    # The real gw-1 sends it: recorded once, as if the forgery had never been.
    (real,) = processor.process([reading(1)])
    assert real is not None and real.status == "ack"
    history = [type(e).__name__ for e in twin.history(Bin.id_for("B-1"))]
    assert history.count("FillLevelMeasured") == 1
