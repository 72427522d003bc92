"""Filters applied to recommendations: which items each request may get, on hand-made catalogues."""

import numpy as np
import pandas as pd
import pytest

from recsys_assets.engine.filter_evaluation import FilterContext, allowed_mask, allowed_mask_for_items
from recsys_assets.personalize_rules.filter_grammar import parse_filter

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
    mask = allowed_mask(parse_filter(expression), ctx, list(user_ids), filter_values)
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
    mask = allowed_mask(parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'), ctx, ["u"], [None])
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
        allowed_mask(filter_, ctx, ["u1"], [{"MAX": '"10"'}])


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
    "expression, message",
    [
        ('INCLUDE UserID WHERE Users.AGE > 18', "only ItemID filters"),
        ('INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE', "CurrentItem filters need the item of a related-items request"),
    ],
)
def test_unsupported_targets(ctx, expression, message):
    with pytest.raises(NotImplementedError, match=message):
        allowed_mask(parse_filter(expression), ctx, ["u1"], [None])


# --- related-items requests: CurrentItem is each request's item ------------------------------------


def for_items(ctx, expression, item_ids, filter_values=None):
    """Allowed item ids per related-items request."""
    filter_values = filter_values or [None] * len(item_ids)
    mask = allowed_mask_for_items(parse_filter(expression), ctx, list(item_ids), filter_values)
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
        allowed_mask_for_items(parse_filter('EXCLUDE ItemID WHERE Items.PRICE > 5'), ctx, ["i1", "i2"], [None])


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
    together = allowed_mask_for_items(parsed, ctx, requests, [None] * len(requests))
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
    mask = allowed_mask(parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'), ctx, user_ids, [None] * n)
    purchased = np.zeros((n, n), dtype=bool)
    first = np.arange(0, len(users), 5)
    purchased[users[first], items[first]] = True
    assert np.array_equal(mask, ~purchased)
