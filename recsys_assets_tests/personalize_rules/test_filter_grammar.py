"""The filter-expression language as CreateFilter checks it, against the documented examples and rules."""

import pytest

from recsys_assets.personalize_rules.filter_checks import check_filter_against_schemas
from recsys_assets.personalize_rules.filter_grammar import FilterExpressionError, parse_filter
from recsys_assets.personalize_rules.schemas import DatasetSchema, SchemaField

# §6.2 of the API reference, verbatim.
DOC_EXAMPLES = [
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)',
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    'EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)',
    'INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE',
    'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("shoe") AND Items.CATEGORY_L2 NOT IN ("boot")',
    'INCLUDE ItemID WHERE Items.PRICE <= $PRICE',
    'INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE',
    'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)',
    'INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.CREATION_TIMESTAMP > $DATE',
    'EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE',
    'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("watch") AND Items.CATEGORY_L2 IN ("luxury") IF CurrentUser.AGE > 18',
    'INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")',
    'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    'INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)',
    'EXCLUDE UserID WHERE Users.AGE < $AGE',
    'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click", "rating")',
    'EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)',
    'INCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ($EVENT_TYPE)',
    'EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")',
    'EXCLUDE ActionID WHERE Actions.CATEGORY IN ($CATEGORY)',
    'INCLUDE ActionID WHERE Actions.VALUE > ($VALUE)',
    'EXCLUDE ActionID WHERE Actions.VALUE < ($VALUE) IF CurrentUser.MEMBERSHIP = $PREMIUM',
]


@pytest.mark.parametrize("expression", DOC_EXAMPLES)
def test_documented_examples_parse(expression):
    parsed = parse_filter(expression)
    assert parsed.expression == expression
    assert parsed.target == expression.split()[1]


def test_placeholders_and_fields():
    parsed = parse_filter(DOC_EXAMPLES[10])  # EXCLUDE ... IN ($GENRE) IF CurrentUser.AGE = $AGE
    assert parsed.placeholders == {"GENRE", "AGE"}
    assert parsed.fields == {"Items.GENRE", "Users.AGE"}
    assert parse_filter(DOC_EXAMPLES[4]).fields == {"Items.PRICE", "Items.GENRE"}
    assert parse_filter(DOC_EXAMPLES[13]).fields == {"Items.GENRE", "Interactions.EVENT_TYPE"}


def test_quoted_placeholder_and_lower_case_keywords():
    # The CLI example quotes its placeholder; the old CreateFilter doc writes keywords in lower case.
    assert parse_filter('EXCLUDE ItemID WHERE Items.CATEGORY IN ("$CATEGORY")').placeholders == {"CATEGORY"}
    parsed = parse_filter('EXCLUDE itemId where INTERACTIONS.event_type in ("*")')
    assert parsed.fields == {"Interactions.EVENT_TYPE"}


NOT_IN_MESSAGE = (
    "Could not create filter. Invalid input symbol: $GENRE. Placeholders are not allowed with NOT_IN operator."
)


@pytest.mark.parametrize(
    "expression, message",
    [
        ('INCLUDE ItemID WHERE Items.GENRE NOT IN ($GENRE)', NOT_IN_MESSAGE),
        ('INCLUDE ItemID WHERE Items.GENRE NOT IN ("$GENRE")', NOT_IN_MESSAGE),
        ('INCLUDE ItemID WHERE Products.GENRE IN ("a")', "Invalid input symbol: Products. Unknown dataset"),
        ('INCLUDE ItemID WHERE Items.PRICE == 5', "Invalid input symbol: ==. Expected one of IN, NOT IN"),
        ('INCLUDE ItemID WHERE Items.GENRE LIKE ("a")', "Invalid input symbol: LIKE."),
        ('INCLUDE ItemID WHERE Items.GENRE NOT ("a")', "Expected IN after NOT"),
        (
            'INCLUDE ItemID WHERE Items.GENRE IN ("a") AND Interactions.EVENT_TYPE IN ("click")',
            "you can't use Items and Interactions datasets in one expression",
        ),
        (
            'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") OR Items.GENRE IN ("a")',
            "you can't use Interactions and Items datasets in one expression",
        ),
        (
            'INCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > 18 AND Items.PRICE < 5',
            "IF must be at the end of an expression",
        ),
        ('INCLUDE ItemID IF CurrentUser.AGE > 18 WHERE Items.GENRE IN ("a")', "IF can only come once, at the end"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") IF Items.PRICE < 5', "IF conditions can only use CurrentUser"),
        ('INCLUDE ItemID WHERE CurrentUser.AGE > 18', "CurrentUser can only be used in an IF condition"),
        (
            'INCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > 18 IF CurrentUser.AGE < 60',
            "Invalid input symbol: IF. An expression can contain only one IF condition.",
        ),
        (
            'INCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > 18 OR CurrentUser.AGE < 9',
            "IF conditions can only be extended with AND",
        ),
        ('EXCLUDE ItemID WHERE Items.GENRE IN (*)', "Invalid input symbol: *. * can only be used with Interactions.EVENT_TYPE."),
        ('EXCLUDE ItemID WHERE Interactions.EVENT_VALUE IN ("5")', "can only use the EVENT_TYPE field"),
        ('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")', "only support the IN operator"),
        ('EXCLUDE ItemID WHERE Users.AGE > 18', "ItemID expressions filter on Items or Interactions data, not Users"),
        ('EXCLUDE ItemID WHERE Items.A IN ("a") | EXCLUDE UserID WHERE Users.B IN ("b")', "the same target"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ($GENRE, "a")', "must be the only value in its list"),
        ('INCLUDE ItemID WHERE Items.PRICE < (1, 2)', "compares against a single value"),
        ('INCLUDE ItemID WHERE Items.PRICE < "cheap"', '"cheap" is not a number'),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") |', "Invalid input symbol: |."),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a"', "the expression ends early; expected )"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") ORDER', "Invalid input symbol: ORDER. Expected AND, OR, IF"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") # x', "Invalid input symbol: #"),
        ('INCLUDES ItemID WHERE Items.GENRE IN ("a")', "Invalid input symbol: INCLUDES."),
        ('INCLUDE Item WHERE Items.GENRE IN ("a")', "Expected ItemID, UserID or ActionID"),
        ('INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem)', "Invalid input symbol: CurrentItem."),
        ("", "the filter expression is empty"),
        ("   ", "the filter expression is empty"),
        ('EXCLUDE ItemID WHERE Items.GENRE IN ("' + "a" * 2500 + '")', "the maximum is 2500"),
        (
            " | ".join(f'EXCLUDE ItemID WHERE Items.F{i} IN ("a")' for i in range(11)),
            "at most 10 distinct dataset fields; this one uses 11",
        ),
    ],
)
def test_invalid_expressions(expression, message):
    with pytest.raises(FilterExpressionError) as info:
        parse_filter(expression)
    assert str(info.value).startswith("Could not create filter. ")
    assert message in str(info.value)


def test_ten_distinct_fields_are_allowed():
    parse_filter(" | ".join(f'EXCLUDE ItemID WHERE Items.F{i} IN ("a")' for i in range(10)))


def schema(record: str, *fields: str) -> DatasetSchema:
    """A schema from ``NAME:type`` specs; ``?`` marks a nullable field, ``:cat``/``:text`` the attributes."""
    parsed = []
    for spec in fields:
        name, avro_type, *flags = spec.split(":")
        nullable = avro_type.endswith("?")
        parsed.append(SchemaField(name, avro_type.rstrip("?"), nullable, "cat" in flags, "text" in flags))
    return DatasetSchema(record, tuple(parsed))


SCHEMAS = {
    "Items": schema("Items", "ITEM_ID:string", "GENRE:string:cat", "PRICE:float", "IN_STOCK:boolean",
                    "DESCRIPTION:string?:text", "BRAND:string?"),
    "Users": schema("Users", "USER_ID:string", "AGE:int"),
    "Interactions": schema("Interactions", "USER_ID:string", "ITEM_ID:string", "TIMESTAMP:long"),
    "Actions": schema("Actions", "ACTION_ID:string", "EXPIRATION_TIMESTAMP:long?", "VALUE:long?"),
}


@pytest.mark.parametrize(
    "expression",
    [
        'INCLUDE ItemID WHERE Items.genre IN ("a") IF CurrentUser.AGE > 3',
        # EVENT_TYPE is accepted without an EVENT_TYPE column: every interaction has a (possibly empty) type.
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
        'INCLUDE ItemID WHERE Items.BRAND IN ($BRAND)',  # a plain, non-categorical string filters too
        'INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE',
        'INCLUDE UserID WHERE Users.AGE >= 18',
        'EXCLUDE ActionID WHERE Actions.VALUE < 3',
    ],
)
def test_check_against_datasets_accepts(expression):
    check_filter_against_schemas(parse_filter(expression), SCHEMAS)


@pytest.mark.parametrize(
    "expression, datasets, message",
    [
        ('INCLUDE ItemID WHERE Items.COLOR IN ("red")', SCHEMAS, "COLOR is not a field of the Items dataset schema"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.HEIGHT > 3', SCHEMAS,
         "HEIGHT is not a field of the Users dataset schema"),
        ('INCLUDE ItemID WHERE Items.PRICE < CurrentItem.COST', SCHEMAS, "COST is not a field of the Items dataset"),
        ('EXCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > 3',
         {"Items": SCHEMAS["Items"], "Interactions": SCHEMAS["Interactions"]}, "needs the dataset group's Users dataset"),
        ('INCLUDE ItemID WHERE Items.IN_STOCK IN ("true")', SCHEMAS,
         "Items.IN_STOCK is a boolean field; boolean fields can't be used in filters"),
        ('EXCLUDE ItemID WHERE Items.DESCRIPTION IN ("red")', SCHEMAS,
         "Items.DESCRIPTION is a textual field; textual fields can't be used in filters"),
        ('EXCLUDE ActionID WHERE Actions.EXPIRATION_TIMESTAMP < 5', SCHEMAS,
         "Actions.EXPIRATION_TIMESTAMP is applied automatically"),
        ('INCLUDE ItemID WHERE Items.GENRE > 5', SCHEMAS, "Items.GENRE is a string field; <, <=, > and >= compare"),
        ('INCLUDE ItemID WHERE Items.PRICE > CurrentItem.GENRE', SCHEMAS, "Items.GENRE is a string field"),
    ],
)
def test_check_against_datasets_rejects(expression, datasets, message):
    with pytest.raises(FilterExpressionError) as info:
        check_filter_against_schemas(parse_filter(expression), datasets)
    assert str(info.value).startswith("Could not create filter. Invalid Expression: ")
    assert message in str(info.value)


def test_uses_current_item():
    assert parse_filter('INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE').uses_current_item
    assert not parse_filter('INCLUDE ItemID WHERE Items.PRICE < 5').uses_current_item


@pytest.mark.parametrize(
    "values, message",
    [
        ("not a dict", "filterValues must be a JSON object"),
        ({"bad key": '"a"'}, "Invalid filterValues key"),
        ({"GENRE": 5}, "must be a string of at most 1000 characters"),
        ({"GENRE": "horror"}, r"Invalid filter value for \$GENRE"),
        ({"GENRE": ""}, r"Invalid filter value for \$GENRE"),
        ({"GENRE": '"a"', "PRICE": '"1","2"'}, r"\$PRICE is used with a comparison operator and takes exactly one value"),
        ({"GENRE": '"a"', "PRICE": '"cheap"'}, r"\$PRICE is compared with <, <=, > or >= and needs a number"),
        ({f"K{i}": '"a"' for i in range(26)}, "at most 25 entries"),
    ],
)
def test_bad_filter_values(values, message):
    filter_ = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Items.PRICE > $PRICE')
    with pytest.raises(ValueError, match=message):
        filter_.resolve_values(values)


def test_resolve_values():
    filter_ = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Items.PRICE > $PRICE')
    assert filter_.resolve_values({"GENRE": '"horror","sci, fi"', "OTHER": '"x"'}) == {"GENRE": ("horror", "sci, fi")}
    assert filter_.resolve_values({"GENRE": '"a"', "PRICE": "7"}) == {"GENRE": ("a",), "PRICE": ("7",)}
