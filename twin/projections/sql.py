"""View tables declared once and rendered for the store's SQL dialect (SQLite or PostgreSQL).

A view's table is a :class:`Table` of :class:`Column` with logical types; a :class:`Dialect`
turns it into ``CREATE TABLE`` statements, row upserts, "add to what is there" upserts and
keyed look-ups, and converts values on their way in and out. Times are UTC-aware ``datetime``
in Python and ISO-8601 text (SQLite) or ``timestamptz`` (PostgreSQL) in the database; days
are ``date`` / ISO text / ``date``. Derived columns (means, rates) are ``STORED`` generated
columns computed by the database from exact integer accumulators, so a view maintained page
by page and one rebuilt in other pages hold the very same values.

Not responsible for transactions or tracking (:mod:`twin.projections.store`) nor for what
goes in the rows (the views).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

ColumnType = Literal["text", "int", "real", "instant", "day", "bool"]
Converter = Callable[[Any], Any]
# What an accumulating upsert does with a column already in the table.
Merge = Literal["add", "last", "max", "set", "newest"]


@dataclass(frozen=True)
class Column:
    """A column with a logical type; ``generated`` is a portable SQL expression (stored)."""

    name: str
    type: ColumnType
    generated: str | None = None


@dataclass(frozen=True)
class Table:
    """A view table: its columns, primary key and secondary indexes."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    # Columns written once, when the row is inserted: an upsert leaves them alone, and so
    # leaves alone the indexes made of them (SQLite rewrites an index whose column is SET).
    fixed: tuple[str, ...] = ()

    @property
    def stored(self) -> tuple[Column, ...]:
        """The columns rows are written with (every column but the generated ones)."""
        return tuple(c for c in self.columns if c.generated is None)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the stored columns, in order."""
        return tuple(c.name for c in self.stored)

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


# Converters see no None (the row converters skip it). Instants repeat a lot within a page
# (every bin reports at the same quarter hour): their text forms are remembered, within bounds.
_MEMO_LIMIT = 100_000
_TEXT_OF: dict[datetime, str] = {}
_INSTANT_OF: dict[str, datetime] = {}


def _instant_to_text(value: datetime) -> str:
    text = _TEXT_OF.get(value)
    if text is None:
        if len(_TEXT_OF) >= _MEMO_LIMIT:
            _TEXT_OF.clear()
        text = _TEXT_OF[value] = value.astimezone(UTC).isoformat()
    return text


def _instant_from_text(value: str) -> datetime:
    instant = _INSTANT_OF.get(value)
    if instant is None:
        if len(_INSTANT_OF) >= _MEMO_LIMIT:
            _INSTANT_OF.clear()
        instant = _INSTANT_OF[value] = datetime.fromisoformat(value)
    return instant


def _day_to_text(value: date) -> str:
    return value.isoformat()


def _utc(value: datetime) -> datetime:
    # psycopg hands timestamptz back in the session's time zone: the views speak UTC.
    return value.astimezone(UTC)


RowConverter = Callable[[Sequence[Any]], Sequence[Any]]


def row_converter(converters: Sequence[Converter | None]) -> RowConverter:
    """One function converting a whole row, touching only the columns that need it (not None)."""
    steps = [(i, convert) for i, convert in enumerate(converters) if convert is not None]
    if not steps:
        return tuple

    def convert_row(values: Sequence[Any]) -> list[Any]:
        row = list(values)
        for i, convert in steps:
            value = row[i]
            if value is not None:
                row[i] = convert(value)
        return row

    return convert_row


class Dialect(ABC):
    """How one database spells the views' SQL."""

    name: str
    placeholder: str
    types: dict[str, str]
    to_db: dict[str, Converter]
    from_db: dict[str, Converter]

    table_options = ""  # after a CREATE TABLE's closing parenthesis

    def __init__(self) -> None:
        self._writers: dict[tuple[Table, tuple[str, ...] | None], RowConverter] = {}
        self._readers: dict[Table, RowConverter] = {}

    @abstractmethod
    def table(self, name: str) -> str:
        """The table's name as SQL, quoted (and schema-qualified where there is a schema)."""

    @abstractmethod
    def keyed_select(self, table: Table, key: str, count: int) -> str:
        """``SELECT`` of the stored columns of rows whose ``key`` is one of ``count`` values."""

    @abstractmethod
    def key_chunks(self, keys: Sequence[Any]) -> Iterable[Sequence[Any]]:
        """Parameters of successive :meth:`keyed_select` calls covering ``keys``."""

    def typed_placeholder(self, column: Column) -> str:
        """A parameter standing for a value of this column (as :meth:`writer` converts it)."""
        return self.placeholder

    @abstractmethod
    def lock_suffix(self) -> str:
        """What makes a ``SELECT`` lock the rows it reads until the transaction ends."""

    def schema_lock(self) -> str | None:
        """A statement making concurrent table creation wait its turn (None: not needed)."""
        return None

    def create(self, table: Table) -> list[str]:
        """``CREATE TABLE`` and ``CREATE INDEX`` statements (each a no-op if it exists)."""
        columns = []
        for column in table.columns:
            spelled = f'"{column.name}" {self.types[column.type]}'
            if column.generated is not None:
                spelled += f" GENERATED ALWAYS AS ({column.generated}) STORED"
            columns.append(spelled)
        key = ", ".join(f'"{k}"' for k in table.key)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self.table(table.name)} "
            f"({', '.join(columns)}, PRIMARY KEY ({key})){self.table_options}"
        ]
        for columns_ in table.indexes:
            index = f"{table.name}_by_{'_'.join(columns_)}"
            statements.append(
                f'CREATE INDEX IF NOT EXISTS "{index}" ON {self.table(table.name)} '
                f"({', '.join(chr(34) + c + chr(34) for c in columns_)})"
            )
        return statements

    def drop(self, table: Table) -> str:
        """``DROP TABLE`` (a no-op if it does not exist)."""
        return f"DROP TABLE IF EXISTS {self.table(table.name)}"

    def upsert(self, table: Table) -> str:
        """Write whole rows: insert, or overwrite every stored column of the row with that key."""
        return self.accumulate(
            table, {c: "set" for c in table.names if c not in table.key and c not in table.fixed}
        )

    def accumulate(self, table: Table, merges: dict[str, Merge]) -> str:
        """Insert rows, or merge them into the row with the same key, column by column.

        ``add`` adds to what is there, ``last`` overwrites unless the new value is NULL,
        ``max`` keeps the larger, ``set`` overwrites, ``newest`` keeps the value whose
        ``<name>_at`` column is the later (facts may arrive late; that column merges by ``max``). Columns are written in
        :attr:`Table.names` order.
        """
        names = table.names
        columns = ", ".join(f'"{n}"' for n in names)
        key = ", ".join(f'"{k}"' for k in table.key)
        updates = []
        for name in names:
            if name in table.key or name in table.fixed:
                continue
            merge = merges[name]
            new, old = f'excluded."{name}"', f'cur."{name}"'
            if merge == "add":
                updates.append(f'"{name}" = {old} + {new}')
            elif merge == "last":
                updates.append(f'"{name}" = COALESCE({new}, {old})')
            elif merge == "newest":
                new_at, old_at = f'excluded."{name}_at"', f'cur."{name}_at"'
                updates.append(
                    f'"{name}" = CASE WHEN {old_at} IS NULL OR {new_at} >= {old_at} '
                    f"THEN {new} ELSE {old} END"
                )
            elif merge == "max":
                updates.append(
                    f'"{name}" = CASE WHEN {old} IS NULL OR {new} > {old} THEN {new} ELSE {old} END'
                )
            else:
                updates.append(f'"{name}" = {new}')
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        return (
            f"INSERT INTO {self.table(table.name)} AS cur ({columns}) {self.rows_source(table)} "
            f"ON CONFLICT ({key}) {action}"
        )

    def update(self, table: Table, columns: Sequence[str]) -> str:
        """Set ``columns`` of existing rows; parameters: those columns, then the key's."""
        sets = ", ".join(f'"{c}" = {self.placeholder}' for c in columns)
        match = " AND ".join(f'"{k}" = {self.placeholder}' for k in table.key)
        return f"UPDATE {self.table(table.name)} SET {sets} WHERE {match}"

    def rows_source(self, table: Table) -> str:
        """Where an upsert's rows come from: one row of parameters (see :meth:`send_rows`)."""
        return f"VALUES ({', '.join([self.placeholder] * len(table.stored))})"

    def send_rows(self, cursor: Any, statement: str, rows: list[Sequence[Any]]) -> None:
        """Run an upsert of :meth:`accumulate` or :meth:`upsert` for every row."""
        cursor.executemany(statement, rows)

    def writer(self, table: Table, names: Sequence[str] | None = None) -> RowConverter:
        """Converts a row of Python values (the stored columns, or ``names``, in order)."""
        memo = (table, None if names is None else tuple(names))
        writer = self._writers.get(memo)
        if writer is None:
            columns = table.stored if names is None else [table.column(n) for n in names]
            converters = [self.to_db.get(c.type) for c in columns]
            writer = self._writers[memo] = row_converter(converters)
        return writer

    def reader(self, table: Table) -> RowConverter:
        """Converts a row read from this database (stored columns, in order) to Python values."""
        reader = self._readers.get(table)
        if reader is None:
            converters = [self.from_db.get(c.type) for c in table.stored]
            reader = self._readers[table] = row_converter(converters)
        return reader


class SQLiteDialect(Dialect):
    """SQLite: ISO-8601 text for instants and days, integers for booleans."""

    name = "sqlite"
    placeholder = "?"
    # Every view has a text (or composite) primary key: without a rowid, a row lives in its
    # key's b-tree alone, so an upsert updates one b-tree instead of a table and an index.
    table_options = " WITHOUT ROWID"
    # Well under SQLite's limit on bound parameters (32,766 since 3.32).
    max_keys = 500
    types = {
        "text": "TEXT",
        "int": "INTEGER",
        "real": "REAL",
        "instant": "TEXT",
        "day": "TEXT",
        "bool": "INTEGER",
    }
    to_db = {"instant": _instant_to_text, "day": _day_to_text, "bool": int}
    from_db = {"instant": _instant_from_text, "day": date.fromisoformat, "bool": bool}

    def table(self, name: str) -> str:
        return f'"{name}"'

    def keyed_select(self, table: Table, key: str, count: int) -> str:
        columns = ", ".join(f'"{n}"' for n in table.names)
        marks = ", ".join("?" * count)
        return f'SELECT {columns} FROM {self.table(table.name)} WHERE "{key}" IN ({marks})'

    def key_chunks(self, keys: Sequence[Any]) -> Iterable[Sequence[Any]]:
        for start in range(0, len(keys), self.max_keys):
            yield keys[start : start + self.max_keys]

    def lock_suffix(self) -> str:
        return ""  # the transaction began IMMEDIATE: it holds the database's write lock


class PostgresDialect(Dialect):
    """PostgreSQL: ``timestamptz``, ``date`` and ``boolean``, tables in the store's schema."""

    name = "postgresql"
    placeholder = "%s"
    types = {
        "text": "text",
        "int": "bigint",
        "real": "double precision",
        "instant": "timestamptz",
        "day": "date",
        "bool": "boolean",
    }
    # Instants and days go as ISO text, cast by the statement (``::timestamptz[]``): psycopg's
    # pure-Python adaptation of datetime objects costs more than the whole rest of a row.
    to_db = {"instant": _instant_to_text, "day": _day_to_text}
    from_db = {"instant": _utc}

    def __init__(self, schema: str) -> None:
        super().__init__()
        self.schema = schema

    def table(self, name: str) -> str:
        return f'"{self.schema}"."{name}"'

    def keyed_select(self, table: Table, key: str, count: int) -> str:
        columns = ", ".join(f'"{n}"' for n in table.names)
        return f'SELECT {columns} FROM {self.table(table.name)} WHERE "{key}" = ANY(%s)'

    def key_chunks(self, keys: Sequence[Any]) -> Iterable[Sequence[Any]]:
        yield (list(keys),)  # one array parameter, however many keys

    def lock_suffix(self) -> str:
        return " FOR UPDATE"

    def typed_placeholder(self, column: Column) -> str:
        # Instants and days travel as ISO text: the cast says what they are.
        return f"%s::{self.types[column.type]}"

    def rows_source(self, table: Table) -> str:
        # One statement with one array per column instead of a statement per row: what the
        # library does to insert events. With psycopg's pure-Python adaptation, executemany
        # costs about three times as much client time per row.
        arrays = ", ".join(f"%s::{self.types[c.type]}[]" for c in table.stored)
        return f"SELECT * FROM unnest({arrays})"

    def send_rows(self, cursor: Any, statement: str, rows: list[Sequence[Any]]) -> None:
        cursor.execute(statement, [list(column) for column in zip(*rows, strict=True)])

    def update(self, table: Table, columns: Sequence[str]) -> str:
        # The same arrays-in-one-statement as rows_source, joined on the key.
        names = [*columns, *table.key]
        arrays = ", ".join(f"%s::{self.types[table.column(n).type]}[]" for n in names)
        sets = ", ".join(f'"{c}" = u."{c}"' for c in columns)
        match = " AND ".join(f'cur."{k}" = u."{k}"' for k in table.key)
        aliases = ", ".join(f'"{n}"' for n in names)
        return (
            f"UPDATE {self.table(table.name)} AS cur SET {sets} "
            f"FROM unnest({arrays}) AS u({aliases}) WHERE {match}"
        )

    def schema_lock(self) -> str:
        # Two processes running CREATE TABLE IF NOT EXISTS at once can both try to create the
        # table's row type and one fails: take turns, per schema, until the transaction ends.
        return f"SELECT pg_advisory_xact_lock(hashtext('valley-twin projections {self.schema}'))"
