import numpy as np
import pandas as pd
import pytest

from recsys_assets.engine.filters import FilterContext, FilterExpressionError, parse_filter
from recsys_assets.engine.validation import DatasetSchema, SchemaField

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
    parse_filter(expression).check_against_datasets(SCHEMAS)


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
        parse_filter(expression).check_against_datasets(datasets)
    assert str(info.value).startswith("Could not create filter. Invalid Expression: ")
    assert message in str(info.value)


def test_uses_current_item():
    assert parse_filter('INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE').uses_current_item
    assert not parse_filter('INCLUDE ItemID WHERE Items.PRICE < 5').uses_current_item


# --- evaluation on a hand-made catalogue ---------------------------------------------------------------

ITEMS = np.array(["i1", "i2", "i3", "i4", "i5", "i6"])


@pytest.fixture
def ctx():
    items = pd.DataFrame(
        {
            "ITEM_ID": ["i1", "i2", "i3", "i4", "i5", "i6", "not-in-catalogue"],
            "GENRE": ["comedy|drama", "horror", "comedy", "drama", None, "horror|comedy", "comedy"],
            "PRICE": [5, 10, 15, 20, 25, np.nan, 1],
        }
    )
    interactions = pd.DataFrame(
        {
            "USER_ID": ["u1", "u1", "u2", "u3"],
            "ITEM_ID": ["i1", "i2", "i3", "i4"],
            "TIMESTAMP": [100, 200, 300, 400],
            "EVENT_TYPE": ["Click", "purchase", "purchase", "favorite"],
        }
    )
    users = pd.DataFrame({"USER_ID": ["u1", "u2"], "AGE": [30, 15], "MEMBERSHIP": ["gold", "basic"]})
    return FilterContext(item_ids=ITEMS, interactions=interactions, items=items, users=users)


def allowed(ctx, expression, user_ids=("u1",), filter_values=None):
    """Allowed item ids per user."""
    filter_values = filter_values or [None] * len(user_ids)
    mask = parse_filter(expression).allowed_mask(ctx, list(user_ids), filter_values)
    assert mask.shape == (len(user_ids), len(ITEMS)) and mask.dtype == bool
    return [set(ITEMS[row]) for row in mask]


ALL = set(ITEMS)


@pytest.mark.parametrize(
    "expression, expected",
    [
        ('INCLUDE ItemID WHERE Items.GENRE IN ("comedy")', {"i1", "i3", "i6"}),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("comedy", "horror")', {"i1", "i2", "i3", "i6"}),
        ('EXCLUDE ItemID WHERE Items.GENRE IN ("comedy")', {"i2", "i4", "i5"}),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")', set()),  # exact, case-sensitive match
        ('INCLUDE ItemID WHERE Items.GENRE IN ("comedy|drama")', set()),  # matches single values only
        ('INCLUDE ItemID WHERE Items.GENRE NOT IN ("comedy")', {"i2", "i4", "i5"}),  # i5 has no genre
        ('INCLUDE ItemID WHERE Items.PRICE < 15', {"i1", "i2"}),
        ('INCLUDE ItemID WHERE Items.PRICE <= 15', {"i1", "i2", "i3"}),
        ('INCLUDE ItemID WHERE Items.PRICE > 15', {"i4", "i5"}),
        ('INCLUDE ItemID WHERE Items.PRICE >= 15', {"i3", "i4", "i5"}),
        ('INCLUDE ItemID WHERE Items.PRICE = 15', {"i3"}),
        ('INCLUDE ItemID WHERE Items.PRICE != 15', ALL - {"i3"}),
        ('INCLUDE ItemID WHERE Items.PRICE IN (15)', {"i3"}),
        ('INCLUDE ItemID WHERE Items.GENRE = "horror"', {"i2", "i6"}),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("drama") AND Items.PRICE > 10', {"i4"}),
        # AND binds tighter than OR: horror OR (drama AND price > 15).
        ('INCLUDE ItemID WHERE Items.GENRE IN ("horror") OR Items.GENRE IN ("drama") AND Items.PRICE > 15', {"i2", "i4", "i6"}),
        ('EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("x") | EXCLUDE ItemID WHERE Items.GENRE IN ("y")', None),
    ],
)
def test_item_conditions(ctx, expression, expected):
    if expected is None:  # a field the Items data doesn't have
        with pytest.raises(ValueError, match="Items.CATEGORY_L1 but the Items data has no such column"):
            allowed(ctx, expression)
    else:
        assert allowed(ctx, expression) == [expected]


def test_event_types_case_insensitive_wildcard_and_unknown_users(ctx):
    users = ("u1", "u2", "stranger")
    assert allowed(ctx, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', users) == [
        ALL - {"i1"}, ALL, ALL,
    ]
    assert allowed(ctx, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("PURCHASE", "click")', users) == [
        ALL - {"i1", "i2"}, ALL - {"i3"}, ALL,
    ]
    for star in ('(*)', '("*")'):
        assert allowed(ctx, f"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN {star}", users) == [
            ALL - {"i1", "i2"}, ALL - {"i3"}, ALL,
        ]
    assert allowed(ctx, 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")', users) == [{"i2"}, {"i3"}, set()]


def test_event_type_column_is_optional():
    interactions = pd.DataFrame({"USER_ID": ["u1"], "ITEM_ID": ["i2"], "TIMESTAMP": [1]})
    ctx = FilterContext(item_ids=ITEMS, interactions=interactions)
    assert allowed(ctx, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")') == [ALL - {"i2"}]
    assert allowed(ctx, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")') == [ALL]


def test_only_the_100_most_recent_interactions_per_event_type_count():
    catalogue = np.array([f"v{i}" for i in range(101)] + ["p0"])
    views = pd.DataFrame(
        {"USER_ID": "u", "ITEM_ID": [f"v{i}" for i in range(101)], "TIMESTAMP": np.arange(101) + 1000, "EVENT_TYPE": "view"}
    )
    # The purchase is older than every view, but the 100 are counted per event type.
    purchase = pd.DataFrame({"USER_ID": ["u"], "ITEM_ID": ["p0"], "TIMESTAMP": [1], "EVENT_TYPE": ["purchase"]})
    ctx = FilterContext(item_ids=catalogue, interactions=pd.concat([views, purchase]))
    mask = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")').allowed_mask(ctx, ["u"], [None])
    assert set(catalogue[mask[0]]) == {"v0"}  # the oldest view fell out of the window


@pytest.mark.parametrize(
    "expression, expected_u1",
    [
        # all-INCLUDE: union
        ('INCLUDE ItemID WHERE Items.GENRE IN ("horror") | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', {"i1", "i2", "i6"}),
        # all-EXCLUDE: union of the removed sets
        ('EXCLUDE ItemID WHERE Items.GENRE IN ("comedy") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', {"i4", "i5"}),
        # mixed: (∪ INCLUDE) − (∪ EXCLUDE), whatever the order
        ('INCLUDE ItemID WHERE Items.GENRE IN ("comedy") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', {"i3", "i6"}),
        ('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*") | INCLUDE ItemID WHERE Items.GENRE IN ("comedy")', {"i3", "i6"}),
        (
            'INCLUDE ItemID WHERE Items.GENRE IN ("horror") | INCLUDE ItemID WHERE Items.PRICE < 10 '
            '| EXCLUDE ItemID WHERE Items.PRICE > 5 AND Items.PRICE < 15',
            {"i1", "i6"},
        ),
    ],
)
def test_combined_expressions(ctx, expression, expected_u1):
    assert allowed(ctx, expression) == [expected_u1]


def test_placeholders_per_user(ctx):
    expression = 'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)'
    values = [{"GENRE": '"horror"'}, {"GENRE": '"comedy","drama"'}, {"GENRE": '"horror"', "UNUSED": '"x"'}]
    assert allowed(ctx, expression, ("u1", "u2", "u3"), values) == [
        {"i2", "i6"}, {"i1", "i3", "i4", "i6"}, {"i2", "i6"},
    ]


@pytest.mark.parametrize("price", ['"10"', "10", "10.0"])
def test_numeric_placeholder_quoted_or_not(ctx, price):
    assert allowed(ctx, 'INCLUDE ItemID WHERE Items.PRICE <= $PRICE', filter_values=[{"PRICE": price}]) == [{"i1", "i2"}]


def test_missing_include_placeholder_is_an_error(ctx):
    filter_ = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Items.PRICE > $MAX')
    with pytest.raises(ValueError, match=r"Missing filter value for \$GENRE"):
        filter_.allowed_mask(ctx, ["u1"], [{"MAX": '"10"'}])


def test_missing_exclude_placeholder_drops_that_expression(ctx):
    expression = 'EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Items.PRICE > 20'
    assert allowed(ctx, expression, ("u1", "u2"), [None, {"GENRE": '"horror"'}]) == [
        ALL - {"i5"}, ALL - {"i5", "i2", "i6"},
    ]
    # A missing placeholder in the IF clause drops the expression too.
    assert allowed(ctx, 'EXCLUDE ItemID WHERE Items.PRICE > 5 IF CurrentUser.AGE > $AGE') == [ALL]


def test_if_current_user(ctx):
    users = ("u1", "u2", "no-users-row")
    # Applies to u1 (30) only; u2 (15) and a user without a Users row keep everything.
    assert allowed(ctx, 'INCLUDE ItemID WHERE Items.GENRE IN ("comedy") IF CurrentUser.AGE > 18', users) == [
        {"i1", "i3", "i6"}, ALL, ALL,
    ]
    expression = 'EXCLUDE ItemID WHERE Items.GENRE IN ("horror") IF CurrentUser.MEMBERSHIP = $TIER AND CurrentUser.AGE >= 15'
    assert allowed(ctx, expression, ("u1", "u2"), [{"TIER": '"gold"'}, {"TIER": '"gold"'}]) == [
        ALL - {"i2", "i6"}, ALL,
    ]
    assert allowed(ctx, expression, ("u2",), [{"TIER": '"basic"'}]) == [ALL - {"i2", "i6"}]


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


@pytest.mark.parametrize(
    "expression, message",
    [
        ('INCLUDE UserID WHERE Users.AGE > 18', "only ItemID filters"),
        ('INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE', "CurrentItem filters need the item of a related-items request"),
    ],
)
def test_unsupported_targets(ctx, expression, message):
    with pytest.raises(NotImplementedError, match=message):
        parse_filter(expression).allowed_mask(ctx, ["u1"], [None])


# --- related-items requests: CurrentItem is each request's item ------------------------------------


def for_items(ctx, expression, item_ids, filter_values=None):
    """Allowed item ids per related-items request."""
    filter_values = filter_values or [None] * len(item_ids)
    mask = parse_filter(expression).allowed_mask_for_items(ctx, list(item_ids), filter_values)
    assert mask.shape == (len(item_ids), len(ITEMS)) and mask.dtype == bool
    return [set(ITEMS[row]) for row in mask]


@pytest.mark.parametrize(
    "expression, expected",
    [
        # i1 comedy|drama 5, i2 horror 10, i3 comedy 15, i4 drama 20, i5 (none) 25, i6 horror|comedy (no price)
        ('INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE', [{"i1", "i2"}, {"i1", "i2", "i3", "i4"}]),
        ('INCLUDE ItemID WHERE Items.PRICE >= CurrentItem.PRICE', [{"i3", "i4", "i5"}, {"i5"}]),
        # Shares one of the current item's genres (i3: comedy; i5: no genre, so nothing matches).
        ('INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE', [{"i1", "i3", "i6"}, set()]),
        ('INCLUDE ItemID WHERE Items.GENRE NOT IN CurrentItem.GENRE', [{"i2", "i4", "i5"}, ALL]),
        ('EXCLUDE ItemID WHERE Items.GENRE = CurrentItem.GENRE', [{"i2", "i4", "i5"}, ALL]),
        ('INCLUDE ItemID WHERE Items.PRICE = CurrentItem.PRICE', [{"i3"}, {"i5"}]),
        ('INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE', [{"i1"}, set()]),
        ('INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.PRICE > 5', [{"i2"}, {"i2", "i3", "i4"}]),
    ],
)
def test_current_item_conditions(ctx, expression, expected):
    assert for_items(ctx, expression, ["i3", "i5"]) == expected


def test_current_item_outside_the_catalogue_or_unknown(ctx):
    # "not-in-catalogue" (comedy, 1) has an Items row but the model never saw it; "ghost" has no row at all.
    expression = 'INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE'
    assert for_items(ctx, expression, ["not-in-catalogue", "ghost"]) == [{"i1", "i3", "i6"}, set()]
    assert for_items(ctx, 'EXCLUDE ItemID WHERE Items.PRICE > CurrentItem.PRICE', ["ghost"]) == [ALL]


def test_related_items_requests_have_no_current_user(ctx):
    # No user: interactions match no item, and an IF condition does not hold (its expression is dropped).
    assert for_items(ctx, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', ["i1"]) == [ALL]
    assert for_items(ctx, 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', ["i1"]) == [set()]
    expression = 'EXCLUDE ItemID WHERE Items.GENRE IN ("horror") IF CurrentUser.AGE > 1'
    assert for_items(ctx, expression, ["i1"]) == [ALL]


def test_related_items_placeholders_per_request(ctx):
    expression = 'INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE | EXCLUDE ItemID WHERE Items.PRICE > $MAX'
    values = [{"MAX": '"10"'}, None, {"MAX": "20"}]
    # i1 shares comedy or drama with i1, i3, i4, i6; i4 (drama) with i1 and i4. A missing $MAX drops the EXCLUDE.
    assert for_items(ctx, expression, ["i1", "i1", "i4"], values) == [{"i1", "i6"}, {"i1", "i3", "i4", "i6"},
                                                                      {"i1", "i4"}]
    with pytest.raises(ValueError, match=r"Missing filter value for \$GENRE"):
        for_items(ctx, 'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)', ["i1"])


def test_related_items_filters_need_item_targets_and_items_data(ctx):
    with pytest.raises(NotImplementedError, match="only ItemID filters"):
        for_items(ctx, 'INCLUDE UserID WHERE Users.AGE > 18', ["i1"])
    bare = FilterContext(item_ids=ITEMS, interactions=ctx.interactions)
    with pytest.raises(ValueError, match="no Items data"):
        for_items(bare, 'INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE', ["i1"])
    with pytest.raises(ValueError, match="got 2 requests but 1 filterValues"):
        parse_filter('EXCLUDE ItemID WHERE Items.PRICE > 5').allowed_mask_for_items(ctx, ["i1", "i2"], [None])


def test_current_item_mask_matches_a_per_item_loop():
    # Many requests at once must equal asking item by item (the block-wise evaluation keeps rows apart).
    rng = np.random.default_rng(1)
    n = 300
    catalogue = np.array([f"i{i}" for i in range(n)])
    items = pd.DataFrame({"ITEM_ID": catalogue, "PRICE": rng.integers(0, 50, n).astype(float),
                          "GENRE": rng.choice(["a", "b", "c", "a|b", None], n)})
    ctx = FilterContext(item_ids=catalogue, interactions=pd.DataFrame(columns=["USER_ID", "ITEM_ID", "TIMESTAMP"]),
                        items=items)
    parsed = parse_filter('INCLUDE ItemID WHERE Items.PRICE <= CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE')
    requests = list(rng.choice(catalogue, 2500))
    together = parsed.allowed_mask_for_items(ctx, requests, [None] * len(requests))
    genres = items.set_index("ITEM_ID")["GENRE"].map(lambda g: set(g.split("|")) if isinstance(g, str) else set())
    prices = items.set_index("ITEM_ID")["PRICE"]
    for row in (0, 1, 2047, 2048, 2499):
        current = requests[row]
        expected = (prices.to_numpy() <= prices[current]) & np.array([bool(g & genres[current]) for g in genres])
        assert np.array_equal(together[row], expected)


def test_missing_datasets_are_reported(ctx):
    bare = FilterContext(item_ids=ITEMS, interactions=ctx.interactions)
    with pytest.raises(ValueError, match="no Items data"):
        allowed(bare, 'INCLUDE ItemID WHERE Items.GENRE IN ("a")')
    with pytest.raises(ValueError, match="no Users data"):
        allowed(bare, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*") IF CurrentUser.AGE > 1')


def test_purchase_filter_at_scale():
    # 10,000 users x 10,000 items, the pipeline's usual filter; must stay vectorised.
    rng = np.random.default_rng(0)
    n = 10_000
    catalogue = np.array([f"i{i}" for i in range(n)])
    users = np.repeat(np.arange(n), 5)
    items = rng.integers(0, n, len(users))
    interactions = pd.DataFrame(
        {
            "USER_ID": [f"u{u}" for u in users],
            "ITEM_ID": catalogue[items],
            "TIMESTAMP": np.arange(len(users)),
            "EVENT_TYPE": np.where(np.arange(len(users)) % 5 == 0, "purchase", "view"),
        }
    )
    ctx = FilterContext(item_ids=catalogue, interactions=interactions)
    user_ids = [f"u{u}" for u in range(n)]
    mask = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")').allowed_mask(ctx, user_ids, [None] * n)
    purchased = np.zeros((n, n), dtype=bool)
    first = np.arange(0, len(users), 5)
    purchased[users[first], items[first]] = True
    assert np.array_equal(mask, ~purchased)
