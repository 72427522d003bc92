"""A PostgreSQL database in SQL_ASCII (bytes stored unchecked): the demo shop exports through the app
database's engine, a non-UTF-8 byte is a bad row naming the dataset, the column and the row, good text
(non-ASCII included) comes through unchanged, and the write-back stores text IDs."""

import csv
from datetime import datetime

import pytest
import sqlalchemy as sa

from recsys_assets.app_database import replace_table
from recsys_assets.export.csv_export import ExportError, export_csv, load_schema
from recsys_assets.export.mapping import DEFAULT_MAPPING_FILE, load_mapping
from recsys_assets.resources.app_db import _db
from recsys_assets.sample_data import generate
from recsys_assets.storage import LocalObjectStore
from recsys_assets_tests.conftest import SMALL_SHOP, throwaway_database

SQL_ASCII = "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
UTF8_CLIENT = "?client_encoding=utf8"
# Items' CATEGORY_ID made text, three of them given bytes: UTF-8 'café' and '😀', and a lone 0xff.
GOOD = {1: "café", 2: "😀"}
BAD_ITEM = 3
VALUES = {1: r"E'caf\xc3\xa9'", 2: r"E'\xf0\x9f\x98\x80'", BAD_ITEM: r"E'shoes\xff'"}
NOW = datetime(2026, 11, 29, 3, 0)


@pytest.fixture(scope="module")
def sql_ascii_url(tmp_path_factory):
    with throwaway_database("postgresql", tmp_path_factory.mktemp("sql_ascii"), SQL_ASCII) as url:
        # Before the fix, a UTF8 client was the only way to connect at all (valid text is sent as it is).
        generate(url + UTF8_CLIENT, **SMALL_SHOP)
        engine = sa.create_engine(url + UTF8_CLIENT)
        with engine.begin() as conn:
            assert conn.exec_driver_sql("SHOW server_encoding").scalar() == "SQL_ASCII"
            conn.exec_driver_sql("ALTER TABLE items ALTER COLUMN category_id TYPE varchar(64) "
                                 "USING category_id::text")
            for item, value in VALUES.items():
                conn.exec_driver_sql(f"UPDATE items SET category_id = {value} WHERE item_id = {item}")
        engine.dispose()
        yield url


@pytest.fixture(params=["", UTF8_CLIENT], ids=["default", "client_encoding=utf8"])
def engine(request, sql_ascii_url):
    """The app database resource's engine (``AppDatabaseResource.get_db``)."""
    engine = _db(sql_ascii_url + request.param)
    yield engine
    engine.dispose()


def _mapping(tmp_path, policy: str):
    text = DEFAULT_MAPPING_FILE.read_text()
    items = '[items]\ntable = "items"\non_bad_rows = "fail"'
    assert items in text
    path = tmp_path / "mapping.toml"
    path.write_text(text.replace(items, items.replace('"fail"', f'"{policy}"')))
    return load_mapping(path)


def _export(engine, tmp_path, dataset, mapping):
    spec = mapping.datasets[dataset]
    store, uri = LocalObjectStore(tmp_path / "s3"), f"s3://bucket/{dataset}.csv"
    result = export_csv(engine, spec, load_schema(spec)[1], store, uri, now=NOW)
    with store.open_text_read(uri) as f:
        return result, list(csv.reader(f, escapechar="\\"))


def _fails(engine, tmp_path, mapping, dataset="items") -> ExportError:
    spec = mapping.datasets[dataset]
    store = LocalObjectStore(tmp_path / "s3")
    with pytest.raises(ExportError) as caught:
        export_csv(engine, spec, load_schema(spec)[1], store, f"s3://bucket/{dataset}.csv", now=NOW)
    assert store.list("s3://bucket/") == []  # nothing written
    return caught.value


def test_a_non_utf8_byte_fails_the_export_naming_dataset_column_and_row(engine, tmp_path):
    error = _fails(engine, tmp_path, _mapping(tmp_path, "fail"))
    message = str(error)
    assert message.startswith("items: 1 bad rows (1 x CATEGORY_ID is not valid UTF-8 text)")
    assert f"row with ITEM_ID={BAD_ITEM}: CATEGORY_ID is not valid UTF-8 text (value 'shoes\\udcff')" in message
    assert error.column == "CATEGORY_ID" and error.bad.count == 1


def test_drop_leaves_the_row_out_and_good_rows_match_a_utf8_database(engine, tmp_path, small_shop_template):
    mapping = _mapping(tmp_path, "drop")
    reference = sa.create_engine(f"sqlite:///{small_shop_template}")  # the same shop (same seed), in SQLite
    try:
        for dataset in ("users", "items", "interactions"):
            result, rows = _export(engine, tmp_path, dataset, mapping)
            _, expected = _export(reference, tmp_path / "reference", dataset, mapping)
            if dataset == "items":
                assert (result.bad.count, result.rows, result.source_rows) == (1, SMALL_SHOP["items"] - 1,
                                                                               SMALL_SHOP["items"])
                assert result.bad.examples == [f"row with ITEM_ID={BAD_ITEM}: CATEGORY_ID is not valid UTF-8 text "
                                               f"(value 'shoes\\udcff')"]
                expected = [row for row in expected if row[0] != str(BAD_ITEM)]
                for row in expected:
                    if row[0].isdigit() and int(row[0]) in GOOD:
                        row[1] = GOOD[int(row[0])]  # non-ASCII UTF-8 comes through unchanged
            else:
                assert result.bad.count == 0
            assert rows[0] == expected[0] and sorted(rows[1:]) == sorted(expected[1:])
    finally:
        reference.dispose()


def test_write_back_stores_text_ids(engine):
    rows = [(user, 1, item, 0.5, NOW, None) for user, item in (("café", "😀"), ("u-2", "item,2"))]
    try:
        assert replace_table(engine, "recs_sql_ascii", rows) == 2
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT user_id, item_id, octet_length(user_id) FROM recs_sql_ascii "
                                          "ORDER BY rank, user_id").all()
        assert sorted(stored) == [("café", "😀", 5), ("u-2", "item,2", 3)]  # stored as UTF-8
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS recs_sql_ascii")


def test_without_the_resource_engine_a_utf8_client_gets_a_clear_error(sql_ascii_url, tmp_path):
    """A plain engine through client_encoding=utf8: the server refuses the result at the bad byte."""
    engine = sa.create_engine(sql_ascii_url + UTF8_CLIENT)
    try:
        message = str(_fails(engine, tmp_path, _mapping(tmp_path, "fail")))
    finally:
        engine.dispose()
    assert message.startswith("items: table items holds text the database refuses to send in the connection's "
                              "client encoding")
    assert "0xff" in message and "client_encoding" in message and "s3://bucket/items.csv" in message


def test_non_ascii_sql_in_the_mapping_is_named(engine, tmp_path):
    path = tmp_path / "mapping.toml"
    path.write_text(DEFAULT_MAPPING_FILE.read_text().replace(
        '[items]\ntable = "items"', "[items]\nquery = \"SELECT * FROM items WHERE category_id <> 'ü'\""))
    message = str(_fails(engine, tmp_path, load_mapping(path)))
    assert message.startswith("items: its query can't be read: its SQL has a character")
    assert "'ü'" in message and "byte escapes" in message
