import numpy as np
import pandas as pd
import pytest

from recsys_assets.engine import algorithms
from recsys_assets.engine import models as models_mod
from recsys_assets.engine.metrics import ranking_metrics
from recsys_assets.engine.models import BlendModel, FactorModel, LinearModel, Model, PopularityModel, RelatedItemsModel
from recsys_assets.engine.recipes import preparation
from recsys_assets.engine.recipes.catalogue import (
    PERSONALIZED_RANKING,
    PERSONALIZED_RANKING_V2,
    POPULARITY_COUNT,
    RECIPES,
    SIMILAR_ITEMS,
    SIMS,
    TRENDING_NOW,
    USER_PERSONALIZATION,
    USER_PERSONALIZATION_V2,
    TrainingError,
    get_recipe,
)
from recsys_assets.engine.recipes.preparation import TrainingData, select_interactions
from recsys_assets.engine.training import train

POP, UP, UP2 = POPULARITY_COUNT.arn, USER_PERSONALIZATION.arn, USER_PERSONALIZATION_V2.arn
PR, PR2, TREND = PERSONALIZED_RANKING.arn, PERSONALIZED_RANKING_V2.arn, TRENDING_NOW.arn
DAY = 86400
# Everything pinned, the repeat settings too: one fit, no validation split.
IALS = {"algorithmHyperParameters": {"algorithm": "ials", "ials_regularization": "30", "ials_alpha": "5",
                                    "ials_half_life": "0.25", "repeat_weight": "1", "repeat_half_life": "20"}}
EASE = {"algorithmHyperParameters": {"algorithm": "ease", "ease_lambda": "50", "ease_half_life": "0.25",
                                    "repeat_weight": "1", "repeat_half_life": "20"}}


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
    assert set(RECIPES) == {f"arn:aws:personalize:::recipe/{name}" for name in (
        "aws-popularity-count", "aws-trending-now", "aws-user-personalization", "aws-user-personalization-v2",
        "aws-personalized-ranking", "aws-personalized-ranking-v2", "aws-sims", "aws-similar-items")}
    assert get_recipe(POP) == POPULARITY_COUNT
    assert POPULARITY_COUNT.feature_transformation_arn == "arn:aws:personalize:::feature-transformation/sims"
    assert PERSONALIZED_RANKING.feature_transformation_arn == (
        "arn:aws:personalize:::feature-transformation/JSON-percentile-filtering")
    assert TRENDING_NOW.algorithm_arn == "arn:aws:personalize:::algorithm/aws-trending-now-custom"
    assert not POPULARITY_COUNT.has_scores and USER_PERSONALIZATION_V2.has_scores and PERSONALIZED_RANKING_V2.has_scores
    assert not SIMS.has_scores and not SIMILAR_ITEMS.has_scores and not TRENDING_NOW.has_scores
    assert USER_PERSONALIZATION.supports_update and not USER_PERSONALIZATION_V2.supports_update
    families = {r.name: (r.recipe_type, r.batch_input) for r in RECIPES.values()}
    assert families == {
        "aws-popularity-count": ("USER_PERSONALIZATION", "userId"),
        "aws-trending-now": ("USER_PERSONALIZATION", None),
        "aws-user-personalization": ("USER_PERSONALIZATION", "userId"),
        "aws-user-personalization-v2": ("USER_PERSONALIZATION", "userId"),
        "aws-personalized-ranking": ("PERSONALIZED_RANKING", "userId+itemList"),
        "aws-personalized-ranking-v2": ("PERSONALIZED_RANKING", "userId+itemList"),
        "aws-sims": ("RELATED_ITEMS", "itemId"),
        "aws-similar-items": ("RELATED_ITEMS", "itemId"),
    }
    for arn, recipe in RECIPES.items():
        assert recipe.arn == arn == f"arn:aws:personalize:::recipe/{recipe.name}"
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


@pytest.mark.parametrize("arn", list(RECIPES))
def test_save_load_round_trips_exactly(arn, models, tmp_path):
    model = models[arn]
    path = tmp_path / "model"  # no .npz suffix: the file must land on exactly this path
    model.save(path)
    loaded = Model.load(path)

    users = list(model.user_ids[:50]) + ["never-seen"]
    assert type(loaded) is type(model)
    assert loaded.recipe_arn == arn and loaded.has_scores == model.has_scores
    assert loaded.hyperparameters == model.hyperparameters
    assert loaded.tuned_hyperparameters == model.tuned_hyperparameters
    assert loaded.item_ids.dtype == object and list(loaded.item_ids) == list(model.item_ids)
    assert (loaded.seen(users) != model.seen(users)).nnz == 0
    if isinstance(model, RelatedItemsModel):
        items = list(model.item_ids[:50]) + ["never-seen"]
        assert loaded.similar(items, 25) == model.similar(items, 25)
    else:
        np.testing.assert_array_equal(loaded.score(users), model.score(users))
        assert loaded.recommend(users, 25) == model.recommend(users, 25)


def test_user_personalization_chooses_its_algorithm_on_validation(models):
    # Defaults: every auto candidate (iALS and EASE settings, then blends of the best two) is tried.
    for arn in (UP, UP2, PR, PR2):
        model = models[arn]
        assert model.hyperparameters["algorithm"] in ("ials", "ease", "ials+ease")
        assert isinstance(model, {"ials": FactorModel, "ease": LinearModel, "ials+ease": BlendModel}[
            model.hyperparameters["algorithm"]])
        assert model.tuned_hyperparameters is None


@pytest.mark.parametrize(("config", "kind"), [(IALS, FactorModel), (EASE, LinearModel)])
def test_pinned_algorithms(config, kind, interactions):
    model = train(UP2, TrainingData(interactions), solution_config=config)
    assert isinstance(model, kind)
    assert model.hyperparameters == {"apply_recency_bias": "true", **{
        k: v if k == "algorithm" else repr(float(v)) for k, v in config["algorithmHyperParameters"].items()}}


def test_ease_needs_a_small_catalogue(interactions, monkeypatch):
    monkeypatch.setattr(algorithms, "EASE_MAX_ITEMS", 100)
    with pytest.raises(TrainingError, match="algorithm ease needs a catalogue of at most 100 items; this one has 240"):
        train(UP2, TrainingData(interactions), solution_config=EASE)
    assert train(UP2, TrainingData(interactions)).hyperparameters["algorithm"] == "ials"


def test_ease_uses_categorical_item_metadata(interactions):
    items = pd.DataFrame({"ITEM_ID": [f"i{i}" for i in range(240)], "GENRE": [f"g{i // 20}" for i in range(240)],
                          "PRICE": np.arange(240.0)})
    plain = train(UP2, TrainingData(interactions), solution_config=EASE)
    with_metadata = train(UP2, TrainingData(interactions, items=items), solution_config=EASE)
    # 12 genre columns join the 240 items (PRICE is numeric: not a category).
    assert plain.history.shape[1] == 240 and with_metadata.history.shape[1] == 252
    assert with_metadata.weights.shape == (252, 240)
    assert with_metadata.recommend(["u0"], 10) != plain.recommend(["u0"], 10)


@pytest.mark.parametrize("arn", [UP, UP2, PR2])
def test_scores_are_a_distribution_over_the_catalogue(arn, models):
    scores = models[arn].score(["u0", "u1", "never-seen"])
    assert scores.dtype == np.float32 and scores.shape == (3, len(models[arn].item_ids))
    assert scores.min() >= 0 and scores.max() <= 1
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("arn", [POP, TREND, UP, UP2])
def test_recommend_orders_best_first_within_num_results(arn, models):
    model = models[arn]
    users = ["u0", "u1", "u2"]
    scores = model.score(users)
    for row, (items, given) in zip(scores, model.recommend(users, 30)):
        assert len(items) == len(set(items)) == 30
        ranked = row[model.item_ids.searchsorted(items)]  # item_ids are sorted
        assert np.all(np.diff(ranked) <= 0) and ranked[0] == row.max()
        assert given is None if not model.has_scores else np.allclose(given, ranked)
    everything = model.recommend(["u0"], 10_000)[0][0]
    assert sorted(everything) == list(model.item_ids)
    assert model.recommend(["u0"], 0) == [([], [] if model.has_scores else None)]


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
    # Scores stay shares of the whole catalogue, not of what the filter leaves.
    full = dict(zip(*model.recommend(["u3"], 240)[0]))
    assert all(np.isclose(full[i], s) for i, s in zip(*results[3]))


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
    on = {"algorithmHyperParameters": IALS["algorithmHyperParameters"]}
    off = {"algorithmHyperParameters": {**IALS["algorithmHyperParameters"], "apply_recency_bias": "false"}}
    assert newest_holdout_ndcg10(UP2, drifting, on) >= 1.1 * newest_holdout_ndcg10(UP2, drifting, off)


def test_user_recency_halves_per_own_event_within_the_kept_events():
    # Input order is not time order; u1's events tie at t=5 (input order breaks the tie).
    frame = pd.DataFrame({"USER_ID": ["u0", "u1", "u0", "u1", "u0", "u1"], "ITEM_ID": ["a", "b", "c", "d", "e", "f"],
                          "TIMESTAMP": [30, 5, 10, 5, 20, 5]})
    events = preparation.Events.from_frame(frame, np.ones(len(frame)))
    np.testing.assert_allclose(events.user_recency(1.0), [1.0, 0.25, 0.25, 0.5, 0.5, 1.0])
    keep = np.array([False, True, True, True, True, True])  # u0's newest left out: "e" becomes its newest
    np.testing.assert_allclose(events.user_recency(2.0, keep), [1.0, 0.5, 0.5 ** 0.5, 0.5 ** 0.5, 1.0, 1.0])


def test_personalized_ranking_reranks_the_list(models):
    model = models[PR2]
    known = list(model.item_ids[[5, 50, 100, 150]])
    (items, scores), (cold_items, cold_scores) = model.rank(["u0", "nobody"], [known + ["zzz", known[0], "yyy"]] * 2)
    row = model.score(["u0"])[0][model.item_index(known)]
    # Known items by the model's score, then the unknown ones in input order; repeats dropped.
    assert items == [known[i] for i in np.argsort(-row, kind="stable")] + ["zzz", "yyy"]
    assert np.isclose(sum(scores), 1.0) and scores[-2:] == [0.0, 0.0]
    np.testing.assert_allclose(scores[:4], np.sort(row)[::-1] / row.sum(), rtol=1e-4)
    popularity = model.popularity[model.item_index(known)]
    assert cold_items[:4] == [known[i] for i in np.argsort(-popularity, kind="stable")]
    assert model.rank(["u0"], [["zzz"]]) == [(["zzz"], [0.0])]


def test_trending_now_ranks_by_growth_between_the_last_two_windows():
    base = structured_interactions(n_users=100, per_user=15)
    end = base["TIMESTAMP"].max()
    window = 7200  # the default "2 hours"
    burst = pd.DataFrame({  # i7: 0 -> 30 interactions; i8: 40 -> 35; i9: 5 -> 20
        "USER_ID": [f"b{n}" for n in range(130)],
        "ITEM_ID": ["i7"] * 30 + ["i8"] * 75 + ["i9"] * 25,
        "TIMESTAMP": [end + 1] * 30 + [end - window + 1] * 40 + [end + 1] * 35 + [end - window + 1] * 5 + [end + 1] * 20,
    })
    data = pd.concat([base[base["TIMESTAMP"] < end - 2 * window], burst], ignore_index=True)
    model = train(TREND, TrainingData(data))
    assert isinstance(model, PopularityModel) and not model.has_scores
    assert model.recommend(["anyone"], 2) == [(["i7", "i9"], None)]
    assert model.recommend(["anyone"], 10_000)[0][0][-1] == "i8"  # the only item that shrank
    # Items that did not move in the last two windows follow by latest count, then popularity.
    steady = [i for i in model.recommend(["anyone"], 10_000)[0][0] if i not in ("i7", "i8", "i9")][:5]
    popular = data.groupby("ITEM_ID")["USER_ID"].nunique()
    assert steady == sorted(popular.drop(["i7", "i8", "i9"]).index, key=lambda i: (-popular[i], i))[:5]
    with pytest.raises(TrainingError, match="expected one of 30 minutes, 1 hour, 2 hours, 3 hours, 1 day"):
        train(TREND, TrainingData(data), solution_config={
            "featureTransformationParameters": {"trend_discovery_frequency": "2 days"}})


def cooccurring(pairs: dict[str, list[str]], users_per_pair: int = 12, filler: int = 1100) -> pd.DataFrame:
    """Users who each had one of the given baskets, plus filler users on other items."""
    rows = []
    for basket, items in pairs.items():
        for u in range(users_per_pair):
            rows += [(f"{basket}-{u}", item, 1_700_000_000 + t) for t, item in enumerate(items)]
    rng = np.random.default_rng(0)
    for u in range(filler // 2):
        rows += [(f"f{u}", f"f{i}", 1_700_000_000 + t) for t, i in enumerate(rng.choice(300, 2, replace=False))]
    return pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"])


def test_sims_recommends_co_occurring_items():
    data = cooccurring({"ab": ["a", "b"], "ac": ["a", "c", "d"], "x": ["a", "x"]}, users_per_pair=4)
    data = pd.concat([data, cooccurring({"ab": ["a", "b"]}, users_per_pair=6, filler=0)], ignore_index=True)
    model = train(SIMS.arn, TrainingData(data), solution_config={
        "featureTransformationParameters": {"max_item_interaction_count_percentile": "1.0"}})
    assert isinstance(model, RelatedItemsModel) and not model.has_scores
    items = model.similar(["a", "nothing-like-it"], 4)
    # b (10 co-occurrences) before c and d (4); x has 4 too but min_cointeraction_count 3 keeps it.
    assert items[0][0][0] == "b" and set(items[0][0][1:4]) == {"c", "d", "x"} and items[0][1] is None
    # Unknown items get the popular items.
    popular = model.item_ids[np.argsort(-model.popularity, kind="stable")[:4]]
    assert items[1] == (list(popular), None)
    # The query item never comes back; short neighbour lists are filled with popular items.
    assert "a" not in model.similar(["a"], 300)[0][0] and len(model.similar(["b"], 50)[0][0]) == 50
    strict = train(SIMS.arn, TrainingData(data), solution_config={
        "algorithmHyperParameters": {"min_cointeraction_count": "5"},
        "featureTransformationParameters": {"max_item_interaction_count_percentile": "1.0"}})
    assert strict.similarity[strict.item_index(["a"])[0]].indices.tolist() == [strict.item_index(["b"])[0]]


def test_sims_popularity_discount():
    # "p" is popular and co-occurs with "a" often; "r" is rare and always with "a".
    data = cooccurring({"ap": ["a", "p"], "ar": ["a", "r"]}, users_per_pair=5)
    data = pd.concat([data, cooccurring({"ap": ["a", "p"]}, users_per_pair=3, filler=0),
                      pd.DataFrame({"USER_ID": [f"p{u}" for u in range(200)], "ITEM_ID": "p", "TIMESTAMP": 1})],
                     ignore_index=True)
    config = {"featureTransformationParameters": {"max_item_interaction_count_percentile": "1.0"}}

    def first(discount):
        model = train(SIMS.arn, TrainingData(data), solution_config={
            **config, "algorithmHyperParameters": {"popularity_discount_factor": discount}})
        return model.similar(["a"], 1)[0][0]
    assert first("0.0") == ["p"] and first("1.0") == ["r"]


def test_similar_items_blends_in_item_metadata():
    data = cooccurring({"ab": ["a", "b"], "ac": ["a", "c"]}, users_per_pair=5)
    items = pd.DataFrame({"ITEM_ID": ["a", "b", "c"], "GENRE": ["x", "y", "x"]})
    plain = train(SIMILAR_ITEMS.arn, TrainingData(data))
    assert plain.similar(["a"], 2)[0][0] == ["b", "c"]  # a tie: catalogue order
    assert train(SIMILAR_ITEMS.arn, TrainingData(data, items=items)).similar(["a"], 2)[0][0] == ["c", "b"]
    assert plain.hyperparameters == {"popularity_discount_factor": "0.0", "item_id_hidden_dim": "100",
                                     "item_metadata_hidden_dim": "100"}


def test_related_items_and_user_models_refuse_each_others_queries(models):
    with pytest.raises(TypeError, match="use similar"):
        models[SIMS.arn].recommend(["u0"], 5)
    with pytest.raises(TypeError, match="related-items recipe"):
        models[UP2].similar(["i0"], 5)


def test_blocks_and_threads_give_the_same_answers(models, monkeypatch):
    model = models[UP2]
    users = list(model.user_ids) + ["nobody"]
    expected = model.recommend(users, 40)
    monkeypatch.setattr(models_mod, "BLOCK_CELLS", 7 * len(model.item_ids))  # blocks of 7 users
    monkeypatch.setattr(models_mod, "THREADS", 3)
    # The same lists up to float rounding (matrix products of other shapes sum in another order).
    for (items, scores), (want_items, want_scores) in zip(model.recommend(users, 40), expected):
        np.testing.assert_allclose(scores, want_scores, rtol=1e-4)
        assert len(set(items[:30]) ^ set(want_items[:30])) <= 2


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


def test_events_config_weights_event_types():
    events = pd.DataFrame({
        "USER_ID": list("aaaab"), "ITEM_ID": list("12345"), "TIMESTAMP": [1, 2, 3, 4, 5],
        "EVENT_TYPE": ["click", "purchase", "purchase", "view", "click"],
        "EVENT_VALUE": [1.0, 20.0, 5.0, 1.0, np.nan],
    })
    config = {"eventParametersList": [{"eventType": "click", "weight": 0.1},
                                      {"eventType": "purchase", "weight": 0.3, "eventValueThreshold": 10}]}
    kept, weights = preparation.event_weights(events, config)
    # Unlisted types (view) and purchases below their threshold leave; weights keep their ratios.
    assert kept["ITEM_ID"].tolist() == ["1", "2", "5"]
    np.testing.assert_allclose(weights, [1 / 3, 1.0, 1 / 3])
    assert preparation.event_weights(events, None)[0] is events
    with pytest.raises(TrainingError, match="between 0 and 1"):
        preparation.event_weights(events, {"eventParametersList": [{"eventType": "click", "weight": 2}]})


def test_events_config_shapes_the_model(interactions):
    typed = interactions.assign(EVENT_TYPE=np.where(np.arange(len(interactions)) % 3 == 0, "purchase", "click"))
    config = {**IALS, "eventsConfig": {"eventParametersList": [
        {"eventType": "purchase", "weight": 1.0}, {"eventType": "click", "weight": 0.1}]}}
    weighted = train(UP2, TrainingData(typed), solution_config=config)
    plain = train(UP2, TrainingData(typed), solution_config=IALS)
    assert not np.allclose(weighted.item_factors, plain.item_factors)
    with pytest.raises(TrainingError, match="eventsConfig is supported only by aws-user-personalization-v2 and "
                                            "aws-personalized-ranking-v2"):
        train(UP, TrainingData(typed), solution_config=config)


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
        (SIMS.arn, {"algorithmHyperParameters": {"min_cointeraction_count": "11"}}, r"must be in \[0, 10\]"),
    ],
)
def test_bad_hyperparameters_fail_training(arn, config, message, interactions):
    with pytest.raises(TrainingError, match=message):
        train(arn, TrainingData(interactions), solution_config=config)


def test_hyperparameters_report_what_was_used(models, interactions):
    assert models[POP].hyperparameters == {}
    assert models[TREND].hyperparameters == {"trend_discovery_frequency": "2 hours"}
    v1 = train(UP, TrainingData(interactions), solution_config={
        "algorithmHyperParameters": {"hidden_dimension": "32", **IALS["algorithmHyperParameters"]}})
    assert v1.hyperparameters == {
        "hidden_dimension": "32", "bptt": "32", "recency_mask": "true", "algorithm": "ials",
        "ials_regularization": "30.0", "ials_alpha": "5.0", "ials_half_life": "0.25",
        "repeat_weight": "1.0", "repeat_half_life": "20.0",
        "min_user_history_length_percentile": "0.0", "max_user_history_length_percentile": "0.99",
    }
    assert v1.item_factors.shape == (len(v1.item_ids), 32)


def test_hpo_searches_the_ranges_and_reports_the_winner(interactions, monkeypatch):
    fits = []
    fit_ials = algorithms.fit_ials
    monkeypatch.setattr(algorithms, "fit_ials", lambda *a, **k: fits.append(k["factors"]) or fit_ials(*a, **k))
    config = {**IALS, "hpoConfig": {
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"},
        "algorithmHyperParameterRanges": {"integerHyperParameterRanges": [
            {"name": "hidden_dimension", "minValue": 32, "maxValue": 48}]}}}
    model = train(UP, TrainingData(interactions), solution_config=config, perform_hpo=True)
    # The grid's one candidate and three draws on the validation split, then the winner on all the data.
    assert len(fits) == 5 and fits[0] == 64 and len(set(fits[:4])) == 4 and fits[4] in fits[:4]
    assert model.tuned_hyperparameters == {"hidden_dimension": str(fits[4])}
    assert model.hyperparameters["hidden_dimension"] == str(fits[4])
    fits.clear()
    train(UP, TrainingData(interactions), solution_config=config)  # no performHPO: no search
    assert len(fits) == 1


def test_history_percentiles_leave_users_out_of_fitting_but_not_out_of_the_model(interactions):
    everyone = train(UP, TrainingData(interactions), solution_config=IALS)
    config = {**IALS, "featureTransformationParameters": {"max_user_history_length_percentile": "0.5"}}
    model = train(UP, TrainingData(interactions), solution_config=config)
    assert not np.allclose(model.item_factors, everyone.item_factors)
    heaviest = interactions["USER_ID"].value_counts().index[0]
    popular = model.recommend(["nobody"], 10)[0][0]
    assert model.user_index([heaviest])[0] >= 0
    assert model.recommend([heaviest], 10)[0][0] != popular


def test_events_from_a_stored_dataset_match_events_from_strings(tmp_path):
    from recsys_assets.engine.data import DataStore

    frame = pd.DataFrame({"USER_ID": ["u2", "u10", "U1", "u2", "é", "u3"],
                          "ITEM_ID": ["b", "a", "c", "a", "b", "z"],
                          "TIMESTAMP": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"),
                          "EVENT_TYPE": ["click", "buy", "click", "click", "buy", "buy"]})
    store = DataStore(tmp_path)
    store.write_dataset("arn:dataset", frame)
    stored = store.read_dataset("arn:dataset")
    assert isinstance(stored["USER_ID"].dtype, pd.CategoricalDtype)
    assert stored["USER_ID"].tolist() == frame["USER_ID"].tolist()
    # A selection leaves categories unused (u3, z): they must not become users or items.
    for selected in (stored[stored["EVENT_TYPE"] == "click"], stored):
        from_store = preparation.Events.from_frame(selected, np.ones(len(selected)))
        from_text = preparation.Events.from_frame(selected.astype({"USER_ID": object, "ITEM_ID": object}),
                                              np.ones(len(selected)))
        for field in ("user", "item", "user_ids", "item_ids"):
            assert getattr(from_store, field).tolist() == getattr(from_text, field).tolist(), field
        assert from_store.user.dtype == from_text.user.dtype == np.int32
