"""Shaping app-database rows into Personalize CSVs, and validating what was written."""

import csv
import io
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from recsys_assets.engine import validation
from recsys_assets.engine.storage import LocalObjectStore
from recsys_assets.export import EXPORTS, ExportError, check_csv, export_csv, format_value, load_schema

F = validation.SchemaField


@pytest.mark.parametrize(("value", "field", "expected"), [
    (123456789012345, F("USER_ID", "string", False), "123456789012345"),  # never 1.2e+14
    ("007", F("ITEM_ID", "string", False), "007"),
    (None, F("AGE", "int", True), ""),
    (datetime(2026, 11, 1, 12, 0, 0), F("TIMESTAMP", "long", False), "1793534400"),  # naive = UTC
    (datetime(2026, 11, 1, 13, 0, 0, tzinfo=timezone.utc), F("TIMESTAMP", "long", False), "1793538000"),
    ("2026-11-01 12:00:00.000000", F("TIMESTAMP", "long", False), "1793534400"),  # SQLite's text datetimes
    (Decimal("19.90"), F("PRICE", "float", False), "19.9"),
    (3, F("CATEGORY_ID", "string", False), "3"),
    (float("nan"), F("EVENT_VALUE", "float", True), ""),
])
def test_format_value(value, field, expected):
    assert format_value(value, field) == expected


def test_schema_files_are_valid_and_compact():
    for spec in EXPORTS.values():
        text, schema = load_schema(spec)
        assert "\n" not in text and schema.field_names[0] in ("USER_ID", "ITEM_ID")


def _export(url, store, name):
    spec = EXPORTS[name]
    _, schema = load_schema(spec)
    uri = f"s3://bucket/run/{name}.csv"
    return export_csv(sa.create_engine(url), spec, schema, store, uri), check_csv(store, uri, spec, schema), uri


def test_exports_validate_and_drop_unknown_users(local_settings, tmp_path):
    url, store = local_settings.database_url, LocalObjectStore(tmp_path / "s3")
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("INSERT INTO events (user_id, item_id, event_type, created_at) "
                             "VALUES (999999, 1, 'view', '2026-10-01 00:00:00')"))
    result, check, uri = _export(url, store, "interactions")
    assert check.error is None and check.minimum_data_problems == []
    assert result.dropped_rows == 1 and result.rows == result.source_rows - 1
    with store.open_text_read(uri) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
    assert len(rows) == result.rows + 1 and all(r[2].isdigit() for r in rows[1:])
    assert "999999" not in {r[0] for r in rows[1:]}
    for name in ("users", "items"):
        _, check, _ = _export(url, store, name)
        assert check.error is None


def test_bad_row_is_named_by_row_and_column(local_settings, tmp_path):
    url, store = local_settings.database_url, LocalObjectStore(tmp_path / "s3")
    with sa.create_engine(url).begin() as conn:
        # An empty cell is a null, and EVENT_TYPE is required: such an event must not reach Personalize.
        conn.execute(sa.text("UPDATE events SET event_type = '' WHERE event_id = "
                             "(SELECT event_id FROM events ORDER BY created_at, event_id LIMIT 1 OFFSET 41)"))
    _, check, _ = _export(url, store, "interactions")
    assert check.error is not None
    assert check.error.column == "EVENT_TYPE" and check.error.row == 43  # header is line 1


def test_too_little_data_fails_minimum_check(local_settings, tmp_path):
    url, store = local_settings.database_url, LocalObjectStore(tmp_path / "s3")
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE event_id > 900"))
    _, check, _ = _export(url, store, "interactions")
    assert check.error is None
    assert any("1000" in p for p in check.minimum_data_problems)


def test_unconvertible_value_names_dataset_row_and_column(local_settings, tmp_path):
    url, store = local_settings.database_url, LocalObjectStore(tmp_path / "s3")
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE users SET age = 'unknown' WHERE user_id = 3"))
    with pytest.raises(ExportError, match=r"users: row 3 of the query, column AGE: 'unknown'"):
        _export(url, store, "users")
