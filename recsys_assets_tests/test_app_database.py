"""Streaming reads and the atomic recommendations swap, on SQLite, PostgreSQL and MariaDB."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from recsys_assets.app_database import replace_table, stream_rows

NOW = datetime(2026, 11, 29, 3, 0, 0)


def _rows(users, per_user, generated_at=NOW):
    for u in range(users):
        for rank in range(1, per_user + 1):
            yield f"user-{u}", rank, f"item,{u * 7 + rank}", 1.0 / rank, generated_at


def _read(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT user_id, rank, item_id, score FROM {table} ORDER BY user_id, rank")).all()


@pytest.fixture
def engine(database_url):
    engine = sa.create_engine(database_url)
    yield engine
    with engine.begin() as conn:
        for t in ("recs", "recs_staging", "recs_old", "numbers"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {t}"))
    engine.dispose()


def test_replace_creates_then_replaces_whole_table(engine):
    assert replace_table(engine, "recs", _rows(3, 4), chunk_rows=5) == 12
    assert len(_read(engine, "recs")) == 12
    assert replace_table(engine, "recs", _rows(2, 2)) == 4
    rows = _read(engine, "recs")
    assert [(r[0], r[1], r[2]) for r in rows] == [("user-0", 1, "item,1"), ("user-0", 2, "item,2"),
                                                  ("user-1", 1, "item,8"), ("user-1", 2, "item,9")]
    names = set(sa.inspect(engine).get_table_names())
    assert "recs_staging" not in names and "recs_old" not in names
    assert any(ix["column_names"][0] == "user_id" for ix in sa.inspect(engine).get_indexes("recs"))


def test_failed_write_leaves_previous_table_intact(engine):
    replace_table(engine, "recs", _rows(2, 3))
    before = _read(engine, "recs")

    def broken():
        yield from _rows(5, 5)
        raise RuntimeError("batch output truncated")

    with pytest.raises(RuntimeError, match="truncated"):
        replace_table(engine, "recs", broken(), chunk_rows=7)
    assert _read(engine, "recs") == before


def test_null_scores_are_kept(engine):
    replace_table(engine, "recs", [("u", 1, "i", None, NOW)])
    assert _read(engine, "recs") == [("u", 1, "i", None)]


def test_stream_rows_yields_every_row_across_chunks(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE numbers (n INTEGER)"))
        conn.execute(sa.text("INSERT INTO numbers (n) VALUES (:n)"), [{"n": i} for i in range(1234)])
    assert [r[0] for r in stream_rows(engine, "SELECT n FROM numbers ORDER BY n", chunk_rows=100)] == list(range(1234))
