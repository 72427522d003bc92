"""The demo-shop generator against SQLite and, when reachable, PostgreSQL and MariaDB."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa

from recsys_assets.sample_data import events_table, generate, items_table, users_table
from recsys_assets.sample_data.__main__ import summary
from recsys_assets.sample_data.generator import (
    CATEGORY_PRODUCTS,
    CONSUMABLE_PRODUCTS,
    EVENT_TYPES,
    OS_DEVICES,
)

SIZES = {"users": 300, "items": 120, "interactions": 6000}
END = datetime(2026, 11, 1, tzinfo=timezone.utc)
DAYS = 30
WINDOW_END = END.replace(tzinfo=None)
WINDOW_START = WINDOW_END - timedelta(days=DAYS)

def read_tables(database_url: str) -> dict[str, list[tuple]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
                ]
                for table in (users_table, items_table, events_table)
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def generated(database_url):
    counts = generate(database_url, **SIZES, end=END, days=DAYS)
    return counts, read_tables(database_url)


def test_counts_and_ids(generated):
    counts, tables = generated
    assert counts == {"users": 300, "items": 120, "events": 6000}
    assert [row[0] for row in tables["users"]] == list(range(1, 301))
    assert [row[0] for row in tables["items"]] == list(range(1, 121))
    assert [row[0] for row in tables["events"]] == list(range(1, 6001))


def test_value_domains(generated):
    _, tables = generated
    users, items, events = tables["users"], tables["items"], tables["events"]
    price = {item_id: p for item_id, _, _, p in items}

    assert all(isinstance(p, Decimal) and p > 0 and p == round(p, 2) for p in price.values())
    assert {category for _, _, category, _ in items} <= set(range(1, 31))
    assert all(name for _, name, _, _ in items)

    ages = [age for _, age, _, _ in users]
    assert 0 < ages.count(None) < 0.15 * len(users)
    assert all(16 <= age <= 85 for age in ages if age is not None)
    devices = [device for _, _, device, _ in users]
    assert 0 < devices.count(None) < 0.15 * len(users)
    assert {d for d in devices if d is not None} <= set(OS_DEVICES)

    assert {e[3] for e in events} == set(EVENT_TYPES)
    shares = Counter(e[3] for e in events)
    assert shares["view"] > shares["click"] > shares["like"] > shares["purchase"]
    for _, user_id, item_id, event_type, value, created_at in events:
        assert 1 <= user_id <= 300 and 1 <= item_id <= 120
        assert WINDOW_START <= created_at < WINDOW_END
        if event_type == "purchase":
            # The paid amount is a whole number of units at the item's price.
            units = Decimal(str(value)) / price[item_id]
            assert units >= 1 and units == units.to_integral_value()
        else:
            assert value is None
    # Event ids follow time.
    assert [e[5] for e in events] == sorted(e[5] for e in events)

    per_user = Counter(e[1] for e in events)
    assert set(per_user) == set(range(1, 301)) and min(per_user.values()) >= 3
    first_event = {}
    for e in events:
        first_event.setdefault(e[1], e[5])
    assert all(signup <= first_event[user_id] for user_id, _, _, signup in users)


def _category_sequences(tables) -> dict[int, list[int]]:
    """Per user, the categories of their events in time order."""
    category = {item_id: c for item_id, _, c, _ in tables["items"]}
    sequences = defaultdict(list)
    for _, user_id, item_id, _, _, _ in tables["events"]:  # already in time order
        sequences[user_id].append(category[item_id])
    return sequences


def test_users_concentrate_in_few_categories(generated):
    _, tables = generated
    sequences = [s for s in _category_sequences(tables).values() if len(s) >= 10]
    observed = np.mean([_top3_share(s) for s in sequences])
    # Baseline: the same activity spread by global category popularity.
    all_events = np.concatenate(sequences)
    rng = np.random.default_rng(0)
    baseline = np.mean([_top3_share(rng.choice(all_events, len(s))) for s in sequences])
    assert observed > 0.6
    assert observed > baseline + 0.25


def _top3_share(categories) -> float:
    return sum(n for _, n in Counter(categories).most_common(3)) / len(categories)


def test_older_events_predict_the_newest(generated):
    _, tables = generated
    sequences = _category_sequences(tables).values()
    global_top3 = {c for c, _ in Counter(c for s in sequences for c in s[:-1]).most_common(3)}
    personal = np.mean([s[-1] in {c for c, _ in Counter(s[:-1]).most_common(3)} for s in sequences])
    popular = np.mean([s[-1] in global_top3 for s in sequences])
    assert personal > 0.6
    assert personal > popular + 0.25


def test_rerun_is_identical_and_leaves_other_tables_alone(database_url, generated):
    _, first = generated
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS recommendations"))
            conn.execute(
                sa.text("CREATE TABLE recommendations (user_id INTEGER, item_ids VARCHAR(100))")
            )
            conn.execute(sa.text("INSERT INTO recommendations VALUES (1, '5,7,9')"))
        generate(database_url, **SIZES, end=END, days=DAYS)
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT user_id, item_ids FROM recommendations")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in kept] == [(1, "5,7,9")]
    assert read_tables(database_url) == first


def test_seed_changes_the_data(database_url, generated):
    _, first = generated
    generate(database_url, **SIZES, end=END, days=DAYS, seed=7)
    other = read_tables(database_url)
    assert other["events"] != first["events"]
    assert len(other["events"]) == len(first["events"])


def test_events_inserted_later_get_the_next_id(database_url):
    generate(database_url, **SIZES, end=END, days=DAYS)
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            new_id = conn.execute(
                events_table.insert().returning(events_table.c.event_id),
                {"user_id": 1, "item_id": 1, "event_type": "view", "created_at": WINDOW_END},
            ).scalar_one()
    finally:
        engine.dispose()
    assert new_id == SIZES["interactions"] + 1


def test_rejects_fewer_than_three_events_per_user(tmp_path):
    with pytest.raises(ValueError, match="at least 3 per user"):
        generate(f"sqlite:///{tmp_path / 'x.db'}", users=10, items=5, interactions=29)
    assert not (tmp_path / "x.db").exists()


def test_cli_creates_the_sqlite_directory_and_fills_it(tmp_path):
    db = tmp_path / "nested" / "x.db"
    result = subprocess.run(
        [sys.executable, "-m", "recsys_assets.sample_data", "--database-url", f"sqlite:///{db}",
         "--users", "300", "--items", "120", "--interactions", "6000", "--seed", "3"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "300 users, 120 items and 6,000 events" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1
    assert [len(rows) for rows in read_tables(f"sqlite:///{db}").values()] == [300, 120, 6000]


def test_summary_hides_the_password():
    counts = {"users": 5000, "items": 2000, "events": 200_000}
    line = summary("postgresql+psycopg://root:s3cret@db.example:5432/app", counts, 3.04)
    assert "s3cret" not in line
    assert line == (
        "Wrote 5,000 users, 2,000 items and 200,000 events to "
        "postgresql+psycopg://root:***@db.example:5432/app in 3.0s"
    )


@pytest.fixture(scope="module")
def default_shop(tmp_path_factory) -> dict[str, np.ndarray]:
    """The default demo shop (5,000 users, 2,000 items, 200k events over 90 days), per user in time
    order: the size the repeat structure is tuned for (a 120-item shop is all repeats)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('default') / 'shop.db'}"
    generate(url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(events_table.c.user_id, events_table.c.item_id, events_table.c.event_type,
                          events_table.c.created_at).order_by(events_table.c.event_id)
            ).all()  # fmt: skip
            items = sa.select(items_table.c.item_id, items_table.c.category_id)
            category = dict(conn.execute(items).all())
    finally:
        engine.dispose()
    user, item, event_type, created_at = (np.array(column) for column in zip(*rows))
    order = np.argsort(user, kind="stable")  # event ids follow time
    item = item[order]
    consumable = {i: CATEGORY_PRODUCTS[c - 1] in CONSUMABLE_PRODUCTS for i, c in category.items()}
    return {
        "user": user[order],
        "item": item,
        "type": event_type[order],
        "time": created_at[order].astype("datetime64[s]").astype(np.int64),
        "pair": user[order].astype(np.int64) * 10_000 + item,
        "consumable": np.array([consumable[i] for i in item.tolist()]),
    }


def _seen_before(keys: np.ndarray) -> np.ndarray:
    seen = np.ones(len(keys), dtype=bool)
    seen[np.unique(keys, return_index=True)[1]] = False
    return seen


def test_repeats_come_from_visits_not_chance(default_shop):
    shop = default_shop
    user, time = shop["user"], shop["time"]
    repeat = _seen_before(shop["pair"])
    share = repeat.sum() / (len(user) - len(np.unique(user)))
    # Independent draws from the items' overall frequency, with the same users and counts.
    rng = np.random.default_rng(0)
    items, counts = np.unique(shop["item"], return_counts=True)
    drawn = user.astype(np.int64) * 10_000 + rng.choice(items, len(user), p=counts / counts.sum())
    by_chance = _seen_before(drawn).sum() / (len(user) - len(np.unique(user)))
    assert 0.2 <= share <= 0.35
    assert share > 3 * by_chance

    # Visits: most consecutive events of a user minutes apart, a good part days apart.
    same_user = user[1:] == user[:-1]
    gap = np.diff(time)[same_user]
    assert (gap < 1800).mean() > 0.7 and (gap > 86_400).mean() > 0.1
    # A repeat mostly returns to an item touched earlier in the same visit.
    order = np.lexsort((time, shop["pair"]))
    again = np.r_[False, shop["pair"][order][1:] == shop["pair"][order][:-1]]
    since = np.diff(time[order], prepend=0)[again]
    assert (since < 3600).mean() > 0.7


def test_consumables_are_bought_again_after_a_view_durables_once(default_shop):
    shop = default_shop
    bought = shop["type"] == "purchase"
    pairs, times_bought = np.unique(shop["pair"][bought], return_counts=True)
    consumable = np.isin(pairs, shop["pair"][bought & shop["consumable"]])
    assert consumable.sum() > 500 and (~consumable).sum() > 500
    assert (times_bought[consumable] > 1).mean() > 0.2
    assert times_bought[~consumable].max() == 1

    # Re-purchases come every few weeks, each in a visit with a view of the item.
    purchase = np.flatnonzero(bought & shop["consumable"])
    purchase = purchase[np.lexsort((shop["time"][purchase], shop["pair"][purchase]))]
    again = np.r_[False, shop["pair"][purchase][1:] == shop["pair"][purchase][:-1]]
    weeks = np.diff(shop["time"][purchase])[again[1:]] / (7 * 86_400)
    assert again.sum() > 500 and 2 <= np.median(weeks) <= 6
    view = shop["type"] == "view"
    view_keys = np.sort(shop["pair"][view] * 2**32 + shop["time"][view])
    rebuy = purchase[again]
    rebuy_keys = shop["pair"][rebuy] * 2**32 + shop["time"][rebuy]
    hour_before = np.searchsorted(view_keys, rebuy_keys - 3600)
    viewed = np.searchsorted(view_keys, rebuy_keys, side="right") > hour_before
    assert viewed.mean() > 0.9
