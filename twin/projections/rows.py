"""Batched reads and writes of view rows inside one page's transaction.

A page of events touches many rows; reading and writing them one at a time would cost a
round trip per event. :class:`KeyedRows` loads every row a page needs in a few keyed
``SELECT``s, lets the view change them in memory, and writes the changed ones back with one
``executemany``; :meth:`Db.accumulate` merges per-key totals into a table with one
``executemany`` of upserts, without reading it at all.

Within one run, rows a committed page read or wrote are remembered (:attr:`Db.caches`) and
not read again. That is sound because the runner's next transaction first checks, under
lock, that the projection's tracking position is still the one this run committed: any other
writer of these tables would have moved it (and the run then forgets everything). A page
only adds to the memory after its transaction commits (:attr:`Db.on_commit`), so a rolled
back page leaves nothing behind. A projection that takes rows out to recompute them (after an
amendment, see :meth:`twin.projections.base.Projection.forget`) makes the run forget what it
remembered of its tables (:meth:`Db.forget_remembered`). Not responsible for the transaction
(:mod:`twin.projections.store`) nor for what the rows mean (the views).
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from twin.projections.sql import Dialect, Merge, Table

CACHE_LIMIT = 200_000  # rows remembered per table in one run; beyond, it starts afresh


class Db:
    """One open write transaction on the views: a DB-API cursor and its dialect."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect
        # Set by the runner: rows of committed pages by table and key, valid while its
        # compare-and-set on tracking holds. None: remember nothing (e.g. outside a run).
        self.caches: dict[str, dict[str, dict[str, Any]]] | None = None
        self.on_commit: list[Callable[[], None]] = []

    def run(self, statement: str, params: Sequence[Any] = ()) -> None:
        """Run one statement that returns no rows."""
        self.cursor.execute(statement, params)

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query; return its rows as tuples."""
        self.cursor.execute(statement, params)
        return [tuple(row) for row in self.cursor.fetchall()]

    def accumulate(
        self, table: Table, merges: dict[str, Merge], rows: Iterable[Sequence[Any]]
    ) -> int:
        """Merge rows (Python values, in :attr:`Table.names` order) into ``table``."""
        converted = _in_key_order(table, map(self.dialect.writer(table), rows))
        if converted:
            self.dialect.send_rows(self.cursor, self.dialect.accumulate(table, merges), converted)
        return len(converted)

    def update(self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Set ``columns`` of existing rows; each row: those columns' values, then the key's."""
        names = [*columns, *table.key]
        converted = list(map(self.dialect.writer(table, names), rows))
        if converted:
            self.dialect.send_rows(self.cursor, self.dialect.update(table, columns), converted)
        return len(converted)

    def select(self, table: Table, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows whose columns equal these values (Python values in, Python values out)."""
        condition, params = self._where(table, where)
        columns = ", ".join(f'"{n}"' for n in table.names)
        read = self.dialect.reader(table)
        statement = f"SELECT {columns} FROM {self.dialect.table(table.name)} WHERE {condition}"
        return [
            dict(zip(table.names, read(raw), strict=True)) for raw in self.fetch(statement, params)
        ]

    def delete(self, table: Table, where: Mapping[str, Any]) -> None:
        """Delete the rows whose columns equal these values."""
        condition, params = self._where(table, where)
        self.run(f"DELETE FROM {self.dialect.table(table.name)} WHERE {condition}", params)

    def _where(self, table: Table, where: Mapping[str, Any]) -> tuple[str, Sequence[Any]]:
        names = list(where)
        condition = " AND ".join(
            f'"{n}" = {self.dialect.typed_placeholder(table.column(n))}' for n in names
        )
        return condition, self.dialect.writer(table, names)([where[n] for n in names])

    def forget_remembered(self, tables: Iterable[Table]) -> None:
        """Remember nothing more of these tables' rows from earlier pages: they were changed
        behind :class:`KeyedRows`' back. The pages already flushed in this transaction keep
        their memory to themselves (it goes to a table memory no longer in use)."""
        if self.caches is not None:
            for table in tables:
                self.caches.pop(table.name, None)

    def upsert(self, table: Table, rows: Iterable[Sequence[Any]]) -> int:
        """Write whole rows (Python values, in :attr:`Table.names` order), replacing any."""
        converted = _in_key_order(table, map(self.dialect.writer(table), rows))
        if converted:
            self.dialect.send_rows(self.cursor, self.dialect.upsert(table), converted)
        return len(converted)


def _in_key_order(table: Table, rows: Iterable[Sequence[Any]]) -> list[Sequence[Any]]:
    # Rows written in key order land next to each other in the key's b-tree: about a fifth
    # less work for SQLite than the order a page happened to touch them in.
    names = table.names
    return sorted(rows, key=itemgetter(*(names.index(k) for k in table.key)))


class KeyedRows:
    """The rows of one table that a page reads and changes, keyed by one text column.

    Rows are plain dicts of Python values. Call :meth:`load` with every key the page may
    need before applying it, :meth:`put` after changing or creating a row, :meth:`flush`
    once at the end of the page. The busiest handlers use :attr:`data` (key → row or None)
    and :attr:`dirty` (keys to write back) directly: a method call per event is measurable.

    ``hot`` names the few columns the busiest handler changes: a row it alone touched, and
    that was in the table already, is written back with an ``UPDATE`` of those columns only
    (keys in :attr:`hot_dirty`), about a quarter of the cost of rewriting the whole row.
    """

    def __init__(self, db: Db, table: Table, hot: tuple[str, ...] = ()) -> None:
        self.db = db
        self.table = table
        self.key = table.key[0]
        self.hot = hot
        self.data: dict[str, dict[str, Any] | None] = {}
        self.dirty: set[str] = set()
        self.hot_dirty: set[str] = set()
        self._cache = None if db.caches is None else db.caches.setdefault(table.name, {})

    def load(self, keys: Iterable[str]) -> None:
        """Read the rows with these keys not read yet; missing ones are remembered as None."""
        wanted = [k for k in set(keys) if k not in self.data]
        if self._cache:
            remembered = self._cache
            unknown = []
            for k in wanted:
                row = remembered.get(k)
                if row is None:
                    unknown.append(k)
                else:
                    self.data[k] = dict(row)  # a copy: the memory changes only on commit
            wanted = unknown
        if not wanted:
            return
        for k in wanted:
            self.data[k] = None
        dialect = self.db.dialect
        names = self.table.names
        read = dialect.reader(self.table)
        key_index = names.index(self.key)
        for params in dialect.key_chunks(wanted):
            statement = dialect.keyed_select(self.table, self.key, len(params))
            for raw in self.db.fetch(statement, params):
                values = read(raw)
                self.data[values[key_index]] = dict(zip(names, values, strict=True))

    def get(self, key: str) -> dict[str, Any] | None:
        """The row with this key, as loaded or last put (None if there is none)."""
        try:
            return self.data[key]
        except KeyError:
            raise KeyError(f"{self.table.name}: key {key!r} was not loaded for this page") from None

    def items(self) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Every key loaded or put so far, with its row (None where there is none)."""
        return iter(list(self.data.items()))

    def put(self, key: str, row: dict[str, Any]) -> None:
        """Record that the row with this key is now ``row`` (written back by :meth:`flush`)."""
        self.data[key] = row
        self.dirty.add(key)

    def flush(self) -> int:
        """Write back every row put since loading; return how many."""
        names = self.table.names
        rows = []
        for key in self.dirty:
            row = self.data[key]
            assert row is not None
            rows.append([row[name] for name in names])
        hot = self.hot
        changed = []
        for key in self.hot_dirty - self.dirty:
            row = self.data[key]
            assert row is not None
            changed.append([*(row[name] for name in hot), key])
        self.dirty.clear()
        self.hot_dirty.clear()
        if self._cache is not None:
            self.db.on_commit.append(self._remember)
        return self.db.upsert(self.table, rows) + self.db.update(self.table, hot, changed)

    def _remember(self) -> None:
        assert self._cache is not None
        if len(self._cache) + len(self.data) > CACHE_LIMIT:
            self._cache.clear()
        self._cache.update((k, row) for k, row in self.data.items() if row is not None)
