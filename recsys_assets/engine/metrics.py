"""GetSolutionMetrics: offline metrics computed the way Personalize documents them.

[personalize-api.md §5.2] Users are split 90/10 with a fixed seed. The model trains on the 90 %
users' interactions plus each test user's oldest 90 %; the test user's newest 10 % are the truth.
Each test user's top 25, excluding the items in their input history, is scored against that truth
(binary relevance, rank 1 at the top). Per recipe family:

- user recommendations (user-personalization, popularity-count, trending-now) and personalized-ranking
  (ranking the whole catalogue, as nothing narrower is documented): the user's top 25;
- related items (SIMS, Similar-Items), where the service documents no protocol, emulator choice: the
  25 items most similar to the test user's newest input item;
- trending-now also reports ``trend_prediction_accuracy`` (emulator choice; the service names the
  metric, not its key or formula): of the items whose counts grew most in the newest
  ``trend_discovery_frequency`` window (up to 25 with positive growth), the share found in the top 25
  of a model trained on the data before that window.

``train_and_evaluate`` fits once on the split: the metrics come from that model, and the final model
folds the held-out interactions back in (``recipes.complete``) instead of training a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from recsys_assets.engine import algorithms, recipes
from recsys_assets.engine.models import Model, RelatedItemsModel

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
TEST_USER_SHARE = 0.1
TRUTH_SHARE = 0.1
TOP_K = 25
# Test users recommended per call: bounds the dense "allowed" mask (users x catalogue).
BLOCK_USERS = 2000


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


@dataclass
class Split:
    users: np.ndarray  # test users (codes into events.user_ids), sorted
    truth: np.ndarray  # bool mask over the events: the test users' newest 10 %


def documented_split(events: recipes.Events, seed: int) -> Split:
    """10 % of users (seeded), and each one's newest 10 % of interactions as the truth.

    A test user with n >= 2 interactions keeps their oldest n - max(1, round(0.1 n)) as input; one
    with a single interaction keeps it, and gets an empty truth.
    """
    n_users = len(events.user_ids)
    n_test = max(1, int(round(TEST_USER_SHARE * n_users))) if n_users else 0
    users = np.sort(np.random.default_rng(seed).choice(n_users, size=n_test, replace=False))
    return Split(users, events.newest(users, np.ones(len(events.user), dtype=bool), TRUTH_SHARE))


def evaluate(model: Model, prepared: recipes.Prepared, users: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """METRIC_NAMES for ``users`` (codes) whose ``truth`` events the model was trained without."""
    events = prepared.events
    user_ids = events.user_ids[users]
    if isinstance(model, RelatedItemsModel):
        queries = events.item_ids[_newest_input_item(events, users, truth)]
    seen = model.seen(user_ids)
    tops = []
    for start in range(0, len(users), BLOCK_USERS):
        block = slice(start, start + BLOCK_USERS)
        allowed = ~seen[block].toarray()
        if isinstance(model, RelatedItemsModel):
            tops.append(model.top_similar(queries[block], TOP_K, allowed))
        else:
            tops.append(model.top_items(user_ids[block], TOP_K, allowed, with_scores=False)[0])
    top = np.concatenate(tops) if tops else np.empty((0, TOP_K), dtype=np.int64)
    # The truth: each user's held-out items (in the model's catalogue order) that are not in their
    # input history, which the lists exclude.
    (held,) = np.nonzero(truth)
    row = np.searchsorted(users, events.user[held])
    relevant = sp.csr_matrix((np.ones(len(held), dtype=np.int8), (row, model.item_index(events.item_ids[events.item[held]]))),
                             shape=(len(users), len(model.item_ids)))
    relevant.data[:] = 1
    relevant = relevant - relevant.multiply(seen)
    relevant.eliminate_zeros()
    hit_keys = relevant.tocoo()
    n_items = len(model.item_ids)
    listed = np.where(top >= 0, np.arange(len(users))[:, None] * n_items + top, -1)
    hits = np.isin(listed, hit_keys.row.astype(np.int64) * n_items + hit_keys.col)
    hits = np.pad(hits, ((0, 0), (0, TOP_K - hits.shape[1])))
    shown = np.unique(top[top >= 0])
    metrics = {"coverage": len(shown) / prepared.catalogue_size if prepared.catalogue_size else 0.0}
    return metrics | _hit_metrics(hits, np.asarray(relevant.getnnz(axis=1)))


def _newest_input_item(events: recipes.Events, users: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Item code of each user's newest event outside ``truth`` (every test user keeps at least one)."""
    (index,) = np.nonzero(np.isin(events.user, users) & ~truth)
    index = index[np.lexsort((index, events.time[index], events.user[index]))]
    last = np.r_[events.user[index][1:] != events.user[index][:-1], True]
    newest = dict(zip(events.user[index][last].tolist(), events.item[index][last].tolist()))
    return np.array([newest[u] for u in users.tolist()], dtype=np.int64)


def trend_prediction_accuracy(prepared: recipes.Prepared, values: dict, seed: int) -> float:
    events = prepared.events
    window = recipes.TREND_WINDOWS[values["trend_discovery_frequency"]]
    end = events.time.max()
    n = len(events.item_ids)
    growth = algorithms.trend_scores(events.item, events.time, n, window, end)
    grew = np.flatnonzero(growth > 0)
    actual = grew[np.lexsort((grew, -growth[grew]))][:TOP_K]
    before = events.time <= end - window
    if not len(actual) or not before.any():
        return 0.0
    model = recipes.fit(_with_events(prepared, before), seed=seed).model
    predicted = model.top_items(model.user_ids[:1], TOP_K)[0][0]
    return len(set(actual.tolist()) & set(predicted.tolist())) / len(actual)


def _with_events(prepared: recipes.Prepared, keep: np.ndarray) -> recipes.Prepared:
    """``prepared`` restricted to the ``keep`` events (same catalogue and user codes)."""
    events = prepared.events
    kept = recipes.Events(events.user[keep], events.item[keep], events.time[keep], events.weight[keep],
                          events.user_ids, events.item_ids)
    return recipes.Prepared(prepared.recipe, prepared.params, prepared.search, kept, prepared.tokens,
                            prepared.catalogue_size)


def train_and_evaluate(recipe_arn: str, data: recipes.TrainingData, *, event_type: str | None = None,
                       solution_config: dict | None = None, perform_hpo: bool = False,
                       seed: int = 0) -> tuple[Model, dict[str, float]]:
    """The model to serve and the GetSolutionMetrics dict (4 decimals, as the service reports them).

    One fit on the documented split gives the metrics; the final model is that fit with the held-out
    interactions folded back in. Raises recipes.TrainingError with the failureReason.
    """
    prepared = recipes.prepare(recipe_arn, data, event_type=event_type, solution_config=solution_config,
                               perform_hpo=perform_hpo, seed=seed)
    split = documented_split(prepared.events, seed)
    fitted = recipes.fit(prepared, exclude=split.truth, seed=seed)
    metrics = evaluate(fitted.model, prepared, split.users, split.truth)
    if prepared.recipe is recipes.TRENDING_NOW:
        metrics[TREND_METRIC] = trend_prediction_accuracy(prepared, fitted.values, seed)
    model = recipes.complete(fitted, prepared, split.truth, seed=seed)
    return model, {name: round(float(value), 4) for name, value in metrics.items()}

