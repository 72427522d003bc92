"""Avro schemas at CreateSchema, CreateDataset and UpdateDataset [DG:custom-datasets-and-schemas]."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys_assets.personalize_rules.schemas import (
    DATASET_TYPES,
    SchemaValidationError,
    check_schema_for_dataset_type,
    check_schema_replacement,
    dataset_label,
    parse_schema,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


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


# --- Domain dataset groups [DG:ECOMMERCE-datasets-and-schemas], [DG:VIDEO-ON-DEMAND-datasets-and-schemas] --------

DOMAIN_MINIMAL = {
    ("ECOMMERCE", "INTERACTIONS"): [fld("USER_ID"), fld("ITEM_ID"), fld("TIMESTAMP", "long"), fld("EVENT_TYPE")],
    ("ECOMMERCE", "ITEMS"): [fld("ITEM_ID"), fld("PRICE", "float"), fld("CATEGORY_L1", categorical=True)],
    ("ECOMMERCE", "USERS"): [fld("USER_ID"), fld("AGE", "int")],
    ("VIDEO_ON_DEMAND", "INTERACTIONS"): [fld("USER_ID"), fld("ITEM_ID"), fld("TIMESTAMP", "long"), fld("EVENT_TYPE")],
    ("VIDEO_ON_DEMAND", "ITEMS"): [fld("ITEM_ID"), fld("GENRES", categorical=True), fld("CREATION_TIMESTAMP", "long")],
    ("VIDEO_ON_DEMAND", "USERS"): [fld("USER_ID"), fld("AGE", "int")],
}


def check_domain_schema(domain: str, dataset_type: str, fields: list[dict]) -> None:
    record = MINIMAL[dataset_type][0]
    check_schema_for_dataset_type(parse_schema(avro(record, fields)), dataset_type, domain)


@pytest.mark.parametrize("domain, dataset_type", list(DOMAIN_MINIMAL))
def test_minimal_domain_schemas_pass(domain, dataset_type):
    check_domain_schema(domain, dataset_type, DOMAIN_MINIMAL[domain, dataset_type])


@pytest.mark.parametrize("domain, dataset_type", list(DOMAIN_MINIMAL))
def test_each_domain_required_field_missing(domain, dataset_type):
    fields = DOMAIN_MINIMAL[domain, dataset_type]
    required = [f["name"] for f in fields if f["name"] != "AGE"]
    for name in required:
        with pytest.raises(SchemaValidationError, match=f"missing the required field {name}"):
            check_domain_schema(domain, dataset_type, [f for f in fields if f["name"] != name])


def test_custom_minimal_schemas_miss_domain_fields():
    # A custom Items schema has no PRICE/CATEGORY_L1 (ECOMMERCE) or GENRES+CREATION_TIMESTAMP (VIDEO_ON_DEMAND).
    with pytest.raises(SchemaValidationError, match="ECOMMERCE Items schema is missing the required field PRICE"):
        check_domain_schema("ECOMMERCE", "ITEMS", MINIMAL["ITEMS"][1])
    with pytest.raises(SchemaValidationError, match="VIDEO_ON_DEMAND Items schema is missing the required field "
                                                    "CREATION_TIMESTAMP"):
        check_domain_schema("VIDEO_ON_DEMAND", "ITEMS", MINIMAL["ITEMS"][1])


@pytest.mark.parametrize(
    "domain, field, message",
    [
        ("ECOMMERCE", fld("CATEGORY_L2", ["string", "null"]), "reserved keyword CATEGORY_L2 must be categorical"),
        ("ECOMMERCE", fld("PRODUCT_DESCRIPTION", ["string", "null"], categorical=True),
         "reserved keyword PRODUCT_DESCRIPTION must be textual"),
        ("ECOMMERCE", fld("CREATION_TIMESTAMP", "float"), "CREATION_TIMESTAMP must be of type long, not float"),
        ("VIDEO_ON_DEMAND", fld("PRICE", ["float", "null"]), "reserved keyword PRICE cannot be nullable"),
        ("VIDEO_ON_DEMAND", fld("DURATION", "long"), "DURATION must be of type float, not long"),
        ("VIDEO_ON_DEMAND", fld("CONTENT_OWNER", "string"), "reserved keyword CONTENT_OWNER must be categorical"),
    ],
)
def test_domain_items_reserved_keywords(domain, field, message):
    with pytest.raises(SchemaValidationError, match=message):
        check_domain_schema(domain, "ITEMS", DOMAIN_MINIMAL[domain, "ITEMS"] + [field])


def test_domain_items_reserved_keywords_with_their_types_pass():
    check_domain_schema("ECOMMERCE", "ITEMS", DOMAIN_MINIMAL["ECOMMERCE", "ITEMS"] + [
        fld(n, ["string", "null"], categorical=True) for n in ("CATEGORY_L2", "CATEGORY_L3", "AGE_GROUP", "ADULT",
                                                             "GENDER")
    ] + [fld("PRODUCT_DESCRIPTION", ["null", "string"], textual=True), fld("CREATION_TIMESTAMP", "long")])
    check_domain_schema("VIDEO_ON_DEMAND", "ITEMS", DOMAIN_MINIMAL["VIDEO_ON_DEMAND", "ITEMS"] + [
        fld(n, ["string", "null"], categorical=True) for n in ("GENRE_L2", "GENRE_L3", "CONTENT_OWNER",
                                                             "CONTENT_CLASSIFICATION")
    ] + [fld("PRICE", "float"), fld("DURATION", "float"), fld("AVERAGE_RATING", ["float", "null"]),
         fld("PRODUCT_DESCRIPTION", ["null", "string"], textual=True)])


def test_domain_users_need_a_metadata_field_besides_subscription_model():
    check_domain_schema("VIDEO_ON_DEMAND", "USERS", DOMAIN_MINIMAL["VIDEO_ON_DEMAND", "USERS"] + [
        fld("SUBSCRIPTION_MODEL", ["string", "null"], categorical=True)])
    with pytest.raises(SchemaValidationError, match="needs at least 1 metadata field"):
        check_domain_schema("VIDEO_ON_DEMAND", "USERS", [fld("USER_ID"), fld("SUBSCRIPTION_MODEL", categorical=True)])


@pytest.mark.parametrize("dataset_type", ["ACTIONS", "ACTION_INTERACTIONS"])
def test_domain_groups_have_no_action_datasets(dataset_type):
    with pytest.raises(SchemaValidationError, match=f"have no {dataset_label(dataset_type)} datasets"):
        check_domain_schema("ECOMMERCE", dataset_type, MINIMAL[dataset_type][1])


def test_unknown_domain():
    with pytest.raises(SchemaValidationError, match="Invalid domain 'RETAIL'; expected one of ECOMMERCE, "
                                                    "VIDEO_ON_DEMAND"):
        check_domain_schema("RETAIL", "USERS", DOMAIN_MINIMAL["ECOMMERCE", "USERS"])
