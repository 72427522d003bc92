"""Reading from and writing back to the application's database (SQLite, PostgreSQL, MariaDB).

Reads stream in chunks (server-side cursors where the driver has them) so memory stays flat; the
recommendations table is replaced atomically: rows go to a staging table, which is swapped in
only once complete, so readers see yesterday's table or today's, never a partial one.
"""

from __future__ import annotations

import time
from typing import Iterable, Iterator, Sequence

import sqlalchemy as sa


def stream_rows(engine: sa.Engine, query: str, chunk_rows: int = 50_000) -> Iterator[Sequence]:
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=chunk_rows).execute(sa.text(query))
        for partition in result.partitions():
            yield from partition


def scalar(engine: sa.Engine, query: str):
    with engine.connect() as conn:
        return conn.execute(sa.text(query)).scalar()


def recommendations_table(name: str, metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("generated_at", sa.DateTime, nullable=False),
    )


def replace_table(engine: sa.Engine, table: str, rows: Iterable[tuple], *, chunk_rows: int = 20_000) -> int:
    """Fill ``<table>_staging`` from ``rows`` (user_id, rank, item_id, score, generated_at), then swap it in.

    If anything fails before the swap, the live table is untouched and the error propagates.
    """
    staging, old = f"{table}_staging", f"{table}_old"
    metadata = sa.MetaData()
    staging_table = recommendations_table(staging, metadata)
    # Index names are schema-global in SQLite and PostgreSQL and follow the table through renames.
    sa.Index(f"ix_{table}_user_{int(time.time() * 1000)}", staging_table.c.user_id, staging_table.c.rank)
    written = 0
    with engine.begin() as conn:
        staging_table.drop(conn, checkfirst=True)
        staging_table.create(conn)
    with engine.begin() as conn:
        insert = staging_table.insert()
        batch: list[dict] = []
        for user_id, rank, item_id, score, generated_at in rows:
            batch.append({"user_id": user_id, "rank": rank, "item_id": item_id, "score": score,
                          "generated_at": generated_at})
            if len(batch) >= chunk_rows:
                conn.execute(insert, batch)
                written += len(batch)
                batch = []
        if batch:
            conn.execute(insert, batch)
            written += len(batch)
    _swap(engine, table, staging, old)
    return written


def _swap(engine: sa.Engine, table: str, staging: str, old: str) -> None:
    prep = engine.dialect.identifier_preparer
    t, s, o = prep.quote(table), prep.quote(staging), prep.quote(old)
    exists = sa.inspect(engine).has_table(table)
    with engine.begin() as conn:
        if engine.dialect.name in ("mysql", "mariadb"):
            # MySQL commits DDL implicitly; a multi-table RENAME is its one atomic swap.
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {o}")
            conn.exec_driver_sql(f"RENAME TABLE {t} TO {o}, {s} TO {t}" if exists else f"RENAME TABLE {s} TO {t}")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {o}")
        else:
            # SQLite and PostgreSQL run DDL inside the transaction: the swap commits as one unit.
            if exists:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {o}")
                conn.exec_driver_sql(f"ALTER TABLE {t} RENAME TO {o}")
            conn.exec_driver_sql(f"ALTER TABLE {s} RENAME TO {t}")
            if exists:
                conn.exec_driver_sql(f"DROP TABLE {o}")
