"""The embedded store syncs every commit: WAL with synchronous=FULL on every connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from domain import Bin, Position
from tests.conftest import T0
from twin import open_twin
from twin.config import (
    SQLITE_FACTORY_TOPIC,
    SQLITE_JOURNAL_MODE,
    SQLITE_SYNCHRONOUS_LEVEL,
    parse_store_url,
)
from twin.storage.sqlite import DurableSQLiteConnectionPool, DurableSQLiteFactory


def pragma(connection: object, name: str) -> object:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute(f"PRAGMA {name}")
    return cursor.fetchone()[0]


def test_the_sqlite_url_selects_the_durable_factory(tmp_path: Path) -> None:
    settings = parse_store_url(f"sqlite:///{tmp_path / 'twin.sqlite'}").settings
    assert settings["PERSISTENCE_MODULE"] == SQLITE_FACTORY_TOPIC


def test_every_connection_of_an_opened_twin_is_wal_and_synchronous_full(tmp_path: Path) -> None:
    twin = open_twin(f"sqlite:///{tmp_path / 'twin.sqlite'}")
    try:
        assert isinstance(twin.factory, DurableSQLiteFactory)
        pool = twin.factory.datastore.pool
        assert isinstance(pool, DurableSQLiteConnectionPool)
        twin.add(
            Bin.install(
                code="B-1",
                stream="glass",
                capacity_l=3000,
                position=Position(752_000.0, 6_283_000.0),
                commune_insee="34114",
                at=T0,
            )
        )
        # Hold several connections at once, so the pool has to open new ones.
        held = [pool.get_connection(is_writer=False) for _ in range(4)]
        held.append(pool.get_connection(is_writer=True))
        try:
            assert len({id(c) for c in held}) == 5
            for connection in held:
                assert pragma(connection, "synchronous") == SQLITE_SYNCHRONOUS_LEVEL == 2
                assert pragma(connection, "journal_mode") == SQLITE_JOURNAL_MODE == "wal"
        finally:
            for connection in held:
                pool.put_connection(connection)
        assert twin.get(Bin, "B-1").version == 1  # and the store still works through them
    finally:
        twin.close()


def test_the_setting_does_not_rely_on_how_sqlite_was_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This build already defaults to FULL; some builds default WAL databases to NORMAL
    # (SQLITE_DEFAULT_WAL_SYNCHRONOUS=1). Make every new connection start at NORMAL (1).
    connect = sqlite3.connect

    def connect_like_a_normal_build(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    monkeypatch.setattr(sqlite3, "connect", connect_like_a_normal_build)
    twin = open_twin(f"sqlite:///{tmp_path / 'twin.sqlite'}")
    try:
        pool = twin.factory.datastore.pool
        connection = pool.get_connection(is_writer=True)
        try:
            assert pragma(connection, "synchronous") == 2
        finally:
            pool.put_connection(connection)
    finally:
        twin.close()
