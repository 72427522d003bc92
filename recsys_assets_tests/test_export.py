"""A company's own tables, through a mapping file, into Personalize CSVs: coercion, dedupe, bad input.

The database tests run on SQLite, PostgreSQL and MariaDB (the ``database_url`` fixture).
"""

import csv
from datetime import datetime, timezone
from decimal import Decimal

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from recsys_assets.export import csv_export
from recsys_assets.export.coercion import BadValue, format_value
from recsys_assets.export.csv_export import ExportError, export_csv, load_schema
from recsys_assets.export.mapping import load_mapping
from recsys_assets.export.readback import check_csv
from recsys_assets.personalize_rules.schemas import SchemaField as F
from recsys_assets.storage import LocalObjectStore, S3ObjectStore
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
LATEST = int(NOW.timestamp())


@pytest.mark.parametrize(("value", "field", "options", "expected"), [
    (9007199254740993, F("USER_ID", "string", False), {}, "9007199254740993"),  # beyond float precision
    ("007", F("ITEM_ID", "string", False), {}, "007"),
    (Decimal("12"), F("ITEM_ID", "string", False), {}, "12"),
    (3.0, F("CATEGORY_ID", "string", False, categorical=True), {}, "3"),
    (["shoes", None, "red"], F("CATEGORY_ID", "string", False, categorical=True), {}, "shoes|red"),
    ('["shoes", "red"]', F("CATEGORY_ID", "string", False, categorical=True), {}, "shoes|red"),
    ("line one\nline two", F("DESCRIPTION", "string", True), {}, "line one line two"),
    (None, F("AGE", "int", True), {}, ""),
    (" 41 ", F("AGE", "int", True), {}, "41"),
    (datetime(2026, 11, 1, 12, 0, 0), F("TIMESTAMP", "long", False), {}, "1793534400"),  # naive = UTC
    (datetime(2026, 11, 1, 13, 0, 0, tzinfo=timezone.utc), F("TIMESTAMP", "long", False), {}, "1793538000"),
    ("2026-11-01 12:00:00.000000", F("TIMESTAMP", "long", False), {}, "1793534400"),  # SQLite's text datetimes
    (1793534400999, F("TIMESTAMP", "long", False), {"milliseconds": True}, "1793534400"),
    (Decimal("19.90"), F("PRICE", "float", False), {}, "19.9"),
    ("1e2", F("PRICE", "float", False), {}, "100.0"),
    (float("nan"), F("EVENT_VALUE", "float", True), {}, ""),
    (1, F("PREMIUM", "boolean", False), {}, "true"),
])
def test_format_value(value, field, options, expected):
    assert format_value(value, field, **options) == expected


@pytest.mark.parametrize(("value", "field", "options", "reason"), [
    (None, F("USER_ID", "string", False), {}, "is empty or NULL"),
    ("", F("EVENT_TYPE", "string", False), {}, "is empty or NULL"),
    ("u" * 257, F("USER_ID", "string", False), {}, "has more than 256 characters"),
    ("a\nb", F("ITEM_ID", "string", False), {}, "contains a line break"),
    (b"caf\xe9", F("OS_DEVICE", "string", True), {}, "is not valid UTF-8 text"),
    ("caf\udce9", F("OS_DEVICE", "string", True), {}, "is not valid UTF-8 text"),  # as SQLite's reader leaves it
    (["a"], F("OS_DEVICE", "string", True), {}, "is a list, but only categorical fields take lists"),
    (1793534400999, F("TIMESTAMP", "long", False), {}, "looks like epoch milliseconds; list TIMESTAMP in "
                                                        "epoch_milliseconds"),
    (LATEST + 7200, F("TIMESTAMP", "long", False), {"latest": LATEST}, "is in the future"),
    ("unknown", F("AGE", "int", True), {}, "is neither a number nor a datetime"),
    (2**31, F("AGE", "int", True), {}, "is out of range for int"),
    ("12.5", F("AGE", "int", True), {}, "is not a whole number"),
    (float("inf"), F("PRICE", "float", False), {}, "is out of range for float"),
])
def test_format_value_refuses(value, field, options, reason):
    with pytest.raises(BadValue) as caught:
        format_value(value, field, **options)
    assert caught.value.reason == reason


# A shop whose tables, column names and types are not the schema's.
MAPPING = """
users_to_score = "SELECT cust_no FROM customers"

[users]
table = "customers"
latest_by = "updated_at"
on_bad_rows = "{policy}"
[users.columns]
USER_ID = "cust_no"
AGE = "{age}"
OS_DEVICE = "device"

[items]
query = "SELECT sku AS ITEM_ID, cats AS CATEGORY_ID, price_text AS PRICE FROM {products}"
on_bad_rows = "{policy}"

[interactions]
table = "clicks"
on_bad_rows = "{policy}"
{millis}
[interactions.columns]
USER_ID = "cust_no"
ITEM_ID = "sku"
TIMESTAMP = "ts_ms"
EVENT_TYPE = "kind"
EVENT_VALUE = "amount"
"""
BIG = 9007199254740993
T0 = 1785715984123  # epoch milliseconds
meta = sa.MetaData()
customers = sa.Table("customers", meta, sa.Column("cust_no", sa.BigInteger), sa.Column("age_text", sa.String(10)),
                     sa.Column("device", sa.String(50)), sa.Column("updated_at", sa.DateTime))
products = sa.Table("products", meta, sa.Column("sku", sa.String(300)), sa.Column("cats", sa.String(200)),
                    sa.Column("price_text", sa.String(20)))
clicks = sa.Table("clicks", meta, sa.Column("click_id", sa.Integer, primary_key=True, autoincrement=False),
                  sa.Column("cust_no", sa.BigInteger), sa.Column("sku", sa.String(300)), sa.Column("ts_ms", sa.BigInteger),
                  sa.Column("kind", sa.String(20)), sa.Column("amount", sa.Numeric(10, 2)))
USERS = [(BIG, "41", "ios", datetime(2026, 1, 1)), (BIG, "42", "android", datetime(2026, 2, 1)),
         (2, None, 'web, "beta"', datetime(2026, 1, 1)), (3, "17", "Ünïcødé 設備", datetime(2026, 1, 1))]
ITEMS = [("sku,1", '["shoes", "red"]', "19.90"), ('sku "2"', "plain", "5"), ("sku\\3", "x", "1e2")]
EVENTS = [(BIG, "sku,1", T0, "view", Decimal("1.50")), (BIG, "sku,1", T0, "view", Decimal("1.50")),
          (2, 'sku "2"', T0 + 5000, "purchase", None), (3, "sku\\3", T0 + 9000, "click", Decimal("0")),
          (999, "sku,1", T0, "view", None), (2, "no such item", T0, "view", None)]


@pytest.fixture
def engine(database_url):
    engine = sa.create_engine(database_url)
    yield engine
    meta.drop_all(engine)
    engine.dispose()


def _fill(engine, users=USERS, items=ITEMS, events=EVENTS):
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        for table, rows in ((customers, users), (products, items), (clicks, events)):
            if rows:
                columns = [c.name for c in table.columns if c.name != "click_id"]
                values = [dict(zip(columns, r)) for r in rows]
                if table is clicks:
                    values = [{**v, "click_id": n} for n, v in enumerate(values)]
                conn.execute(table.insert(), values)


def _mapping(tmp_path, policy="fail", millis=True, age="age_text", products_table="products"):
    path = tmp_path / "shop.toml"
    path.write_text(MAPPING.format(policy=policy, age=age, products=products_table,
                                   millis='epoch_milliseconds = ["TIMESTAMP"]' if millis else ""))
    return load_mapping(path)


def _export(engine, tmp_path, dataset, mapping=None):
    spec = (mapping or _mapping(tmp_path)).datasets[dataset]
    _, schema = load_schema(spec)
    store, uri = LocalObjectStore(tmp_path / "s3"), f"s3://bucket/run/{dataset}.csv"
    result = export_csv(engine, spec, schema, store, uri, now=NOW)
    assert check_csv(store, uri, spec, schema).error is None  # as the import job reads it
    with store.open_text_read(uri) as f:
        rows = list(csv.reader(f, escapechar="\\"))
    return result, rows


def test_mapped_tables_export_coerced_deduplicated_and_quoted(engine, tmp_path):
    _fill(engine)
    users, rows = _export(engine, tmp_path, "users")
    assert rows[0] == ["USER_ID", "AGE", "OS_DEVICE"]
    # The later of the two rows of user BIG wins (latest_by); quotes, commas and non-ASCII survive.
    assert sorted(rows[1:]) == [["2", "", 'web, "beta"'], ["3", "17", "Ünïcødé 設備"], [str(BIG), "42", "android"]]
    assert (users.source_rows, users.rows, users.duplicates) == (4, 3, 1)

    items, rows = _export(engine, tmp_path, "items")
    assert sorted(rows[1:]) == [['sku "2"', "plain", "5.0"], ["sku,1", "shoes|red", "19.9"], ["sku\\3", "x", "100.0"]]

    events, rows = _export(engine, tmp_path, "interactions")
    parsed = sorted((r[0], r[1], int(r[2]), r[3], float(r[4]) if r[4] else None) for r in rows[1:])
    assert parsed == sorted([("2", 'sku "2"', (T0 + 5000) // 1000, "purchase", None),
                             ("3", "sku\\3", (T0 + 9000) // 1000, "click", 0.0),
                             (str(BIG), "sku,1", T0 // 1000, "view", 1.5)])
    assert (events.source_rows, events.unknown, events.duplicates, events.rows) == (6, 2, 1, 3)
    # PostgreSQL streams interactions through COPY, the coercion compiled into the query.
    assert events.path == ("copy" if engine.dialect.name == "postgresql" else "rows")


@pytest.fixture
def postgres(database_url):
    engine = sa.create_engine(database_url)
    yield engine
    meta.drop_all(engine)
    engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the COPY path is PostgreSQL's
def test_copy_path_matches_row_path(postgres, tmp_path, monkeypatch):
    """The SQL the COPY path compiles gives the same cells, and refuses the same rows, as format_value."""
    events = EVENTS + [(2, None, T0, "view", None), (3, "x" * 300, T0, "view", None),
                       (2, 'sku "2"', (LATEST + 7200) * 1000, "view", None),
                       (3, "sku\\3", T0, "line\nbreak", Decimal("2.25"))]
    _fill(postgres, items=ITEMS + [(None, "x", "1"), ("x" * 300, "x", "1"), ("no such item", "x", "1")], events=events)
    mapping = _mapping(tmp_path, policy="drop")
    by_copy, copy_rows = _export(postgres, tmp_path, "interactions", mapping)
    monkeypatch.setattr(csv_export, "compile_postgres", lambda *args: None)
    by_rows, row_rows = _export(postgres, tmp_path, "interactions", mapping)
    assert (by_copy.path, by_rows.path) == ("copy", "rows")
    normal = sorted((r[0], r[1], r[2], r[3], float(r[4]) if r[4] else None) for r in copy_rows[1:])
    assert normal == sorted((r[0], r[1], r[2], r[3], float(r[4]) if r[4] else None) for r in row_rows[1:])
    assert ("3", "sku\\3", str(T0 // 1000), "line break", 2.25) in normal
    # A NULL item is a bad row, not an unknown item.
    assert by_copy.bad.reasons == by_rows.bad.reasons == {
        "ITEM_ID has more than 256 characters": 1, "TIMESTAMP is in the future": 1, "ITEM_ID is empty or NULL": 1}
    assert by_copy.unknown == by_rows.unknown == 1  # user 999 (this test makes "no such item" an item)


def test_bad_rows_fail_with_examples_and_nothing_written(engine, tmp_path):
    _fill(engine, events=EVENTS + [(2, "sku,1", (LATEST + 7200) * 1000, "view", None)])
    spec = _mapping(tmp_path).datasets["interactions"]
    store = LocalObjectStore(tmp_path / "s3")
    with pytest.raises(ExportError) as caught:
        export_csv(engine, spec, load_schema(spec)[1], store, "s3://bucket/run/interactions.csv", now=NOW)
    message = str(caught.value)
    assert message.startswith("interactions: 1 bad rows") and "TIMESTAMP is in the future" in message
    assert "row with USER_ID=" in message and "s3://bucket/run/interactions.csv" in message
    assert caught.value.column == "TIMESTAMP" and caught.value.bad.count == 1
    assert store.list("s3://bucket/") == []


@pytest.mark.parametrize("column", ["USER_ID", "ITEM_ID"])
def test_an_event_with_a_null_id_is_a_bad_row_not_an_unknown_one(engine, tmp_path, column):
    event = (None, "sku,1", T0, "view", None) if column == "USER_ID" else (2, None, T0, "view", None)
    _fill(engine, events=EVENTS + [event])
    error = _fails(engine, tmp_path, "interactions")
    assert f"1 x {column} is empty or NULL" in str(error) and error.column == column
    result, _ = _export(engine, tmp_path, "interactions", _mapping(tmp_path, policy="drop"))
    assert (result.bad.count, result.unknown) == (1, 2)  # the two unknown are user 999 and "no such item"


def test_drop_policy_leaves_bad_rows_out_and_reports_them(engine, tmp_path):
    _fill(engine, users=USERS + [(4, "x" * 5, "ios", datetime(2026, 1, 1))])
    result, rows = _export(engine, tmp_path, "users", _mapping(tmp_path, policy="drop"))
    assert result.bad.count == 1 and result.rows == len(rows) - 1 == 3
    assert result.bad.examples == ["row with USER_ID=4: AGE is neither a number nor a datetime (value 'xxxxx')"]


def _fails(engine, tmp_path, dataset, mapping=None) -> ExportError:
    spec = (mapping or _mapping(tmp_path)).datasets[dataset]
    store = LocalObjectStore(tmp_path / "s3")
    with pytest.raises(ExportError) as caught:
        export_csv(engine, spec, load_schema(spec)[1], store, f"s3://bucket/run/{dataset}.csv", now=NOW)
    assert store.list("s3://bucket/") == []  # nothing uploaded
    return caught.value


@pytest.mark.parametrize(("case", "dataset", "expected"), [
    ("empty table", "interactions", "interactions: table clicks has no rows"),
    ("NULL ID", "users", "users: 1 bad rows (1 x USER_ID is empty or NULL); first: row with USER_ID=None"),
    ("long ID", "items", "items: 1 bad rows (1 x ITEM_ID has more than 256 characters)"),
    ("milliseconds", "interactions", "TIMESTAMP looks like epoch milliseconds; list TIMESTAMP in epoch_milliseconds"),
    ("future", "interactions", "TIMESTAMP is in the future"),
    ("missing column", "users", "users: column AGE = 'age_years' can't be read from table customers"),
    ("missing table", "items", "items: its query can't be read"),
])
def test_bad_input_is_named_before_anything_is_uploaded(engine, tmp_path, case, dataset, expected):
    users, items, events, options = USERS, ITEMS, EVENTS, {}
    if case == "empty table":
        events = []
    elif case == "NULL ID":
        users = USERS + [(None, "30", "ios", datetime(2026, 1, 1))]
    elif case == "long ID":
        items = ITEMS + [("s" * 257, "x", "1")]
    elif case == "milliseconds":
        options["millis"] = False
    elif case == "future":
        events = EVENTS + [(2, "sku,1", (LATEST + 7200) * 1000, "view", None)]
    elif case == "missing column":
        options["age"] = "age_years"
    else:
        options["products_table"] = "productz"
    _fill(engine, users=users, items=items, events=events)
    error = _fails(engine, tmp_path, dataset, _mapping(tmp_path, **options))
    assert expected in str(error)
    if case == "missing column":
        assert error.column == "AGE"


def test_non_utf8_text_is_a_bad_row(engine, tmp_path):
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE customers"))
        conn.execute(sa.text("CREATE TABLE customers (cust_no BIGINT, age_text VARCHAR(10), device "
                             f"{'BYTEA' if engine.dialect.name == 'postgresql' else 'VARBINARY(50)'}, "
                             "updated_at DATE)"))
        conn.execute(sa.text("INSERT INTO customers VALUES (:c, '30', :d, NULL)"), [
            {"c": 1, "d": "ios".encode()}, {"c": 2, "d": "caf\xe9".encode("latin-1")}])
    error = _fails(engine, tmp_path, "users")
    assert "OS_DEVICE is not valid UTF-8 text" in str(error) and "USER_ID=2" in str(error)


def test_sqlite_text_with_undecodable_bytes_is_a_bad_row(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE customers SET device = CAST(X'6361FF' AS TEXT) WHERE cust_no = 3"))
    error = _fails(engine, tmp_path, "users")
    assert "OS_DEVICE is not valid UTF-8 text" in str(error) and "USER_ID=3" in str(error)


def test_too_little_data_fails_minimum_check(local_settings, tmp_path):
    url, store = local_settings.database_url, LocalObjectStore(tmp_path / "s3")
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE event_id > 900"))
    spec = load_mapping().datasets["interactions"]
    schema = load_schema(spec)[1]
    export_csv(sa.create_engine(url), spec, schema, store, "s3://b/i.csv")
    check = check_csv(store, "s3://b/i.csv", spec, schema, chunk_rows=100)
    assert check.error is None and any("(found 900)" in p for p in check.minimum_data_problems)


def test_demo_mapping_and_schema_files_are_valid():
    for spec in load_mapping().datasets.values():
        text, schema = load_schema(spec)
        assert "\n" not in text and list(spec.columns) == schema.field_names


@mock_aws
def test_large_exports_upload_to_s3_in_parts(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    _fill(engine, users=[(n, "30", f"{n:0500d}", datetime(2026, 1, 1)) for n in range(20_000)])  # 10 MB
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="shop")
    parts = []
    client.meta.events.register("before-call.s3.UploadPart", lambda **kwargs: parts.append(1))
    spec = _mapping(tmp_path).datasets["users"]
    result = export_csv(engine, spec, load_schema(spec)[1], S3ObjectStore(client), "s3://shop/run/users.csv", now=NOW)
    size = client.head_object(Bucket="shop", Key="run/users.csv")["ContentLength"]
    assert result.rows == 20_000 and size > 8 * 1024 * 1024 and len(parts) == 2  # boto3's 8 MB parts
