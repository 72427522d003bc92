"""The mapping file: the demo default, the environment variable, and errors that name file, section and key."""

import pytest

from recsys_assets.export.mapping import DEFAULT_MAPPING_FILE, MappingError, load_mapping
from recsys_assets.resources import build_resources

VALID = """
[users]
query = "SELECT id AS USER_ID, age AS AGE, device AS OS_DEVICE FROM members"

[items]
table = "products"
[items.columns]
ITEM_ID = "sku"
CATEGORY_ID = "CAST(category AS VARCHAR(20))"
PRICE = "price_cents / 100.0"

[interactions]
table = "events"
epoch_milliseconds = ["TIMESTAMP"]
on_bad_rows = "drop"
[interactions.columns]
USER_ID = "member_id"
ITEM_ID = "sku"
TIMESTAMP = "ts"
EVENT_TYPE = "kind"
EVENT_VALUE = "value"
"""


def test_demo_mapping_is_the_default_and_reads_the_demo_shop():
    mapping = load_mapping()
    assert mapping.path == DEFAULT_MAPPING_FILE
    users, events = mapping.datasets["users"], mapping.datasets["interactions"]
    assert (users.source, users.columns["USER_ID"], users.latest_by) == ("users", "user_id", "signup_at")
    assert [(key, other.name) for key, other in events.known_in] == [("USER_ID", "users"), ("ITEM_ID", "items")]
    assert mapping.users_to_score == "SELECT user_id FROM users ORDER BY user_id"


def test_environment_variable_points_at_another_mapping(tmp_path):
    path = tmp_path / "shop.toml"
    path.write_text(VALID)
    app_db = build_resources({"RECSYS_MAPPING_FILE": str(path)})["app_db"]
    mapping = app_db.get_mapping()
    assert mapping.path == path and build_resources({})["app_db"].mapping_file == str(DEFAULT_MAPPING_FILE)
    users = mapping.datasets["users"]
    # A query without [columns] names its columns as the schema's fields.
    assert users.is_query and users.columns == {"USER_ID": "USER_ID", "AGE": "AGE", "OS_DEVICE": "OS_DEVICE"}
    assert mapping.datasets["interactions"].epoch_milliseconds == {"TIMESTAMP"}
    assert mapping.datasets["interactions"].on_bad_rows == "drop"
    # Without users_to_score: every mapped user.
    assert mapping.users_to_score == "SELECT USER_ID FROM (SELECT id AS USER_ID, age AS AGE, device AS OS_DEVICE " \
                                     "FROM members) src"


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: 'database_url = "postgresql://app:hunter2@db/shop"\n' + t, "[database_url] unknown section or key"),
    (lambda t: t.replace('table = "products"', 'table = "products"\npassword = "x"'),
     "[items] unknown key 'password'"),
    (lambda t: t.replace('table = "products"', 'table = "products"\nquery = "SELECT 1"'),
     "[items] give exactly one of table"),
    (lambda t: t.replace('EVENT_VALUE = "value"', ''), "[interactions.columns] no source for EVENT_VALUE"),
    (lambda t: t.replace('PRICE = "price_cents / 100.0"', 'PRICE = "p"\nCOLOUR = "c"'),
     "[items.columns] COLOUR is not a field of items.json"),
    (lambda t: t.replace('on_bad_rows = "drop"', 'on_bad_rows = "ignore"'),
     "[interactions.on_bad_rows] 'ignore' is not one of fail, drop"),
    (lambda t: t.replace('epoch_milliseconds = ["TIMESTAMP"]', 'epoch_milliseconds = ["EVENT_TYPE"]'),
     "[interactions.epoch_milliseconds] must list integer fields of the schema (TIMESTAMP)"),
    (lambda t: t.replace('on_bad_rows = "drop"', 'latest_by = "ts"'), "[interactions.latest_by] only users and items"),
    (lambda t: t.replace("[items]", "[items]\nschema = \"missing.json\""), "[items.schema]"),
    (lambda t: t.replace('[items]\ntable = "products"', "[items]"), "[items] give exactly one of table"),
    (lambda t: t.replace("[interactions.columns]", "[interactions.columns"), "not valid TOML"),
    (lambda t: 'users_to_score = ""\n' + t, "[users_to_score] must be a non-empty SQL query"),
])
def test_mapping_errors_name_file_section_and_key(tmp_path, edit, expected):
    path = tmp_path / "shop.toml"
    path.write_text(edit(VALID))
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_missing_mapping_file_names_the_variable(tmp_path):
    with pytest.raises(MappingError, match="no such mapping file.*RECSYS_MAPPING_FILE"):
        load_mapping(tmp_path / "nope.toml")
