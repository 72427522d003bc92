"""Interaction data for the engine benchmarks: the demo shop, and synthetic catalogues of other shapes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from recsys_assets.sample_data import generate

START = 1_700_000_000


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
