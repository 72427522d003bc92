"""GetSolutionMetrics' measures, computed the way Personalize documents them [personalize-api.md §5].

Each test user's top 25 as the solution version serves it (no filter) is scored against their held-out
truth: the distinct items of their newest interactions, including items they had interacted with
before (the documentation counts a recommended item relevant when it is in the held-out interactions;
a shop's next events often repeat). Binary relevance, rank 1 at the top. Per recipe family:

- user recommendations (user-personalization, popularity-count, trending-now) and personalized-ranking
  (ranking the whole catalogue, as nothing narrower is documented): the user's top 25;
- related items (SIMS, Similar-Items), where the service documents no protocol, emulator choice: the
  25 items most similar to the test user's newest input item.

Which users and interactions are held out, and the training around it, is ``engine.training``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from recsys_assets.engine.models import Model, RelatedItemsModel
from recsys_assets.engine.recipes.preparation import Events, Prepared

METRIC_NAMES = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)
TREND_METRIC = "trend_prediction_accuracy"
TOP_K = 25


def ranking_metrics(recommended: Sequence[Sequence[str]], truth: Sequence[set[str]]) -> dict[str, float]:
    """MRR@25, NDCG@{5,10,25} and precision@{5,10,25}, averaged over the users with a non-empty truth.

    Precision divides by K even when a list is shorter. NDCG weighs a hit at position p by
    1/log(1 + p) and divides by the ideal DCG of min(K, |truth|) hits packed at the top.
    """
    if len(recommended) != len(truth):
        raise ValueError(f"{len(recommended)} recommendation lists for {len(truth)} truth sets")
    hits = np.zeros((len(recommended), TOP_K), dtype=bool)
    for row, (items, relevant) in enumerate(zip(recommended, truth)):
        top = list(items)[:TOP_K]
        hits[row, :len(top)] = [item in relevant for item in top]
    return _hit_metrics(hits, np.array([len(t) for t in truth], dtype=np.int64))


def _hit_metrics(hits: np.ndarray, relevant: np.ndarray) -> dict[str, float]:
    """``ranking_metrics`` from each user's hits in their top 25 (bool, users x 25) and truth size."""
    names = METRIC_NAMES[1:]
    judged = relevant > 0
    if not judged.any():
        return dict.fromkeys(names, 0.0)
    hits, relevant = hits[judged], relevant[judged]
    discounts = 1.0 / np.log2(np.arange(2, TOP_K + 2))
    ideal = np.cumsum(discounts)
    out = {"mean_reciprocal_rank_at_25": float(np.mean(np.where(hits.any(axis=1), 1.0 / (hits.argmax(axis=1) + 1), 0.0)))}
    for k in (5, 10, 25):
        dcg = hits[:, :k] @ discounts[:k]
        out[f"normalized_discounted_cumulative_gain_at_{k}"] = float(np.mean(dcg / ideal[np.minimum(k, relevant) - 1]))
        out[f"precision_at_{k}"] = float(np.mean(hits[:, :k].sum(axis=1) / k))
    return {name: out[name] for name in names}


def evaluate(model: Model, prepared: Prepared, users: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """METRIC_NAMES for ``users`` (codes) whose ``truth`` events the model was trained without: the
    top 25 as served, against the distinct held-out items, repeats of the user's history included."""
    events = prepared.events
    if isinstance(model, RelatedItemsModel):
        top = model.top_similar(events.item_ids[_newest_input_item(events, users, truth)], TOP_K)
    else:
        top = model.top_items(events.user_ids[users], TOP_K, with_scores=False)[0]
    (held,) = np.nonzero(truth)
    row = np.searchsorted(users, events.user[held])
    relevant = sp.csr_matrix((np.ones(len(held), dtype=np.int8), (row, model.item_index(events.item_ids[events.item[held]]))),
                             shape=(len(users), len(model.item_ids)))
    relevant.data[:] = 1
    hit_keys = relevant.tocoo()
    n_items = len(model.item_ids)
    listed = np.where(top >= 0, np.arange(len(users))[:, None] * n_items + top, -1)
    hits = np.isin(listed, hit_keys.row.astype(np.int64) * n_items + hit_keys.col)
    hits = np.pad(hits, ((0, 0), (0, TOP_K - hits.shape[1])))
    shown = np.unique(top[top >= 0])
    metrics = {"coverage": len(shown) / prepared.catalogue_size if prepared.catalogue_size else 0.0}
    return metrics | _hit_metrics(hits, np.asarray(relevant.getnnz(axis=1)))


def _newest_input_item(events: Events, users: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Item code of each user's newest event outside ``truth`` (every test user keeps at least one)."""
    index = events.in_user_time_order(np.isin(events.user, users) & ~truth)
    last = np.r_[events.user[index][1:] != events.user[index][:-1], True]
    newest = dict(zip(events.user[index][last].tolist(), events.item[index][last].tolist()))
    return np.array([newest[u] for u in users.tolist()], dtype=np.int64)
