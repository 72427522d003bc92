"""Personalize's data rules: schemas at CreateSchema/CreateDataset, bulk CSV content, minimum data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_assets.engine.validation import (
    DATASET_TYPES,
    DataValidationError,
    SchemaValidationError,
    check_schema_for_dataset_type,
    check_schema_replacement,
    dataset_label,
    minimum_data_problems,
    parse_schema,
    read_dataset_csv,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SOURCE = "s3://bucket/import/data.csv"


def avro(record: str, fields: list[dict]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": record,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": fields,
            "version": "1.0",
        }
    )


def fld(name: str, avro_type: str | list = "string", **attributes) -> dict:
    return {"name": name, "type": avro_type, **attributes}


# The smallest valid schema of each dataset type.
MINIMAL = {
    "INTERACTIONS": ("Interactions", [fld("USER_ID"), fld("ITEM_ID"), fld("TIMESTAMP", "long")]),
    "ITEMS": ("Items", [fld("ITEM_ID"), fld("GENRES", "string", categorical=True)]),
    "USERS": ("Users", [fld("USER_ID"), fld("AGE", "int")]),
    "ACTIONS": ("Actions", [fld("ACTION_ID"), fld("COLOR", ["null", "string"], categorical=True)]),
    "ACTION_INTERACTIONS": (
        "ActionInteractions",
        [fld("USER_ID"), fld("ACTION_ID"), fld("EVENT_TYPE"), fld("TIMESTAMP", "long")],
    ),
}


def check(dataset_type: str, fields: list[dict], record: str | None = None) -> None:
    record = record or MINIMAL[dataset_type.upper()][0]
    check_schema_for_dataset_type(parse_schema(avro(record, fields)), dataset_type)


def with_fields(dataset_type: str, *extra: dict) -> list[dict]:
    return MINIMAL[dataset_type][1] + list(extra)


def replaced(dataset_type: str, name: str, new: dict | None) -> list[dict]:
    """The minimal fields with field ``name`` replaced by ``new`` (or dropped)."""
    fields = [f for f in MINIMAL[dataset_type][1] if f["name"] != name]
    assert len(fields) == len(MINIMAL[dataset_type][1]) - 1, name
    return fields + ([new] if new else [])


# --- schemas -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["users", "items", "interactions"])
def test_project_schemas_pass(name):
    schema = parse_schema((SCHEMAS / f"{name}.json").read_text())
    check_schema_for_dataset_type(schema, name.upper())


def test_parsed_schema_fields():
    schema = parse_schema((SCHEMAS / "users.json").read_text())
    assert schema.name == "Users"
    assert schema.field_names == ["USER_ID", "AGE", "OS_DEVICE"]
    assert (schema.field("AGE").type, schema.field("AGE").nullable) == ("int", True)
    assert schema.field("OS_DEVICE").categorical and not schema.field("USER_ID").categorical
    with pytest.raises(KeyError, match="GENDER"):
        schema.field("GENDER")


@pytest.mark.parametrize("dataset_type", DATASET_TYPES)
def test_minimal_schema_of_every_type_passes(dataset_type):
    check(dataset_type, MINIMAL[dataset_type][1])


@pytest.mark.parametrize("dataset_type", ["interactions", "Action_Interactions", "Items"])
def test_dataset_type_is_case_insensitive(dataset_type):
    check(dataset_type, MINIMAL[dataset_type.upper()][1])


def test_unknown_dataset_type():
    with pytest.raises(SchemaValidationError, match="EVENTS"):
        check("EVENTS", MINIMAL["INTERACTIONS"][1], record="Interactions")


@pytest.mark.parametrize(
    "dataset_type, name",
    [
        ("INTERACTIONS", "USER_ID"),
        ("INTERACTIONS", "ITEM_ID"),
        ("INTERACTIONS", "TIMESTAMP"),
        ("USERS", "USER_ID"),
        ("ITEMS", "ITEM_ID"),
        ("ACTIONS", "ACTION_ID"),
        ("ACTION_INTERACTIONS", "USER_ID"),
        ("ACTION_INTERACTIONS", "ACTION_ID"),
        ("ACTION_INTERACTIONS", "EVENT_TYPE"),
        ("ACTION_INTERACTIONS", "TIMESTAMP"),
    ],
)
def test_each_required_field_missing(dataset_type, name):
    # Keep the metadata count legal so only the missing field can be at fault.
    fields = replaced(dataset_type, name, None) + [fld("SPARE_METADATA", "int")]
    with pytest.raises(SchemaValidationError, match=f"missing the required field {name}"):
        check(dataset_type, fields)


@pytest.mark.parametrize(
    "dataset_type, field",
    [
        ("INTERACTIONS", fld("USER_ID", "long")),  # big-integer IDs must still be strings
        ("INTERACTIONS", fld("TIMESTAMP", "int")),
        ("INTERACTIONS", fld("TIMESTAMP", "string")),
        ("ITEMS", fld("ITEM_ID", "int")),
        ("ACTION_INTERACTIONS", fld("EVENT_TYPE", "int")),
    ],
)
def test_required_field_with_wrong_type(dataset_type, field):
    with pytest.raises(SchemaValidationError, match=f"required field {field['name']} must be of type"):
        check(dataset_type, replaced(dataset_type, field["name"], field))


@pytest.mark.parametrize("name", ["USER_ID", "TIMESTAMP"])
def test_required_field_cannot_be_nullable(name):
    nullable = fld(name, ["null", "string" if name == "USER_ID" else "long"])
    with pytest.raises(SchemaValidationError, match=f"required field {name} cannot be nullable"):
        check("INTERACTIONS", replaced("INTERACTIONS", name, nullable))


@pytest.mark.parametrize(
    "field, message",
    [
        (fld("EVENT_VALUE", "string"), "EVENT_VALUE must be of type float"),
        (fld("EVENT_VALUE", "double"), "EVENT_VALUE must be of type float"),
        (fld("EVENT_TYPE", "int"), "EVENT_TYPE must be of type string"),
        (fld("EVENT_TYPE", "string", categorical=True), "EVENT_TYPE cannot be categorical"),
        (fld("EVENT_TYPE", ["null", "string"]), "EVENT_TYPE cannot be nullable"),
        (fld("IMPRESSION", "long"), "IMPRESSION must be of type string"),
        (fld("RECOMMENDATION_ID", "int"), "RECOMMENDATION_ID must be of type string"),
        (fld("EVENT_ATTRIBUTION_SOURCE", "boolean"), "EVENT_ATTRIBUTION_SOURCE must be of type string"),
    ],
)
def test_interactions_reserved_keyword_rules(field, message):
    with pytest.raises(SchemaValidationError, match=f"reserved keyword {message}"):
        check("INTERACTIONS", with_fields("INTERACTIONS", field))


@pytest.mark.parametrize(
    "dataset_type, field",
    [
        ("ITEMS", fld("CREATION_TIMESTAMP", "int")),
        ("ACTIONS", fld("CREATION_TIMESTAMP", "string")),
        ("ACTIONS", fld("VALUE", "float")),
        ("ACTIONS", fld("EXPIRATION_TIMESTAMP", "int")),
    ],
)
def test_reserved_keyword_with_wrong_type(dataset_type, field):
    with pytest.raises(SchemaValidationError, match=f"reserved keyword {field['name']} must be of type long"):
        check(dataset_type, with_fields(dataset_type, field))


def test_reserved_keywords_with_their_types_pass():
    check(
        "INTERACTIONS",
        with_fields(
            "INTERACTIONS",
            fld("EVENT_TYPE"),
            fld("EVENT_VALUE", ["float", "null"]),
            fld("IMPRESSION", ["null", "string"]),
            fld("RECOMMENDATION_ID", ["null", "string"]),
            fld("EVENT_ATTRIBUTION_SOURCE", ["null", "string"]),
        ),
    )
    check("ITEMS", with_fields("ITEMS", fld("CREATION_TIMESTAMP", "long")))


def test_categorical_on_non_string_field():
    with pytest.raises(SchemaValidationError, match="field AGE is categorical but of type int"):
        parse_schema(avro("Users", [fld("USER_ID"), fld("AGE", "int", categorical=True)]))


def test_textual_on_non_string_field():
    with pytest.raises(SchemaValidationError, match="field PRICE is textual"):
        parse_schema(avro("Items", [fld("ITEM_ID"), fld("PRICE", "float", textual=True)]))


def test_boolean_attributes_must_be_booleans():
    with pytest.raises(SchemaValidationError, match="field GENRES: 'categorical' must be true or false"):
        parse_schema(avro("Items", [fld("ITEM_ID"), fld("GENRES", "string", categorical="true")]))


def test_record_name_must_match_the_dataset_type():
    with pytest.raises(SchemaValidationError, match="'Users' does not match dataset type Items"):
        check("ITEMS", MINIMAL["ITEMS"][1], record="Users")


@pytest.mark.parametrize(
    "dataset_type, limit",
    [("INTERACTIONS", 5), ("USERS", 25), ("ITEMS", 100), ("ACTIONS", 10), ("ACTION_INTERACTIONS", 5)],
)
def test_metadata_field_limit(dataset_type, limit):
    required_names = ("USER_ID", "ITEM_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE")
    required = [f for f in MINIMAL[dataset_type][1] if f["name"] in required_names]
    metadata = [fld(f"META_{i}", "int") for i in range(limit + 1)]
    check(dataset_type, required + metadata[:limit])
    with pytest.raises(SchemaValidationError, match=f"{limit + 1} metadata fields .*the maximum is {limit}"):
        check(dataset_type, required + metadata)


def test_reserved_keywords_do_not_count_as_interactions_metadata():
    reserved = [fld("EVENT_TYPE"), fld("EVENT_VALUE", "float"), fld("IMPRESSION", ["null", "string"])]
    metadata = [fld(f"META_{i}", "int") for i in range(5)]
    check("INTERACTIONS", with_fields("INTERACTIONS", *reserved, *metadata))


@pytest.mark.parametrize("dataset_type, id_field", [("USERS", "USER_ID"), ("ITEMS", "ITEM_ID")])
def test_users_and_items_need_a_metadata_field(dataset_type, id_field):
    with pytest.raises(SchemaValidationError, match="at least 1 metadata field"):
        check(dataset_type, [fld(id_field)])


def test_items_reserved_keyword_is_not_metadata():
    with pytest.raises(SchemaValidationError, match="at least 1 metadata field"):
        check("ITEMS", [fld("ITEM_ID"), fld("CREATION_TIMESTAMP", "long")])


def test_alphanumerically_duplicate_names():
    fields = [fld("ITEM_ID"), fld("GENRES_FIELD_1", categorical=True), fld("GENRESFIELD1", categorical=True)]
    with pytest.raises(SchemaValidationError, match="GENRES_FIELD_1 and GENRESFIELD1"):
        parse_schema(avro("Items", fields))


def test_exactly_duplicate_names():
    with pytest.raises(SchemaValidationError, match="AGE and AGE"):
        parse_schema(avro("Users", [fld("USER_ID"), fld("AGE", "int"), fld("AGE", "long")]))


@pytest.mark.parametrize(
    "avro_type",
    [
        {"type": "array", "items": "string"},
        {"type": "map", "values": "string"},
        {"type": "record", "name": "Nested", "fields": [fld("X")]},
        {"type": "enum", "name": "Colour", "symbols": ["RED"]},
        ["null", {"type": "array", "items": "string"}],
        ["string", "int"],  # a union must pair one type with null
        ["null", "string", "int"],
        ["string"],
        ["null"],
        "null",
        "bytes",
        "date",
    ],
)
def test_unsupported_types_rejected(avro_type):
    with pytest.raises(SchemaValidationError, match="field TAGS has type"):
        parse_schema(avro("Items", [fld("ITEM_ID"), fld("TAGS", avro_type)]))


@pytest.mark.parametrize("avro_type", ["string", "int", "long", "float", "double", "boolean"])
def test_every_primitive_alone_and_nullable(avro_type):
    schema = parse_schema(avro("Items", [fld("ITEM_ID"), fld("A", avro_type), fld("B", [avro_type, "null"])]))
    assert (schema.field("A").type, schema.field("A").nullable) == (avro_type, False)
    assert (schema.field("B").type, schema.field("B").nullable) == (avro_type, True)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"type": "record", "name": "Users", "fields": [', "not valid JSON"),
        ('["Users"]', "Avro \"record\""),
        ('{"type": "enum", "name": "Users", "symbols": ["A"]}', "Avro \"record\""),
        ('{"type": "record", "fields": [{"name": "USER_ID", "type": "string"}]}', 'needs a "name"'),
        ('{"type": "record", "name": "Users", "fields": []}', '"fields" list'),
        ('{"type": "record", "name": "Users", "fields": [{"type": "string"}]}', 'field #1 must be an object'),
    ],
)
def test_malformed_schema_documents(text, message):
    with pytest.raises(SchemaValidationError, match=message):
        parse_schema(text)


@pytest.mark.parametrize("name", ["1ABC", "USER-ID", "ÜBER", "A" * 151, ""])
def test_invalid_field_names(name):
    with pytest.raises(SchemaValidationError, match="must match"):
        parse_schema(avro("Users", [fld("USER_ID"), fld(name, "int")]))


def test_schema_length_limit():
    padding = " " * (20000 - len(avro("Users", MINIMAL["USERS"][1])))
    parse_schema(avro("Users", MINIMAL["USERS"][1]) + padding)
    with pytest.raises(SchemaValidationError, match="20001 characters"):
        parse_schema(avro("Users", MINIMAL["USERS"][1]) + padding + " ")


def test_two_textual_fields_in_items():
    description = fld("DESCRIPTION", ["null", "string"], textual=True)
    fields = with_fields("ITEMS", description, fld("SUMMARY", textual=True))
    with pytest.raises(SchemaValidationError, match=r"at most 1 textual field .*DESCRIPTION, SUMMARY"):
        check("ITEMS", fields)


def test_one_textual_field_in_items_passes():
    check("ITEMS", with_fields("ITEMS", fld("DESCRIPTION", ["null", "string"], textual=True)))


def test_textual_only_in_items():
    with pytest.raises(SchemaValidationError, match="only allowed in Items.*BIO"):
        check("USERS", with_fields("USERS", fld("BIO", textual=True)))


@pytest.mark.parametrize("dataset_type, label", [("INTERACTIONS", "Interactions"), ("items", "Items"),
                                                 ("Action_Interactions", "Action_Interactions")])
def test_dataset_label(dataset_type, label):
    assert dataset_label(dataset_type) == label


# --- UpdateDataset: replacing a schema ------------------------------------------------------------

USERS_V1 = [fld("USER_ID"), fld("AGE", "int")]


def replacement(*fields: dict) -> None:
    check_schema_replacement(parse_schema(avro("Users", USERS_V1)), parse_schema(avro("Users", list(fields))))


def test_replacement_may_add_nullable_fields():
    replacement(*USERS_V1, fld("TIER", ["null", "string"], categorical=True), fld("SCORE", ["float", "null"]))


@pytest.mark.parametrize(
    "fields, message",
    [
        ([fld("USER_ID")], "drops the field AGE"),
        ([fld("USER_ID"), fld("AGE", "long")], "changes the field AGE"),
        ([fld("USER_ID"), fld("AGE", ["null", "int"])], "changes the field AGE"),
        ([*USERS_V1, fld("TIER", "string")], "adds the field TIER without null"),
    ],
)
def test_replacement_keeps_current_fields(fields, message):
    with pytest.raises(SchemaValidationError, match=message):
        replacement(*fields)


# --- bulk CSV ------------------------------------------------------------------------------------

INTERACTIONS = parse_schema((SCHEMAS / "interactions.json").read_text())
ITEMS = parse_schema((SCHEMAS / "items.json").read_text())
USERS = parse_schema((SCHEMAS / "users.json").read_text())
HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"


def read(text: str | bytes, schema=INTERACTIONS, dataset_type="INTERACTIONS", **kwargs):
    data = text.encode() if isinstance(text, str) else text
    return read_dataset_csv(io.BytesIO(data), schema, dataset_type, source=SOURCE, **kwargs)


def fails(text: str | bytes, schema=INTERACTIONS, dataset_type="INTERACTIONS", **kwargs):
    with pytest.raises(DataValidationError) as caught:
        result = read(text, schema, dataset_type, **kwargs)
        if kwargs.get("chunksize"):
            list(result)
    return caught.value


def test_good_file_round_trips_with_types_and_exact_ids():
    frame = read(HEADER + "007,123,1596238243,click,\n42,0042,1596238244,purchase,2.5\n")
    assert list(frame.columns) == INTERACTIONS.field_names
    assert frame.dtypes.to_dict() == {
        "USER_ID": np.dtype(object),
        "ITEM_ID": np.dtype(object),
        "TIMESTAMP": pd.Int64Dtype(),
        "EVENT_TYPE": np.dtype(object),
        "EVENT_VALUE": np.dtype("float64"),
    }
    assert frame["USER_ID"].tolist() == ["007", "42"]
    assert frame["ITEM_ID"].tolist() == ["123", "0042"]
    assert frame["TIMESTAMP"].tolist() == [1596238243, 1596238244]
    assert np.isnan(frame["EVENT_VALUE"].iloc[0]) and frame["EVENT_VALUE"].iloc[1] == 2.5
    assert frame.index.tolist() == [0, 1]


def test_columns_are_matched_by_name_and_returned_in_schema_order():
    frame = read("EVENT_VALUE,TIMESTAMP,ITEM_ID,EVENT_TYPE,USER_ID\n1.0,1596238243,i1,click,u1\n")
    assert list(frame.columns) == INTERACTIONS.field_names
    assert frame.iloc[0].tolist() == ["u1", "i1", 1596238243, "click", 1.0]


def test_nulls_in_nullable_fields_of_each_type():
    frame = read("USER_ID,AGE,OS_DEVICE\nu1,,\nu2,-7,ios|android\n", USERS, "USERS")
    assert frame["AGE"].isna().tolist() == [True, False] and frame["AGE"].iloc[1] == -7
    assert frame["AGE"].dtype == pd.Int64Dtype()
    assert frame["OS_DEVICE"].tolist() == [None, "ios|android"]


def test_quoted_values_with_commas_and_quotes_and_non_ascii():
    text = (
        "ITEM_ID,CATEGORY_ID,PRICE\n"
        '"a,1","Home ""&"" Garden",1.5\n'  # RFC 4180 doubled quotes
        'b2,"say \\"hi\\" \\\\ back",2\n'  # backslash escapes, as the docs prescribe for textual data
        "Ĉ3,東京|café|😀,.5\n"
    ).encode("utf-8")
    frame = read(text, ITEMS, "ITEMS")
    assert frame["ITEM_ID"].tolist() == ["a,1", "b2", "Ĉ3"]
    assert frame["CATEGORY_ID"].tolist() == ['Home "&" Garden', 'say "hi" \\ back', "東京|café|😀"]
    assert frame["PRICE"].tolist() == [1.5, 2.0, 0.5]


def test_byte_order_mark_and_crlf_line_ends():
    frame = read(b"\xef\xbb\xbfUSER_ID,AGE,OS_DEVICE\r\nu1,30,ios\r\n", USERS, "USERS")
    assert frame.to_dict("list") == {"USER_ID": ["u1"], "AGE": [30], "OS_DEVICE": ["ios"]}


def test_number_syntax():
    frame = read("ITEM_ID,CATEGORY_ID,PRICE\na,c,1e3\nb,c,-0.25\nc,c,+7\nd,c,5.\n", ITEMS, "ITEMS")
    assert frame["PRICE"].tolist() == [1000.0, -0.25, 7.0, 5.0]


def test_booleans_and_doubles():
    schema = parse_schema(
        avro("Items", [fld("ITEM_ID"), fld("ADULT", ["null", "boolean"]), fld("RATING", ["null", "double"])])
    )
    frame = read("ITEM_ID,ADULT,RATING\na,true,0.1\nb,FALSE,\nc,,1e300\n", schema, "ITEMS")
    assert frame["ADULT"].tolist() == [True, False, None]
    assert all(type(v) is bool for v in frame["ADULT"].iloc[:2])
    assert frame["RATING"].iloc[[0, 2]].tolist() == [0.1, 1e300] and np.isnan(frame["RATING"].iloc[1])
    error = fails("ITEM_ID,ADULT,RATING\na,yes,1\n", schema, "ITEMS")
    assert "The value 'yes' of ADULT is not a valid boolean" in str(error)


def test_header_only_file_gives_an_empty_typed_frame():
    frame = read(HEADER)
    assert len(frame) == 0 and frame["TIMESTAMP"].dtype == pd.Int64Dtype()
    chunks = list(read(HEADER, chunksize=10))
    assert len(chunks) == 1 and len(chunks[0]) == 0


def test_missing_columns_use_the_documented_text():
    error = fails("USER_ID,ITEM_ID,EVENT_VALUE\nu,i,1\n")
    assert str(error) == (
        f"Failed to create a data import job for Interactions dataset. {SOURCE}, row 1: "
        "Input CSV is missing the following columns:[TIMESTAMP, EVENT_TYPE]."
    )
    assert (error.row, error.column) == (1, None)


def test_unknown_extra_column_fails():
    error = fails(HEADER.strip() + ",COLOUR\nu,i,1596238243,click,,red\n")
    assert "not in the schema:[COLOUR]" in str(error) and (error.row, error.column) == (1, "COLOUR")


def test_duplicate_header_fails():
    error = fails("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,ITEM_ID\n")
    assert "Duplicate column header ITEM_ID" in str(error) and error.column == "ITEM_ID"


@pytest.mark.parametrize("text", ["", "\ufeff"])
def test_empty_file_fails(text):
    error = fails(text)
    assert "empty" in str(error) and SOURCE in str(error) and error.row is None


def test_invalid_utf8_fails():
    assert "not valid UTF-8" in str(fails(HEADER.encode() + b"u\xff,i,1596238243,click,\n"))


# Each bad file's problem sits on line 3 (line 2 is good); the message must name line and column.
GOOD_ROW = "u1,i1,1596238243,click,1.0\n"
BAD_CELLS = [
    ("u2,i2,abc,click,\n", "TIMESTAMP", "The value 'abc' of TIMESTAMP is not a valid long"),
    ("u2,i2,1596238243.0,click,\n", "TIMESTAMP", "'1596238243.0' of TIMESTAMP is not a valid long"),
    ("u2,i2, 1596238243,click,\n", "TIMESTAMP", "not a valid long"),
    ("u2,i2,1596238243,click,x\n", "EVENT_VALUE", "The value 'x' of EVENT_VALUE is not a valid float"),
    ("u2,i2,1596238243,click,nan\n", "EVENT_VALUE", "not a valid float"),
    ("u2,i2,1596238243,click,inf\n", "EVENT_VALUE", "not a valid float"),
    ("u2,i2,1596238243,click, 1.5\n", "EVENT_VALUE", "not a valid float"),
    ("u2,i2,١٥٩٦٢٣٨٢٤٣,click,\n", "TIMESTAMP", "not a valid long"),  # Arabic-Indic digits
    ("u2,i2,1596238243,click,1-2\n", "EVENT_VALUE", "not a valid float"),
    ("u2,i2,1596238243,click,1e39\n", "EVENT_VALUE", "out of range for float"),
    ("u2,i2,99999999999999999999,click,\n", "TIMESTAMP", "out of range for long"),
    ("u2,i2,1596238243000,click,\n", "TIMESTAMP", "looks like milliseconds"),
    ("u2,i2,1596238243,,\n", "EVENT_TYPE", "EVENT_TYPE is empty, but the field is not nullable"),
    (",i2,1596238243,click,\n", "USER_ID", "USER_ID is empty"),
    ("u2," + "i" * 257 + ",1596238243,click,\n", "ITEM_ID", "cannot be more than 256 characters for ITEM_ID"),
    ("u2,i2,1596238243," + "e" * 1001 + ",\n", "EVENT_TYPE", "Length cannot be more than 1000 characters"),
    ('u2,"i\n2",1596238243,click,\n', "ITEM_ID", "contains a line break"),
]


@pytest.mark.parametrize("bad_row, column, text", BAD_CELLS)
def test_bad_cell_names_row_and_column(bad_row, column, text):
    error = fails(HEADER + GOOD_ROW + bad_row)
    assert (error.row, error.column) == (3, column)
    assert f"{SOURCE}, row 3, column {column}: " in str(error)
    assert str(error).startswith("Failed to create a data import job for Interactions dataset. ")
    assert text in str(error)


def test_long_values_are_truncated_in_the_message():
    error = fails(HEADER + "u1,i1," + "9" * 5000 + "x,click,\n")
    assert "9" * 50 + "..." in str(error) and len(str(error)) < 400


def test_length_limit_uses_the_documented_text():
    error = fails(HEADER + "u" * 257 + ",i,1596238243,click,\n")
    assert str(error).endswith(
        "Length cannot be more than 256 characters for USER_ID. If no values exceed the character limit, "
        "make sure your data follows the formatting guidelines listed in "
        "https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html."
    )


def test_values_at_the_limits_pass():
    frame = read(HEADER + "u" * 256 + ",i,99999999999," + "e" * 1000 + ",\n")
    assert len(frame["USER_ID"].iloc[0]) == 256 and len(frame["EVENT_TYPE"].iloc[0]) == 1000


def test_categorical_limit_counts_the_pipes():
    at_limit = "|".join(["abcdefghij"] * 91)  # 910 letters + 90 pipes = 1000
    assert len(read(f"ITEM_ID,CATEGORY_ID,PRICE\ni,{at_limit},1\n", ITEMS, "ITEMS")) == 1
    error = fails(f"ITEM_ID,CATEGORY_ID,PRICE\ni,{at_limit}|a,1\n", ITEMS, "ITEMS")  # 911 letters
    assert "Length cannot be more than 1000 characters for CATEGORY_ID" in str(error)


def test_int_range():
    error = fails(f"USER_ID,AGE,OS_DEVICE\nu,{2**31},ios\n", USERS, "USERS")
    assert (error.row, error.column) == (2, "AGE") and "out of range for int" in str(error)
    assert read(f"USER_ID,AGE,OS_DEVICE\nu,{2**31 - 1},ios\n", USERS, "USERS")["AGE"].iloc[0] == 2**31 - 1


def test_textual_values_are_truncated_not_failed():
    description = fld("DESCRIPTION", ["null", "string"], textual=True)
    schema = parse_schema(avro("Items", [fld("ITEM_ID"), description]))
    frame = read(f'ITEM_ID,DESCRIPTION\na,"{"w" * 20001}"\nb,short\nc,\n', schema, "ITEMS")
    assert frame["DESCRIPTION"].tolist() == ["w" * 20000, "short", None]


@pytest.mark.parametrize("row, fields", [("u2,i2,1596238243,click,,extra\n", 6), ("u2,i2,1596238243\n", 3)])
def test_row_with_wrong_number_of_fields(row, fields):
    error = fails(HEADER + GOOD_ROW + row)
    assert error.row == 3 and f"row 3: The row has {fields} fields but the header has 5" in str(error)


def test_malformed_quoting_names_the_row():
    error = fails(HEADER + GOOD_ROW + 'u2,"i2"x,1596238243,click,\n')
    assert error.row == 3 and "Malformed CSV" in str(error)


def test_first_problem_in_file_order_is_reported():
    # Line 3 has a bad last column, line 4 a bad first column and a wrong field count.
    text = HEADER + GOOD_ROW + "u2,i2,1596238243,click,x\n" + "u" * 300 + ",i3,1596238243,click,\n" + "a,b\n"
    error = fails(text)
    assert (error.row, error.column) == (3, "EVENT_VALUE")


def test_blank_lines_are_skipped_but_counted():
    frame = read(HEADER + GOOD_ROW + "\n" + GOOD_ROW + "\n")
    assert len(frame) == 2 and frame.index.tolist() == [0, 1]
    assert fails(HEADER + GOOD_ROW + "\n\n" + "u,i,abc,click,\n").row == 5


def test_stream_is_left_open():
    stream = io.BytesIO((HEADER + GOOD_ROW).encode())
    read_dataset_csv(stream, INTERACTIONS, "INTERACTIONS", source=SOURCE)
    assert not stream.closed


def rows(count: int) -> str:
    # Zero-padded item IDs; every third EVENT_VALUE null.
    lines = (f"u{i % 7},{i:05d},{1596238243 + i},click,{i / 4 if i % 3 else ''}\n" for i in range(count))
    return "".join(lines)


def test_chunked_reading_gives_the_same_rows():
    text = HEADER + rows(23)
    whole = read(text)
    chunks = list(read(text, chunksize=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)
    assert whole["ITEM_ID"].iloc[7] == "00007"


def test_chunked_reading_reports_the_row_of_a_later_chunk():
    lines = (HEADER + rows(23)).splitlines(keepends=True)
    lines[18] = "u,i,1596238243,click,oops\n"  # line 19 of the file, in the fourth chunk of five
    chunks = read("".join(lines), chunksize=5)
    assert len(next(chunks)) == 5  # earlier chunks come through before the bad one is read
    with pytest.raises(DataValidationError) as caught:
        list(chunks)
    assert (caught.value.row, caught.value.column) == (19, "EVENT_VALUE")


def test_chunked_reading_raises_header_problems_at_the_call():
    with pytest.raises(DataValidationError, match="missing the following columns"):
        read("USER_ID\nu\n", chunksize=5)


# --- minimum data --------------------------------------------------------------------------------


def interactions_of(counts: list[int]) -> pd.DataFrame:
    """One row per interaction; user i has counts[i] interactions."""
    return pd.DataFrame({"USER_ID": np.repeat([f"u{i}" for i in range(len(counts))], counts)})


def test_enough_data_has_no_problems():
    assert minimum_data_problems(interactions_of([40] * 25)) == []


def test_fewer_than_1000_interactions():
    assert minimum_data_problems(interactions_of([37] * 27)) == [
        "Create failed. Dataset has fewer than 1000 interactions (found 999)."
    ]


def test_fewer_than_25_users_with_two_interactions():
    assert minimum_data_problems(interactions_of([2] * 24 + [1] * 952)) == [
        "Create failed. Dataset has fewer than 25 users with at least 2 interactions each."
    ]


def test_exactly_25_users_with_two_interactions_pass():
    assert minimum_data_problems(interactions_of([2] * 25 + [1] * 950)) == []


def test_fewer_than_one_percent_of_users_with_two_interactions():
    assert minimum_data_problems(interactions_of([2] * 25 + [1] * 2500)) == [
        "Create failed. Fewer than 1% of users have at least 2 interactions each (25 of 2525)."
    ]
