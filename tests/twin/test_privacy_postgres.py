"""Citizens' privacy on PostgreSQL: only tokens in the tables, no key left in the key table's file.

Reading a relation's file needs a superuser (``pg_read_binary_file``) and ``CHECKPOINT`` to
have the file reflect the shared buffers; without those rights the file-level test skips.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.wire import Envelope, encode
from domain import Citizen
from twin import ValleyTwin, load_geography, open_twin
from twin.citizens import FORGOTTEN
from twin.ingest import Incoming, IngestProcessor
from twin.privacy import CitizenKeys
from valley_twin.cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.postgres

NOW = datetime(2024, 5, 2, tzinfo=UTC)
MARKERS = ("MARQUEUR-RAPPORT-7f3a", "MARQUEUR-TITRE-5d0e")


@pytest.fixture
def twin(postgres_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(postgres_url)
    yield application
    application.close()


def _schema(url: str) -> str:
    return parse_qs(urlsplit(url).query)["schema"][0]


def _server(url: str) -> str:
    return url.split("?", 1)[0]


def _message(number: int, kind: str, **body: Any) -> Incoming:
    observed = NOW - timedelta(days=1) + timedelta(minutes=number)
    return Incoming(
        encode(Envelope(f"m-{number}", "ccvh-app", "ccvh-app", "c-42", kind, observed, body))
    )


@pytest.mark.slow
def test_only_tokens_reach_the_tables_and_forgetting_hides_the_text(
    twin: ValleyTwin, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg
    from psycopg import sql

    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    replies = processor.process(
        [
            _message(1, "citizen.register", commune_insee="34114"),
            _message(
                2,
                "citizen.report",
                report_ref="R1",
                category="overflowing_bin",
                lon=3.5489,
                lat=43.6535,
                text=MARKERS[0],
            ),
            _message(3, "citizen.idea", idea_ref="I1", title=MARKERS[1], text="Des bancs"),
        ]
    )
    assert [r.status for r in replies] == ["ack"] * 3
    schema = _schema(postgres_url)
    with psycopg.connect(_server(postgres_url), autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        assert "citizen_keys" in tables
        for table in tables:
            rows = connection.execute(
                sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            ).fetchall()
            dump = "\n".join(row[0] for row in rows)
            # Event state is stored as bytea: its text form is hex, so look for the hex too.
            assert not [m for m in MARKERS if m in dump or m.encode().hex() in dump], table

    code = main(["--store", postgres_url, "show", "c-42"])
    out = capsys.readouterr().out
    assert code == 0 and all(marker in out for marker in MARKERS)
    assert main(["--store", postgres_url, "citizen", "forget", "c-42"]) == 0
    capsys.readouterr()
    assert main(["--store", postgres_url, "citizen", "show", "c-42", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (
        shown["state"]["reports"]["R1"]["text"] == FORGOTTEN
        and shown["state"]["ideas"]["I1"]["title"] == FORGOTTEN
    )
    assert twin.get(Citizen, "c-42").reports["R1"]["category"] == "overflowing_bin"


@pytest.mark.slow
def test_forgetting_removes_the_key_from_the_key_tables_file(
    twin: ValleyTwin, postgres_url: str
) -> None:
    import psycopg

    keys = CitizenKeys(twin)
    forgotten, kept = Citizen.id_for("c-1"), Citizen.id_for("c-2")
    keys.seal(forgotten, "x")
    keys.seal(kept, "y")
    table = f'"{_schema(postgres_url)}".citizen_keys'
    with psycopg.connect(_server(postgres_url), autocommit=True) as connection:
        if not connection.execute("SELECT current_setting('is_superuser') = 'on'").fetchone()[0]:
            pytest.skip("reading a table's file needs a PostgreSQL superuser")

        def table_file() -> tuple[str, bytes]:
            connection.execute("CHECKPOINT")  # the file on disk now holds what the buffers hold
            path = connection.execute(
                "SELECT pg_relation_filepath(%s::regclass)", (table,)
            ).fetchone()[0]
            return path, bytes(
                connection.execute("SELECT pg_read_binary_file(%s)", (path,)).fetchone()[0]
            )

        key_of = dict(connection.execute(f"SELECT citizen_id, key FROM {table}").fetchall())
        old_path, before = table_file()
        assert (
            bytes(key_of[forgotten]) in before and bytes(key_of[kept]) in before
        )  # the search finds keys

        assert keys.forget(forgotten)
        new_path, after = table_file()
        assert new_path != old_path  # VACUUM FULL rewrote the table into a new file
        assert bytes(key_of[forgotten]) not in after and bytes(key_of[kept]) in after
        old = connection.execute(
            "SELECT pg_read_binary_file(%s::text, 0, 16777216, true)", (old_path,)
        ).fetchone()[0]
        assert old is None or bytes(key_of[forgotten]) not in bytes(
            old
        )  # the old file: gone or emptied
