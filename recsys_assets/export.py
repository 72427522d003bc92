"""App-database rows shaped into Personalize's bulk CSVs, driven by the Avro schemas in ``schemas/``.

Rows stream from the database and into the object store; the written file is then read back through
the engine's own CSV validation, so what we check is byte for byte what Personalize will import.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from recsys_assets.app_database import scalar, stream_rows
from recsys_assets.engine import validation
from recsys_assets.engine.storage import ObjectStore

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
PREVIEW_ROWS = 5


@dataclass(frozen=True)
class DatasetExport:
    name: str  # users | items | interactions
    dataset_type: str
    # Selects the schema's fields, in schema order, from the demo shop's tables.
    query: str
    # Counts the source rows, so rows the query leaves out (unknown users or items) are reported.
    source_count_query: str

    @property
    def schema_path(self) -> Path:
        return SCHEMAS_DIR / f"{self.name}.json"


EXPORTS = {
    e.name: e
    for e in (
        DatasetExport("users", "USERS", "SELECT user_id, age, os_device FROM users ORDER BY user_id",
                      "SELECT COUNT(*) FROM users"),
        DatasetExport("items", "ITEMS", "SELECT item_id, category_id, price FROM items ORDER BY item_id",
                      "SELECT COUNT(*) FROM items"),
        # Only interactions of users and items Personalize will also know about.
        DatasetExport(
            "interactions", "INTERACTIONS",
            "SELECT e.user_id, e.item_id, e.created_at, e.event_type, e.event_value FROM events e"
            " JOIN users u ON u.user_id = e.user_id JOIN items i ON i.item_id = e.item_id"
            " ORDER BY e.created_at, e.event_id",
            "SELECT COUNT(*) FROM events",
        ),
    )
}

BATCH_USERS_QUERY = "SELECT user_id FROM users ORDER BY user_id"


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


class ExportError(ValueError):
    """A database value that can't become its schema field's type; names dataset, row and column."""


def format_value(value, field_: validation.SchemaField) -> str:
    """One CSV cell as Personalize reads it: IDs as exact strings, TIMESTAMPs in epoch seconds."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if field_.type in ("int", "long"):
        if isinstance(value, str):
            # SQLite returns DATETIME columns of raw queries as ISO text.
            value = int(value) if value.lstrip("-").isdigit() else datetime.fromisoformat(value)
        if isinstance(value, datetime):
            # App databases store naive UTC; epoch seconds are what Personalize wants.
            aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            return str(int(aware.timestamp()))
        return str(int(value))
    if field_.type in ("float", "double"):
        return repr(float(value))
    if field_.type == "boolean":
        return "true" if value else "false"
    return str(value)


@dataclass
class ExportResult:
    uri: str
    rows: int
    source_rows: int
    preview: list[list[str]] = field(default_factory=list)

    @property
    def dropped_rows(self) -> int:
        return self.source_rows - self.rows


def export_csv(engine: sa.Engine, spec: DatasetExport, schema: validation.DatasetSchema, store: ObjectStore,
               uri: str) -> ExportResult:
    result = ExportResult(uri=uri, rows=0, source_rows=int(scalar(engine, spec.source_count_query)))
    with store.open_text_write(uri) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(schema.field_names)
        for row in stream_rows(engine, spec.query):
            try:
                cells = [format_value(v, f) for v, f in zip(row, schema.fields)]
            except (TypeError, ValueError):
                bad = next(f for v, f in zip(row, schema.fields) if not _formats(v, f))
                value = row[schema.fields.index(bad)]
                raise ExportError(f"{spec.name}: row {result.rows + 1} of the query, column {bad.name}: "
                                  f"{value!r} is not a valid {bad.type}") from None
            writer.writerow(cells)
            result.rows += 1
            if len(result.preview) < PREVIEW_ROWS:
                result.preview.append(cells)
    return result


def _formats(value, field_: validation.SchemaField) -> bool:
    try:
        format_value(value, field_)
        return True
    except (TypeError, ValueError):
        return False


@dataclass
class CsvCheck:
    error: validation.DataValidationError | None = None
    minimum_data_problems: list[str] = field(default_factory=list)


def check_csv(store: ObjectStore, uri: str, spec: DatasetExport, schema: validation.DatasetSchema,
              chunk_rows: int = 200_000) -> CsvCheck:
    """Validate the written file as the import job will; for interactions also the minimum-data rules."""
    check = CsvCheck()
    user_ids = []
    try:
        with store.open_read(uri) as f:
            for chunk in validation.read_dataset_csv(f, schema, spec.dataset_type, source=uri, chunksize=chunk_rows):
                if spec.dataset_type == "INTERACTIONS":
                    user_ids.append(chunk["USER_ID"])
    except validation.DataValidationError as e:
        check.error = e
        return check
    if spec.dataset_type == "INTERACTIONS":
        users = pd.concat(user_ids, ignore_index=True) if user_ids else pd.Series([], dtype=object)
        check.minimum_data_problems = validation.minimum_data_problems(pd.DataFrame({"USER_ID": users}))
    return check
