import numpy as np
import pandas as pd
import pytest

from recsys_assets.engine.metrics import ranking_metrics
from recsys_assets.engine.recipes import (
    POPULARITY_COUNT,
    RECIPES,
    USER_PERSONALIZATION,
    USER_PERSONALIZATION_V2,
    Model,
    TrainingData,
    TrainingError,
    get_recipe,
    select_interactions,
    train,
)

POP, UP, UP2 = POPULARITY_COUNT.arn, USER_PERSONALIZATION.arn, USER_PERSONALIZATION_V2.arn
DAY = 86400


def structured_interactions(n_users=600, n_items=240, n_clusters=12, per_user=30, drift=0.0, seed=0):
    """Users in taste clusters over a long-tailed catalogue, 90 days of events.

    Three in four events fall in the user's cluster's block of items (Zipf within the block); the
    rest follow a global Zipf popularity. With ``drift``, that share of a user's events after a
    user-specific moment move to the next cluster: recent history then predicts the future best.
    """
    rng = np.random.default_rng(seed)
    cluster = rng.integers(n_clusters, size=n_users)
    block = n_items // n_clusters
    popularity = rng.permutation(1.0 / np.arange(1, n_items + 1) ** 0.9)
    within_block = 1.0 / np.arange(1, block + 1) ** 0.7
    user = np.repeat(np.arange(n_users), np.maximum(2, rng.poisson(per_user, size=n_users)))
    t = rng.uniform(0, 90 * DAY, size=len(user))
    taste = cluster[user]
    if drift:
        moved = (t > rng.uniform(0.3, 0.9, n_users)[user] * 90 * DAY) & (rng.random(len(user)) < drift)
        taste = np.where(moved, (taste + 1) % n_clusters, taste)
    item = np.where(
        rng.random(len(user)) < 0.75,
        taste * block + rng.choice(block, size=len(user), p=within_block / within_block.sum()),
        rng.choice(n_items, size=len(user), p=popularity / popularity.sum()),
    )
    return pd.DataFrame({
        "USER_ID": [f"u{u}" for u in user],
        "ITEM_ID": [f"i{i}" for i in item],
        "TIMESTAMP": (1_700_000_000 + t).astype(np.int64),
    })


def newest_holdout_ndcg10(arn, interactions, solution_config=None, held=2):
    """NDCG@10 on each user's newest ``held`` interactions, training on the rest."""
    ordered = interactions.sort_values("TIMESTAMP", kind="stable")
    newest_first = ordered.groupby("USER_ID").cumcount(ascending=False)
    fit, test = ordered[newest_first >= held], ordered[newest_first < held]
    model = train(arn, TrainingData(fit), solution_config=solution_config)
    truth = test.groupby("USER_ID")["ITEM_ID"].agg(set)
    users = truth.index.to_numpy(dtype=object)
    recommended = [items for items, _ in model.recommend(users, 10, ~model.seen(users).toarray())]
    return ranking_metrics(recommended, list(truth))["normalized_discounted_cumulative_gain_at_10"]


@pytest.fixture(scope="module")
def interactions():
    return structured_interactions()


@pytest.fixture(scope="module")
def models(interactions):
    return {arn: train(arn, TrainingData(interactions)) for arn in RECIPES}


def test_catalogue_describes_the_recipes():
    assert set(RECIPES) >= {POP, UP, UP2}
    assert get_recipe(POP) == POPULARITY_COUNT
    assert POPULARITY_COUNT.feature_transformation_arn == "arn:aws:personalize:::feature-transformation/sims"
    assert not POPULARITY_COUNT.has_scores and USER_PERSONALIZATION_V2.has_scores
    assert USER_PERSONALIZATION.supports_update and not USER_PERSONALIZATION_V2.supports_update
    for arn, recipe in RECIPES.items():
        assert recipe.arn == arn == f"arn:aws:personalize:::recipe/{recipe.name}"
        assert recipe.algorithm_arn == f"arn:aws:personalize:::algorithm/{recipe.name}"
        assert (recipe.recipe_type, recipe.batch_input) == ("USER_PERSONALIZATION", "userId")
    with pytest.raises(KeyError, match="aws-nope"):
        get_recipe("arn:aws:personalize:::recipe/aws-nope")


def test_popularity_count_ranks_by_distinct_users(interactions):
    # One user repeating an unpopular item 500 times must not make it popular.
    rare = interactions["ITEM_ID"].value_counts().index[-1]
    spam = pd.DataFrame({"USER_ID": "u0", "ITEM_ID": rare, "TIMESTAMP": np.arange(500) + 1_700_000_000})
    spammed = pd.concat([interactions, spam], ignore_index=True)
    model = train(POP, TrainingData(spammed))

    distinct = spammed.groupby("ITEM_ID")["USER_ID"].nunique()
    assert rare not in distinct.nlargest(100).index
    expected = sorted(distinct.index, key=lambda item: (-distinct[item], item))[:20]
    (items, scores), = model.recommend(["u1"], 20)
    assert items == expected and scores is None
    assert not model.has_scores
    np.testing.assert_array_equal(
        model.score(["u1"])[0], distinct.reindex(model.item_ids).to_numpy(np.float32)
    )


@pytest.mark.parametrize("arn", [POP, UP, UP2])
def test_save_load_round_trips_exactly(arn, models, tmp_path):
    model = models[arn]
    path = tmp_path / "model"  # no .npz suffix: the file must land on exactly this path
    model.save(path)
    loaded = Model.load(path)

    users = list(model.user_ids[:50]) + ["never-seen"]
    assert loaded.recipe_arn == arn and loaded.has_scores == model.has_scores
    assert loaded.hyperparameters == model.hyperparameters
    assert loaded.item_ids.dtype == object and list(loaded.item_ids) == list(model.item_ids)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    assert (loaded.seen(users) != model.seen(users)).nnz == 0
    assert loaded.recommend(users, 25) == model.recommend(users, 25)


@pytest.mark.parametrize("arn", [UP, UP2])
def test_up_scores_are_a_distribution_over_the_catalogue(arn, models):
    scores = models[arn].score(["u0", "u1", "never-seen"])
    assert scores.dtype == np.float32 and scores.shape == (3, len(models[arn].item_ids))
    assert scores.min() >= 0 and scores.max() <= 1
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("arn", [POP, UP, UP2])
def test_recommend_orders_best_first_within_num_results(arn, models):
    model = models[arn]
    users = ["u0", "u1", "u2"]
    scores = model.score(users)
    for row, (items, given) in zip(scores, model.recommend(users, 30)):
        assert len(items) == len(set(items)) == 30
        ranked = row[model.item_ids.searchsorted(items)]  # item_ids are sorted
        assert np.all(np.diff(ranked) <= 0) and ranked[0] == row.max()
        assert given is None if arn == POP else np.allclose(given, ranked)
    everything = model.recommend(["u0"], 10_000)[0][0]
    assert sorted(everything) == list(model.item_ids)
    assert model.recommend(["u0"], 0) == [([], None if arn == POP else [])]


def test_allowed_mask_is_respected(models):
    model = models[UP2]
    users = ["u0", "u1", "u2", "u3"]
    allowed = np.random.default_rng(0).random((4, len(model.item_ids))) < 0.3
    allowed[2] = False
    allowed[3] = False
    allowed[3, [5, 7, 9]] = True
    results = model.recommend(users, 25, allowed)
    for (items, scores), row in zip(results[:2], allowed):
        assert len(items) == 25 and set(items) <= set(model.item_ids[row])
    assert results[2] == ([], [])
    assert sorted(results[3][0]) == sorted(model.item_ids[[5, 7, 9]])


def test_unknown_users_get_the_popular_items(models):
    model = models[UP2]
    assert list(model.user_index(["u0", "nobody", "u1"]) >= 0) == [True, False, True]
    assert model.seen(["nobody", "u0"]).getnnz(axis=1).tolist()[0] == 0
    popular = model.item_ids[np.argsort(-model.popularity, kind="stable")[:10]]
    assert model.recommend(["nobody"], 10)[0][0] == list(popular)
    assert model.recommend(["u0"], 10)[0][0] != list(popular)


def test_seen_lists_training_interactions(models, interactions):
    model = models[UP]
    seen = model.seen(["u3", "u0"])
    for row, user in enumerate(["u3", "u0"]):
        expected = set(interactions.loc[interactions["USER_ID"] == user, "ITEM_ID"])
        assert set(model.item_ids[seen[row].indices]) == expected


@pytest.mark.parametrize("arn", [UP, UP2])
def test_user_personalization_clearly_beats_popularity(arn, interactions):
    up = newest_holdout_ndcg10(arn, interactions)
    popularity = newest_holdout_ndcg10(POP, interactions)
    assert up >= 1.5 * popularity


def test_recency_bias_helps_when_tastes_drift():
    drifting = structured_interactions(drift=0.9, seed=1)
    off = {"algorithmHyperParameters": {"apply_recency_bias": "false"}}
    assert newest_holdout_ndcg10(UP2, drifting) >= 1.1 * newest_holdout_ndcg10(UP2, drifting, off)


def test_select_interactions_by_event_type_and_value():
    events = pd.DataFrame({
        "USER_ID": ["a", "a", "b", "b", "c"],
        "ITEM_ID": ["1", "2", "3", "4", "5"],
        "TIMESTAMP": [1, 2, 3, 4, 5],
        "EVENT_TYPE": ["watch", "click", "watch", "watch", "Watch"],
        "EVENT_VALUE": [0.2, 0.9, 0.5, np.nan, 0.7],
    })
    assert select_interactions(events, None, None).equals(events)
    assert list(select_interactions(events, "watch", None)["ITEM_ID"]) == ["1", "3", "4"]
    assert list(select_interactions(events, "watch", {"eventValueThreshold": "0.5"})["ITEM_ID"]) == ["3"]
    assert list(select_interactions(events, None, {"eventValueThreshold": "0.5"})["ITEM_ID"]) == ["2", "3", "5"]
    assert select_interactions(events.drop(columns="EVENT_TYPE"), "watch", None).empty
    with pytest.raises(TrainingError, match="eventValueThreshold 'high'"):
        select_interactions(events, None, {"eventValueThreshold": "high"})


def test_training_uses_only_the_selected_events(interactions):
    typed = interactions.assign(
        EVENT_TYPE=np.where(interactions["ITEM_ID"].str[1:].astype(int) < 120, "purchase", "click"),
        EVENT_VALUE=np.where(interactions.index % 2 == 0, 1.0, 0.0),
    )
    model = train(POP, TrainingData(typed), event_type="purchase", solution_config={"eventValueThreshold": "1"})
    chosen = typed[(typed["EVENT_TYPE"] == "purchase") & (typed["EVENT_VALUE"] >= 1)]
    assert set(model.item_ids) == set(chosen["ITEM_ID"])
    assert model.popularity.sum() == len(chosen.drop_duplicates(["USER_ID", "ITEM_ID"]))


def test_too_little_data_fails_with_the_documented_text(interactions):
    with pytest.raises(TrainingError, match=r"^Create failed\. Dataset has fewer than 1000 interactions \(found 999\)\.$"):
        train(UP2, TrainingData(interactions.iloc[:999]))
    few_users = interactions[interactions["USER_ID"].isin([f"u{u}" for u in range(20)])]
    few_users = pd.concat([few_users] * (1000 // len(few_users) + 1), ignore_index=True)
    with pytest.raises(TrainingError, match=r"^Create failed\. Dataset has fewer than 25 users with at least 2 interactions each\.$"):
        train(POP, TrainingData(few_users))
    # The minimum applies after event selection.
    with pytest.raises(TrainingError, match="fewer than 1000 interactions"):
        train(POP, TrainingData(interactions.assign(EVENT_TYPE="click")), event_type="purchase")


@pytest.mark.parametrize(
    ("arn", "config", "message"),
    [
        (UP2, {"algorithmHyperParameters": {"hidden_dimension": "64"}}, "Unknown hyperparameter 'hidden_dimension'"),
        (POP, {"algorithmHyperParameters": {"apply_recency_bias": "true"}}, "Unknown hyperparameter 'apply_recency_bias'"),
        (UP, {"featureTransformationParameters": {"max_history": "5"}}, "Unknown hyperparameter 'max_history'"),
        (UP, {"algorithmHyperParameters": {"hidden_dimension": "lots"}}, "'lots' for hyperparameter hidden_dimension"),
        (UP, {"algorithmHyperParameters": {"hidden_dimension": "12"}}, "'12' for hyperparameter hidden_dimension"),
        (UP2, {"algorithmHyperParameters": {"apply_recency_bias": "yes"}}, "'yes' for hyperparameter apply_recency_bias"),
        (UP, {"featureTransformationParameters": {"max_user_history_length_percentile": "x"}},
         "'x' for hyperparameter max_user_history_length_percentile"),
    ],
)
def test_bad_hyperparameters_fail_training(arn, config, message, interactions):
    with pytest.raises(TrainingError, match=message):
        train(arn, TrainingData(interactions), solution_config=config)


def test_hyperparameters_report_what_was_used(models, interactions):
    assert models[POP].hyperparameters == {}
    assert models[UP2].hyperparameters == {"apply_recency_bias": "true"}
    assert models[UP].hyperparameters == {
        "hidden_dimension": "64", "bptt": "32", "recency_mask": "true",
        "min_user_history_length_percentile": "0.0", "max_user_history_length_percentile": "0.99",
    }
    narrow = train(UP, TrainingData(interactions), solution_config={
        "algorithmHyperParameters": {"hidden_dimension": "32"}})
    assert narrow.hyperparameters["hidden_dimension"] == "32"
    assert narrow.item_factors.shape == (len(narrow.item_ids), 32)


def test_history_percentiles_leave_users_out_of_fitting_but_not_out_of_the_model(models, interactions):
    config = {"featureTransformationParameters": {"max_user_history_length_percentile": "0.5"}}
    model = train(UP, TrainingData(interactions), solution_config=config)
    assert not np.allclose(model.item_factors, models[UP].item_factors)
    heaviest = interactions["USER_ID"].value_counts().index[0]
    popular = model.recommend(["nobody"], 10)[0][0]
    assert model.user_index([heaviest])[0] >= 0
    assert model.recommend([heaviest], 10)[0][0] != popular
