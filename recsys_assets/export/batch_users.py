"""The users the batch job scores: the mapping's ``users_to_score`` query, checked before any paid call."""

from __future__ import annotations

from typing import Iterator

import sqlalchemy as sa

from recsys_assets.app_database import execute, stream_rows
from recsys_assets.export.mapping import Mapping


class UsersToScoreError(ValueError):
    """``users_to_score`` can't be read; the message names the mapping file and the key."""


def _where(mapping: Mapping) -> str:
    return f"{mapping.path}: users_to_score {mapping.users_to_score!r}"


def _complaint(e: Exception) -> str:
    if isinstance(e, UnicodeEncodeError):  # psycopg sends SQL in the client encoding: ASCII on SQL_ASCII
        return f"its SQL has a character the client encoding ({e.encoding}) can't send: {e.object[e.start:e.end]!r}"
    return str(e.orig).strip().splitlines()[0]


def users_to_score_problem(db: sa.Engine, mapping: Mapping) -> str | None:
    """What reading ``users_to_score`` would fail on, found by running it for no rows."""
    with db.connect() as conn:
        try:
            with conn.begin():
                columns = len(execute(conn, f"SELECT * FROM ({mapping.users_to_score}) p WHERE 1 = 0").keys())
        except (sa.exc.DBAPIError, UnicodeEncodeError) as e:
            return f"{_where(mapping)} can't be read: {_complaint(e)}"
    return None if columns == 1 else f"{_where(mapping)} must return one column of user IDs, not {columns}"


def users_to_score(db: sa.Engine, mapping: Mapping) -> Iterator[str]:
    """The user IDs to score, as text; UsersToScoreError names the key if the database refuses the query."""
    try:
        for row in stream_rows(db, mapping.users_to_score):
            yield str(row[0])
    except (sa.exc.DBAPIError, UnicodeEncodeError) as e:
        raise UsersToScoreError(f"{_where(mapping)} can't be read: {_complaint(e)}") from e
