"""Several processes opening one fresh PostgreSQL schema at once (ingest workers started together)."""

from __future__ import annotations

import threading

import pytest

from domain import Bin, Position
from tests.conftest import T0
from twin import open_twin

pytestmark = pytest.mark.postgres

OPENERS = 4


@pytest.mark.parametrize("attempt", range(3))
def test_twins_opened_together_on_a_fresh_schema_all_open_and_share_it(
    postgres_url: str, attempt: int
) -> None:
    # Without the creation lock, 3 of 4 of these failed on PostgreSQL's catalogue
    # ("duplicate key value violates unique constraint", "relation … already exists").
    start = threading.Barrier(OPENERS)
    twins, errors = [], []

    def open_with_the_others() -> None:
        start.wait()
        try:
            twins.append(open_twin(postgres_url))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=open_with_the_others) for _ in range(OPENERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == [] and len(twins) == OPENERS
        twins[0].add(
            Bin.install(
                code=f"B-{attempt}",
                stream="glass",
                capacity_l=3_000,
                position=Position(750_000, 6_280_000),
                commune_insee="34114",
                at=T0,
            )
        )
        assert twins[-1].get(Bin, f"B-{attempt}").capacity_l == 3_000
    finally:
        for twin in twins:
            twin.close()


def test_a_lock_connection_lost_while_the_twin_is_built_is_no_error(
    postgres_url: str, postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    import twin.opening as opening
    from twin.storage.postgres import TABLES_LOCK_APPLICATION

    built = opening.ValleyTwin

    class LockConnectionLost(built):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            with psycopg.connect(postgres_server, autocommit=True) as other:
                other.execute(  # as a server restart or an idle timeout would
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    [TABLES_LOCK_APPLICATION],
                )
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(opening, "ValleyTwin", LockConnectionLost)
    twin = open_twin(postgres_url)
    twin.close()
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        holding = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [TABLES_LOCK_APPLICATION],
        )
        assert holding.fetchone() == (0,)
