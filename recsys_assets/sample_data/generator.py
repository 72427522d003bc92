"""Deterministic users, items and interaction events of a small demo shop.

The data carries structure a recommender can learn. Users belong to segments; each segment
prefers a few categories and every user has 2-3 favourite categories among them, which receive
most of the user's events throughout the whole window (so older events predict newer ones).
Item popularity is Zipf-like inside a category and tilted per segment, which gives matrix
factorisation signal beyond category level; the remaining events follow global popularity.
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
ADJECTIVES = (
    "Classic", "Compact", "Deluxe", "Eco", "Everyday", "Premium", "Retro", "Smart",
    "Soft", "Travel", "Ultra", "Vintage", "Bold", "Mini", "Pro", "Organic",
)  # fmt: skip

SEGMENTS = 12
SEGMENT_CATEGORIES = 5
MIN_EVENTS_PER_USER = 3
FOLLOW_UP_SHARE = 0.7  # clicks/likes/purchases that act on the user's last viewed item
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
    cat_total = np.bincount(item_cat, weights=base_weight, minlength=n_cats)
    global_pop = cat_pop[item_cat] * base_weight / cat_total[item_cat]
    global_pop /= global_pop.sum()
    # Each segment likes somewhat different items within the same categories.
    segment_weight = base_weight * np.exp(rng.normal(0.0, 1.0, (n_segs, n_items)))
    segment_cdf = _block_cdf(segment_weight[:, by_cat], item_cat[by_cat], n_cats)

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
    user_first = np.repeat(np.cumsum(counts) - counts, counts)

    # Whole-second times (MariaDB DATETIME drops fractions), busier in the evening.
    offset = (
        rng.integers(0, days, n_events) * SECONDS_PER_DAY
        + rng.choice(24, n_events, p=HOUR_SHARES) * 3600
        + rng.integers(0, 3600, n_events)
    )

    # Items: favourite categories (segment-tilted popularity) or global popularity.
    in_fav = rng.random(n_events) < fav_share[ev_user]
    ev_cat = fav_cats[ev_user, _pick_rows(fav_cdf[ev_user], rng.random(n_events))]
    block = user_seg[ev_user] * n_cats + ev_cat
    fav_pick = np.searchsorted(segment_cdf, block + rng.random(n_events), side="right")
    fav_item = by_cat[fav_pick % n_items]
    other_item = rng.choice(n_items, n_events, p=global_pop)
    ev_item = np.where(in_fav, fav_item, other_item)

    # Funnel: within each user's timeline, most non-views act on the last item viewed.
    order = np.lexsort((offset, ev_user))
    offset, ev_item = offset[order], ev_item[order]
    ev_type = rng.choice(len(EVENT_TYPES), n_events, p=EVENT_TYPE_SHARES)
    position = np.arange(n_events)
    last_view = np.maximum.accumulate(np.where(ev_type == 0, position, -1))
    follow_up = (
        (ev_type != 0) & (last_view >= user_first) & (rng.random(n_events) < FOLLOW_UP_SHARE)
    )
    ev_item[follow_up] = ev_item[last_view[follow_up]]
    purchase = ev_type == EVENT_TYPES.index("purchase")
    quantity = rng.geometric(0.75, n_events)
    value = np.round(price[ev_item] * quantity, 2)

    # Sign-up precedes the first event by a log-normal number of days (median ~4 months).
    first_offset = offset[np.cumsum(counts) - counts]
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


def _block_cdf(weights: np.ndarray, block_of_column: np.ndarray, n_blocks: int) -> np.ndarray:
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


def _pick_rows(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the first column whose cumulative share exceeds ``u``."""
    return np.minimum((cdf <= u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def _with_nulls(values: np.ndarray, null: np.ndarray) -> list:
    return [None if n else v for v, n in zip(values.tolist(), null.tolist())]


def _datetimes(start: np.datetime64, seconds: np.ndarray) -> list[datetime]:
    return (start + seconds.astype("timedelta64[s]")).tolist()
