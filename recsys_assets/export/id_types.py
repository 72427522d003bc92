"""The types of the write-back's user_id and item_id: those of the app's own ID columns, so they join.

PostgreSQL has no ``integer = text`` (a JOIN of text IDs on integer keys fails), and elsewhere text
compares as strings. So where the mapping takes USER_ID (of users) or ITEM_ID (of items) from a
column of a table, that column is reflected: an integer or UUID column gives its own type, a text
column text. A query, an SQL expression, a table or column that can't be reflected, or another
type gives text, and the note says why. Batch output IDs are strings; ``IdType.convert`` turns each
into its column's value, or refuses it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from recsys_assets.app_database import TEXT_ID
from recsys_assets.export.mapping import DatasetExport, Mapping

# Each write-back ID column, and the dataset and field its values come from.
ID_SOURCES = {"user_id": ("users", "USER_ID"), "item_id": ("items", "ITEM_ID")}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER_BITS = {"TINYINT": 8, "SMALLINT": 16, "MEDIUMINT": 24, "INTEGER": 32, "BIGINT": 64}


class BadId(ValueError):
    """A batch output ID its write-back column can't take; names the value, the column and where it is."""


def _as_is(value: str, user_id: str, rank: int) -> str:
    return value


@dataclass(frozen=True)
class IdType:
    """One ID column of the write-back tables: its SQL type, and how a batch output ID becomes its value."""

    column: str  # user_id | item_id
    sql: sa.types.TypeEngine
    note: str  # the type and what it follows, or why it is text (for the metadata)
    # (ID, its user, its rank) -> the column's value, or BadId.
    convert: Callable[[str, str, int], object] = _as_is
    fell_back: bool = False  # text only because the source column's type could not be followed


def id_types(db: sa.Engine, mapping: Mapping) -> dict[str, IdType]:
    """user_id's and item_id's types, after the mapped users' and items' ID columns."""
    return {column: _reflected(db, column, mapping.datasets[dataset], field)
            for column, (dataset, field) in ID_SOURCES.items()}


def text_ids(why: str) -> dict[str, IdType]:
    return {column: IdType(column, TEXT_ID, f"text: {why}") for column in ID_SOURCES}


def _fallback(column: str, why: str) -> IdType:
    return IdType(column, TEXT_ID, f"text: {why}", fell_back=True)


def _reflected(db: sa.Engine, column: str, spec: DatasetExport, field: str) -> IdType:
    expression = spec.columns[field]
    if spec.is_query:
        return _fallback(column, f"[{spec.name}] is a query")
    if not _IDENTIFIER.fullmatch(expression):
        return _fallback(column, f"{spec.name}.{field} is an SQL expression ({expression})")
    schema, _, table = spec.source.rpartition(".")
    try:
        columns = sa.inspect(db).get_columns(table, schema=schema or None)
    except sa.exc.SQLAlchemyError as e:
        reason = f"{type(e).__name__}: {str(e).splitlines()[0]}"
        return _fallback(column, f"{spec.source} could not be reflected ({reason})")
    found = next((c for c in columns if c["name"].lower() == expression.lower()), None)
    if found is None:
        return _fallback(column, f"{spec.source} has no column {expression}")
    kind, source = found["type"], f"{spec.source}.{found['name']}"
    if isinstance(kind, sa.Integer):
        # SQLite's integers are 64-bit whatever the declared type; MySQL's may be unsigned. A type of
        # another name is taken as 64-bit: the database refuses what does not fit.
        bits = 64 if db.dialect.name == "sqlite" else _INTEGER_BITS.get(kind.__visit_name__, 64)
        low, high = (0, 2**bits - 1) if getattr(kind, "unsigned", False) else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        shown = kind.compile(dialect=db.dialect)
        return IdType(column, kind, f"{shown}, as {source}",
                      _integers(column, low, high, f"an integer from {low} to {high} ({source} is {shown})"))
    if isinstance(kind, sa.Uuid):
        return IdType(column, kind, f"UUID, as {source}", _uuids(column, f"a UUID ({source} is one)"))
    if isinstance(kind, sa.String):
        return IdType(column, TEXT_ID, f"text, as {source} ({kind.compile(dialect=db.dialect)})")
    return _fallback(column, f"{source} is {type(kind).__name__}, not an integer, UUID or text type")


# Closures, not methods with a parser: the write-back converts millions of IDs.
def _integers(column: str, low: int, high: int, wanted: str) -> Callable[[str, str, int], int]:
    def convert(value: str, user_id: str, rank: int) -> int:
        # ASCII digits only: int() would also take spaces, underscores and other scripts' digits.
        digits = value[1:] if value[:1] == "-" else value
        if digits.isascii() and digits.isdigit() and low <= (number := int(value)) <= high:
            return number
        raise _bad(column, value, wanted, user_id, rank)
    return convert


def _uuids(column: str, wanted: str) -> Callable[[str, str, int], uuid.UUID]:
    def convert(value: str, user_id: str, rank: int) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise _bad(column, value, wanted, user_id, rank) from None
    return convert


def _bad(column: str, value: str, wanted: str, user_id: str, rank: int) -> BadId:
    return BadId(f"{column} {value!r} is not {wanted}, at user {user_id!r}, rank {rank} of the batch output "
                 "(id_types: text writes the IDs as text)")
