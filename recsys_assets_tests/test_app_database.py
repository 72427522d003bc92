"""Streaming reads and the atomic write-back (long and wide forms), on SQLite, PostgreSQL and MariaDB."""

import json
import sqlite3
from datetime import datetime

import pytest
import sqlalchemy as sa

from recsys_assets import app_database
from recsys_assets.app_database import (
    TableLoad,
    recommendations_table,
    recommendations_wide_table,
    replace_table,
    replace_tables,
    stream_rows,
)
from recsys_assets_tests.conftest import engine_dropping

NOW = datetime(2026, 11, 29, 3, 0, 0)
ARN = "arn:aws:personalize:us-east-1:000000000000:solution/recsys-1a2b3c4d/0123abcd"
TABLES = ("recs", "recs_wide", "numbers")


def _rows(users, per_user, generated_at=NOW):
    for u in range(users):
        for rank in range(1, per_user + 1):
            yield f"user-{u}", rank, f"item,{u * 7 + rank}", 1.0 / rank, generated_at, ARN


def _wide(users, per_user):
    for u in range(users):
        ranked = [r for r in _rows(users, per_user) if r[0] == f"user-{u}"]
        yield f"user-{u}", json.dumps([r[2] for r in ranked]), json.dumps([r[3] for r in ranked]), NOW, ARN


def _both(users, per_user):
    return [TableLoad("recs", recommendations_table, _rows(users, per_user), ("user_id",)),
            TableLoad("recs_wide", recommendations_wide_table, _wide(users, per_user), ("user_id",), unique=True)]


def _read(engine, table, columns="user_id, rank, item_id, score"):
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT {columns} FROM {table} ORDER BY user_id" +
                                    (", rank" if "rank" in columns else ""))).all()


@pytest.fixture
def engine(database_url):
    with engine_dropping(database_url, TABLES) as engine:
        yield engine


def test_replace_creates_then_replaces_whole_table(engine):
    assert replace_table(engine, "recs", _rows(3, 4)) == 12
    assert len(_read(engine, "recs")) == 12
    assert replace_table(engine, "recs", _rows(2, 2)) == 4
    table = recommendations_table("recs", sa.MetaData())
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.user_id, table.c.rank, table.c.item_id, table.c.generated_at,
                                      table.c.solution_version_arn).order_by(table.c.user_id, table.c.rank)).all()
    assert [tuple(r) for r in rows] == [("user-0", 1, "item,1", NOW, ARN), ("user-0", 2, "item,2", NOW, ARN),
                                        ("user-1", 1, "item,8", NOW, ARN), ("user-1", 2, "item,9", NOW, ARN)]
    names = set(sa.inspect(engine).get_table_names())
    assert "recs_staging" not in names and "recs_old" not in names
    assert [ix["column_names"] for ix in sa.inspect(engine).get_indexes("recs")] == [["user_id"]]


def test_long_and_wide_forms_are_swapped_in_together(engine):
    assert replace_tables(engine, _both(3, 4)) == [12, 3]
    wide = _read(engine, "recs_wide", "user_id, item_ids, scores")
    assert [(u, json.loads(i)) for u, i, _ in wide] == [
        ("user-0", ["item,1", "item,2", "item,3", "item,4"]), ("user-1", ["item,8", "item,9", "item,10", "item,11"]),
        ("user-2", ["item,15", "item,16", "item,17", "item,18"])]
    assert json.loads(wide[0][2]) == [1.0, 0.5, 1 / 3, 0.25]
    assert [ix["unique"] for ix in sa.inspect(engine).get_indexes("recs_wide")] == [True]
    assert replace_tables(engine, _both(1, 2)) == [2, 1]
    assert len(_read(engine, "recs")) == 2 and len(_read(engine, "recs_wide", "user_id")) == 1


def test_failed_write_leaves_previous_tables_intact(engine):
    replace_tables(engine, _both(2, 3))
    before = _read(engine, "recs"), _read(engine, "recs_wide", "user_id, item_ids")

    def broken():
        yield from _wide(5, 5)
        raise RuntimeError("batch output truncated")

    # The long table is complete; the wide one fails: neither is swapped.
    loads = _both(5, 5)
    loads[1].rows = broken()
    with pytest.raises(RuntimeError, match="truncated"):
        replace_tables(engine, loads)
    assert (_read(engine, "recs"), _read(engine, "recs_wide", "user_id, item_ids")) == before
    assert not {"recs_staging", "recs_wide_staging"} & set(sa.inspect(engine).get_table_names())


def test_database_turning_read_only_mid_write_leaves_no_staging_table(tmp_path):
    """SQLite made read-only while the rows stream in: the write and any clean-up after it are refused."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    replace_table(engine, "recs", _rows(2, 3))
    before = _read(engine, "recs")
    read_only = False

    @sa.event.listens_for(engine, "checkout")
    def refuse_writes(dbapi_connection, record, proxy):  # what a connection opened from now on finds
        if read_only:
            dbapi_connection.execute("PRAGMA query_only = 1")

    def rows():
        nonlocal read_only
        yield from _rows(3, 2)
        read_only = True
        raise sqlite3.OperationalError("attempt to write a readonly database")

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        replace_table(engine, "recs", rows())
    read_only = False
    assert _read(engine, "recs") == before
    assert set(sa.inspect(engine).get_table_names()) == {"recs"}


def test_a_staging_table_left_by_an_interrupted_run_is_replaced(engine):
    replace_table(engine, "recs", _rows(1, 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE recs_staging (junk INTEGER)")
        conn.exec_driver_sql("INSERT INTO recs_staging VALUES (1)")
    assert replace_table(engine, "recs", _rows(2, 2)) == 4
    assert len(_read(engine, "recs")) == 4
    assert "recs_staging" not in sa.inspect(engine).get_table_names()


def test_rows_the_database_refuses_leave_previous_table_intact(engine):
    replace_table(engine, "recs", _rows(2, 3))
    before = _read(engine, "recs")
    with pytest.raises(Exception, match="(?i)null"):  # each driver's own IntegrityError
        replace_table(engine, "recs", [("u", 1, "i", 0.5, NOW, ARN), ("u", 2, None, 0.4, NOW, ARN)])  # NULL item
    assert _read(engine, "recs") == before


def test_plain_batched_inserts_replace_too(engine, monkeypatch):
    """The path MariaDB takes where the server refuses LOAD DATA LOCAL (and SQLite's own)."""
    monkeypatch.setitem(app_database._BULK_LOADERS, engine.dialect.name, app_database._insert_batches)
    replace_table(engine, "recs", _rows(2, 3))
    assert replace_table(engine, "recs", _rows(3, 2)) == 6
    assert [r[:3] for r in _read(engine, "recs")][:2] == [("user-0", 1, "item,1"), ("user-0", 2, "item,2")]


def test_null_scores_are_kept(engine):
    replace_table(engine, "recs", [("u", 1, "i", None, NOW, None)])
    assert _read(engine, "recs") == [("u", 1, "i", None)]


def test_stream_rows_yields_every_row_across_chunks(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE numbers (n INTEGER, label VARCHAR(10))"))
        conn.execute(sa.text("INSERT INTO numbers (n, label) VALUES (:n, :label)"),
                     [{"n": i, "label": "100%"} for i in range(1234)])
    # A literal % and a colon in raw SQL reach the database as written.
    query = "SELECT n FROM numbers WHERE label LIKE '100%' AND '12:30' <> '' ORDER BY n"
    assert [r[0] for r in stream_rows(engine, query, chunk_rows=100)] == list(range(1234))
