"""Avro schemas as Personalize reads them: CreateSchema's rules, CreateDataset's per-type rules, UpdateDataset's.

Sources: [DG:custom-datasets-and-schemas], [DG:how-it-works-dataset-schema], [DG:limits]
(https://docs.aws.amazon.com/personalize/latest/dg/custom-datasets-and-schemas.html); for Domain dataset
groups [DG:ECOMMERCE-datasets-and-schemas], [DG:ECOMMERCE-items-dataset],
[DG:VIDEO-ON-DEMAND-datasets-and-schemas], [DG:VIDEO-ON-DEMAND-items-dataset]
(https://docs.aws.amazon.com/personalize/latest/dg/ECOMMERCE-datasets-and-schemas.html,
https://docs.aws.amazon.com/personalize/latest/dg/VIDEO-ON-DEMAND-datasets-and-schemas.html); the failure texts
are the InvalidInputException messages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace


MAX_SCHEMA_CHARS = 20000  # [BC] CreateSchema.schema
MAX_FIELD_NAME_CHARS = 150  # [BC] ColumnName
PRIMITIVE_TYPES = ("string", "int", "long", "float", "double", "boolean")
# Boolean schema attributes; each may only be set on a string field.
_FLAG_ATTRIBUTES = ("categorical", "textual", "itemName")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SchemaValidationError(ValueError):
    """A schema rule is broken; the message is the InvalidInputException text and names the field."""


@dataclass(frozen=True)
class SchemaField:
    name: str
    type: str  # the non-null Avro type, one of PRIMITIVE_TYPES
    nullable: bool
    categorical: bool = False
    textual: bool = False


@dataclass(frozen=True)
class DatasetSchema:
    name: str  # the Avro record name
    fields: tuple[SchemaField, ...]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> SchemaField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"schema {self.name!r} has no field {name!r}")


@dataclass(frozen=True)
class _Column:
    """A required field or reserved keyword of one dataset type [DG:custom-datasets-and-schemas]."""

    type: str
    required: bool = False
    nullable: bool = False  # whether the schema may declare it nullable (required fields never)
    flag: str | None = None  # "categorical" or "textual": the field must carry that attribute (domain fields)


@dataclass(frozen=True)
class _DatasetRules:
    api_name: str  # the datasetType spelling of the API and of the failure texts
    record_name: str  # the canonical Avro record name of every AWS example
    columns: dict[str, _Column]
    min_metadata: int
    max_metadata: int  # metadata = fields that are neither required nor reserved [DG:limits]
    max_textual: int = 0


_REQUIRED_STRING = _Column("string", required=True)
_REQUIRED_LONG = _Column("long", required=True)
_NULLABLE_STRING = _Column("string", nullable=True)
_NULLABLE_LONG = _Column("long", nullable=True)

_RULES = {
    "INTERACTIONS": _DatasetRules(
        "Interactions",
        "Interactions",
        {
            "USER_ID": _REQUIRED_STRING,
            "ITEM_ID": _REQUIRED_STRING,
            "TIMESTAMP": _REQUIRED_LONG,
            "EVENT_TYPE": _Column("string"),
            "EVENT_VALUE": _Column("float", nullable=True),
            "IMPRESSION": _NULLABLE_STRING,
            "RECOMMENDATION_ID": _NULLABLE_STRING,
            "EVENT_ATTRIBUTION_SOURCE": _NULLABLE_STRING,
        },
        min_metadata=0,
        max_metadata=5,
    ),
    "ITEMS": _DatasetRules(
        "Items",
        "Items",
        {"ITEM_ID": _REQUIRED_STRING, "CREATION_TIMESTAMP": _Column("long")},
        min_metadata=1,
        max_metadata=100,
        max_textual=1,
    ),
    "USERS": _DatasetRules("Users", "Users", {"USER_ID": _REQUIRED_STRING}, min_metadata=1, max_metadata=25),
    "ACTIONS": _DatasetRules(
        "Actions",
        "Actions",
        {
            "ACTION_ID": _REQUIRED_STRING,
            "CREATION_TIMESTAMP": _Column("long"),
            "VALUE": _NULLABLE_LONG,
            "TYPE": _NULLABLE_STRING,
            "EXPIRATION_TIMESTAMP": _NULLABLE_LONG,
            "REPEAT_FREQUENCY": _NULLABLE_LONG,
        },
        min_metadata=1,
        max_metadata=10,
    ),
    "ACTION_INTERACTIONS": _DatasetRules(
        "Action_Interactions",
        "ActionInteractions",
        {
            "USER_ID": _REQUIRED_STRING,
            "ACTION_ID": _REQUIRED_STRING,
            "EVENT_TYPE": _REQUIRED_STRING,
            "TIMESTAMP": _REQUIRED_LONG,
            "IMPRESSION": _NULLABLE_STRING,
            "RECOMMENDATION_ID": _NULLABLE_STRING,
        },
        min_metadata=0,
        max_metadata=5,
    ),
}
DATASET_TYPES = tuple(_RULES)

# Domain dataset groups [DG:ECOMMERCE-datasets-and-schemas], [DG:VIDEO-ON-DEMAND-datasets-and-schemas]: only
# Interactions, Users and Items datasets, each with the domain's required fields and reserved keywords. "Reserved
# categorical string fields must have categorical set to true, while reserved string fields can't be
# categorical"; the emulator reads a "textual string" keyword (PRODUCT_DESCRIPTION) the same way. Metadata limits
# are the custom ones [DG:limits]. CREATION_TIMESTAMP is a long, as in the requirement tables (the ECOMMERCE items
# page's list says float; emulator choice: the tables' long, as for custom Items).
DOMAINS = ("ECOMMERCE", "VIDEO_ON_DEMAND")
_CATEGORICAL = _Column("string", required=True, flag="categorical")
_NULLABLE_CATEGORICAL = _Column("string", nullable=True, flag="categorical")
_NULLABLE_TEXTUAL = _Column("string", nullable=True, flag="textual")
# Domain interactions: the custom fields, with EVENT_TYPE required.
_DOMAIN_INTERACTIONS = replace(_RULES["INTERACTIONS"],
                               columns={**_RULES["INTERACTIONS"].columns, "EVENT_TYPE": _REQUIRED_STRING})


def _domain_users(**fields: _Column) -> _DatasetRules:
    return _DatasetRules("Users", "Users", {"USER_ID": _REQUIRED_STRING, **fields}, min_metadata=1, max_metadata=25)


def _domain_items(**fields: _Column) -> _DatasetRules:
    return _DatasetRules("Items", "Items", {"ITEM_ID": _REQUIRED_STRING, **fields}, min_metadata=0,
                         max_metadata=100, max_textual=1)


_DOMAIN_RULES = {
    "ECOMMERCE": {
        "INTERACTIONS": _DOMAIN_INTERACTIONS,
        "USERS": _domain_users(),
        "ITEMS": _domain_items(
            PRICE=_Column("float", required=True), CATEGORY_L1=_CATEGORICAL, CATEGORY_L2=_NULLABLE_CATEGORICAL,
            CATEGORY_L3=_NULLABLE_CATEGORICAL, PRODUCT_DESCRIPTION=_NULLABLE_TEXTUAL,
            CREATION_TIMESTAMP=_Column("long"), AGE_GROUP=_NULLABLE_CATEGORICAL, ADULT=_NULLABLE_CATEGORICAL,
            GENDER=_NULLABLE_CATEGORICAL),
    },
    "VIDEO_ON_DEMAND": {
        "INTERACTIONS": _DOMAIN_INTERACTIONS,
        "USERS": _domain_users(SUBSCRIPTION_MODEL=_NULLABLE_CATEGORICAL),
        "ITEMS": _domain_items(
            GENRES=_CATEGORICAL, CREATION_TIMESTAMP=_REQUIRED_LONG, PRICE=_Column("float"),
            DURATION=_Column("float"), GENRE_L2=_NULLABLE_CATEGORICAL, GENRE_L3=_NULLABLE_CATEGORICAL,
            AVERAGE_RATING=_Column("float", nullable=True), PRODUCT_DESCRIPTION=_NULLABLE_TEXTUAL,
            CONTENT_OWNER=_NULLABLE_CATEGORICAL, CONTENT_CLASSIFICATION=_NULLABLE_CATEGORICAL),
    },
}


def check_domain(domain: str) -> None:
    """A CreateDatasetGroup/CreateSchema ``domain``: one of DOMAINS."""
    if domain not in DOMAINS:
        raise SchemaValidationError(f"Invalid domain {domain!r}; expected one of {', '.join(DOMAINS)}.")


def _rules(dataset_type: str) -> _DatasetRules:
    try:
        return _RULES[dataset_type.upper()]
    except KeyError:
        valid = ", ".join(r.api_name for r in _RULES.values())
        message = f"Invalid datasetType {dataset_type!r}; expected one of {valid}."
        raise SchemaValidationError(message) from None


def dataset_label(dataset_type: str) -> str:
    """The API's spelling of a dataset type (``ITEMS`` -> ``Items``), as filter expressions name datasets."""
    return _rules(dataset_type).api_name


def parse_schema(schema_json: str) -> DatasetSchema:
    """Check the CreateSchema-time rules (those that hold for every dataset type) and parse.

    An Avro ``record`` with a ``name`` and flat ``fields``, each a primitive type or a two-member union
    with ``"null"``; names unique after dropping underscores and case (emulator choice for the
    case: PutEvents maps camelCase property keys onto CONSTANT_CASE columns, so ``itemPrice`` and
    ``ITEM_PRICE`` would collide); ``categorical``/``textual``/``itemName`` are booleans on string
    fields. Unknown attributes (``doc``, ``default``, ``namespace``, ``version``) are ignored.
    """
    if len(schema_json) > MAX_SCHEMA_CHARS:
        raise SchemaValidationError(
            f"Invalid schema: {len(schema_json)} characters, more than the maximum of {MAX_SCHEMA_CHARS}."
        )
    try:
        doc = json.loads(schema_json)
    except json.JSONDecodeError as e:
        raise SchemaValidationError(f"Invalid schema: not valid JSON ({e}).") from None
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise SchemaValidationError('Invalid schema: the top level must be an Avro "record".')
    name, raw_fields = doc.get("name"), doc.get("fields")
    if not isinstance(name, str) or not name:
        raise SchemaValidationError('Invalid schema: the record needs a "name".')
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaValidationError('Invalid schema: the record needs a non-empty "fields" list.')
    fields = tuple(_parse_field(raw, position) for position, raw in enumerate(raw_fields, 1))
    seen: dict[str, str] = {}
    for f in fields:
        key = f.name.replace("_", "").upper()
        if key in seen:
            raise SchemaValidationError(
                f"Invalid schema: fields {seen[key]} and {f.name} have the same name alphanumerically; "
                "field names must be unique ignoring underscores and case."
            )
        seen[key] = f.name
    return DatasetSchema(name=name, fields=fields)


def _parse_field(raw: object, position: int) -> SchemaField:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise SchemaValidationError(f'Invalid schema: field #{position} must be an object with a "name".')
    name = raw["name"]
    if not _FIELD_NAME.fullmatch(name) or len(name) > MAX_FIELD_NAME_CHARS:
        raise SchemaValidationError(
            f"Invalid schema: field name {name!r} must match [A-Za-z_][A-Za-z0-9_]* "
            f"and have at most {MAX_FIELD_NAME_CHARS} characters."
        )
    avro_type = raw.get("type")
    nullable = isinstance(avro_type, list)  # the only union allowed is [<primitive>, "null"]
    non_null = [m for m in avro_type if m != "null"] if nullable else [avro_type]
    if (nullable and len(avro_type) != 2) or len(non_null) != 1 or non_null[0] not in PRIMITIVE_TYPES:
        raise SchemaValidationError(
            f"Invalid schema: field {name} has type {json.dumps(avro_type)}; use one of "
            f'{", ".join(PRIMITIVE_TYPES)} or a union of one of them with "null" '
            "(arrays, maps, records and enums are not supported)."
        )
    base = non_null[0]
    for attribute in _FLAG_ATTRIBUTES:
        value = raw.get(attribute, False)
        if not isinstance(value, bool):
            raise SchemaValidationError(f"Invalid schema: field {name}: {attribute!r} must be true or false.")
        if value and base != "string":
            raise SchemaValidationError(
                f"Invalid schema: field {name} is {attribute} but of type {base}; only string fields can be."
            )
    return SchemaField(name, base, nullable, raw.get("categorical", False), raw.get("textual", False))


def check_schema_for_dataset_type(schema: DatasetSchema, dataset_type: str, domain: str | None = None) -> None:
    """Check the CreateDataset-time rules: does ``schema`` fit ``dataset_type`` (case-insensitive)?

    ``domain`` (ECOMMERCE, VIDEO_ON_DEMAND): the rules of that domain's dataset groups instead, which have
    only Interactions, Users and Items datasets, and whose categorical (textual) keywords must be categorical
    (textual).

    The record name must be the type's canonical name (Interactions, Items, Users, Actions,
    ActionInteractions). The docs say the name "must match the dataset type" without saying where it
    is enforced; the emulator enforces it here (emulator choice). Required fields must be present with
    exactly their type and not nullable; reserved keywords, if present, must have their type and may be
    nullable only where the docs show ``null``; neither may be categorical or textual (the docs forbid
    categorical reserved strings such as EVENT_TYPE; the emulator extends that to the ID fields).
    Metadata fields (all others) are counted against the per-type limits of [DG:limits].
    """
    rules = _rules(dataset_type)
    if domain is not None:
        check_domain(domain)
        if dataset_type.upper() not in _DOMAIN_RULES[domain]:
            valid = ", ".join(r.api_name for r in _DOMAIN_RULES[domain].values())
            raise SchemaValidationError(
                f"{domain} Domain dataset groups have no {rules.api_name} datasets; their dataset types are {valid}."
            )
        rules = _DOMAIN_RULES[domain][dataset_type.upper()]
    label = rules.api_name if domain is None else f"{domain} {rules.api_name}"
    if schema.name != rules.record_name:
        raise SchemaValidationError(
            f"Schema record name {schema.name!r} does not match dataset type {label}; "
            f"expected {rules.record_name!r}."
        )
    for name, column in rules.columns.items():
        try:
            f = schema.field(name)
        except KeyError:
            if column.required:
                raise SchemaValidationError(
                    f"{label} schema is missing the required field {name} (type {column.type})."
                ) from None
            continue
        role = "required field" if column.required else "reserved keyword"
        if f.type != column.type:
            raise SchemaValidationError(
                f"{label} schema: {role} {name} must be of type {column.type}, not {f.type}."
            )
        if f.nullable and not column.nullable:
            raise SchemaValidationError(f"{label} schema: {role} {name} cannot be nullable.")
        if column.flag == "categorical" and not (f.categorical and not f.textual):
            raise SchemaValidationError(f"{label} schema: {role} {name} must be categorical (and not textual).")
        if column.flag == "textual" and not (f.textual and not f.categorical):
            raise SchemaValidationError(f"{label} schema: {role} {name} must be textual (and not categorical).")
        if column.flag is None and (f.categorical or f.textual):
            raise SchemaValidationError(f"{label} schema: {role} {name} cannot be categorical or textual.")
    metadata = [f.name for f in schema.fields if f.name not in rules.columns]
    if len(metadata) < rules.min_metadata:
        raise SchemaValidationError(
            f"{label} schema needs at least {rules.min_metadata} metadata field besides the required "
            f"and reserved fields ({', '.join(rules.columns)})."
        )
    if len(metadata) > rules.max_metadata:
        raise SchemaValidationError(
            f"{label} schema has {len(metadata)} metadata fields ({', '.join(metadata)}); "
            f"the maximum is {rules.max_metadata}."
        )
    textual = [f.name for f in schema.fields if f.textual]
    if len(textual) > rules.max_textual:
        allowed = (
            f"at most {rules.max_textual} textual field is allowed"
            if rules.max_textual
            else "textual fields are only allowed in Items schemas"
        )
        raise SchemaValidationError(f"{label} schema: {allowed} (found {', '.join(textual)}).")


def check_schema_replacement(current: DatasetSchema, new: DatasetSchema) -> None:
    """Check the UpdateDataset-time rule: may ``new`` replace ``current`` for the data already imported?

    The guide only says a replacement adds columns (new metadata to train or filter on). The emulator
    reads that strictly (emulator choice): every current field stays with the same type, nullability
    and ``categorical``/``textual`` flags, and an added field must be nullable, since the records
    already imported have no value for it.
    """
    for old in current.fields:
        try:
            f = new.field(old.name)
        except KeyError:
            raise SchemaValidationError(
                f"The new schema drops the field {old.name}; a replacement schema must keep every field "
                "of the dataset's current schema."
            ) from None
        if f != old:
            raise SchemaValidationError(
                f"The new schema changes the field {old.name}; a replacement schema must keep each current "
                "field's type, nullability and categorical/textual attributes."
            )
    for f in new.fields:
        if f.name not in current.field_names and not f.nullable:
            raise SchemaValidationError(
                f"The new schema adds the field {f.name} without null in its type; records already imported "
                "have no value for it, so an added field must be nullable."
            )

