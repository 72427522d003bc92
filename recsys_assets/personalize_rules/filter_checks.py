"""CreateFilter's rules against the dataset group's schemas [DG:filter-expression-guidelines-requirements].

https://docs.aws.amazon.com/personalize/latest/dg/filter-expressions.html: a field must be in its dataset's
schema; boolean and textual fields can't be filtered on, nor the action fields the service applies itself;
``<``, ``<=``, ``>``, ``>=`` need a numeric field. Every interaction has an event type (empty when the schema
has no EVENT_TYPE column), so the common ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")`` holds on
any schema.
"""

from __future__ import annotations

from typing import Mapping

from recsys_assets.personalize_rules.filter_grammar import (
    EVENT_DATASETS,
    ORDERINGS,
    ParsedFilter,
    filter_error,
    qualified_fields,
)
from recsys_assets.personalize_rules.schemas import DatasetSchema

# Applied by the service itself, never filtered on.
_UNFILTERABLE = frozenset({"Actions.EXPIRATION_TIMESTAMP", "Actions.REPEAT_FREQUENCY"})
_NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})


def check_filter_against_schemas(parsed: ParsedFilter, schemas: Mapping[str, DatasetSchema]) -> None:
    """FilterExpressionError unless ``parsed`` holds against ``schemas``, keyed Items, Users, Interactions,
    Actions, Action_Interactions (the group's datasets; CreateFilter needs the ones it names to exist)."""
    available = {name.upper(): schema for name, schema in schemas.items()}
    compared = {name for c in parsed.conditions if c.op in ORDERINGS for name in qualified_fields(c)}
    for qualified in sorted(parsed.fields):
        dataset, fld = qualified.split(".")
        schema = available.get(dataset.upper())
        if schema is None:
            raise filter_error(f"Invalid Expression: {qualified} needs the dataset group's {dataset} dataset, and it has none.")
        if dataset in EVENT_DATASETS and fld == "EVENT_TYPE":
            continue
        declared = {f.name.upper(): f for f in schema.fields}.get(fld)
        if declared is None:
            raise filter_error(f"Invalid Expression: {fld} is not a field of the {dataset} dataset schema.")
        if declared.type == "boolean":
            raise filter_error(f"Invalid Expression: {qualified} is a boolean field; boolean fields can't be used in filters.")
        if declared.textual:
            raise filter_error(f"Invalid Expression: {qualified} is a textual field; textual fields can't be used in filters.")
        if qualified in _UNFILTERABLE:
            raise filter_error(f"Invalid Expression: {qualified} is applied automatically and can't be used in filters.")
        if qualified in compared and declared.type not in _NUMERIC_TYPES:
            raise filter_error(
                f"Invalid Expression: {qualified} is a {declared.type} field; <, <=, > and >= compare numeric fields."
            )
