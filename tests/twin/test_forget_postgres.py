"""Forgetting on PostgreSQL tells the truth and never freezes ingest (issue 14, item 10).

A second connection plays the other session: one holding a snapshot from before the erasure
(a long query, ``pg_dump``), one with the key table open in a transaction, one holding the
citizen's row. Reading the key table's file needs a superuser; without one that check skips.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from eventsourcing.persistence import PersistenceError

from domain import Citizen
from twin import ValleyTwin, open_twin
from twin.privacy import CitizenKeys, KeyScrubError
from twin.storage.postgres import PostgresKeyTable
from valley_twin.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import psycopg

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
T = TypeVar("T")


@pytest.fixture
def twin(postgres_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(postgres_url)
    yield application
    application.close()


@pytest.fixture
def other_session(postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
    import psycopg

    connection = psycopg.connect(postgres_url.split("?", 1)[0], autocommit=False)
    yield connection
    connection.rollback()
    connection.close()


def _table(url: str) -> str:
    return f'"{parse_qs(urlsplit(url).query)["schema"][0]}".citizen_keys'


def _key(url: str, pseudonym: str) -> bytes:
    import psycopg

    with psycopg.connect(url.split("?", 1)[0], autocommit=True) as connection:
        found = connection.execute(
            f"SELECT key FROM {_table(url)} WHERE citizen_id = %s", (Citizen.id_for(pseudonym),)
        ).fetchone()
    assert found is not None and found[0] is not None
    return bytes(found[0])


def _table_file(url: str) -> bytes:
    """The key table's file as on disk; the test is skipped, saying why, without the rights."""
    import psycopg

    with psycopg.connect(url.split("?", 1)[0], autocommit=True) as connection:
        if not connection.execute("SELECT current_setting('is_superuser') = 'on'").fetchone()[0]:  # type: ignore[index]
            pytest.skip(
                "reading the key table's file (are the key's bytes gone?) needs a PostgreSQL "
                "superuser: set TWIN_TEST_POSTGRES to a superuser's URL to check it"
            )
        connection.execute("CHECKPOINT")
        path = connection.execute(
            "SELECT pg_relation_filepath(%s::regclass)", (_table(url),)
        ).fetchone()[0]  # type: ignore[index]
        data = connection.execute("SELECT pg_read_binary_file(%s)", (path,)).fetchone()[0]  # type: ignore[index]
    return bytes(data)


def _within(seconds: float, call: Callable[[], T]) -> T:
    """What ``call`` returns or raises, failing the test if it takes longer than ``seconds``
    (in a thread, so that a call that blocks fails the test instead of hanging it)."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as error:  # handed to the test's thread
            outcome.append((False, error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    assert outcome, f"still blocked after {seconds} s"
    ((returned, value),) = outcome
    if not returned:
        raise value
    return value  # type: ignore[no-any-return]


def test_a_session_with_the_key_table_open_does_not_freeze_ingest(
    twin: ValleyTwin, postgres_url: str, other_session: psycopg.Connection[Any]
) -> None:
    keys = CitizenKeys(twin)
    keys.seal(Citizen.id_for("c-1"), "x")
    token = keys.seal(Citizen.id_for("c-2"), "y")
    key = _key(postgres_url, "c-1")
    other_session.execute(f"SELECT count(*) FROM {_table(postgres_url)}").fetchall()

    outcome: list[BaseException | bool] = []
    read: list[str | None] = []

    def forget() -> None:
        try:
            outcome.append(CitizenKeys(twin).forget(Citizen.id_for("c-1")))
        except BaseException as error:  # handed to the test's thread
            outcome.append(error)

    def ingest_reads_a_key() -> None:
        read.append(keys.unseal(token, Citizen.id_for("c-2")))

    # Threads, so that a forget that blocks fails the test instead of hanging it: the other
    # session's rollback, when the test ends, then lets both finish.
    forgetting = threading.Thread(target=forget, daemon=True)
    forgetting.start()
    time.sleep(0.2)  # VACUUM FULL is now waiting for the table's exclusive lock
    started = time.perf_counter()
    reading = threading.Thread(target=ingest_reads_a_key, daemon=True)
    reading.start()
    reading.join(timeout=5)
    waited = time.perf_counter() - started
    assert read == ["y"] and waited < 1.5, f"a reader of the key table waited {waited:.1f} s"
    forgetting.join(timeout=5)
    assert not forgetting.is_alive(), "forget blocked behind the other session"
    (error,) = outcome
    assert isinstance(error, KeyScrubError)
    assert "the key is erased" in str(error) and "gave up" in str(error)
    assert f"session {other_session.info.backend_pid}" in str(error)
    assert keys.is_forgotten(Citizen.id_for("c-1"))

    other_session.rollback()  # the other session ends: forgetting again finishes the job
    assert keys.forget(Citizen.id_for("c-1")) is False
    after = _table_file(postgres_url)
    assert key not in after


def test_a_snapshot_from_before_the_erasure_is_reported_not_hidden(
    twin: ValleyTwin,
    postgres_url: str,
    other_session: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(PostgresKeyTable, "snapshot_wait_s", 0.3)
    keys = CitizenKeys(twin)
    keys.seal(Citizen.id_for("c-1"), "x")
    key = _key(postgres_url, "c-1")
    other_session.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    other_session.execute("SELECT 1").fetchall()  # a pg_dump, a long report: a snapshot

    assert main(["--store", postgres_url, "citizen", "forget", "c-1"]) == 3
    err = capsys.readouterr().err
    assert "the key is erased" in err and "snapshot taken before the erasure" in err
    assert f"session {other_session.info.backend_pid}" in err and "key destroyed" not in err
    assert keys.is_forgotten(Citizen.id_for("c-1"))
    held = _table_file(postgres_url)
    assert key in held  # what the message says: the old row is still there

    other_session.rollback()
    assert main(["--store", postgres_url, "citizen", "forget", "c-1"]) == 0
    after = _table_file(postgres_url)
    assert key not in after


def test_a_session_holding_the_citizens_row_is_a_clear_refusal(
    twin: ValleyTwin,
    postgres_url: str,
    other_session: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(PostgresKeyTable, "erase_wait_s", 0.3)
    keys = CitizenKeys(twin)
    token = keys.seal(Citizen.id_for("c-1"), "x")
    other_session.execute(
        f"SELECT key FROM {_table(postgres_url)} WHERE citizen_id = %s FOR UPDATE",
        (Citizen.id_for("c-1"),),
    ).fetchall()

    with pytest.raises(PersistenceError, match="the key is not erased"):
        _within(3, lambda: keys.forget(Citizen.id_for("c-1")))
    assert keys.unseal(token, Citizen.id_for("c-1")) == "x"  # nothing was changed
    assert _within(5, lambda: main(["--store", postgres_url, "citizen", "forget", "c-1"])) == 3
    assert "not erased" in capsys.readouterr().err

    other_session.rollback()
    assert keys.forget(Citizen.id_for("c-1")) is True
    assert keys.unseal(token, Citizen.id_for("c-1")) is None
