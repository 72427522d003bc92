"""Interaction data for the engine benchmarks: the demo shop, and synthetic catalogues of other shapes.

``python -m bench.engine_data`` prints, per generated data set, its size, the generation time, the
repeat share (``repeat_share``), the event-type mix and the history-length quartiles.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from recsys_assets.sample_data import generate
from recsys_assets.sample_data.generator import block_cdf, first_encounters

START = 1_700_000_000
DAY = 86_400
# Sessions start mostly in the evening, as site traffic does (the demo shop's hour profile).
_EVENING = 1.2 + np.cos((np.arange(24) - 20) / 24 * 2 * np.pi)
_EVENING = _EVENING / _EVENING.sum()


def demo_data(users: int = 5000, items: int = 2000, interactions: int = 200_000,
              seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo shop (``recsys_assets.sample_data``) through a temporary SQLite database, shaped as the
    Interactions and Items datasets the pipeline exports."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        generate(url, users=users, items=items, interactions=interactions, seed=seed)
        engine = sa.create_engine(url)
        try:
            events = pd.read_sql("SELECT user_id, item_id, event_type, event_value, created_at FROM events", engine)
            catalogue = pd.read_sql("SELECT item_id, category_id, price FROM items", engine)
        finally:
            engine.dispose()
    return pd.DataFrame({
        "USER_ID": events["user_id"].astype(str),
        "ITEM_ID": events["item_id"].astype(str),
        "TIMESTAMP": pd.to_datetime(events["created_at"]).astype("datetime64[s]").astype(np.int64),
        "EVENT_TYPE": events["event_type"],
        "EVENT_VALUE": events["event_value"],
    }), pd.DataFrame({"ITEM_ID": catalogue["item_id"].astype(str), "CATEGORY_ID": catalogue["category_id"].astype(str),
                      "PRICE": catalogue["price"].astype(float)})


def drifting_catalogue(users: int = 20_000, items: int = 8_000, interactions: int = 300_000, dims: int = 24,
                       phases: int = 3, seed: int = 7) -> pd.DataFrame:
    """A power-law catalogue 4x the demo's with sparser users (15 events on average) whose tastes drift.

    Users and items have latent vectors; an event picks an item by softmax(6 u.v / sqrt(dims) + 0.5 log
    popularity), popularity Zipf(1.1). Each user's vector moves from a start to an end point over 180
    days, so recent history predicts the future better than old history. Items repeat.
    """
    rng = np.random.default_rng(seed)
    log_popularity = -1.1 * np.log(rng.permutation(np.arange(1, items + 1)))
    item_vectors = rng.normal(size=(items, dims)).astype(np.float32)
    start, end = rng.normal(size=(users, dims)), rng.normal(size=(users, dims))
    activity = rng.lognormal(0.0, 1.0, users)
    remaining = 3 + rng.multinomial(interactions - 3 * users, activity / activity.sum())
    span = 180 * 86400
    parts = []
    for lo in range(0, users, 1000):
        hi = min(lo + 1000, users)
        for phase in range(phases):
            f = (phase + 0.5) / phases
            taste = (((1 - f) * start[lo:hi] + f * end[lo:hi]) / np.sqrt(dims)).astype(np.float32)
            logits = 6.0 * (taste @ item_vectors.T) + 0.5 * log_popularity
            probability = np.exp(logits - logits.max(axis=1, keepdims=True))
            cdf = np.cumsum(probability, axis=1)
            cdf /= cdf[:, -1:]
            n = rng.binomial(remaining[lo:hi], 1 / (phases - phase))
            remaining[lo:hi] -= n
            row = np.repeat(np.arange(hi - lo), n)
            # One searchsorted over all rows: row r's cdf is shifted by r.
            flat = (cdf + np.arange(hi - lo)[:, None]).ravel()
            item = np.minimum(np.searchsorted(flat, row + rng.random(len(row))) - row * items, items - 1)
            time = (phase + rng.random(len(row))) / phases * span
            parts.append(pd.DataFrame({"user": row + lo, "item": item, "time": time}))
    frame = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({"USER_ID": "u" + frame["user"].astype(str), "ITEM_ID": "i" + frame["item"].astype(str),
                         "TIMESTAMP": (START + frame["time"]).astype(np.int64)})


def clustered_catalogue(users: int = 100_000, items: int = 10_000, interactions: int = 2_000_000, clusters: int = 50,
                        own: float = 0.6, seed: int = 0) -> pd.DataFrame:
    """Exactly ``interactions`` distinct (user, item) pairs: Zipf(0.9) item popularity, log-normal user
    activity (at least 5), 50 taste clusters taking 60 % of a user's events (recsys-anchors.md §2.2)."""
    rng = np.random.default_rng(seed)
    popularity = rng.permutation(1.0 / np.arange(1, items + 1) ** 0.9)
    popularity /= popularity.sum()
    item_cluster = rng.integers(clusters, size=items)
    activity = rng.lognormal(0.0, 1.0, users)
    counts = np.maximum(5, np.round(activity / activity.sum() * interactions * 1.4)).astype(np.int64)
    user = np.repeat(np.arange(users), counts)
    user_cluster = rng.integers(clusters, size=users)[user]
    cdf = np.cumsum(popularity)
    item = np.minimum(np.searchsorted(cdf, rng.random(len(user))), items - 1)
    in_cluster = rng.random(len(user)) < own
    for c in range(clusters):
        members = np.flatnonzero(item_cluster == c)
        chosen = np.flatnonzero(in_cluster & (user_cluster == c))
        member_cdf = np.cumsum(popularity[members])
        pick = np.searchsorted(member_cdf, rng.random(len(chosen)) * member_cdf[-1])
        item[chosen] = members[np.minimum(pick, len(members) - 1)]
    pairs = rng.permutation(np.unique(user.astype(np.int64) * items + item))
    if len(pairs) < interactions:
        raise ValueError(f"only {len(pairs)} distinct pairs for {interactions} interactions; raise the oversampling")
    pairs = np.sort(pairs[:interactions])
    return pd.DataFrame({
        "USER_ID": "u" + pd.Series(pairs // items).astype(str),
        "ITEM_ID": "i" + pd.Series(pairs % items).astype(str),
        "TIMESTAMP": START + rng.integers(0, 90 * 86400, size=interactions),
    })


def repeat_share(interactions: pd.DataFrame) -> float:
    """Share of the events after each user's first whose item that user touched before (any event type).

    Ties in TIMESTAMP keep the input order, as the benchmarks' holdout does.
    """
    ordered = interactions.sort_values(["USER_ID", "TIMESTAMP"], kind="stable")
    later = len(ordered) - ordered["USER_ID"].nunique()
    return float(ordered.duplicated(["USER_ID", "ITEM_ID"]).sum() / later) if later else 0.0


# Roughly MovieLens-25M's half-star histogram from 1.0 up (its 0.5 folded into 1.0), for familiar marginals.
RATING_SHARES = np.array([0.045, 0.016, 0.066, 0.050, 0.196, 0.131, 0.266, 0.085, 0.145])


def ratings_catalogue(users: int = 6000, items: int = 3000, seed: int = 11) -> pd.DataFrame:
    """A movie-ratings site (MovieLens-like): every (user, item) pair at most once, as a site that
    records one rating per title does; so nothing a recommender serves may rely on repeats.

    Items have Zipf(1.0) popularity and, with users, 16-dimensional latent vectors; a user's ratings
    are a draw without replacement (Gumbel top-k, i.e. sequential softmax choices) of
    softmax(3 u.v / sqrt(dims) + 1.3 log popularity) over the items not yet rated, in three phases
    whose taste moves a little (mild drift). History lengths are heavy-tailed like MovieLens':
    most users 20-60 ratings (min 10), about 15 % with 200-800. Ratings come in sessions over up to
    two years: a large first one (rating what one has seen, on sign-up) and bursts on later days,
    seconds apart. EVENT_VALUE rates affinity plus a user bias and noise, on MovieLens' histogram.
    """
    rng = np.random.default_rng(seed)
    dims = 16
    log_popularity = -1.0 * np.log(rng.permutation(np.arange(1, items + 1)))
    item_vectors = rng.normal(size=(items, dims)).astype(np.float32)
    start = rng.normal(size=(users, dims))
    end = start + 0.6 * rng.normal(size=(users, dims))  # mild drift: tastes keep most of their direction

    heavy = rng.random(users) < 0.15
    # Truncated Pareto (tail 3) on [200, 800]: a long-history group, most of it near 200.
    u = rng.random(users)
    pareto = (200.0 ** -3 - u * (200.0 ** -3 - 800.0 ** -3)) ** (-1 / 3)
    light = np.clip(rng.lognormal(np.log(30.0), 0.45, users), 10, 199)
    counts = np.minimum(np.where(heavy, pareto, light).round().astype(np.int64), items)

    # Times first: sessions over the user's active span; each rating's phase is then its rank in time.
    n = int(counts.sum())
    user = np.repeat(np.arange(users), counts)
    first = np.cumsum(counts) - counts
    sessions = 1 + rng.poisson(counts / 30)
    span = np.minimum(rng.lognormal(np.log(120.0), 1.0, users), 729.0)
    arrival = rng.random(users) * (730.0 - span)
    # u**2 puts about 1/sqrt(k) of a user's ratings into the first of k sessions: the sign-up binge.
    session = np.minimum((sessions[user] * rng.random(n) ** 2).astype(np.int64), sessions[user] - 1)
    width = int(sessions.max())
    key, inverse = np.unique(user * width + session, return_inverse=True)
    owner = key // width
    day = np.floor(arrival[owner] + np.where(key % width == 0, 0.0, rng.random(len(key))) * span[owner])
    session_start = (day * DAY + rng.choice(24, len(key), p=_EVENING) * 3600
                     + rng.integers(0, 3600, len(key))).astype(np.int64)
    order = np.lexsort((rng.random(n), session_start[inverse], user))  # user[order] == user
    inverse = inverse[order]
    gap = np.maximum(1, rng.lognormal(np.log(25.0), 0.8, n)).astype(np.int64)  # seconds between ratings
    elapsed = np.cumsum(gap)
    new_session = np.r_[True, inverse[1:] != inverse[:-1]]
    elapsed -= np.maximum.accumulate(np.where(new_session, elapsed - gap, 0))
    time = session_start[inverse] + elapsed

    phases = 3
    item = np.empty(n, dtype=np.int64)
    affinity = np.empty(n)
    by_count = np.argsort(counts, kind="stable")
    for lo in range(0, users, 500):
        block = by_count[lo:lo + 500]
        taken = np.zeros((len(block), items), dtype=bool)
        for p in range(phases):
            f = (p + 0.5) / phases
            taste = (((1 - f) * start[block] + f * end[block]) / np.sqrt(dims)).astype(np.float32)
            fit = taste @ item_vectors.T
            keys = 3.0 * fit + 1.3 * log_popularity + rng.gumbel(size=fit.shape)
            keys[taken] = -np.inf
            lo_pos = counts[block] * p // phases
            want = counts[block] * (p + 1) // phases - lo_pos
            top = int(want.max())
            if top == 0:
                continue
            best = np.argpartition(-keys, top - 1, axis=1)[:, :top]
            best = np.take_along_axis(best, np.argsort(-np.take_along_axis(keys, best, axis=1), axis=1), axis=1)
            rows = np.repeat(np.arange(len(block)), want)
            rank = np.arange(len(rows)) - np.repeat(np.cumsum(want) - want, want)
            chosen = best[rows, rank]
            taken[rows, chosen] = True
            # Slots of this phase, in a random order: the phase's titles are rated in no particular order.
            slot = first[block][rows] + lo_pos[rows] + rank
            slot = slot[np.lexsort((rng.random(len(slot)), rows))]
            item[slot] = chosen
            affinity[slot] = fit[rows, chosen]
    # Ratings: affinity counts most; users differ in how generous they are, and popular titles are
    # popular partly for being good (MovieLens' most-rated films rate above average).
    quality = 0.25 * log_popularity / log_popularity.std() + 0.3 * rng.normal(size=items)
    score = (affinity / affinity.std() + quality[item] + 0.5 * rng.normal(size=users)[user]
             + 0.8 * rng.normal(size=n))
    cuts = np.quantile(score, np.cumsum(RATING_SHARES)[:-1])
    rating = 1.0 + 0.5 * np.searchsorted(cuts, score)
    frame = pd.DataFrame({"user": user, "item": item, "time": time, "rating": rating})
    frame = frame.sort_values(["user", "time"], kind="stable")
    return pd.DataFrame({
        "USER_ID": "u" + frame["user"].astype(str).to_numpy(),
        "ITEM_ID": "m" + frame["item"].astype(str).to_numpy(),
        "TIMESTAMP": START + frame["time"].to_numpy(np.int64),
        "EVENT_TYPE": "rating",
        "EVENT_VALUE": frame["rating"].to_numpy(),
    })

SHOP_EVENT_TYPES = ("view", "cart", "favorite", "purchase")


def shop_event_log(users: int = 8000, items: int = 4000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An e-commerce event log (RetailRocket / REES46 / Tmall-like) over 180 days: (interactions, items).

    Users come in sessions, days apart, of events seconds to minutes apart (mostly in the evening).
    A session browses a few items of one category, sometimes two, drawn from the user's persistent
    category taste (latent vectors) and, inside a category, Zipf(1.0) popularity tilted by one of 16
    styles; a user meets an item for the first time only once (draws without replacement), because a
    shop's browsing mostly moves on to new items. What repeats is what does in real logs:
    back-and-forth re-views inside a session, a return in a later session to an earlier item (more
    often carted then), cart and favourite on a viewed item, checkout of a cart at the session's end,
    and, for the consumable quarter of the categories (coffee, pet food, cosmetics), re-purchases of
    the same item every few weeks, each after a re-view. Durables are bought at most once. With the
    defaults (about 316k events): 24 % of a user's later events touch an item they touched before
    (``repeat_share``; carts, favourites and purchases always do), 82 % of (user, item) pairs are a
    single event, the mix is 83.5 % views, 9 % carts, 3 % favourites, 4.5 % purchases, and users have
    9 / 21 / 45 events at the quartiles (min 3, a tail in the hundreds). Category taste is most of
    what a model can learn about new items, which is weak, as in real shops.
    """
    rng = np.random.default_rng(seed)
    window = 180 * DAY
    n_cats = max(1, items // 40)
    n_styles = 16

    # Catalogue: skewed category sizes; consumables cheaper than durables.
    cat_pop = rng.permutation(1.0 / np.arange(1, n_cats + 1) ** 0.9)
    cat_pop /= cat_pop.sum()
    consumable = np.zeros(n_cats, dtype=bool)
    consumable[rng.choice(n_cats, max(1, round(0.25 * n_cats)), replace=False)] = True
    size_weight = np.sqrt(cat_pop) / np.sqrt(cat_pop).sum()
    extra = rng.choice(n_cats, max(0, items - n_cats), p=size_weight)
    item_cat = rng.permutation(np.r_[np.arange(min(n_cats, items)), extra])
    cat_price = np.exp(rng.normal(np.where(consumable, np.log(12.0), np.log(45.0)), 0.7))
    price = np.maximum(0.99, np.round(cat_price[item_cat] * np.exp(rng.normal(0.0, 0.4, items)), 2))
    by_cat = np.lexsort((rng.random(items), item_cat))
    rank = np.empty(items)
    rank[by_cat] = np.arange(items) - np.searchsorted(item_cat[by_cat], item_cat[by_cat]) + 1
    style_weight = np.exp(rng.normal(0.0, 0.8, (n_styles, items))) / rank
    cdf = block_cdf(style_weight[:, by_cat], item_cat[by_cat], n_cats)

    # Users: a persistent category taste, a style, and heavy-tailed activity (number of sessions).
    dims = 8
    taste = rng.normal(size=(users, dims)) @ rng.normal(size=(dims, n_cats)) / np.sqrt(dims)
    cat_logit = 1.2 * taste + np.log(cat_pop)
    cat_cdf = np.cumsum(np.exp(cat_logit - cat_logit.max(axis=1, keepdims=True)), axis=1)
    cat_cdf /= cat_cdf[:, -1:]
    style = rng.integers(n_styles, size=users)
    n_sessions = np.clip(np.round(rng.lognormal(np.log(6.0), 1.2, users)), 1, 150).astype(np.int64)
    arrival = rng.random(users) * 0.85 * window

    # Sessions: the first at arrival, the rest spread over what is left of the window.
    s_user = np.repeat(np.arange(users), n_sessions)
    s_first = np.r_[True, s_user[1:] != s_user[:-1]]  # before the sort below, the session at arrival
    later = np.where(s_first, 0.0, rng.random(len(s_user)))
    day = np.floor((arrival[s_user] + later * (window - arrival[s_user])) / DAY)
    s_start = (np.minimum(day, window // DAY - 1) * DAY + rng.choice(24, len(s_user), p=_EVENING) * 3600
               + rng.integers(0, 3600, len(s_user))).astype(np.int64)
    s_start = s_start[np.lexsort((s_start, s_user))]  # s_user stays grouped
    n_s = len(s_user)
    s_first = np.r_[True, s_user[1:] != s_user[:-1]]  # now the earliest session
    # Distinct items a session browses (mean 2.5; a first visit browses at least three).
    width = rng.geometric(0.4, n_s)
    width[s_first] = np.maximum(width[s_first], 3)
    width = np.minimum(width, 15)
    second_cat = _pick(cat_cdf[s_user], rng.random(n_s))
    cats = np.stack([_pick(cat_cdf[s_user], rng.random(n_s)), second_cat])

    # Session items: fresh ones (new to the user), in session order, each from one of the session's categories.
    slot_session = np.repeat(np.arange(n_s), width)
    two = rng.random(n_s) < 0.3
    slot_cat = cats[(two[slot_session] & (rng.random(len(slot_session)) < 0.4)).astype(int), slot_session]
    slot_user = s_user[slot_session]
    fresh = first_encounters(rng, slot_user, style[slot_user] * n_cats + slot_cat, cdf, by_cat)
    # A return to an earlier item: a random one of the user's fresh items from before this session.
    before = np.searchsorted(slot_session, np.arange(n_s)) - np.searchsorted(slot_user, s_user)
    back = (rng.random(n_s) < 0.07) & (before > 0)
    back_slot = np.searchsorted(slot_user, s_user[back]) + (rng.random(back.sum()) * before[back]).astype(np.int64)
    t_session = np.r_[slot_session, np.flatnonzero(back)]
    t_item = np.r_[fresh, fresh[back_slot]]
    t_returning = np.r_[np.zeros(len(fresh), bool), np.ones(back.sum(), bool)]

    events = _session_events(rng, t_session, t_item, t_returning, consumable[item_cat[t_item]])
    ev_session, ev_item, ev_type, ev_key = events

    # Consumables: the first purchase of each starts a re-purchase cycle every few weeks.
    buys = np.flatnonzero((ev_type == 3) & consumable[item_cat[ev_item]])
    buys = buys[np.argsort(s_start[ev_session[buys]], kind="stable")]
    buys = buys[~pd.Series(s_user[ev_session[buys]] * items + ev_item[buys]).duplicated().to_numpy()]
    c_user, c_item = s_user[ev_session[buys]], ev_item[buys]
    c_time = s_start[ev_session[buys]].astype(np.float64)
    period = rng.lognormal(np.log(24.0 * DAY), 0.4, len(c_user))
    r_user, r_item, r_time = [], [], []
    alive = np.ones(len(c_user), dtype=bool)
    while alive.any():
        c_time = c_time + period * rng.lognormal(0.0, 0.2, len(c_user))
        alive &= (c_time < window - DAY) & (rng.random(len(c_user)) < 0.8)
        r_user.append(c_user[alive]), r_item.append(c_item[alive]), r_time.append(c_time[alive])
    r_user, r_item, r_time = np.concatenate(r_user), np.concatenate(r_item), np.concatenate(r_time)
    n_r = len(r_user)
    # A replenishing visit: the item re-viewed (sometimes a neighbour of its category too), carted, bought.
    r_session = n_s + np.arange(n_r)
    neighbour = rng.random(n_r) < 0.4
    other = by_cat[np.searchsorted(cdf, style[r_user[neighbour]] * n_cats + item_cat[r_item[neighbour]]
                                   + rng.random(neighbour.sum()), side="right") % items]
    views = rng.geometric(0.7, n_r)
    rv_session = np.r_[np.repeat(r_session, views), r_session[neighbour], r_session, r_session]
    rv_item = np.r_[np.repeat(r_item, views), other, r_item, r_item]
    rv_type = np.r_[np.zeros(views.sum() + neighbour.sum(), np.int64), np.ones(n_r, np.int64), np.full(n_r, 3)]
    rv_key = np.r_[rng.random(views.sum() + neighbour.sum()) * 0.9, np.full(n_r, 0.95), 1 + rng.random(n_r) * 0.1]
    s_user = np.r_[s_user, r_user]
    s_start = np.r_[s_start, (np.floor(r_time / DAY) * DAY + rng.choice(24, n_r, p=_EVENING) * 3600
                              + rng.integers(0, 3600, n_r)).astype(np.int64)]
    ev_session, ev_item = np.r_[ev_session, rv_session], np.r_[ev_item, rv_item]
    ev_type, ev_key = np.r_[ev_type, rv_type], np.r_[ev_key, rv_key]

    # Times: sessions in order, events inside one seconds to minutes apart, in key order.
    order = np.lexsort((ev_key, s_start[ev_session], s_user[ev_session]))
    ev_session, ev_item, ev_type = ev_session[order], ev_item[order], ev_type[order]
    n = len(order)
    gap = np.maximum(1, rng.lognormal(np.log(35.0), 1.0, n)).astype(np.int64)
    elapsed = np.cumsum(gap)
    new_session = np.r_[True, ev_session[1:] != ev_session[:-1]]
    elapsed -= np.maximum.accumulate(np.where(new_session, elapsed - gap, 0))
    ev_user = s_user[ev_session]
    ev_time = np.minimum(s_start[ev_session] + elapsed, window - 1)

    # Durables are bought once: a later purchase of one is dropped (its cart stays, as abandoned carts do).
    purchase = ev_type == 3
    again = np.zeros(n, dtype=bool)
    again[purchase] = pd.Series(ev_user[purchase] * items + ev_item[purchase]).duplicated().to_numpy()
    keep = ~(again & ~consumable[item_cat[ev_item]])
    # Two sessions of a user on the same evening may overlap; the log is in time order all the same.
    keep = np.flatnonzero(keep)
    keep = keep[np.lexsort((ev_time[keep], ev_user[keep]))]
    ev_user, ev_item, ev_type, ev_time = ev_user[keep], ev_item[keep], ev_type[keep], ev_time[keep]
    quantity = np.where(consumable[item_cat[ev_item]], rng.geometric(0.6, len(ev_item)),
                        1 + (rng.random(len(ev_item)) < 0.08))
    value = np.where(ev_type == 3, np.round(price[ev_item] * quantity, 2), np.nan)
    interactions = pd.DataFrame({
        "USER_ID": "c" + pd.Series(ev_user).astype(str).to_numpy(),
        "ITEM_ID": "p" + pd.Series(ev_item).astype(str).to_numpy(),
        "TIMESTAMP": START + ev_time,
        "EVENT_TYPE": np.array(SHOP_EVENT_TYPES)[ev_type],
        "EVENT_VALUE": value,
    })
    catalogue = pd.DataFrame({"ITEM_ID": "p" + pd.Series(np.arange(items)).astype(str).to_numpy(),
                              "CATEGORY_ID": "k" + pd.Series(item_cat).astype(str).to_numpy(), "PRICE": price})
    return interactions, catalogue


def _session_events(rng, t_session, t_item, t_returning, t_consumable):
    """Events for (session, item) touches: views with back-and-forth re-views, carts and favourites
    after a view, purchases of carted items at checkout. Returns session, item, type and an order key
    within the session."""
    m = len(t_session)
    views = rng.geometric(0.975, m)  # 1 + back-and-forth re-views: 2.5 % more views
    cart = rng.random(m) < np.where(t_returning, 0.25, 0.095)
    favorite = rng.random(m) < 0.035
    purchase = cart & (rng.random(m) < np.where(t_consumable, 0.55, 0.35))
    first_view = rng.random(m) * 0.8
    v_touch = np.repeat(np.arange(m), views)
    v_first = np.r_[True, v_touch[1:] != v_touch[:-1]]
    # Re-views, carts and favourites come after the item's first view; a purchase at checkout, last.
    v_key = np.where(v_first, first_view[v_touch], _after(rng, first_view[v_touch]))
    touch = np.r_[v_touch, np.flatnonzero(cart), np.flatnonzero(favorite), np.flatnonzero(purchase)]
    kind = np.r_[np.zeros(len(v_touch), np.int64), np.ones(cart.sum(), np.int64), np.full(favorite.sum(), 2),
                 np.full(purchase.sum(), 3)]
    key = np.r_[v_key, _after(rng, first_view[cart]), _after(rng, first_view[favorite]),
                1 + rng.random(purchase.sum()) * 0.1]
    return t_session[touch], t_item[touch], kind, key


def _after(rng, key: np.ndarray) -> np.ndarray:
    return key + 1e-6 + rng.random(len(key)) * (1 - key)




def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the first column whose cumulative share exceeds ``u``."""
    return np.minimum((cdf <= u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def describe(name: str, interactions: pd.DataFrame, seconds: float) -> str:
    """One data set's shape: what decides whether a recommender may rely on repeats and on history."""
    per_user = interactions.groupby("USER_ID").size()
    pairs = interactions.groupby(["USER_ID", "ITEM_ID"]).size()
    mix = ", ".join(f"{t} {s:.1%}" for t, s in interactions["EVENT_TYPE"].value_counts(normalize=True).items()) \
        if "EVENT_TYPE" in interactions else "-"
    q1, q2, q3 = per_user.quantile([0.25, 0.5, 0.75]).tolist()
    return (f"{name}: {per_user.size:,} users, {interactions['ITEM_ID'].nunique():,} items, {len(interactions):,} "
            f"events in {seconds:.1f}s; repeat share {repeat_share(interactions):.1%}, pairs with >1 event "
            f"{(pairs > 1).mean():.1%}; {mix}; events per user {q1:.0f} / {q2:.0f} / {q3:.0f} (min "
            f"{per_user.min()}, max {per_user.max()}), >=200: {(per_user >= 200).mean():.1%}")


if __name__ == "__main__":
    import time

    for label, make in (("demo", demo_data), ("power-law", drifting_catalogue), ("ratings", ratings_catalogue),
                        ("shop", shop_event_log)):
        began = time.perf_counter()
        data = make()
        elapsed = time.perf_counter() - began
        print(describe(label, data[0] if isinstance(data, tuple) else data, elapsed))
