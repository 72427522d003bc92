import math

import numpy as np
import pandas as pd
import pytest

from recsys_assets.engine.metrics import METRIC_NAMES, _split, ranking_metrics, solution_metrics
from recsys_assets.engine.recipes import (
    POPULARITY_COUNT,
    USER_PERSONALIZATION_V2,
    TrainingData,
    TrainingError,
)
from recsys_assets_tests.engine.test_recipes import structured_interactions

POP, UP2 = POPULARITY_COUNT.arn, USER_PERSONALIZATION_V2.arn


def ranked(hit_positions, truth, length=25):
    """A list of ``length`` items whose 1-based ``hit_positions`` hold truth items, misses elsewhere."""
    hits = iter(sorted(truth))
    return [next(hits) if p in hit_positions else f"miss{p}" for p in range(1, length + 1)]


@pytest.fixture(scope="module")
def interactions():
    return structured_interactions()


def test_doc_example_mrr():
    # Users with first hits at 4, 2 and 6 (later hits don't count): (1/4 + 1/2 + 1/6) / 3.
    truths = [{"a", "b"}, {"a", "b", "c"}, {"a"}]
    lists = [ranked({4, 10}, truths[0]), ranked({2, 4, 12}, truths[1]), ranked({6}, truths[2])]
    mrr = ranking_metrics(lists, truths)["mean_reciprocal_rank_at_25"]
    assert round(mrr, 4) == 0.3056


def test_doc_example_ndcg_and_precision_at_5():
    truth = {"a", "b"}
    metrics = ranking_metrics([ranked({2, 5}, truth)], [truth])
    assert round(metrics["normalized_discounted_cumulative_gain_at_5"], 4) == 0.6241
    assert metrics["precision_at_5"] == 0.4
    assert metrics["mean_reciprocal_rank_at_25"] == 0.5


def test_hand_computed_case():
    # 3 relevant items, hits at 1 and 4 in the top 10, a third hit at 20.
    truth = {"a", "b", "c"}
    metrics = ranking_metrics([ranked({1, 4, 20}, truth)], [truth])
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics["normalized_discounted_cumulative_gain_at_10"] == pytest.approx((1 + 1 / math.log2(5)) / ideal)
    assert metrics["normalized_discounted_cumulative_gain_at_25"] == pytest.approx(
        (1 + 1 / math.log2(5) + 1 / math.log2(21)) / ideal)
    assert metrics["precision_at_10"] == pytest.approx(0.2)
    assert metrics["precision_at_25"] == pytest.approx(3 / 25)
    assert metrics["mean_reciprocal_rank_at_25"] == 1.0


def test_averages_users_and_skips_empty_truths():
    truth = {"a"}
    metrics = ranking_metrics([["a"], ["x", "a"], ["a"]], [truth, truth, set()])
    assert metrics["mean_reciprocal_rank_at_25"] == pytest.approx(0.75)
    # Short lists still divide by K.
    assert metrics["precision_at_5"] == pytest.approx(0.2)
    assert metrics["normalized_discounted_cumulative_gain_at_5"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert ranking_metrics([["a"]], [set()]) == dict.fromkeys(METRIC_NAMES[1:], 0.0)
    with pytest.raises(ValueError):
        ranking_metrics([["a"]], [{"a"}, {"b"}])


def test_perfect_recommender_scores_one():
    truths = [{f"{u}-{i}" for i in range(25)} for u in range(3)]
    metrics = ranking_metrics([sorted(t) for t in truths], truths)
    assert metrics == dict.fromkeys(METRIC_NAMES[1:], 1.0)
    # With fewer relevant items than K, precision cannot reach 1 but NDCG and MRR do.
    metrics = ranking_metrics([["a", "b"]], [{"a", "b"}])
    assert metrics["normalized_discounted_cumulative_gain_at_25"] == 1.0
    assert metrics["precision_at_5"] == pytest.approx(0.4)


def test_split_holds_out_each_test_users_newest_tenth():
    rows = []
    for u in range(40):
        n = 1 if u == 0 else 5 + u  # 6..44 interactions; user 0 has a single one
        times = np.random.default_rng(u).permutation(n)
        rows += [(f"u{u:02d}", f"i{u}-{t}", 1000 + times[t]) for t in range(n)]
    events = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"]).sample(frac=1, random_state=0)
    for seed in range(5):
        train_part, test_users, truth = _split(events, seed)
        assert len(test_users) == 4 and set(truth) == set(test_users)
        kept = events[~events["USER_ID"].isin(test_users)]
        assert len(train_part.merge(kept)) == len(kept)
        for user in test_users:
            history = events[events["USER_ID"] == user].sort_values("TIMESTAMP")
            n = len(history)
            held = 0 if n == 1 else max(1, math.floor(0.1 * n + 0.5))
            assert truth[user] == set(history["ITEM_ID"].iloc[n - held:])
            assert set(train_part.loc[train_part["USER_ID"] == user, "ITEM_ID"]) == set(history["ITEM_ID"].iloc[:n - held])
    assert not np.array_equal(_split(events, 0)[1], _split(events, 1)[1])


def test_solution_metrics_reports_every_key_in_range(interactions):
    metrics = solution_metrics(POP, TrainingData(interactions))
    assert tuple(metrics) == METRIC_NAMES
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in metrics.values())
    assert metrics["precision_at_5"] > 0


def test_solution_metrics_is_deterministic_given_the_seed(interactions):
    data = TrainingData(interactions)
    assert solution_metrics(UP2, data, seed=3) == solution_metrics(UP2, data, seed=3)
    assert solution_metrics(POP, data, seed=3) != solution_metrics(POP, data, seed=4)


def test_coverage_counts_the_items_dataset_too(interactions):
    data = TrainingData(interactions)
    base = solution_metrics(POP, data)
    n = interactions["ITEM_ID"].nunique()
    # Popularity recommends the same few items to everyone, excluding what each user has seen.
    assert 25 / n <= base["coverage"] < 0.5
    extra = pd.DataFrame({"ITEM_ID": [f"new{i}" for i in range(n)] + list(interactions["ITEM_ID"].unique()[:10])})
    halved = solution_metrics(POP, TrainingData(interactions, items=extra))
    assert halved["coverage"] == pytest.approx(base["coverage"] / 2, abs=1e-4)


def test_user_personalization_beats_the_popularity_baseline(interactions):
    data = TrainingData(interactions)
    up, popularity = solution_metrics(UP2, data), solution_metrics(POP, data)
    assert up["normalized_discounted_cumulative_gain_at_10"] >= 1.5 * popularity["normalized_discounted_cumulative_gain_at_10"]
    assert up["coverage"] > popularity["coverage"]


def test_solution_metrics_applies_the_event_selection(interactions):
    typed = interactions.assign(EVENT_TYPE="click")
    with pytest.raises(TrainingError, match="fewer than 1000 interactions"):
        solution_metrics(POP, TrainingData(typed), event_type="purchase")
    assert solution_metrics(POP, TrainingData(typed), event_type="click") == solution_metrics(
        POP, TrainingData(interactions))



def test_hand_computed_solution_metrics():
    # 100 users x 20 events, so each test user's truth is their newest 2: a repeat of their first
    # item (already in the input, so dropped from the truth) and then "blockbuster", which every
    # training user has and popularity therefore ranks first for the test users.
    rng = np.random.default_rng(0)
    rows = []
    for u in range(100):
        history = [f"i{i}" for i in rng.choice(300, size=18, replace=False)]
        for t, item in enumerate(history + [history[0], "blockbuster"]):
            rows.append((f"u{u}", item, 1_700_000_000 + t))
    events = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"])
    metrics = solution_metrics(POP, TrainingData(events))
    assert metrics == {
        "coverage": metrics["coverage"],
        "mean_reciprocal_rank_at_25": 1.0,
        "normalized_discounted_cumulative_gain_at_5": 1.0,
        "normalized_discounted_cumulative_gain_at_10": 1.0,
        "normalized_discounted_cumulative_gain_at_25": 1.0,
        "precision_at_5": 0.2,
        "precision_at_10": 0.1,
        "precision_at_25": 0.04,
    }
    assert 25 / 301 <= metrics["coverage"] <= 10 * 25 / 301
