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
import queue
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from recsys_assets.app_database import copy_out, execute, scalar, stream_rows
from recsys_assets.engine import validation
from recsys_assets.engine.storage import ObjectStore
from recsys_assets.mapping import DEFAULT_MAPPING_FILE, ID_FIELDS, DatasetExport, load_mapping

PREVIEW_ROWS = 5
EXAMPLE_ROWS = 5
# A little clock skew between the app's servers and ours is not a future event.
FUTURE_SLACK = timedelta(hours=1)
BLOCK_BYTES = 4 * 1024 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_FLOAT_MAX = {"float": float(np.finfo(np.float32).max), "double": float(np.finfo(np.float64).max)}
_LINE_BREAKS = {ord("\n"): " ", ord("\r"): " "}
# What a bad row is shown by.
_KEY_FIELDS = {"users": ("USER_ID",), "items": ("ITEM_ID",), "interactions": ("USER_ID", "ITEM_ID", "TIMESTAMP")}
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
    """A value its field can't take: ``reason`` completes "<FIELD> ...", the same for every such value."""

    def __init__(self, reason: str, value=None):
        super().__init__(reason if value is None else f"{reason} (got {_show(value)})")
        self.reason = reason


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
            raise BadValue("is empty or NULL")
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
            raise BadValue(f"has more than {validation.ID_MAX_CHARS} characters", f"{len(text)} characters")
        return text
    # Personalize reads one record per line.
    text = text.translate(_LINE_BREAKS)
    if not f.textual and len(text) > validation.VALUE_MAX_CHARS:
        raise BadValue(f"has more than {validation.VALUE_MAX_CHARS} characters", f"{len(text)} characters")
    return text


def _epoch_seconds(value: datetime) -> int:
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # app databases store naive UTC
    return (aware - _EPOCH) // timedelta(seconds=1)


def _decimal(value) -> Decimal:
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise BadValue("is not a number", value) from None
    if not number.is_finite():
        raise BadValue("is not a finite number", value)
    return number


def _integer(value, f: validation.SchemaField, milliseconds: bool, latest: int | None) -> int:
    if isinstance(value, str) and not _NUMERIC.fullmatch(value.strip()):
        try:
            value = datetime.fromisoformat(value.strip())  # SQLite keeps DATETIME columns as ISO text
        except ValueError:
            raise BadValue("is neither a number nor a datetime", value) from None
    if isinstance(value, datetime):
        number = _epoch_seconds(value)
    elif isinstance(value, date):
        number = _epoch_seconds(datetime(value.year, value.month, value.day))
    else:
        if type(value) is int:
            number = value
        else:
            exact = _decimal(int(value) if isinstance(value, bool) else value)
            if exact != exact.to_integral_value():
                raise BadValue("is not a whole number", value)
            number = int(exact)
        if milliseconds:
            number //= 1000
    if f.name in validation.EPOCH_SECONDS_FIELDS:
        if number > validation.MILLISECONDS_ABOVE:
            raise BadValue(f"looks like epoch milliseconds; list {f.name} in epoch_milliseconds", number)
        if latest is not None and number > latest:
            raise BadValue("is in the future", number)
    low, high = _INT_RANGES[f.type]
    if not low <= number <= high:
        raise BadValue(f"is out of range for {f.type}", number)
    return number


_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _float(value, f: validation.SchemaField) -> str:
    number = float(value) if isinstance(value, float) else float(_decimal(value))
    if not math.isfinite(number) or abs(number) > _FLOAT_MAX[f.type]:
        raise BadValue(f"is out of range for {f.type}", value)
    return repr(number)


def _boolean(value) -> str:
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return "true"
    if text in ("false", "0"):
        return "false"
    raise BadValue("is not true or false", value)


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

    def add(self, column: str, reason: str, keys: str, value: str) -> None:
        self.count += 1
        self.reasons[f"{column} {reason}"] += 1
        if self.first_column is None:
            self.first_column = column
        if len(self.examples) < EXAMPLE_ROWS:
            self.examples.append(f"row with {keys}: {column} {reason} (value {value})")

    def summary(self) -> str:
        reasons = "; ".join(f"{n} x {text}" for text, n in self.reasons.most_common(5))
        return f"{self.count} bad rows ({reasons}); first: " + " | ".join(self.examples)


@dataclass
class ExportResult:
    uri: str
    rows: int = 0  # written
    source_rows: int = 0  # in the mapped table or query
    read_rows: int = 0  # returned by the export query (one per ID; only known users and items)
    unknown: int = 0  # interactions of users or items that are not exported
    duplicates: int = 0  # rows sharing an ID (users, items), exact duplicates (interactions)
    bad: BadRows = field(default_factory=BadRows)
    path: str = "rows"  # "copy" on PostgreSQL when every column type compiles
    preview: list[list[str]] = field(default_factory=list)


def export_csv(engine: sa.Engine, spec: DatasetExport, schema: validation.DatasetSchema, store: ObjectStore,
               uri: str, *, now: datetime | None = None) -> ExportResult:
    """Stream the mapped rows into ``uri``; ExportError (and nothing written) when the rows can't be used."""
    latest = _epoch_seconds(now or datetime.now(timezone.utc)) + int(FUTURE_SLACK.total_seconds())
    result = ExportResult(uri=uri)
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
            blocks = _in_background(_copy_blocks(engine, spec, schema, compiled, result))
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
        # The export query keeps one row per ID (users, items), or only known users' and items' (interactions).
        if seen is None:
            result.duplicates = result.source_rows - result.read_rows
        else:
            result.unknown = result.source_rows - result.read_rows
        if result.bad.count and spec.on_bad_rows == "fail":
            raise ExportError(f"{spec.name}: {result.bad.summary()}. Nothing was written to {uri}; fix the rows, "
                              f"or set on_bad_rows = \"drop\" for {spec.name} in the mapping.",
                              column=result.bad.first_column, bad=result.bad)
        if result.rows == 0:
            raise ExportError(f"{spec.name}: none of the {result.source_rows} rows of {_source_label(spec)} is "
                              f"left to export ({result.bad.count} bad, "
                              f"{result.unknown} of unknown users or items, {result.duplicates} duplicates)", bad=result.bad)
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
                with conn.begin():
                    execute(conn, f"SELECT * FROM ({sql}) p WHERE 1 = 0").close()
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
        description = execute(conn, f"SELECT * FROM ({spec.export_sql()}) p WHERE 1 = 0").cursor.description
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
            i, reason = _first_bad(row, fields, millis, latest)
            result.bad.add(fields[i].name, reason, ", ".join(f"{fields[k].name}={_show(row[k], 40)}" for k in keys),
                           _show(row[i]))
            continue
        writer.writerow(cells)
        if buffer.tell() >= BLOCK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def _first_bad(row, fields, millis, latest) -> tuple[int, str]:
    for i, (v, f, m) in enumerate(zip(row, fields, millis)):
        try:
            format_value(v, f, milliseconds=m, latest=latest)
        except BadValue as e:
            return i, e.reason
    raise AssertionError("no bad value in a row that failed")


_END = object()


def _in_background(blocks: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """``blocks``, produced by a thread: the server keeps streaming while this thread works on a block.

    (Without it, COPY and our processing of its output take turns: the socket fills, the server waits.)
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not put(block):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            put(e)
            return
        finally:
            blocks.close()
        put(_END)

    thread = threading.Thread(target=produce, name="export-reader", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


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
# Not char(n) (its padding goes in casts to text) nor categorical text (the row path reads JSON arrays in it).
_PG_TEXTS = {"text", "varchar", "name"}
_PG_DATETIMES = {"timestamp", "timestamptz", "date"}
_BAD_LINE = re.compile(rb"^[^,\n][^\n]*\n", re.M)


@dataclass(frozen=True)
class _CompiledQuery:
    values: list[str]  # per field, its value from the export query's row ``x`` (computed once)
    cells: list[str]  # per field, its CSV cell from the values ``v0``, ``v1``, ...
    problem: str  # the row's first problem as "FIELD|reason", or NULL


def _compile_postgres(spec: DatasetExport, schema: validation.DatasetSchema, types: dict[str, str],
                      latest: int) -> _CompiledQuery | None:
    """format_value's rules as SQL for the column types where PostgreSQL gives the same cells; else None."""
    values, cells, problems = [], [], []
    for i, f in enumerate(schema.fields):
        ref, pg, v = f"x.{f.name}", types[f.name], f"v{i}"
        cell, checks = v, []
        if f.type == "string":
            if pg in _PG_INTS:
                values.append(f"{ref}::text")
                checks.append((f"{v} IS NULL", "is empty or NULL"))
            elif (pg in _PG_TEXTS and not f.categorical) or (pg in {"_text", "_varchar"} and f.categorical):
                values.append(f"array_to_string({ref}, '|')" if pg.startswith("_") else ref)
                checks.append((f"{v} IS NULL OR {v} = ''", "is empty or NULL"))
                if f.name in validation.ID_FIELDS:
                    checks += [(f"strpos({v}, chr(10)) > 0 OR strpos({v}, chr(13)) > 0", "contains a line break"),
                               (f"char_length({v}) > {validation.ID_MAX_CHARS}",
                                f"has more than {validation.ID_MAX_CHARS} characters")]
                elif not f.textual:
                    checks.append((f"char_length({v}) > {validation.VALUE_MAX_CHARS}",
                                   f"has more than {validation.VALUE_MAX_CHARS} characters"))
                # One record per line; the import reads a backslash as an escape, so it is doubled.
                cell = f"replace(translate({v}, chr(10) || chr(13), '  '), '\\', '\\\\')"
            else:
                return None
        elif f.type in _INT_RANGES:
            if pg in _PG_INTS:
                values.append(f"floor({ref} / 1000.0)::bigint" if f.name in spec.epoch_milliseconds else ref)
            elif pg in _PG_DATETIMES:
                # Microseconds fit a double exactly at today's epochs; numeric extract() is several times slower.
                values.append(f"floor(date_part('epoch', {ref}))::bigint")
            else:
                return None
            checks.append((f"{v} IS NULL", "is empty or NULL"))
            if f.name in validation.EPOCH_SECONDS_FIELDS:
                checks += [(f"{v} > {validation.MILLISECONDS_ABOVE}",
                            f"looks like epoch milliseconds; list {f.name} in epoch_milliseconds"),
                           (f"{v} > {latest}", "is in the future")]
            if f.type == "int":
                low, high = _INT_RANGES[f.type]
                checks.append((f"{v} NOT BETWEEN {low} AND {high}", f"is out of range for {f.type}"))
        elif f.type in _FLOAT_MAX and pg in _PG_INTS | {"float8", "numeric"}:
            values.append(f"NULLIF({ref}::float8, 'NaN')")
            checks += [(f"{v} IS NULL", "is empty or NULL"),
                       (f"abs({v}) > {_FLOAT_MAX[f.type]!r}", f"is out of range for {f.type}")]
        elif f.type == "boolean" and pg == "bool":
            values.append(ref)
            cell = f"CASE WHEN {v} THEN 'true' WHEN NOT {v} THEN 'false' END"
            checks.append((f"{v} IS NULL", "is empty or NULL"))
        else:
            return None
        if f.nullable:
            checks = [c for c in checks if c[1] != "is empty or NULL"]
        cells.append(cell)
        problems += [(condition, f"{f.name}|{reason}") for condition, reason in checks]
    problem = "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r in problems) + " END" if problems else "NULL"
    return _CompiledQuery(values, cells, problem)


def _copy_blocks(engine: sa.Engine, spec: DatasetExport, schema: validation.DatasetSchema,
                 compiled: _CompiledQuery, result: ExportResult) -> Iterator[bytes]:
    """Finished CSV lines from COPY; each line starts with the row's problem (empty for a good row)."""
    # OFFSET 0 keeps the inner query whole, so each value is computed once, not once per use.
    values = ", ".join(f"{value} AS v{i}" for i, value in enumerate(compiled.values))
    sql = (f"SELECT {compiled.problem}, {', '.join(compiled.cells)} "
           f"FROM (SELECT {values} FROM ({spec.export_sql()}) x OFFSET 0) y")
    key_columns = [i for i, f in enumerate(schema.fields) if f.name in _KEY_FIELDS[spec.name]]
    for block in copy_out(engine, sql):
        lines = block.count(b"\n")
        result.read_rows += lines
        # Good lines start with the empty problem cell; counting them is much cheaper than looking for the others.
        if block.count(b"\n,") + block.startswith(b",") != lines:
            for row in _csv_rows(b"".join(_BAD_LINE.findall(block))):
                column, reason = row[0].split("|", 1)
                cells = row[1:]
                result.bad.add(column, reason, ", ".join(f"{schema.fields[i].name}={cells[i]!r}" for i in key_columns),
                               _show(cells[schema.field_names.index(column)]))
            block = _BAD_LINE.sub(b"", block)
        yield block[1:].replace(b"\n,", b"\n")  # without the problem cell


# ---------------------------------------------------------------------------------------------
# Reading back what was written, as the import job will.


@dataclass
class CsvCheck:
    error: validation.DataValidationError | None = None
    minimum_data_problems: list[str] = field(default_factory=list)


def check_csv(store: ObjectStore, uri: str, spec: DatasetExport, schema: validation.DatasetSchema,
              chunk_rows: int = 50_000) -> CsvCheck:
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
