"""The write-back's user_id and item_id in the type of the mapped ID columns, so they join with the app's tables.

On SQLite, PostgreSQL and MariaDB (``database_url``): integer keys stay integers (PostgreSQL refuses
``integer = text``), text keys stay text, an ID that does not convert fails the write and keeps yesterday's table.
"""

import json
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa

from recsys_assets.resources import build_resources
from recsys_assets_tests.conftest import engine_dropping, with_fields
from recsys_assets_tests.test_serving import batch_line, write_back

TABLES = ("wbt_users", "wbt_items", "wbt_recs", "wbt_recs_wide")
CONFIG = {"table": "wbt_recs", "wide_table": "wbt_recs_wide", "form": "both"}
# A BIGINT beyond int4: PostgreSQL's binary COPY must write it as int8.
BIG = 5_000_000_000
MAPPING = """
[users]
table = "wbt_users"
[users.columns]
USER_ID = "{user_id}"
AGE = "NULL"
OS_DEVICE = "NULL"

[items]
{items_source}
[items.columns]
ITEM_ID = "{item_id}"
CATEGORY_ID = "NULL"
PRICE = "NULL"

[interactions]
table = "wbt_events"
[interactions.columns]
USER_ID = "user_id"
ITEM_ID = "item_id"
TIMESTAMP = "created_at"
EVENT_TYPE = "event_type"
EVENT_VALUE = "NULL"
"""
JOIN = ("SELECT u.name, r.rank, i.title FROM wbt_recs r JOIN wbt_users u ON u.user_id = r.user_id "
        "JOIN wbt_items i ON i.item_id = r.item_id ORDER BY u.name, r.rank")


@pytest.fixture
def engine(database_url):
    with engine_dropping(database_url, TABLES) as engine:
        yield engine


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _app(engine, tmp_path, user_type, item_type, users, items, user_id="user_id", item_id="item_id",
         items_source='table = "wbt_items"'):
    """The app's users and items (ID, name) keyed by the given types; the resources, with a mapping onto them."""
    meta = sa.MetaData()
    wbt_users = sa.Table("wbt_users", meta, sa.Column("user_id", user_type, primary_key=True, autoincrement=False),
                         sa.Column("name", sa.String(60)))
    wbt_items = sa.Table("wbt_items", meta, sa.Column("item_id", item_type, primary_key=True, autoincrement=False),
                         sa.Column("title", sa.String(60)))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(wbt_users.insert(), [{"user_id": k, "name": f"user {k}"} for k in users])
        conn.execute(wbt_items.insert(), [{"item_id": k, "title": f"item {k}"} for k in items])
    mapping = tmp_path / "app.toml"
    mapping.write_text(MAPPING.format(user_id=user_id, item_id=item_id, items_source=items_source))
    root = tmp_path / ".recsys"
    root.mkdir(exist_ok=True)
    resources = build_resources({"RECSYS_LOCAL_ROOT": str(root)})
    resources["app_db"] = with_fields(resources["app_db"], url=engine.url.render_as_string(hide_password=False),
                                      mapping_file=str(mapping))
    return resources


def _types(engine, table):
    return {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(table)}


def _meta(result):
    return {k: v.value for k, v in result.asset_materializations_for_node("recommendations_table")[0].metadata.items()}


def _lines(users, items, per_user=2):
    """Each user's ``per_user`` next items (as the batch output's strings), round the catalogue."""
    return [batch_line(str(u), [str(items[(n + r) % len(items)]) for r in range(per_user)])
            for n, u in enumerate(users)]


def test_integer_ids_are_written_as_integers_and_join(engine, tmp_path, instance):
    users, items = [1, 2, 3], [BIG + 1, BIG + 2, BIG + 3]
    resources = _app(engine, tmp_path, sa.Integer, sa.BigInteger, users, items)
    result = write_back(resources, instance, _lines(users, items), **CONFIG)
    assert result.success
    with engine.connect() as conn:
        joined = conn.execute(sa.text(JOIN)).all()
        wide = conn.execute(sa.text("SELECT u.name, w.item_ids FROM wbt_recs_wide w "
                                    "JOIN wbt_users u ON u.user_id = w.user_id ORDER BY u.name")).all()
    assert joined == [("user 1", 1, f"item {BIG + 1}"), ("user 1", 2, f"item {BIG + 2}"),
                      ("user 2", 1, f"item {BIG + 2}"), ("user 2", 2, f"item {BIG + 3}"),
                      ("user 3", 1, f"item {BIG + 3}"), ("user 3", 2, f"item {BIG + 1}")]
    long = _types(engine, "wbt_recs")
    assert isinstance(long["user_id"], sa.Integer) and not isinstance(long["user_id"], sa.BigInteger)
    assert isinstance(long["item_id"], sa.BigInteger)
    assert isinstance(_types(engine, "wbt_recs_wide")["user_id"], sa.Integer)
    # The wide form's items stay JSON arrays of the batch output's strings.
    assert [(name, json.loads(ids)) for name, ids in wide] == [
        ("user 1", [str(BIG + 1), str(BIG + 2)]), ("user 2", [str(BIG + 2), str(BIG + 3)]),
        ("user 3", [str(BIG + 3), str(BIG + 1)])]
    meta = _meta(result)
    assert "wbt_users.user_id" in meta["user_id_type"] and "wbt_items.item_id" in meta["item_id_type"]


def _keeps_its_type(engine, tmp_path, instance, key, expected, users, items):
    resources = _app(engine, tmp_path, key, key, users, items)
    assert write_back(resources, instance, _lines(users, items), **CONFIG).success
    with engine.connect() as conn:
        assert len(conn.execute(sa.text(JOIN)).all()) == 4
    assert all(isinstance(_types(engine, t)["user_id"], expected) for t in ("wbt_recs", "wbt_recs_wide"))
    assert isinstance(_types(engine, "wbt_recs")["item_id"], expected)


def test_text_ids_keep_their_type(engine, tmp_path, instance):
    _keeps_its_type(engine, tmp_path, instance, sa.String(20), sa.String, ["u-1", "u-2"], ["sku 7", "007"])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a native UUID column is PostgreSQL's
def test_uuid_ids_keep_their_type(engine, tmp_path, instance):
    _keeps_its_type(engine, tmp_path, instance, sa.Uuid, sa.Uuid, [uuid.uuid4(), uuid.uuid4()],
                    [uuid.uuid4(), uuid.uuid4()])


@pytest.mark.parametrize(("lines", "named"), [
    ([batch_line("1", [str(BIG + 1), "abc"])], ["item_id 'abc'", "wbt_items.item_id", "user '1', rank 2"]),
    ([batch_line("1", [str(BIG + 1)]), batch_line("x1", [str(BIG + 1)])],
     ["user_id 'x1'", "wbt_users.user_id", "user 'x1', rank 1"]),
    ([batch_line("99999999999999999999", [str(BIG + 1)])], ["user_id '99999999999999999999'", "wbt_users.user_id"]),
], ids=["item not a number", "user not a number", "user out of range"])
def test_an_id_that_does_not_convert_fails_the_write_and_keeps_yesterdays_table(engine, tmp_path, instance, lines,
                                                                                named):
    users, items = [1, 2], [BIG + 1, BIG + 2]
    resources = _app(engine, tmp_path, sa.Integer, sa.BigInteger, users, items)
    assert write_back(resources, instance, _lines(users, items), **CONFIG).success
    with engine.connect() as conn:
        yesterday = conn.execute(sa.text(JOIN)).all()
    result = write_back(resources, instance, lines, **CONFIG)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "tables the app reads are unchanged" in message and all(part in message for part in named), message
    with engine.connect() as conn:
        assert conn.execute(sa.text(JOIN)).all() == yesterday
    assert not {"wbt_recs_staging", "wbt_recs_wide_staging"} & set(sa.inspect(engine).get_table_names())


@pytest.mark.parametrize(("mapped", "config", "user_note", "item_note"), [
    ({"user_id": "user_id + 0", "items_source": 'query = "SELECT item_id AS ITEM_ID FROM wbt_items"'}, {},
     "an SQL expression", "a query"),
    ({}, {"id_types": "text"}, "id_types: text", "id_types: text"),
    ({"items_source": 'table = "no_such_table"'}, {}, "wbt_users.user_id", "no_such_table"),
], ids=["expression and query", "override", "unknown table"])
def test_ids_without_a_reflectable_column_are_text_and_say_why(engine, tmp_path, instance, mapped, config,
                                                               user_note, item_note):
    users, items = [1, 2], [BIG + 1, BIG + 2]
    resources = _app(engine, tmp_path, sa.Integer, sa.BigInteger, users, items, **mapped)
    result = write_back(resources, instance, _lines(users, items), **CONFIG, **config)
    assert result.success
    meta = _meta(result)
    assert user_note in meta["user_id_type"] and item_note in meta["item_id_type"]
    long = _types(engine, "wbt_recs")
    assert isinstance(long["item_id"], sa.String)
    assert isinstance(long["user_id"], sa.Integer if user_note == "wbt_users.user_id" else sa.String)
