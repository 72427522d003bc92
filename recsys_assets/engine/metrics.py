"""GetSolutionMetrics: offline metrics computed the way Personalize documents them.

[personalize-api.md §5.2] Users are split 90/10 with a fixed seed. The model trains on the 90 %
users' interactions plus each test user's oldest 90 %; the test user's newest 10 % are the truth.
Each test user's top 25, excluding the items in their input history, is scored against that truth
(binary relevance, rank 1 at the top).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from recsys_assets.engine.recipes import TrainingData, select_interactions, train

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
    discounts = 1.0 / np.log2(np.arange(2, TOP_K + 2))
    totals = dict.fromkeys(METRIC_NAMES[1:], 0.0)
    users = 0
    for items, relevant in zip(recommended, truth):
        if not relevant:
            continue
        users += 1
        hits = np.array([item in relevant for item in list(items)[:TOP_K]], dtype=bool)
        hits = np.pad(hits, (0, TOP_K - len(hits)))
        if hits.any():
            totals["mean_reciprocal_rank_at_25"] += 1.0 / (np.argmax(hits) + 1)
        for k in (5, 10, 25):
            totals[f"normalized_discounted_cumulative_gain_at_{k}"] += (
                discounts[:k][hits[:k]].sum() / discounts[:min(k, len(relevant))].sum()
            )
            totals[f"precision_at_{k}"] += hits[:k].sum() / k
    return {name: float(total / users) if users else 0.0 for name, total in totals.items()}


def solution_metrics(recipe_arn: str, data: TrainingData, *, event_type: str | None = None,
                     solution_config: dict | None = None, seed: int = 0) -> dict[str, float]:
    """The METRIC_NAMES of a solution version, rounded to 4 decimals as the service reports them.

    Raises recipes.TrainingError when the training part of the split is too small to train on.
    """
    interactions = select_interactions(data.interactions, event_type, solution_config)
    train_part, test_users, truth = _split(interactions, seed)
    model = train(
        recipe_arn,
        TrainingData(train_part, data.items, data.users),
        event_type=event_type,
        solution_config=solution_config,
        seed=seed,
    )
    recommended = []
    for start in range(0, len(test_users), BLOCK_USERS):
        block = test_users[start:start + BLOCK_USERS]
        allowed = ~model.seen(block).toarray()
        recommended += [items for items, _ in model.recommend(block, TOP_K, allowed)]
    # The input history was excluded from the lists, so it cannot count as truth either.
    seen = model.seen(test_users).tolil().rows
    truth = [truth[user] - set(model.item_ids[row]) for user, row in zip(test_users, seen)]

    catalogue = set(data.interactions["ITEM_ID"].astype(str))
    if data.items is not None:
        catalogue |= set(data.items["ITEM_ID"].astype(str))
    recommended_items = set().union(*recommended) if recommended else set()
    metrics = {"coverage": len(recommended_items) / len(catalogue) if catalogue else 0.0}
    metrics |= ranking_metrics(recommended, truth)
    return {name: round(metrics[name], 4) for name in METRIC_NAMES}


def _split(interactions: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, np.ndarray, dict[str, set[str]]]:
    """(training interactions, test user ids, each test user's newest items).

    A test user with n >= 2 interactions keeps their oldest n - max(1, round(0.1 n)) as input;
    one with a single interaction keeps it, and gets an empty truth.
    """
    interactions = interactions.assign(USER_ID=interactions["USER_ID"].astype(str),
                                       ITEM_ID=interactions["ITEM_ID"].astype(str))
    users = np.unique(interactions["USER_ID"].to_numpy(dtype=object))
    n_test = max(1, int(round(TEST_USER_SHARE * len(users)))) if len(users) else 0
    test_users = np.sort(np.random.default_rng(seed).choice(users, size=n_test, replace=False))

    is_test = interactions["USER_ID"].isin(test_users).to_numpy()
    test = interactions[is_test].sort_values(["USER_ID", "TIMESTAMP"], kind="stable")
    sizes = test.groupby("USER_ID", sort=False)["USER_ID"].transform("size").to_numpy()
    newest_first = test.groupby("USER_ID", sort=False).cumcount(ascending=False).to_numpy()
    n_truth = np.where(sizes >= 2, np.maximum(1, np.floor(TRUTH_SHARE * sizes + 0.5)), 0)
    held = newest_first < n_truth

    truth = {user: set() for user in test_users}
    for user, items in test[held].groupby("USER_ID")["ITEM_ID"]:
        truth[user] = set(items)
    train_part = pd.concat([interactions[~is_test], test[~held]])
    return train_part, test_users, truth
