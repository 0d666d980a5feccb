"""What the project's extras install: the PostgreSQL driver's fast build (issue 16)."""

from __future__ import annotations

import pytest


def test_the_postgres_extra_installs_psycopgs_binary_build() -> None:
    psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    # The pure-Python build is 2.6x slower on raw SQL; `pip install .[postgres]` brings the
    # binary one (psycopg[binary] in pyproject.toml).
    assert psycopg.pq.__impl__ in ("binary", "c")
