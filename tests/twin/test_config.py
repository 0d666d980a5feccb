from __future__ import annotations

from pathlib import Path

import pytest

from twin import StoreConfigError, default_store_url, parse_store_url, resolve_store_url


def test_default_is_an_sqlite_file_in_the_user_data_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = resolve_store_url(None)
    assert (
        url == default_store_url() and url.startswith("sqlite:///") and url.endswith("twin.sqlite")
    )
    monkeypatch.setenv("TWIN_STORE", "sqlite:///elsewhere.sqlite")
    assert resolve_store_url(None) == "sqlite:///elsewhere.sqlite"
    assert resolve_store_url("sqlite:///given.sqlite") == "sqlite:///given.sqlite"


def test_sqlite_urls() -> None:
    assert parse_store_url("sqlite:////var/lib/twin.sqlite").sqlite_path == Path(
        "/var/lib/twin.sqlite"
    )
    assert parse_store_url("sqlite:///rel/twin.sqlite").sqlite_path == Path("rel/twin.sqlite")


def test_postgres_url_becomes_eventsourcing_settings() -> None:
    config = parse_store_url("postgresql://alice:s%40cret@db.local:6543/valley?schema=twin")
    assert config.settings["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (config.settings["POSTGRES_HOST"], config.settings["POSTGRES_PORT"]) == (
        "db.local",
        "6543",
    )
    assert (config.settings["POSTGRES_USER"], config.settings["POSTGRES_PASSWORD"]) == (
        "alice",
        "s@cret",
    )
    assert (config.settings["POSTGRES_DBNAME"], config.settings["POSTGRES_SCHEMA"]) == (
        "valley",
        "twin",
    )
    assert "s%40cret" not in config.display and "***" in config.display
    assert not config.is_embedded


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/x", "sqlite:///relative"),
        ("sqlite:///", "no database file"),
        ("postgresql://h:1/", "no database name"),
        ("redis://x", "not supported"),
        ("postgresql://h/db?connect_timeout=2.5", "connect_timeout='2.5' is not a whole number"),
        ("postgresql://h/db?connect_timeout=0", "connect_timeout='0' is not a whole number"),
    ],
)
def test_bad_urls_are_explained(url: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        parse_store_url(url)
