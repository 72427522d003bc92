"""Reading from and writing back to the application's database (SQLite, PostgreSQL, MariaDB).

Reads stream in chunks (server-side cursors where the driver has them, ``COPY`` on PostgreSQL) so
memory stays flat. Tables are replaced atomically: rows go to staging tables, by each database's
fastest bulk path, which are swapped in together only once complete, so readers see yesterday's
tables or today's, never a partial one.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import tempfile
import time
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa

INSERT_BATCH_ROWS = 10_000


def _driver_sql(conn: sa.Connection, sql: str) -> str:
    # The drivers format parameters with %: a literal % in mapped SQL ('100%', LIKE 'a%') must be doubled.
    return sql.replace("%", "%%") if conn.dialect.paramstyle in ("format", "pyformat") else sql


def _lenient_text(raw: bytes) -> str:
    # SQLite stores whatever bytes it was given; keep undecodable ones (as surrogates) for the export to report.
    return raw.decode("utf-8", errors="surrogateescape")


def stream_rows(db: sa.Engine, query: str, chunk_rows: int = 50_000) -> Iterator[Sequence]:
    """The rows of a raw SQL query (no bind parameters), fetched ``chunk_rows`` at a time."""
    with db.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            dbapi = conn.connection.driver_connection
            saved, dbapi.text_factory = dbapi.text_factory, _lenient_text
        try:
            result = execute(conn.execution_options(yield_per=chunk_rows), query)
            for partition in result.partitions():
                yield from partition
        finally:
            if sqlite:
                dbapi.text_factory = saved


def copy_out(db: sa.Engine, query: str, rows_per_block: int = 100_000) -> Iterator[bytes]:
    """PostgreSQL: ``COPY (query) TO STDOUT`` as CSV, in blocks of whole lines.

    PostgreSQL sends one message per row, so every block ends at a line end; joining them with
    ``islice`` keeps the per-row loop out of Python bytecode.
    """
    with db.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            while block := b"".join(islice(copy, rows_per_block)):
                yield block


def execute(conn: sa.Connection, query: str) -> sa.CursorResult:
    """A raw SQL query (no bind parameters), as written: ``%`` and ``:name`` reach the database unchanged."""
    return conn.exec_driver_sql(_driver_sql(conn, query))


def scalar(db: sa.Engine, query: str):
    with db.connect() as conn:
        return execute(conn, query).scalar()


# ---------------------------------------------------------------------------------------------
# Write-back.

LONG_COLUMNS = ("user_id", "rank", "item_id", "score", "generated_at", "solution_version_arn")
# Text IDs: Personalize's are at most 256 characters.
TEXT_ID = sa.String(256)


def recommendations_table(name: str, metadata: sa.MetaData, *, user_id: sa.types.TypeEngine = TEXT_ID,
                          item_id: sa.types.TypeEngine = TEXT_ID) -> sa.Table:
    """Long form: one row per (user, rank); the IDs of the given types (the app's own, so they join)."""
    return sa.Table(
        name, metadata,
        sa.Column("user_id", user_id, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("item_id", item_id, nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("generated_at", sa.DateTime, nullable=False),
        sa.Column("solution_version_arn", sa.String(256), nullable=True),
    )


def recommendations_wide_table(name: str, metadata: sa.MetaData, *,
                               user_id: sa.types.TypeEngine = TEXT_ID) -> sa.Table:
    """Wide form: one row per user (of the given type), the items (as strings) and their scores as JSON arrays
    in rank order."""
    return sa.Table(
        name, metadata,
        sa.Column("user_id", user_id, nullable=False),
        sa.Column("item_ids", sa.Text, nullable=False),
        sa.Column("scores", sa.Text, nullable=False),
        sa.Column("generated_at", sa.DateTime, nullable=False),
        sa.Column("solution_version_arn", sa.String(256), nullable=True),
    )


@dataclass
class TableLoad:
    """One table to replace: its name, its definition, its rows (tuples in column order), its lookup index."""

    name: str
    define: Callable[[str, sa.MetaData], sa.Table]
    rows: Iterable[tuple]
    index: tuple[str, ...]
    unique: bool = False


def replace_table(db: sa.Engine, table: str, rows: Iterable[tuple]) -> int:
    """Replace ``table`` with long-form recommendations (see ``LONG_COLUMNS``), indexed by user."""
    return replace_tables(db, [TableLoad(table, recommendations_table, rows, ("user_id",))])[0]


def replace_tables(db: sa.Engine, loads: list[TableLoad]) -> list[int]:
    """Fill ``<name>_staging`` for every load, then swap them all in at once; the row counts.

    On SQLite and PostgreSQL, DDL is transactional: staging, filling and the swap are one transaction, so
    a failure at any point (a read-only file, a lost connection) rolls back to yesterday's tables with no
    staging table left. MySQL/MariaDB commit each DDL statement: a failure before the swap drops the
    staging tables where it still can, and the next run's staging replaces any it could not.
    """
    staging = [f"{load.name}_staging" for load in loads]
    pairs = [(load.name, s) for load, s in zip(loads, staging)]
    if db.dialect.name not in _DDL_COMMITS:
        with _transaction(db) as conn:
            counts = [_stage(conn, load, s) for load, s in zip(loads, staging)]
            _swap(conn, pairs)
        return counts
    staged: list[str] = []
    try:
        counts = []
        for load, s in zip(loads, staging):
            staged.append(s)
            with db.begin() as conn:
                counts.append(_stage(conn, load, s))
        with db.begin() as conn:
            _swap(conn, pairs)
        return counts
    except BaseException:
        with contextlib.suppress(sa.exc.SQLAlchemyError), db.begin() as conn:
            for s in staged:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {conn.dialect.identifier_preparer.quote(s)}")
        raise


_DDL_COMMITS = ("mysql", "mariadb")


@contextlib.contextmanager
def _transaction(db: sa.Engine) -> Iterator[sa.Connection]:
    """One transaction on one connection, DDL included."""
    if db.dialect.name != "sqlite":
        with db.begin() as conn:
            yield conn
        return
    # pysqlite opens a transaction only before DML, so a CREATE or ALTER would commit on its own: begin by hand.
    with db.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def _stage(conn: sa.Connection, load: TableLoad, staging: str) -> int:
    table = load.define(staging, sa.MetaData())
    table.drop(conn, checkfirst=True)  # a staging table an interrupted run could not drop
    table.create(conn)
    written = _BULK_LOADERS.get(conn.dialect.name, _insert_batches)(conn, table, load.rows)
    # Built once after the load (cheaper than maintained row by row). Index names are schema-wide
    # in SQLite and PostgreSQL and follow the table through renames: make each one new.
    name = f"ix_{load.name[:40]}_{int(time.time() * 1000)}"
    sa.Index(name, *(table.c[c] for c in load.index), unique=load.unique).create(conn)
    return written


# A binary COPY value must have its column's exact type: an integer's width matters (subclasses first).
_PG_BINARY_TYPES = ((sa.SmallInteger, "int2"), (sa.BigInteger, "int8"), (sa.Integer, "int4"), (sa.Uuid, "uuid"),
                    (sa.String, "text"), (sa.Float, "float8"), (sa.DateTime, "timestamp"))


def _pg_binary_type(column_type: sa.types.TypeEngine) -> str:
    return next(name for kind, name in _PG_BINARY_TYPES if isinstance(column_type, kind))


def _copy_in(conn: sa.Connection, table: sa.Table, rows: Iterable[tuple]) -> int:
    """PostgreSQL: binary COPY (no text to build and parse per value)."""
    prep = conn.dialect.identifier_preparer
    columns = ", ".join(prep.quote(c.name) for c in table.columns)
    written = 0
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {prep.quote(table.name)} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([_pg_binary_type(c.type) for c in table.columns])
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def _insert_batches(conn: sa.Connection, table: sa.Table, rows: Iterable[tuple]) -> int:
    """executemany in batches, all in the load's one transaction (SQLite; MariaDB where LOAD DATA is refused).

    PyMySQL packs each batch into as few multi-row INSERTs as fit a packet. Values go through the
    column types' bind processors, so they are stored as SQLAlchemy stores them (SQLite's datetimes).
    """
    prep = conn.dialect.identifier_preparer
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {prep.quote(table.name)} ({', '.join(prep.quote(c.name) for c in table.columns)}) "
           f"VALUES ({', '.join([mark] * len(table.columns))})")
    # Memoized: a load repeats its values (one generated_at), and formatting a datetime is slow.
    processors = [p and functools.lru_cache(maxsize=1024)(p) for c in table.columns
                  for p in [c.type.bind_processor(conn.dialect)]]
    if any(processors):
        rows = (tuple(p(v) if p else v for p, v in zip(processors, row)) for row in rows)
    cursor = conn.connection.driver_connection.cursor()
    written, rows = 0, iter(rows)
    while batch := list(islice(rows, INSERT_BATCH_ROWS)):
        cursor.executemany(sql, batch)
        written += len(batch)
    return written


def _load_data_local(conn: sa.Connection, table: sa.Table, rows: Iterable[tuple]) -> int:
    """MariaDB/MySQL: ``LOAD DATA LOCAL INFILE`` from a temporary file, several times faster than INSERTs.

    Where the server refuses it (``local_infile`` off, MySQL 8's default), multi-row INSERTs. The
    client side is enabled on a connection of its own, opened for this load only.
    """
    if not conn.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar():
        return _insert_batches(conn, table, rows)
    prep = conn.dialect.identifier_preparer
    # The file is written by the csv module in C: tab-separated, special characters backslash-escaped
    # as LOAD DATA reads them. It writes NULL as an empty field, which SET turns back into NULL (so an
    # empty string loads as NULL too: refused in a NOT NULL column, like NULL itself).
    targets = [f"@{c.name}" for c in table.columns]
    nulls = [f"{prep.quote(c.name)} = NULLIF(@{c.name}, '')" for c in table.columns]
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", suffix=".tsv") as f:
        counted = _Counter(rows)
        csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n").writerows(counted)
        f.flush()
        loader = sa.create_engine(conn.engine.url, poolclass=sa.pool.NullPool, connect_args={"local_infile": True})
        try:
            with loader.begin() as load:
                load.exec_driver_sql(
                    f"LOAD DATA LOCAL INFILE %s INTO TABLE {prep.quote(table.name)} CHARACTER SET utf8mb4 "
                    f"({', '.join(targets)}) SET {', '.join(nulls)}", (f.name,))
                # LOCAL turns refused values into warnings (and '' or 0): refuse the load instead.
                warnings = load.exec_driver_sql("SHOW WARNINGS LIMIT 3").all()
                if warnings:
                    raise ValueError(f"the database refused rows: {'; '.join(w[2] for w in warnings)}")
        finally:
            loader.dispose()
    return counted.count


class _Counter:
    """Counts the rows a C consumer (csv.writer.writerows) takes from an iterable."""

    def __init__(self, rows: Iterable[tuple]):
        self.rows, self.count = iter(rows), 0

    def __iter__(self):
        return self

    def __next__(self) -> tuple:
        row = next(self.rows)
        self.count += 1
        return row


_BULK_LOADERS = {"postgresql": _copy_in, "mysql": _load_data_local, "mariadb": _load_data_local}


def _swap(conn: sa.Connection, pairs: list[tuple[str, str]]) -> None:
    prep = conn.dialect.identifier_preparer
    inspector = sa.inspect(conn)
    renames = [(prep.quote(t), prep.quote(s), prep.quote(f"{t}_old"), inspector.has_table(t)) for t, s in pairs]
    for _, _, old, _ in renames:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {old}")
    if conn.dialect.name in _DDL_COMMITS:
        # MySQL commits DDL implicitly; one multi-table RENAME is its one atomic swap.
        steps = [f"{t} TO {o}, {s} TO {t}" if exists else f"{s} TO {t}" for t, s, o, exists in renames]
        conn.exec_driver_sql(f"RENAME TABLE {', '.join(steps)}")
    else:
        for t, s, o, exists in renames:
            if exists:
                conn.exec_driver_sql(f"ALTER TABLE {t} RENAME TO {o}")
            conn.exec_driver_sql(f"ALTER TABLE {s} RENAME TO {t}")
    for _, _, old, exists in renames:
        if exists:
            conn.exec_driver_sql(f"DROP TABLE {old}")
