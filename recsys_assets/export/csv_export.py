"""App-database rows streamed into Personalize's bulk CSVs, as a mapping file describes (``mapping``).

Each database value becomes its schema field's CSV cell under one rule set (``coercion``); rows it refuses
are counted and shown, then fail the export or are left out (``on_bad_rows``). Rows stream from the
database into the object store in blocks, so memory stays flat however large the table. On PostgreSQL the
same rules, for the common column types, are rendered as SQL (``postgres``) and the rows arrive through
``COPY ... TO STDOUT`` as finished CSV; any other type takes the row-by-row path.
"""

from __future__ import annotations

import io
import json
import queue
import threading
from datetime import datetime, timedelta, timezone
from typing import Iterator

import numpy as np
import sqlalchemy as sa

from recsys_assets.app_database import execute, scalar, stream_rows
from recsys_assets.export.coercion import BadValue, epoch_seconds, format_value, show
from recsys_assets.export.mapping import ID_FIELDS, DatasetExport
from recsys_assets.export.postgres import compile_postgres, copy_blocks
from recsys_assets.export.rows import KEY_FIELDS, ExportError, ExportResult, csv_rows, csv_writer
from recsys_assets.personalize_rules.schemas import (
    DatasetSchema,
    SchemaValidationError,
    check_schema_for_dataset_type,
    parse_schema,
)
from recsys_assets.storage import ObjectStore

PREVIEW_ROWS = 5
# A little clock skew between the app's servers and ours is not a future event.
FUTURE_SLACK = timedelta(hours=1)
BLOCK_BYTES = 4 * 1024 * 1024


def load_schema(spec: DatasetExport) -> tuple[str, DatasetSchema]:
    """The schema file's text and its parsed form; SchemaValidationError names the file and field."""
    text = spec.schema_path.read_text()
    try:
        schema = parse_schema(text)
        check_schema_for_dataset_type(schema, spec.dataset_type)
    except SchemaValidationError as e:
        raise SchemaValidationError(f"{spec.schema_path.name}: {e}") from None
    # Send the schema compactly: CreateSchema takes at most 20,000 characters.
    return json.dumps(json.loads(text), separators=(",", ":")), schema


def export_csv(db: sa.Engine, spec: DatasetExport, schema: DatasetSchema, store: ObjectStore,
               uri: str, *, now: datetime | None = None) -> ExportResult:
    """Stream the mapped rows into ``uri``; ExportError (and nothing written) when the rows can't be used."""
    latest = epoch_seconds(now or datetime.now(timezone.utc)) + int(FUTURE_SLACK.total_seconds())
    result = ExportResult(uri=uri)
    types = probe(db, spec)
    result.source_rows = int(scalar(db, spec.count_sql()))
    if result.source_rows == 0:
        raise ExportError(f"{spec.name}: {_source_label(spec)} has no rows; Personalize needs data in every dataset")
    compiled = compile_postgres(spec, schema, types, latest) if types is not None else None
    seen = _SeenLines() if spec.name not in ID_FIELDS else None
    with store.open_write(uri) as out:
        out.write((",".join(schema.field_names) + "\n").encode())
        if compiled is not None:
            result.path = "copy"
            blocks = _in_background(copy_blocks(db, spec, schema, compiled, result))
        else:
            blocks = _row_blocks(db, spec, schema, latest, result)
        try:
            for block in blocks:
                if seen is not None:
                    block, duplicates = seen.keep_new(block)
                    result.duplicates += duplicates
                if len(result.preview) < PREVIEW_ROWS:
                    result.preview += list(csv_rows(block[: 64 * 1024]))[: PREVIEW_ROWS - len(result.preview)]
                result.rows += block.count(b"\n")
                out.write(block)
        except sa.exc.DBAPIError as e:
            if getattr(e.orig, "sqlstate", None) not in _ENCODING_REFUSALS:
                raise
            raise ExportError(f"{spec.name}: {_source_label(spec)} holds text the database refuses to send in the "
                              f"connection's client encoding, so the row can't be named "
                              f"({str(e.orig).strip().splitlines()[0]}). {_ENCODING_ADVICE}. Nothing was written "
                              f"to {uri}.") from None
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


# character_not_in_repertoire, untranslatable_character: text the server won't send in the client encoding
# (an SQL_ASCII database's invalid bytes under UTF8, an emoji under LATIN1), a whole result refused at once.
_ENCODING_REFUSALS = {"22021", "22P05"}
_ENCODING_ADVICE = ("Leave client_encoding out of the database URL or set it to UTF8 (an SQL_ASCII database's "
                    "text is then read as UTF-8 through the app database resource, and undecodable values are "
                    "reported as bad rows with their keys), or fix the text in the database")


def _source_label(spec: DatasetExport) -> str:
    return "its query" if spec.is_query else f"table {spec.source}"


def probe(db: sa.Engine, spec: DatasetExport) -> dict[str, str] | None:
    """Check the mapping against the database before reading a row; on PostgreSQL, each field's column type.

    A missing table or column raises ExportError naming the dataset and the field.
    """
    with db.connect() as conn:
        def fails(sql: str) -> str | None:
            try:
                with conn.begin():
                    execute(conn, f"SELECT * FROM ({sql}) p WHERE 1 = 0").close()
            except sa.exc.DBAPIError as e:
                return str(e.orig).strip().splitlines()[0]
            except UnicodeEncodeError as e:  # psycopg sends SQL in the client encoding: ASCII on SQL_ASCII
                return (f"its SQL has a character the connection's client encoding ({e.encoding}) can't send: "
                        f"{e.object[e.start:e.end]!r}; on an SQL_ASCII database write non-ASCII text in SQL "
                        f"as byte escapes (E'caf\\xc3\\xa9')")
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
        if db.dialect.name != "postgresql" or scalar(db, "SHOW server_encoding") == "SQL_ASCII":
            return None  # SQL_ASCII passes bytes through unchecked: the row path decodes them
        description = execute(conn, f"SELECT * FROM ({spec.export_sql()}) p WHERE 1 = 0").cursor.description
        types = conn.connection.driver_connection.adapters.types
        names = [getattr(types.get(d.type_code), "name", "") for d in description]
        return dict(zip(spec.columns, names))


def _row_blocks(db: sa.Engine, spec: DatasetExport, schema: DatasetSchema, latest: int,
                result: ExportResult) -> Iterator[bytes]:
    fields = schema.fields
    millis = [f.name in spec.epoch_milliseconds for f in fields]
    keys = [i for i, f in enumerate(fields) if f.name in KEY_FIELDS[spec.name]]
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    for row in stream_rows(db, spec.export_sql()):
        result.read_rows += 1
        try:
            cells = [format_value(v, f, milliseconds=m, latest=latest) for v, f, m in zip(row, fields, millis)]
        except BadValue:
            i, reason = _first_bad(row, fields, millis, latest)
            result.bad.add(fields[i].name, reason, ", ".join(f"{fields[k].name}={show(row[k], 40)}" for k in keys),
                           show(row[i]))
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
