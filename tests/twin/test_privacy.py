"""Citizens' privacy: personal text sealed per citizen, forgetting destroys the key for good.

The store-level proofs read the SQLite database file and its write-ahead log as bytes, while
the twin is open (SQLite removes the log when the last connection closes, which would make
"absent from the log" true for the wrong reason).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from adapters.wire import Envelope, encode
from domain import Citizen, OutOfRangeError, Position
from domain._checks import stored_text_limit
from domain.citizens import MAX_REPORT_TEXT
from twin import ValleyTwin, load_geography, open_twin, parse_store_url
from twin.citizens import FORGOTTEN, Citizens
from twin.ingest import Incoming, IngestProcessor
from twin.privacy import (
    REPORT_GRID_M,
    TOKEN_PREFIX,
    CitizenForgottenError,
    CitizenKeys,
    KeyScrubError,
    SealedTextError,
    snap_to_grid,
)
from twin.receipts import DeadLetter, MessageReceipt
from valley_twin.cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

NOW = datetime(2024, 5, 2, tzinfo=UTC)
T = datetime(2024, 5, 1, tzinfo=UTC)
# Markers that cannot occur by chance in a database file.
REPORT_MARKER = "MARQUEUR-RAPPORT-7f3a"
PHOTO_MARKER = "MARQUEUR-PHOTO-91c2"
TITLE_MARKER = "MARQUEUR-TITRE-5d0e"
IDEA_MARKER = "MARQUEUR-IDEE-c4b8"
MARKERS = (REPORT_MARKER, PHOTO_MARKER, TITLE_MARKER, IDEA_MARKER)
GIGNAC = (3.5489, 43.6535)


def citizen_id(pseudonym: str) -> UUID:
    return Citizen.id_for(pseudonym)


def store_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, as they are on disk now."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def stored_key(path: Path, pseudonym: str) -> bytes | None:
    with sqlite3.connect(path) as connection:
        row = connection.execute(
            "SELECT key FROM citizen_keys WHERE citizen_id = ?", (str(citizen_id(pseudonym)),)
        ).fetchone()
    return None if row is None else row[0]


def envelope(number: int, kind: str, asset: str = "c-42", **body: Any) -> Incoming:
    observed = NOW - timedelta(days=1) + timedelta(minutes=number)
    return Incoming(
        encode(Envelope(f"m-{number}", "ccvh-app", "ccvh-app", asset, kind, observed, body))
    )


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- the key store, on SQLite and PostgreSQL ---------------------------------------------------
@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    yield application
    application.close()


def test_sealed_text_opens_with_its_citizens_key(twin: ValleyTwin) -> None:
    keys = CitizenKeys(twin)
    who = citizen_id("c-1")
    text = "Le conteneur de verre déborde, rue de la Croix 🍾"
    first, second = keys.seal(who, text), keys.seal(who, text)
    assert first.startswith(TOKEN_PREFIX) and first.isascii() and " " not in first
    assert first != second  # a fresh nonce per value: equal texts do not look equal
    assert json.loads(json.dumps({"text": first})) == {"text": first}  # a plain JSON value
    assert keys.unseal(first, who) == text and keys.unseal(second, who) == text
    assert keys.unseal_bytes(keys.seal_bytes(who, b"\x00\xff"), who) == b"\x00\xff"
    assert not keys.is_forgotten(who) and keys.state(who) is not None


def test_a_token_opens_for_its_own_citizen_only(twin: ValleyTwin) -> None:
    keys = CitizenKeys(twin)
    alice, bob = citizen_id("alice"), citizen_id("bob")
    token = keys.seal(alice, "chez moi")
    keys.seal(bob, "ailleurs")  # bob has a key too: the refusal is not for want of one
    with pytest.raises(SealedTextError, match="not sealed for citizen"):
        keys.unseal(token, bob)
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(SealedTextError, match="altered"):
        keys.unseal(altered, alice)
    with pytest.raises(SealedTextError, match="expected text starting with"):
        keys.unseal("chez moi", alice)
    with pytest.raises(SealedTextError, match="has no key"):
        keys.unseal(token, citizen_id("carol"))


def test_forgetting_destroys_the_key_for_good(twin: ValleyTwin) -> None:
    keys = CitizenKeys(twin)
    alice, bob = citizen_id("alice"), citizen_id("bob")
    token, kept = keys.seal(alice, "chez moi"), keys.seal(bob, "ailleurs")
    assert keys.forget(alice) is True
    assert keys.unseal(token, alice) is None and keys.is_forgotten(alice)
    assert keys.unseal(kept, bob) == "ailleurs"  # nobody else is touched
    with pytest.raises(CitizenForgottenError, match="forgotten"):
        keys.seal(alice, "encore")  # no fresh key for a forgotten citizen
    assert keys.forget(alice) is False  # idempotent: nothing left to destroy
    state = keys.state(alice)
    assert state is not None and state.forgotten
    # A citizen forgotten before any key was made never gets one either.
    assert keys.forget(citizen_id("dora")) is False
    with pytest.raises(CitizenForgottenError):
        keys.seal(citizen_id("dora"), "x")


def test_commands_seal_and_reads_unseal(twin: ValleyTwin) -> None:
    citizens = Citizens(twin)
    citizens.register("c-7", "34114", T)
    citizens.file_report(
        "c-7", "r-1", "street_light", *GIGNAC, REPORT_MARKER, T + timedelta(hours=1), PHOTO_MARKER
    )
    citizens.move_report("c-7", "r-1", "acknowledged", T + timedelta(hours=2), note="vu")
    citizens.move_report("c-7", "r-1", "resolved", T + timedelta(hours=3))
    citizens.submit_idea("c-7", "i-1", TITLE_MARKER, IDEA_MARKER, T + timedelta(hours=4))
    citizen = twin.get(Citizen, "c-7")
    report, idea = citizen.reports["R-1"], citizen.ideas["I-1"]
    assert all(
        value.startswith(TOKEN_PREFIX)
        for value in (report["text"], report["photo_ref"], idea["title"], idea["text"])
    )
    notes = [e.note for e in twin.history(citizen.id) if isinstance(e, Citizen.ReportStatusChanged)]
    assert notes[0].startswith(TOKEN_PREFIX) and notes[1] == ""  # nothing to seal in no note
    view = citizens.view(citizen)
    assert (view["reports"]["R-1"]["text"], view["ideas"]["I-1"]["title"]) == (
        REPORT_MARKER,
        TITLE_MARKER,
    )
    history = citizens.history(citizen.id)
    assert [e["attributes"].get("note") for e in history[2:4]] == ["vu", ""]

    forgotten = citizens.forget("c-7")
    assert (forgotten.key_destroyed, forgotten.reports, forgotten.ideas) == (True, 1, 1)
    citizen = twin.get(Citizen, "c-7")  # the history still loads and counts
    assert (
        citizen.reports["R-1"]["status"] == "resolved"
        and citizen.reports["R-1"]["category"] == "street_light"
    )
    assert citizens.personal_text(citizen.id, citizen.reports["R-1"]["text"]) is None
    view = citizens.view(citizen)
    assert view["reports"]["R-1"]["text"] == FORGOTTEN and view["ideas"]["I-1"]["text"] == FORGOTTEN
    assert "forgotten on" in view["personal_data"]
    history = citizens.history(citizen.id)
    assert (history[1]["attributes"]["text"], history[1]["attributes"]["photo_ref"]) == (
        FORGOTTEN,
        FORGOTTEN,
    )
    assert [e["attributes"]["note"] for e in history[2:4]] == [
        FORGOTTEN,
        "",
    ]  # no note stays no note
    assert (history[4]["attributes"]["title"], history[4]["attributes"]["text"]) == (
        FORGOTTEN,
        FORGOTTEN,
    )
    assert twin.count_by_kind()["citizen"] == 1


def test_personal_text_is_checked_before_sealing_and_never_shown(twin: ValleyTwin) -> None:
    citizens = Citizens(twin)
    citizens.register("c-8", "34114", T)
    too_long = REPORT_MARKER + "x" * MAX_REPORT_TEXT
    with pytest.raises(OutOfRangeError) as raised:
        citizens.file_report("c-8", "r-1", "road", *GIGNAC, too_long, T + timedelta(hours=1))
    assert raised.value.field == "text" and REPORT_MARKER not in str(raised.value)
    assert f"at most {MAX_REPORT_TEXT} characters" in str(raised.value)
    # The longest text in the widest characters still fits the domain once sealed.
    widest = "𝄞" * MAX_REPORT_TEXT
    citizens.file_report("c-8", "r-2", "road", *GIGNAC, widest, T + timedelta(hours=2))
    stored = twin.get(Citizen, "c-8").reports["R-2"]["text"]
    assert len(stored) <= stored_text_limit(MAX_REPORT_TEXT)
    assert citizens.personal_text(citizen_id("c-8"), stored) == widest


def test_a_twin_without_a_database_keeps_keys_in_memory() -> None:
    twin = ValleyTwin(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    keys = CitizenKeys(twin)
    token = keys.seal(citizen_id("c-1"), "texte")
    assert keys.unseal(token, citizen_id("c-1")) == "texte"
    keys.forget(citizen_id("c-1"))
    assert keys.unseal(token, citizen_id("c-1")) is None


# ---- the SQLite files, byte by byte --------------------------------------------------------
@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "twin.sqlite"


@pytest.fixture
def sqlite_twin(sqlite_path: Path) -> Iterator[ValleyTwin]:
    application = open_twin(f"sqlite:///{sqlite_path}")
    yield application
    application.close()


def test_ingest_records_only_tokens_and_forgetting_leaves_no_key(
    sqlite_twin: ValleyTwin, sqlite_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    processor = IngestProcessor(sqlite_twin, load_geography(), clock=lambda: NOW)
    replies = processor.process(
        [
            envelope(1, "citizen.register", commune_insee="34114"),
            envelope(
                2,
                "citizen.report",
                report_ref="R1",
                category="overflowing_bin",
                lon=GIGNAC[0],
                lat=GIGNAC[1],
                text=f"Le conteneur déborde {REPORT_MARKER}",
                photo_ref=f"photos/{PHOTO_MARKER}.jpg",
            ),
            envelope(
                3,
                "citizen.idea",
                idea_ref="I1",
                title=TITLE_MARKER,
                text=f"Des bancs {IDEA_MARKER}",
            ),
        ]
    )
    assert [r.status for r in replies] == ["ack"] * 3
    store = sqlite_path.as_posix()

    # Before forgetting: no cleartext in the file nor in the log, yet `twin show` reads it.
    on_disk = store_bytes(sqlite_path)
    assert all(marker.encode() not in on_disk for marker in MARKERS)
    assert (
        sqlite_path.with_name(sqlite_path.name + "-wal").stat().st_size > 0
    )  # the log was read, not absent
    code, out, _ = run_cli(capsys, "--store", f"sqlite:///{store}", "show", "c-42")
    assert code == 0 and all(marker in out for marker in MARKERS)
    code, out, _ = run_cli(
        capsys, "--store", f"sqlite:///{store}", "at", "c-42", NOW.isoformat(), "--json"
    )
    assert code == 0 and json.loads(out)["state"]["ideas"]["I1"]["title"] == TITLE_MARKER
    key = stored_key(sqlite_path, "c-42")
    assert (
        key is not None and len(key) == 32 and key in store_bytes(sqlite_path)
    )  # the search finds a key

    code, out, err = run_cli(capsys, "--store", f"sqlite:///{store}", "citizen", "forget", "c-42")
    assert (code, err) == (0, "") and "key destroyed" in out

    # After: the key is in neither file, the log is empty, and nothing personal can be read.
    assert key not in store_bytes(sqlite_path)
    assert sqlite_path.with_name(sqlite_path.name + "-wal").stat().st_size == 0
    assert stored_key(sqlite_path, "c-42") is None
    code, out, _ = run_cli(capsys, "--store", f"sqlite:///{store}", "show", "c-42")
    assert code == 0 and FORGOTTEN in out and not any(marker in out for marker in MARKERS)
    code, out, _ = run_cli(
        capsys, "--store", f"sqlite:///{store}", "citizen", "show", "c-42", "--json"
    )
    shown = json.loads(out)
    assert shown["state"]["reports"]["R1"]["photo_ref"] == FORGOTTEN
    assert [e["attributes"].get("text") for e in shown["history"][1:]] == [FORGOTTEN, FORGOTTEN]

    # The history is intact and still counts: a fresh process loads the same facts.
    fresh = open_twin(f"sqlite:///{store}")
    try:
        citizen = fresh.get(Citizen, "c-42")
        assert citizen.version == 3 and fresh.count_by_kind()["citizen"] == 1
        assert (citizen.reports["R1"]["category"], citizen.reports["R1"]["status"]) == (
            "overflowing_bin",
            "filed",
        )
        assert list(citizen.ideas) == ["I1"]
    finally:
        fresh.close()
    # A later message under the forgotten pseudonym is refused, and not kept.
    (late,) = processor.process(
        [envelope(4, "citizen.idea", idea_ref="I2", title="t", text=IDEA_MARKER)]
    )
    assert late.status == "rejected" and "forgotten" in late.reason
    assert IDEA_MARKER.encode() not in store_bytes(sqlite_path)


@pytest.mark.slow
def test_no_forgotten_key_survives_page_splits(sqlite_twin: ValleyTwin, sqlite_path: Path) -> None:
    keys = CitizenKeys(sqlite_twin)
    people = [citizen_id(f"c-{n:04d}") for n in range(240)]  # ~7 pages of keys, split as they grew
    for person in people:
        keys.seal(person, "x")
    with sqlite3.connect(sqlite_path) as connection:
        key_of = {
            UUID(i): k for i, k in connection.execute("SELECT citizen_id, key FROM citizen_keys")
        }
    forgotten, kept = people[::6], [p for p in people if p not in people[::6]]
    for person in forgotten:
        keys.forget(person)
    on_disk = store_bytes(sqlite_path)
    assert not [p for p in forgotten if key_of[p] in on_disk]
    assert all(key_of[p] in on_disk for p in kept)  # the same search finds what is kept


def test_the_byte_search_would_find_a_key_left_behind(tmp_path: Path) -> None:
    # The control for the tests above: without secure_delete (the default of some SQLite
    # builds, not of Debian's) an erased key stays in the file, and the search finds it.
    path = tmp_path / "plain.sqlite"
    key = bytes(range(200, 232))
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA secure_delete=OFF")
        connection.execute("CREATE TABLE k (id TEXT PRIMARY KEY, key BLOB, note TEXT)")
        rows = [("a", key), ("b", b"\x01" * 32)]
        connection.executemany("INSERT INTO k VALUES (?, ?, NULL)", rows)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("UPDATE k SET key = NULL, note = ? WHERE id = 'a'", ("x" * 60,))
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert key in store_bytes(path)
    finally:
        connection.close()


@pytest.mark.slow
def test_a_busy_log_is_reported_and_forgetting_again_finishes(tmp_path: Path) -> None:
    path = tmp_path / "twin.sqlite"
    settings = {**parse_store_url(f"sqlite:///{path}").settings, "SQLITE_LOCK_TIMEOUT": "1"}
    twin = ValleyTwin(env=settings)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        keys = CitizenKeys(twin)
        token = keys.seal(citizen_id("c-1"), "x")
        key = stored_key(path, "c-1")
        reader.execute("BEGIN")  # a reader holding an older snapshot: the log cannot be emptied
        reader.execute("SELECT count(*) FROM citizen_keys").fetchall()
        with pytest.raises(KeyScrubError, match="forget the citizen again"):
            keys.forget(citizen_id("c-1"))
        assert keys.unseal(token, citizen_id("c-1")) is None  # erased all the same
        reader.execute("COMMIT")
        assert keys.forget(citizen_id("c-1")) is False
        assert key is not None and key not in store_bytes(path)
    finally:
        reader.close()
        twin.close()


def test_refused_citizen_messages_are_kept_sealed_or_not_at_all(
    sqlite_twin: ValleyTwin, sqlite_path: Path
) -> None:
    processor = IngestProcessor(sqlite_twin, load_geography(), clock=lambda: NOW)
    replies = processor.process(
        [
            envelope(1, "citizen.register", commune_insee="34114"),
            # Outside the valley (Montpellier): refused by the twin, after decoding.
            envelope(
                2,
                "citizen.report",
                report_ref="R1",
                category="road",
                lon=3.8767,
                lat=43.6108,
                text=REPORT_MARKER,
            ),
            # Too long: refused by the wire decoder, whose reason would quote the text.
            envelope(3, "citizen.idea", idea_ref="I1", title="t", text=IDEA_MARKER + "x" * 2_000),
            # From a pseudonym nobody registered.
            envelope(
                4, "citizen.idea", asset="c-nobody", idea_ref="I1", title=TITLE_MARKER, text="y"
            ),
        ]
    )
    assert [r.status for r in replies] == ["ack", "rejected", "rejected", "rejected"]
    assert "outside the 28 communes" in replies[1].reason and "3.8767" not in replies[1].reason
    assert "body.text" in replies[2].reason and IDEA_MARKER not in replies[2].reason
    letters = [
        DeadLetter.from_event(e)
        for e in sqlite_twin.domain_events()
        if isinstance(e, MessageReceipt.DeadLettered)
    ]
    assert len(letters) == 3 and all(
        letter.raw.startswith(TOKEN_PREFIX.encode()) for letter in letters
    )
    assert all(marker.encode() not in store_bytes(sqlite_path) for marker in MARKERS)
    keys = CitizenKeys(sqlite_twin)
    first = keys.unseal_bytes(letters[0].raw.decode(), citizen_id("c-42"))
    assert (
        first is not None and REPORT_MARKER.encode() in first
    )  # the operator can still read it...
    Citizens(sqlite_twin).forget(
        "c-nobody"
    )  # ...until the citizen is forgotten: a key-only pseudonym
    assert keys.unseal_bytes(letters[2].raw.decode(), citizen_id("c-nobody")) is None


def test_forgetting_an_unknown_citizen_is_a_user_mistake(
    sqlite_twin: ValleyTwin, sqlite_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{sqlite_path.as_posix()}"
    for reference in ("c-nobody", "B-34114-GLA-0001", "6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b"):
        code, out, err = run_cli(capsys, "--store", store, "citizen", "forget", reference)
        assert (code, out) == (
            1,
            "",
        ) and err == f"twin: no citizen is known as {reference!r} (give their pseudonym or id)\n"


# ---- report places ----------------------------------------------------------------------------
def test_report_places_are_snapped_to_the_centre_of_a_50_m_cell() -> None:
    everywhere = lambda _: True  # noqa: E731
    # By hand: 744_301.7 // 50 = 14_886 → 744_300 + 25;
    #          6_283_949.2 // 50 = 125_678 → 6_283_900 + 25.
    assert REPORT_GRID_M == 50.0
    assert snap_to_grid(Position(744_301.7, 6_283_949.2), everywhere) == Position(
        744_325.0, 6_283_925.0
    )
    assert snap_to_grid(Position(744_300.0, 6_283_900.0), everywhere) == Position(
        744_325.0, 6_283_925.0
    )
    assert snap_to_grid(Position(744_349.9, 6_283_949.9), everywhere) == Position(
        744_325.0, 6_283_925.0
    )
    # Its own cell's centre outside the commune (west of x = 744_320): the nearest centre inside.
    west = lambda p: p.x < 744_320  # noqa: E731
    assert snap_to_grid(Position(744_318.0, 6_283_949.2), west) == Position(744_275.0, 6_283_925.0)


def test_a_coarse_report_stays_in_its_commune_near_the_boundary() -> None:
    from twin.citizens import report_position

    geography = load_geography()
    gignac = geography.commune_named("Gignac")
    ring = gignac.boundary.buffer(-3).exterior  # points 3 m inside the boundary
    for step in range(40):
        point = ring.interpolate(step / 40, normalized=True)
        lon, lat = geography.to_wgs84(point.x, point.y)
        coarse = report_position(geography, lon, lat)
        assert (coarse.x - 25) % 50 == 0 and (coarse.y - 25) % 50 == 0
        assert geography.commune_at(coarse).insee == gignac.insee  # type: ignore[union-attr]
        assert (
            (coarse.x - point.x) ** 2 + (coarse.y - point.y) ** 2
        ) ** 0.5 <= 2.5 * 50 * 2**0.5  # at worst two cells over


def test_ingest_keeps_the_coarse_place(sqlite_twin: ValleyTwin) -> None:
    processor = IngestProcessor(sqlite_twin, load_geography(), clock=lambda: NOW)
    processor.process(
        [
            envelope(1, "citizen.register", commune_insee="34114"),
            envelope(
                2,
                "citizen.report",
                report_ref="R1",
                category="overflowing_bin",
                lon=GIGNAC[0],
                lat=GIGNAC[1],
                text="t",
            ),
        ]
    )
    precise = load_geography().to_l93(*GIGNAC)
    report = sqlite_twin.get(Citizen, "c-42").reports["R1"]
    assert (report["x_l93"] - 25) % 50 == 0 and (report["y_l93"] - 25) % 50 == 0
    assert abs(report["x_l93"] - precise.x) <= 25 and abs(report["y_l93"] - precise.y) <= 25
