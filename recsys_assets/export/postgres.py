"""The PostgreSQL rendering of the coercion rules: rows as finished CSV through ``COPY ... TO STDOUT``.

For the column types where PostgreSQL's SQL gives the same cells as ``coercion.format_value`` (integers,
text, timestamps, floats, numerics, booleans), each field's value is converted in SQL and held to the
same ``coercion.CHECKS``, rendered as SQL in the same order: every line starts with the row's first
problem ("FIELD|reason", empty for a good row). Any other column type takes the row-by-row path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from recsys_assets.app_database import copy_out
from recsys_assets.export.coercion import NULL_REASON, checks_for, show
from recsys_assets.export.mapping import DatasetExport
from recsys_assets.export.rows import KEY_FIELDS, ExportResult, csv_rows
from recsys_assets.personalize_rules.schemas import DatasetSchema, SchemaField

_PG_INTS = {"int2", "int4", "int8"}
# Not char(n) (its padding goes in casts to text) nor categorical text (the row path reads JSON arrays in it).
_PG_TEXTS = {"text", "varchar", "name"}
_PG_TEXT_ARRAYS = {"_text", "_varchar"}
_PG_DATETIMES = {"timestamp", "timestamptz", "date"}
_PG_FLOATS = _PG_INTS | {"float8", "numeric"}
_BAD_LINE = re.compile(rb"^[^,\n][^\n]*\n", re.M)


@dataclass(frozen=True)
class CompiledQuery:
    values: list[str]  # per field, its value from the export query's row ``x`` (computed once)
    cells: list[str]  # per field, its CSV cell from the values ``v0``, ``v1``, ...
    problem: str  # the row's first problem as "FIELD|reason", or NULL
    checks: list[tuple[str, str]]  # (SQL condition, "FIELD|reason"), in the order they are tested


# One record per line; the import reads a backslash as an escape, so it is doubled.
_TEXT_CELL = "replace(translate({v}, chr(10) || chr(13), '  '), '\\', '\\\\')"


def _conversion(f: SchemaField, pg: str, ref: str, spec: DatasetExport) -> tuple[str, str | None, str] | None:
    """(the field's value in SQL, the SQL test for an empty text, its CSV cell) for a column of type ``pg``;
    None where PostgreSQL would not give format_value's cell."""
    if f.type == "string":
        if pg in _PG_INTS:
            return f"{ref}::text", None, "{v}"
        if pg in _PG_TEXTS and not f.categorical:
            return ref, "{v} = ''", _TEXT_CELL
        if pg in _PG_TEXT_ARRAYS and f.categorical:
            return f"array_to_string({ref}, '|')", "{v} = ''", _TEXT_CELL
        return None
    if f.type in ("int", "long"):
        if pg in _PG_INTS:
            return (f"floor({ref} / 1000.0)::bigint" if f.name in spec.epoch_milliseconds else ref), None, "{v}"
        if pg in _PG_DATETIMES:
            # Microseconds fit a double exactly at today's epochs; numeric extract() is several times slower.
            return f"floor(date_part('epoch', {ref}))::bigint", None, "{v}"
        return None
    if f.type in ("float", "double") and pg in _PG_FLOATS:
        return f"NULLIF({ref}::float8, 'NaN')", None, "{v}"
    if f.type == "boolean" and pg == "bool":
        return ref, None, "CASE WHEN {v} THEN 'true' WHEN NOT {v} THEN 'false' END"
    return None


def compile_postgres(spec: DatasetExport, schema: DatasetSchema, types: dict[str, str],
                     latest: int) -> CompiledQuery | None:
    """The coercion rules as SQL for the export query's column ``types``; None if a type has no rendering."""
    values, cells, checks = [], [], []
    for i, f in enumerate(schema.fields):
        converted = _conversion(f, types[f.name], f"x.{f.name}", spec)
        if converted is None:
            return None
        value, empty, cell = converted
        v = f"v{i}"
        values.append(value)
        cells.append(cell.format(v=v))
        if not f.nullable:
            checks.append((f"{v} IS NULL" + (f" OR {empty.format(v=v)}" if empty else ""), f"{f.name}|{NULL_REASON}"))
        checks += [(sql, f"{f.name}|{check.reason(f)}") for check in checks_for(f)
                   if (sql := check.sql(v, f, latest)) is not None]
    problem = "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r in checks) + " END" if checks else "NULL"
    return CompiledQuery(values, cells, problem, checks)


def copy_blocks(db: sa.Engine, spec: DatasetExport, schema: DatasetSchema, compiled: CompiledQuery,
                result: ExportResult) -> Iterator[bytes]:
    """Finished CSV lines from COPY, the bad ones counted in ``result`` and left out."""
    # OFFSET 0 keeps the inner query whole, so each value is computed once, not once per use.
    values = ", ".join(f"{value} AS v{i}" for i, value in enumerate(compiled.values))
    sql = (f"SELECT {compiled.problem}, {', '.join(compiled.cells)} "
           f"FROM (SELECT {values} FROM ({spec.export_sql()}) x OFFSET 0) y")
    key_columns = [i for i, f in enumerate(schema.fields) if f.name in KEY_FIELDS[spec.name]]
    for block in copy_out(db, sql):
        lines = block.count(b"\n")
        result.read_rows += lines
        # Good lines start with the empty problem cell; counting them is much cheaper than looking for the others.
        if block.count(b"\n,") + block.startswith(b",") != lines:
            for row in csv_rows(b"".join(_BAD_LINE.findall(block))):
                column, reason = row[0].split("|", 1)
                cells = row[1:]
                result.bad.add(column, reason, ", ".join(f"{schema.fields[i].name}={cells[i]!r}" for i in key_columns),
                               show(cells[schema.field_names.index(column)]))
            block = _BAD_LINE.sub(b"", block)
        yield block[1:].replace(b"\n,", b"\n")  # without the problem cell
