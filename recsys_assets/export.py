"""App-database rows shaped into Personalize's bulk CSVs, as a mapping file describes (see mapping.py).

One set of coercion rules (``format_value``) turns each database value into its schema field's CSV cell;
rows it refuses are counted and shown, then fail the export or are left out (``on_bad_rows``). Rows
stream from the database into the object store in blocks, so memory stays flat however large the
table. On PostgreSQL the same rules, for the common column types, are compiled into the query and
the rows arrive through ``COPY ... TO STDOUT`` as finished CSV; any other type takes the row path.
The written file is read back through the engine's own CSV validation (``check_csv``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from recsys_assets.app_database import copy_out, scalar, stream_rows
from recsys_assets.engine import validation
from recsys_assets.engine.storage import ObjectStore
from recsys_assets.mapping import DEFAULT_MAPPING_FILE, ID_FIELDS, DatasetExport, load_mapping

PREVIEW_ROWS = 5
EXAMPLE_ROWS = 5
# A little clock skew between the app's servers and ours is not a future event.
FUTURE_SLACK = timedelta(hours=1)
BLOCK_BYTES = 8 * 1024 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_FLOAT_MAX = {"float": float(np.finfo(np.float32).max), "double": float(np.finfo(np.float64).max)}
_LINE_BREAKS = {ord("\n"): " ", ord("\r"): " "}
# The demo shop's datasets (the default mapping).
EXPORTS = load_mapping(DEFAULT_MAPPING_FILE).datasets


def load_schema(spec: DatasetExport) -> tuple[str, validation.DatasetSchema]:
    """The schema file's text and its parsed form; SchemaValidationError names the file and field."""
    text = spec.schema_path.read_text()
    try:
        schema = validation.parse_schema(text)
        validation.check_schema_for_dataset_type(schema, spec.dataset_type)
    except validation.SchemaValidationError as e:
        raise validation.SchemaValidationError(f"{spec.schema_path.name}: {e}") from None
    # Send the schema compactly: CreateSchema takes at most 20,000 characters.
    return json.dumps(json.loads(text), separators=(",", ":")), schema


# ---------------------------------------------------------------------------------------------
# Coercion: one database value -> one CSV cell.


class BadValue(ValueError):
    """A value its field can't take; the message completes "<FIELD> ..."."""


def format_value(value, field_: validation.SchemaField, *, milliseconds: bool = False,
                 latest: int | None = None) -> str:
    """One CSV cell as Personalize reads it ("" is null); BadValue says why a value can't be one.

    IDs become exact strings; datetimes (naive = UTC) and epoch milliseconds (``milliseconds``)
    become epoch seconds; lists become ``|``-joined categorical values; numeric strings become
    numbers. Timestamps later than ``latest`` (epoch seconds) are refused.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise BadValue("is not valid UTF-8 text") from None
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        if not field_.nullable:
            raise BadValue("is empty or NULL, but the field is required")
        return ""
    if field_.type == "string":
        return _string(value, field_)
    if field_.type in _INT_RANGES:
        return str(_integer(value, field_, milliseconds, latest))
    if field_.type in _FLOAT_MAX:
        return _float(value, field_)
    return _boolean(value)


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _string(value, f: validation.SchemaField) -> str:
    if isinstance(value, str) and f.categorical and value.startswith("[") and value.endswith("]"):
        try:
            value = json.loads(value)  # a JSON array column (MariaDB, SQLite)
        except ValueError:
            pass
    if isinstance(value, (list, tuple)):
        if not f.categorical:
            raise BadValue("is a list, but only categorical fields take lists")
        text = "|".join(_text(v) for v in value if v is not None)
    else:
        text = _text(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, surrogate-escaped by the reader
        raise BadValue("is not valid UTF-8 text") from None
    if f.name in validation.ID_FIELDS:
        if "\n" in text or "\r" in text:
            raise BadValue("contains a line break")
        if len(text) > validation.ID_MAX_CHARS:
            raise BadValue(f"has {len(text)} characters; IDs may have at most {validation.ID_MAX_CHARS}")
        return text
    # Personalize reads one record per line.
    text = text.translate(_LINE_BREAKS)
    if not f.textual and len(text) > validation.VALUE_MAX_CHARS:
        raise BadValue(f"has {len(text)} characters; values may have at most {validation.VALUE_MAX_CHARS}")
    return text


def _epoch_seconds(value: datetime) -> int:
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # app databases store naive UTC
    return (aware - _EPOCH) // timedelta(seconds=1)


def _decimal(value) -> Decimal:
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise BadValue(f"is {_show(value)}, not a number") from None
    if not number.is_finite():
        raise BadValue(f"is {_show(value)}, not a finite number")
    return number


def _integer(value, f: validation.SchemaField, milliseconds: bool, latest: int | None) -> int:
    if isinstance(value, str) and not _NUMERIC.fullmatch(value.strip()):
        try:
            value = datetime.fromisoformat(value.strip())  # SQLite keeps DATETIME columns as ISO text
        except ValueError:
            raise BadValue(f"is {_show(value)}, neither a number nor a datetime") from None
    if isinstance(value, datetime):
        number = _epoch_seconds(value)
    elif isinstance(value, date):
        number = _epoch_seconds(datetime(value.year, value.month, value.day))
    else:
        exact = _decimal(float(value) if isinstance(value, bool) else value)
        if exact != exact.to_integral_value():
            raise BadValue(f"is {_show(value)}, not a whole number")
        number = int(exact) // 1000 if milliseconds else int(exact)
    if f.name in validation.EPOCH_SECONDS_FIELDS:
        if number > validation.MILLISECONDS_ABOVE:
            raise BadValue(f"is {number}, which looks like epoch milliseconds; list {f.name} in "
                           "epoch_milliseconds in the mapping")
        if latest is not None and number > latest:
            raise BadValue(f"is {number} ({datetime.fromtimestamp(number, timezone.utc):%Y-%m-%d %H:%M}Z), "
                           "in the future")
    low, high = _INT_RANGES[f.type]
    if not low <= number <= high:
        raise BadValue(f"is {number}, out of range for {f.type}")
    return number


_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _float(value, f: validation.SchemaField) -> str:
    number = float(value) if isinstance(value, float) else float(_decimal(value))
    if not math.isfinite(number) or abs(number) > _FLOAT_MAX[f.type]:
        raise BadValue(f"is {_show(value)}, out of range for {f.type}")
    return repr(number)


def _boolean(value) -> str:
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return "true"
    if text in ("false", "0"):
        return "false"
    raise BadValue(f"is {_show(value)}, not true or false")


def _show(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Export: the query, the rows' path (any database) and the COPY path (PostgreSQL).


class ExportError(ValueError):
    """The export can't produce a valid file; names the dataset, and the column and rows where known."""

    def __init__(self, message: str, *, column: str | None = None, bad: "BadRows | None" = None):
        super().__init__(message)
        self.column = column
        self.bad = bad


@dataclass
class BadRows:
    """Rows the coercion refused: how many, why, and the first few (with their keys)."""

    count: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    first_column: str | None = None

    def add(self, column: str, reason: str, keys: str) -> None:
        self.count += 1
        self.reasons[f"{column} {reason.split(',')[0]}" if column else reason] += 1
        if self.first_column is None:
            self.first_column = column
        if len(self.examples) < EXAMPLE_ROWS:
            self.examples.append(f"{keys}: {column} {reason}")

    def summary(self) -> str:
        reasons = "; ".join(f"{n} x {text}" for text, n in self.reasons.most_common(5))
        return f"{self.count} bad rows ({reasons}); first: " + " | ".join(self.examples)


@dataclass
class ExportResult:
    uri: str
    rows: int = 0  # written
    source_rows: int = 0  # in the mapped table or query
    read_rows: int = 0  # returned by the export query (one per ID; only known users and items)
    duplicates: int = 0  # exact duplicate interactions left out
    bad: BadRows = field(default_factory=BadRows)
    path: str = "rows"  # "copy" on PostgreSQL when every column type compiles
    preview: list[list[str]] = field(default_factory=list)

    @property
    def dropped_unknown(self) -> int:
        return self.source_rows - self.read_rows if self.rows_have_known_filter else 0

    @property
    def dropped_duplicates(self) -> int:
        return self.duplicates if self.rows_have_known_filter else self.source_rows - self.read_rows

    rows_have_known_filter: bool = False


def export_csv(engine: sa.Engine, spec: DatasetExport, schema: validation.DatasetSchema, store: ObjectStore,
               uri: str, *, now: datetime | None = None) -> ExportResult:
    """Stream the mapped rows into ``uri``; ExportError (and nothing written) when the rows can't be used."""
    latest = _epoch_seconds(now or datetime.now(timezone.utc)) + int(FUTURE_SLACK.total_seconds())
    result = ExportResult(uri=uri, rows_have_known_filter=bool(spec.known_in))
    types = probe(engine, spec)
    result.source_rows = int(scalar(engine, spec.count_sql()))
    if result.source_rows == 0:
        raise ExportError(f"{spec.name}: {_source_label(spec)} has no rows; Personalize needs data in every dataset")
    compiled = _compile_postgres(spec, schema, types, latest) if types is not None else None
    seen = _SeenLines() if spec.name not in ID_FIELDS else None
    with store.open_write(uri) as out:
        out.write((",".join(schema.field_names) + "\n").encode())
        if compiled is not None:
            result.path = "copy"
            blocks = _copy_blocks(engine, spec, schema, compiled, result)
        else:
            blocks = _row_blocks(engine, spec, schema, latest, result)
        for block in blocks:
            if seen is not None:
                block, duplicates = seen.keep_new(block)
                result.duplicates += duplicates
            if len(result.preview) < PREVIEW_ROWS:
                result.preview += list(_csv_rows(block[: 64 * 1024]))[: PREVIEW_ROWS - len(result.preview)]
            result.rows += block.count(b"\n")
            out.write(block)
        if result.bad.count and spec.on_bad_rows == "fail":
            raise ExportError(f"{spec.name}: {result.bad.summary()}. Nothing was written to {uri}; fix the rows, "
                              f"or set on_bad_rows = \"drop\" for {spec.name} in the mapping.",
                              column=result.bad.first_column, bad=result.bad)
        if result.rows == 0:
            raise ExportError(f"{spec.name}: none of the {result.source_rows} rows of {_source_label(spec)} is "
                              f"left to export ({result.bad.count} bad, "
                              f"{result.dropped_unknown} of unknown users or items)", bad=result.bad)
    return result


def _source_label(spec: DatasetExport) -> str:
    return "its query" if spec.is_query else f"table {spec.source}"


def probe(engine: sa.Engine, spec: DatasetExport) -> dict[str, str] | None:
    """Check the mapping against the database before reading a row; on PostgreSQL, each field's column type.

    A missing table or column raises ExportError naming the dataset and the field.
    """
    with engine.connect() as conn:
        def fails(sql: str) -> str | None:
            try:
                with conn.begin_nested() if conn.in_transaction() else conn.begin():
                    conn.exec_driver_sql(f"SELECT * FROM ({sql}) p WHERE 1 = 0").close()
            except sa.exc.DBAPIError as e:
                return str(e.orig).strip().splitlines()[0]
            return None

        problem = fails(f"SELECT * FROM {spec.from_sql}")
        if problem:
            raise ExportError(f"{spec.name}: {_source_label(spec)} can't be read: {problem}")
        for name, expr in spec.columns.items():
            problem = fails(f"SELECT {expr} AS {name} FROM {spec.from_sql}")
            if problem:
                raise ExportError(f"{spec.name}: column {name} = {expr!r} can't be read from "
                                  f"{_source_label(spec)}: {problem}", column=name)
        problem = fails(spec.export_sql())
        if problem:
            detail = spec.latest_by and f"latest_by = {spec.latest_by!r}" or "the IDs of users and items"
            raise ExportError(f"{spec.name}: the export query fails ({detail}): {problem}")
        if engine.dialect.name != "postgresql" or scalar(engine, "SHOW server_encoding") == "SQL_ASCII":
            return None  # SQL_ASCII passes bytes through unchecked: the row path decodes them
        description = conn.exec_driver_sql(f"SELECT * FROM ({spec.export_sql()}) p WHERE 1 = 0").cursor.description
        types = conn.connection.driver_connection.adapters.types
        names = [getattr(types.get(d.type_code), "name", "") for d in description]
        return dict(zip(spec.columns, names))


def _row_blocks(engine: sa.Engine, spec: DatasetExport, schema: validation.DatasetSchema, latest: int,
                result: ExportResult) -> Iterator[bytes]:
    fields = schema.fields
    millis = [f.name in spec.epoch_milliseconds for f in fields]
    keys = [i for i, f in enumerate(fields) if f.name in _KEY_FIELDS[spec.name]]
    buffer = io.StringIO()
    writer = _writer(buffer)
    for row in stream_rows(engine, spec.export_sql()):
        result.read_rows += 1
        try:
            cells = [format_value(v, f, milliseconds=m, latest=latest) for v, f, m in zip(row, fields, millis)]
        except BadValue:
            column, reason = _first_bad(row, fields, millis, latest)
            result.bad.add(column, reason, ", ".join(f"{fields[i].name}={_show(row[i], 40)}" for i in keys))
            continue
        writer.writerow(cells)
        if buffer.tell() >= BLOCK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def _first_bad(row, fields, millis, latest) -> tuple[str, str]:
    for v, f, m in zip(row, fields, millis):
        try:
            format_value(v, f, milliseconds=m, latest=latest)
        except BadValue as e:
            return f.name, str(e)
    raise AssertionError("no bad value in a row that failed")


_KEY_FIELDS = {"users": ("USER_ID",), "items": ("ITEM_ID",), "interactions": ("USER_ID", "ITEM_ID", "TIMESTAMP")}


def _writer(out: io.TextIOBase):
    # The import reads a backslash as an escape (the docs' rule for quotes in text): write it doubled.
    return csv.writer(out, lineterminator="\n", escapechar="\\")


def _csv_rows(block: bytes) -> Iterator[list[str]]:
    text = block.decode("utf-8", errors="replace")
    yield from csv.reader(io.StringIO(text[: text.rfind("\n") + 1]), escapechar="\\")


class _SeenLines:
    """Exact duplicate lines across the whole export, in 8 bytes a line: a sorted array of line hashes.

    A 64-bit hash collision (about 3 in a million for 10 million lines) would drop one interaction.
    """

    def __init__(self):
        self.hashes = np.empty(0, dtype=np.int64)

    def keep_new(self, block: bytes) -> tuple[bytes, int]:
        lines = block.split(b"\n")[:-1]
        hashes = np.fromiter(map(hash, lines), dtype=np.int64, count=len(lines))
        unique, first = np.unique(hashes, return_index=True)
        at = np.searchsorted(self.hashes, unique)
        new = (at == len(self.hashes)) | (self.hashes[np.minimum(at, len(self.hashes) - 1)] != unique) \
            if len(self.hashes) else np.ones(len(unique), dtype=bool)
        self.hashes = np.insert(self.hashes, at[new], unique[new])
        duplicates = len(lines) - int(new.sum())
        if not duplicates:
            return block, 0
        keep = np.zeros(len(lines), dtype=bool)
        keep[first[new]] = True
        return b"".join(line + b"\n" for line, k in zip(lines, keep) if k), duplicates


# PostgreSQL: the coercion rules above, for the column types whose SQL gives the same cells.
_PG_INTS = {"int2", "int4", "int8"}
_PG_TEXTS = {"text", "varchar", "bpchar", "name"}
_PG_DATETIMES = {"timestamp", "timestamptz", "date"}
_BAD_LINE = re.compile(rb"^[^,\n][^\n]*\n", re.M)


def _compile_postgres(spec: DatasetExport, schema: validation.DatasetSchema, types: dict[str, str],
                      latest: int) -> tuple[list[str], str] | None:
    """Per field, the SQL of its CSV cell, and of the first problem of a row; None if a type isn't covered."""
    cells, problems = [], []
    for f in schema.fields:
        ref, pg = f"x.{f.name}", types[f.name]
        checks: list[tuple[str, str]] = []
        if f.type == "string":
            if pg in _PG_INTS:
                value = cell = f"{ref}::text"
            elif pg in _PG_TEXTS or (pg in {"_text", "_varchar"} and f.categorical):
                value = f"array_to_string({ref}, '|')" if pg.startswith("_") else ref
                length = f"char_length({value})"
                if f.name in validation.ID_FIELDS:
                    checks += [(f"strpos({value}, chr(10)) > 0 OR strpos({value}, chr(13)) > 0",
                                "contains a line break"),
                               (f"{length} > {validation.ID_MAX_CHARS}", f"has more than {validation.ID_MAX_CHARS} "
                                                                         "characters")]
                elif not f.textual:
                    checks.append((f"{length} > {validation.VALUE_MAX_CHARS}",
                                   f"has more than {validation.VALUE_MAX_CHARS} characters"))
                # One record per line; the import reads a backslash as an escape, so it is doubled.
                cell = f"replace(translate({value}, chr(10) || chr(13), '  '), '\\', '\\\\')"
            else:
                return None
            checks.insert(0, (f"{value} IS NULL OR {value} = ''", "is empty or NULL")) if not f.nullable else None
        elif f.type in _INT_RANGES:
            if pg in _PG_INTS:
                value = f"floor({ref} / 1000.0)::bigint" if f.name in spec.epoch_milliseconds else ref
            elif pg in _PG_DATETIMES:
                value = f"floor(extract(epoch FROM {ref}))::bigint"
            else:
                return None
            cell = value
            if not f.nullable:
                checks.append((f"{value} IS NULL", "is empty or NULL"))
            if f.name in validation.EPOCH_SECONDS_FIELDS:
                checks += [(f"{value} > {validation.MILLISECONDS_ABOVE}",
                            f"looks like epoch milliseconds; list {f.name} in epoch_milliseconds"),
                           (f"{value} > {latest}", "is in the future")]
            low, high = _INT_RANGES[f.type]
            checks.append((f"{value} NOT BETWEEN {low} AND {high}", f"is out of range for {f.type}"))
        elif f.type in _FLOAT_MAX and pg in _PG_INTS | {"float8", "numeric"}:
            value = cell = f"NULLIF({ref}::float8, 'NaN')"
            if not f.nullable:
                checks.append((f"{value} IS NULL", "is empty or NULL"))
            checks.append((f"abs({value}) > {_FLOAT_MAX[f.type]!r}", f"is out of range for {f.type}"))
        elif f.type == "boolean" and pg == "bool":
            value = ref
            cell = f"CASE WHEN {ref} THEN 'true' WHEN NOT {ref} THEN 'false' END"
            if not f.nullable:
                checks.append((f"{ref} IS NULL", "is empty or NULL"))
        else:
            return None
        cells.append(cell)
        problems += [(condition, f"{f.name}|{reason}") for condition, reason in checks]
    problem = "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r in problems) + " END" if problems else "NULL"
    return cells, problem


def _copy_blocks(engine: sa.Engine, spec: DatasetExport, schema: validation.DatasetSchema,
                 compiled: tuple[list[str], str], result: ExportResult) -> Iterator[bytes]:
    """Finished CSV lines from COPY; each line starts with the row's problem (empty for a good row)."""
    cells, problem = compiled
    sql = f"SELECT {problem}, {', '.join(cells)} FROM ({spec.export_sql()}) x"
    key_columns = [i for i, f in enumerate(schema.fields) if f.name in _KEY_FIELDS[spec.name]]
    for block in copy_out(engine, sql, BLOCK_BYTES):
        result.read_rows += block.count(b"\n")
        bad_lines = _BAD_LINE.findall(block)
        if bad_lines:
            block = _BAD_LINE.sub(b"", block)
            for row in _csv_rows(b"".join(bad_lines)):
                column, reason = row[0].split("|", 1)
                cells_ = row[1:]
                result.bad.add(column, reason, ", ".join(f"{schema.fields[i].name}={cells_[i]!r}" for i in key_columns))
        # Good lines start with the empty problem cell: drop it.
        yield (b"\n" + block).replace(b"\n,", b"\n")[1:]


# ---------------------------------------------------------------------------------------------
# Reading back what was written, as the import job will.


@dataclass
class CsvCheck:
    error: validation.DataValidationError | None = None
    minimum_data_problems: list[str] = field(default_factory=list)


def check_csv(store: ObjectStore, uri: str, spec: DatasetExport, schema: validation.DatasetSchema,
              chunk_rows: int = 200_000) -> CsvCheck:
    """Validate the written file as the import job will; for interactions also the minimum-data rules.

    Users are kept as small integer codes, so memory grows with the number of users, not of interactions.
    """
    check = CsvCheck()
    users, codes = pd.Index([], dtype=object), []
    try:
        with store.open_read(uri) as f:
            for chunk in validation.read_dataset_csv(f, schema, spec.dataset_type, source=uri, chunksize=chunk_rows):
                if spec.dataset_type == "INTERACTIONS":
                    ids = chunk["USER_ID"]
                    users = users.append(pd.Index(ids.unique()).difference(users))
                    codes.append(users.get_indexer(ids).astype(np.int32))
    except validation.DataValidationError as e:
        check.error = e
        return check
    if spec.dataset_type == "INTERACTIONS":
        user_codes = np.concatenate(codes) if codes else np.empty(0, dtype=np.int32)
        check.minimum_data_problems = validation.minimum_data_problems(pd.DataFrame({"USER_ID": user_codes}))
    return check


def elapsed(started: float) -> float:
    return round(time.monotonic() - started, 2)
