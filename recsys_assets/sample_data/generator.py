"""Deterministic users, items and interaction events of a small demo shop.

The data carries structure a recommender can learn. Users belong to segments; each segment
prefers a few categories and every user has 2-3 favourite categories among them, which receive
most of the user's events throughout the whole window (so older events predict newer ones).
Item popularity is Zipf-like inside a category and tilted per segment, which gives matrix
factorisation signal beyond category level; the remaining events follow global popularity.

Events also repeat the way a real shop's do, rather than by chance. They come in visits (sessions
of about SESSION_EVENTS events a few minutes apart, visits at least SESSION_GAP apart, mostly in
the evening), each browsing one category; inside a visit, views go back to items seen earlier in
it (REVIEW_SHARE) and most clicks, likes and purchases act on the item just viewed
(FOLLOW_UP_SHARE). Otherwise a user meets an item only once: first encounters are drawn without
replacement, as browsing mostly moves on to new items. Consumable categories
(CONSUMABLE_PRODUCTS: coffee, tea, shampoo...) are bought again: some users with one among their
favourites re-buy one staple item of it about every REPURCHASE_DAYS, in a visit that opens with a
view of it, while a durable is bought at most once by a user. With the defaults about 30 % of a
user's events after their first touch an item they touched before (the old independent draws
gave 47 % on this small catalogue, by chance and spread over the window).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlalchemy as sa

metadata = sa.MetaData()

users_table = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("age", sa.Integer, nullable=True),
    sa.Column("os_device", sa.String(16), nullable=True),
    sa.Column("signup_at", sa.DateTime, nullable=False),
)

items_table = sa.Table(
    "items",
    metadata,
    sa.Column("item_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("category_id", sa.Integer, nullable=False),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
)

events_table = sa.Table(
    "events",
    metadata,
    # SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
    sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("item_id", sa.Integer, nullable=False),
    sa.Column("event_type", sa.String(16), nullable=False),
    # Double rather than Float: FLOAT is single precision on MariaDB and would mangle cents.
    sa.Column("event_value", sa.Double, nullable=True),
    # Exports select events by time window.
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
)

EVENT_TYPES = ("view", "click", "like", "purchase")
EVENT_TYPE_SHARES = (0.70, 0.18, 0.07, 0.05)
OS_DEVICES = ("ios", "android", "web", "windows", "macos")
CATEGORY_PRODUCTS = (
    "Coffee Beans", "Tea", "Mug", "Kettle", "Notebook", "Pen", "Backpack", "Sneakers",
    "T-Shirt", "Hoodie", "Headphones", "Phone Case", "Charger", "Desk Lamp", "Plant Pot",
    "Candle", "Cookbook", "Novel", "Board Game", "Puzzle", "Yoga Mat", "Water Bottle",
    "Sunglasses", "Watch", "Wallet", "Shampoo", "Face Cream", "Dog Toy", "Cat Bed", "Bike Light",
)  # fmt: skip
# Used up and bought again; everything else is a durable, bought once.
CONSUMABLE_PRODUCTS = ("Coffee Beans", "Tea", "Candle", "Shampoo", "Face Cream", "Dog Toy")
ADJECTIVES = (
    "Classic", "Compact", "Deluxe", "Eco", "Everyday", "Premium", "Retro", "Smart",
    "Soft", "Travel", "Ultra", "Vintage", "Bold", "Mini", "Pro", "Organic",
)  # fmt: skip

SEGMENTS = 12
SEGMENT_CATEGORIES = 5
MIN_EVENTS_PER_USER = 3
FOLLOW_UP_SHARE = 0.7  # clicks/likes/purchases that act on the last item viewed in the session
SESSION_EVENTS = 5  # mean events per visit
SESSION_GAP = 1800  # seconds at least between two visits of a user, a common session timeout
REVIEW_SHARE = 0.15  # views that go back to an item seen earlier in the visit
STRAY_SHARE = 0.1  # first encounters with a globally popular item rather than the visit's category
REPURCHASE_DAYS = 28  # median time between re-purchases of a consumable
STAPLE_SHARE = 0.4  # users with a consumable favourite who re-buy one item of it
AGE_NULL_SHARE = 0.04
DEVICE_NULL_SHARE = 0.03
INSERT_CHUNK = 10_000
SECONDS_PER_DAY = 86_400

# Activity by hour of day (UTC): quiet mornings, busy evenings.
_HOUR_WEIGHTS = 1.2 + np.cos((np.arange(24) - 20) / 24 * 2 * np.pi)
HOUR_SHARES = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()


def generate(
    database_url: str,
    *,
    users: int = 5000,
    items: int = 2000,
    interactions: int = 200_000,
    seed: int = 42,
    end: datetime = datetime(2026, 11, 1, tzinfo=timezone.utc),
    days: int = 90,
) -> dict:
    """Drop, re-create and fill the ``users``, ``items`` and ``events`` tables; return row counts.

    Events fall within the ``days`` days before ``end`` (a naive ``end`` is taken as UTC).
    The same arguments always produce identical table contents. No other table is touched.
    """
    if users < 1 or items < 1 or days < 1:
        raise ValueError("users, items and days must be positive")
    if interactions < MIN_EVENTS_PER_USER * users:
        raise ValueError(
            f"interactions must be at least {MIN_EVENTS_PER_USER} per user "
            f"({MIN_EVENTS_PER_USER * users} for {users} users), got {interactions}"
        )
    if end.tzinfo is not None:
        end = end.astimezone(timezone.utc).replace(tzinfo=None)
    user_rows, item_rows, event_rows = _simulate(users, items, interactions, seed, end, days)

    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
        for table, rows in (
            (users_table, user_rows),
            (items_table, item_rows),
            (events_table, event_rows),
        ):
            with engine.begin() as conn:
                _insert(conn, table, rows)
                if table is events_table and engine.dialect.name == "postgresql":
                    # Explicit ids leave the BIGSERIAL sequence behind; later inserts would collide.
                    conn.execute(
                        sa.text("SELECT setval(pg_get_serial_sequence('events', 'event_id'), :n)"),
                        {"n": interactions},
                    )
    finally:
        engine.dispose()
    return {"users": users, "items": items, "events": interactions}


def _insert(conn: sa.Connection, table: sa.Table, columns: dict[str, list]) -> None:
    names = list(columns)
    total = len(columns[names[0]])
    for lo in range(0, total, INSERT_CHUNK):
        chunk = (values[lo : lo + INSERT_CHUNK] for values in columns.values())
        conn.execute(table.insert(), [dict(zip(names, row)) for row in zip(*chunk)])


def _simulate(
    n_users: int, n_items: int, n_events: int, seed: int, end: datetime, days: int
) -> tuple[dict[str, list], dict[str, list], dict[str, list]]:
    """Column lists (plain Python values) for users, items and events, in id order."""
    rng = np.random.default_rng(seed)
    n_cats = min(len(CATEGORY_PRODUCTS), n_items)
    n_segs = min(SEGMENTS, n_users)
    n_prefs = min(SEGMENT_CATEGORIES, n_cats)

    # Categories: long-tailed popularity, each with its own price level.
    cat_pop = rng.permutation(1.0 / np.arange(1, n_cats + 1) ** 0.8)
    cat_pop /= cat_pop.sum()
    cat_median_price = np.exp(rng.normal(np.log(25.0), 0.9, n_cats))

    # Items: every category gets at least one; popular categories get more.
    size_weights = np.sqrt(cat_pop) / np.sqrt(cat_pop).sum()
    item_cat = rng.permutation(
        np.concatenate([np.arange(n_cats), rng.choice(n_cats, n_items - n_cats, p=size_weights)])
    )
    price = np.round(cat_median_price[item_cat] * np.exp(rng.normal(0.0, 0.35, n_items)), 2)
    price = np.maximum(price, 0.99)
    adjective = rng.integers(0, len(ADJECTIVES), n_items)
    model = rng.integers(100, 1000, n_items)

    # Zipf-like popularity over a random ranking of the items in each category.
    by_cat = np.lexsort((rng.random(n_items), item_cat))
    cat_start = np.searchsorted(item_cat[by_cat], np.arange(n_cats))
    rank = np.empty(n_items)
    rank[by_cat] = np.arange(n_items) - cat_start[item_cat[by_cat]] + 1
    base_weight = 1.0 / rank
    # Each segment likes somewhat different items within the same categories.
    segment_weight = base_weight * np.exp(rng.normal(0.0, 1.0, (n_segs, n_items)))
    # The last row is plain popularity: first encounters from the front page (STRAY_SHARE).
    segment_cdf = block_cdf(
        np.vstack([segment_weight, base_weight])[:, by_cat], item_cat[by_cat], n_cats
    )

    # Segments: size, preferred categories (popular ones more likely), age and device mix.
    seg_share = rng.dirichlet(np.full(n_segs, 3.0))
    seg_prefs = np.stack(
        [rng.choice(n_cats, n_prefs, replace=False, p=cat_pop) for _ in range(n_segs)]
    )
    seg_pref_weight = rng.dirichlet(np.full(n_prefs, 2.0), n_segs)
    seg_age = rng.uniform(20.0, 60.0, n_segs)
    seg_device_share = rng.dirichlet(np.full(len(OS_DEVICES), 1.5), n_segs)

    # Users: 2-3 favourite categories drawn from the segment's preferences (Gumbel top-k).
    user_seg = rng.choice(n_segs, n_users, p=seg_share)
    n_favs = np.minimum(rng.integers(2, 4, n_users), n_prefs)
    keys = np.log(seg_pref_weight[user_seg]) + rng.gumbel(size=(n_users, n_prefs))
    fav_cats = np.take_along_axis(seg_prefs[user_seg], np.argsort(-keys, axis=1), axis=1)
    fav_weight = rng.gamma(2.0, size=(n_users, n_prefs))
    fav_weight[np.arange(n_prefs) >= n_favs[:, None]] = 0.0
    fav_cdf = np.cumsum(fav_weight, axis=1) / fav_weight.sum(axis=1, keepdims=True)
    fav_cdf[np.arange(n_prefs) >= n_favs[:, None] - 1] = 1.0  # never pick past the favourites
    fav_share = rng.beta(24.0, 6.0, n_users)  # mean 0.8
    age = np.clip(np.round(rng.normal(seg_age[user_seg], 9.0)), 16, 85).astype(np.int64)
    age_null = rng.random(n_users) < AGE_NULL_SHARE
    device = _pick_rows(np.cumsum(seg_device_share[user_seg], axis=1), rng.random(n_users))
    device_null = rng.random(n_users) < DEVICE_NULL_SHARE

    # Activity: log-normal on top of a floor, so every user has history.
    activity = rng.lognormal(0.0, 1.0, n_users)
    counts = MIN_EVENTS_PER_USER + rng.multinomial(
        n_events - MIN_EVENTS_PER_USER * n_users, activity / activity.sum()
    )
    ev_user = np.repeat(np.arange(n_users), counts)
    user_first = np.cumsum(counts) - counts
    position = np.arange(n_events)

    # Sessions: a user's events come in visits of a few events minutes apart, days apart.
    starts_session = rng.random(n_events) < 1.0 / SESSION_EVENTS
    starts_session[user_first] = True
    ev_session = np.cumsum(starts_session) - 1
    s_first = np.flatnonzero(starts_session)
    s_user = ev_user[s_first]
    n_sessions = len(s_first)
    gap = np.where(starts_session, 0, rng.integers(10, 240, n_events))
    within = np.cumsum(gap) - np.cumsum(gap)[s_first][ev_session]
    s_span = within[np.append(s_first[1:], n_events) - 1]
    s_start = (
        rng.integers(0, days, n_sessions) * SECONDS_PER_DAY
        + rng.choice(24, n_sessions, p=HOUR_SHARES) * 3600
        + rng.integers(0, 3600, n_sessions)
    )
    s_start = _no_overlap(s_start[np.lexsort((s_start, s_user))], s_span, s_user)
    # Whole seconds (MariaDB DATETIME drops fractions), all inside the window.
    s_start = np.minimum(s_start, days * SECONDS_PER_DAY - 1 - s_span)
    offset = s_start[ev_session] + within

    # A session browses one category: a favourite one (segment-tilted popularity) or a popular one.
    s_fav = rng.random(n_sessions) < fav_share[s_user]
    s_cat = np.where(
        s_fav,
        fav_cats[s_user, _pick_rows(fav_cdf[s_user], rng.random(n_sessions))],
        rng.choice(n_cats, n_sessions, p=cat_pop),
    )

    # Consumables: users with one among their favourites re-buy a staple of it every few weeks.
    consumable = np.isin(np.array(CATEGORY_PRODUCTS)[:n_cats], CONSUMABLE_PRODUCTS)
    fav_consumable = consumable[fav_cats] & (np.arange(n_prefs) < n_favs[:, None])
    has_staple = fav_consumable.any(axis=1) & (rng.random(n_users) < STAPLE_SHARE)
    staple_cat = fav_cats[np.arange(n_users), np.argmax(fav_consumable, axis=1)]
    staple = by_cat[
        np.searchsorted(
            segment_cdf, user_seg * n_cats + staple_cat + rng.random(n_users), side="right"
        )
        % n_items
    ]
    period = np.maximum(
        rng.lognormal(np.log(REPURCHASE_DAYS * SECONDS_PER_DAY), 0.3, n_users), SECONDS_PER_DAY
    )
    phase = rng.random(n_users) * period
    cycle = np.floor((s_start - phase[s_user]) / period[s_user]).astype(np.int64)
    s_length = np.diff(np.append(s_first, n_events))
    eligible = has_staple[s_user] & (cycle >= 0) & (s_length >= 2)
    candidate = np.flatnonzero(eligible)
    slot = s_user[candidate].astype(np.int64) * (days + 1) + cycle[candidate]
    replenish = np.zeros(n_sessions, dtype=bool)
    replenish[candidate[np.diff(slot, prepend=-1) != 0]] = True  # the first visit per cycle
    s_cat[replenish] = staple_cat[s_user[replenish]]

    # Event types: a replenishing visit opens with a view and ends with a purchase; the rest are
    # drawn so that the overall mix stays EVENT_TYPE_SHARES.
    opens = s_first[replenish]
    closes = np.append(s_first[1:], n_events)[replenish] - 1
    forced = np.zeros(len(EVENT_TYPES))
    forced[0] = forced[EVENT_TYPES.index("purchase")] = replenish.sum()
    shares = np.maximum(np.array(EVENT_TYPE_SHARES) * n_events - forced, 0.0)
    ev_type = rng.choice(len(EVENT_TYPES), n_events, p=shares / shares.sum())
    ev_type[opens] = 0
    ev_type[closes] = EVENT_TYPES.index("purchase")

    # Funnel and back-and-forth: in a session, most non-views act on the last item viewed, and some
    # views return to an earlier item of the visit; every other event is a first encounter.
    session_start = s_first[ev_session]
    last_view = np.maximum.accumulate(np.where(ev_type == 0, position, -1))
    follow_up = (
        (ev_type != 0) & (last_view >= session_start) & (rng.random(n_events) < FOLLOW_UP_SHARE)
    )
    review = (ev_type == 0) & (position > session_start) & (rng.random(n_events) < REVIEW_SHARE)
    source = position.copy()
    source[review] = session_start[review] + (
        rng.random(review.sum()) * (position[review] - session_start[review])
    ).astype(np.int64)
    source[follow_up] = last_view[follow_up]
    while True:  # every source is earlier, so following them ends at a first encounter
        further = source[source]
        if np.array_equal(further, source):
            break
        source = further
    fresh = np.flatnonzero(source == position)
    # A few first encounters come from the shop's front page: globally popular items.
    stray = rng.random(len(fresh)) < STRAY_SHARE
    row = np.where(stray, n_segs, user_seg[ev_user[fresh]])
    cat = np.where(stray, rng.choice(n_cats, len(fresh), p=cat_pop), s_cat[ev_session[fresh]])
    ev_item = np.empty(n_events, dtype=np.int64)
    ev_item[fresh] = first_encounters(rng, ev_user[fresh], row * n_cats + cat, segment_cdf, by_cat)
    # The opening view (always a first encounter of its visit) is the staple, so the visit's
    # re-views and follow-ups of it are too, and the closing purchase buys it.
    ev_item[opens] = staple[ev_user[opens]]
    ev_item = ev_item[source]
    ev_item[closes] = staple[ev_user[closes]]

    # Durables are rarely bought twice: a repeat purchase of one becomes a click on it.
    purchase = ev_type == EVENT_TYPES.index("purchase")
    bought = np.flatnonzero(purchase)
    again = bought[_repeated(ev_user[bought].astype(np.int64) * n_items + ev_item[bought])]
    again = again[~consumable[item_cat[ev_item[again]]]]
    ev_type[again] = EVENT_TYPES.index("click")
    purchase[again] = False
    quantity = rng.geometric(0.75, n_events)
    value = np.round(price[ev_item] * quantity, 2)

    # Sign-up precedes the first event by a log-normal number of days (median ~4 months).
    first_offset = np.minimum.reduceat(offset, user_first)
    signup_offset = first_offset - np.round(
        rng.lognormal(np.log(120.0), 1.2, n_users) * SECONDS_PER_DAY
    ).astype(np.int64)

    # Event ids follow time; lexsort is stable, so ties keep the per-user order.
    chrono = np.lexsort((ev_user, offset))
    start = np.datetime64(end, "s") - np.timedelta64(days * SECONDS_PER_DAY, "s")
    users = {
        "user_id": list(range(1, n_users + 1)),
        "age": _with_nulls(age, age_null),
        "os_device": _with_nulls(np.array(OS_DEVICES)[device], device_null),
        "signup_at": _datetimes(start, signup_offset),
    }
    items = {
        "item_id": list(range(1, n_items + 1)),
        "name": [
            f"{ADJECTIVES[a]} {CATEGORY_PRODUCTS[c]} {m}"
            for a, c, m in zip(adjective.tolist(), item_cat.tolist(), model.tolist())
        ],
        "category_id": (item_cat + 1).tolist(),
        "price": price.tolist(),
    }
    events = {
        "event_id": list(range(1, n_events + 1)),
        "user_id": (ev_user[chrono] + 1).tolist(),
        "item_id": (ev_item[chrono] + 1).tolist(),
        "event_type": np.array(EVENT_TYPES)[ev_type[chrono]].tolist(),
        "event_value": _with_nulls(value[chrono], ~purchase[chrono]),
        "created_at": _datetimes(start, offset[chrono]),
    }
    return users, items, events


def block_cdf(weights: np.ndarray, block_of_column: np.ndarray, n_blocks: int) -> np.ndarray:
    """Flattened CDFs for sampling with ``searchsorted(cdf, row * n_blocks + block + u)``.

    ``weights`` is (rows, columns) with columns grouped into contiguous blocks. Each entry becomes
    ``row * n_blocks + block + (cumulative share within its block)``, so the whole array is
    increasing and one vectorised search samples a column from any (row, block).
    """
    rows, columns = weights.shape
    start = np.searchsorted(block_of_column, np.arange(n_blocks))
    last = np.append(start[1:], columns) - 1
    cum = np.cumsum(weights, axis=1)
    before = np.where(start > 0, cum[:, np.maximum(start - 1, 0)], 0.0)
    share = (cum - before[:, block_of_column]) / (cum[:, last] - before)[:, block_of_column]
    share[:, last] = 1.0  # exact block ends, so rounding can never spill into the next block
    offsets = np.arange(rows)[:, None] * n_blocks + block_of_column[None, :]
    return (offsets + share).ravel()


def _no_overlap(start: np.ndarray, span: np.ndarray, user: np.ndarray) -> np.ndarray:
    """Session starts (sorted per user) pushed later where needed, so that each of a user's
    sessions begins at least SESSION_GAP after the previous one ends.

    a_i = max(s_i, a_(i-1) + span_(i-1) + gap) is C_i + max over the user's j <= i of (s_j - C_j),
    with C the exclusive running sum of span + gap: one running maximum instead of a loop.
    """
    reach = np.cumsum(span + SESSION_GAP) - (span + SESSION_GAP)
    lift = user.astype(np.int64) << 40  # keeps the running maximum inside each user
    return reach + np.maximum.accumulate(start - reach + lift) - lift


def first_encounters(
    rng: np.random.Generator,
    user: np.ndarray,
    block: np.ndarray,
    cdf: np.ndarray,
    columns: np.ndarray,
) -> np.ndarray:
    """An item per draw from its block of ``cdf`` (see ``block_cdf``), redrawn (a few rounds) where
    the user already drew it in an earlier draw: users meet most items once, so repeats come from
    the session structure rather than chance. A block the user has exhausted keeps its repeats."""
    n_columns = len(columns)
    item = columns[np.searchsorted(cdf, block + rng.random(len(block)), side="right") % n_columns]
    position = np.arange(len(block))
    pending = np.ones(len(block), dtype=bool)
    for _ in range(10):
        key = user.astype(np.int64) * n_columns + item
        order = np.lexsort((position, pending, key))  # a kept draw before a redrawn one, then time
        pending = np.zeros(len(block), dtype=bool)
        pending[order[1:]] = key[order][1:] == key[order][:-1]
        if not pending.any():
            break
        redraw = np.searchsorted(cdf, block[pending] + rng.random(pending.sum()), side="right")
        item[pending] = columns[redraw % n_columns]
    return item


def _repeated(keys: np.ndarray) -> np.ndarray:
    """Whether each key occurred earlier in the array."""
    seen = np.ones(len(keys), dtype=bool)
    seen[np.unique(keys, return_index=True)[1]] = False
    return seen


def _pick_rows(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the first column whose cumulative share exceeds ``u``."""
    return np.minimum((cdf <= u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def _with_nulls(values: np.ndarray, null: np.ndarray) -> list:
    return [None if n else v for v, n in zip(values.tolist(), null.tolist())]


def _datetimes(start: np.datetime64, seconds: np.ndarray) -> list[datetime]:
    return (start + seconds.astype("timedelta64[s]")).tolist()
