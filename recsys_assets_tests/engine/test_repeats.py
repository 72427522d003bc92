"""Repeat or explore: what the user-personalization recipes serve back from a user's own history."""

import numpy as np
import pandas as pd
import pytest

from recsys_assets.engine import repeats
from recsys_assets.engine.models import Model
from recsys_assets.engine.recipes.preparation import TrainingData
from recsys_assets.engine.training import train
from recsys_assets_tests.engine.test_recipes import PR2, UP, UP2, structured_interactions


def no_repeats(seed=0):
    """Every (user, item) pair at most once, as on a ratings site."""
    frame = structured_interactions(seed=seed)
    return frame.drop_duplicates(["USER_ID", "ITEM_ID"]).reset_index(drop=True)


def re_purchases(seed=0, loyal_share=1.0):
    """Users who keep coming back to their own few items (the loyal), and explorers who never do."""
    rng = np.random.default_rng(seed)
    base = no_repeats(seed)
    rows = [base]
    loyal = [u for u in base["USER_ID"].unique() if rng.random() < loyal_share]
    for user in loyal:
        own = base[base["USER_ID"] == user]
        favourites = own["ITEM_ID"].to_numpy()[:3]
        times = own["TIMESTAMP"].max() + np.arange(1, 16) * 3600
        rows.append(pd.DataFrame({"USER_ID": user, "ITEM_ID": rng.choice(favourites, 15), "TIMESTAMP": times}))
    return pd.concat(rows, ignore_index=True), set(loyal)


def own_items_in_top(model: Model, users, k=10) -> np.ndarray:
    top = model.top_items(users, k, with_scores=False)[0]
    seen = model.seen(users).toarray()
    return seen[np.arange(len(users))[:, None], top]


@pytest.mark.parametrize("arn", [UP, UP2])
def test_a_catalogue_that_never_repeats_never_serves_history_back(arn):
    model = train(arn, TrainingData(no_repeats()))
    assert model.repeats is not None and float(model.repeats.probability.max()) == 0.0
    assert not own_items_in_top(model, model.user_ids, k=25).any()


@pytest.mark.parametrize("arn", [UP, UP2])
def test_a_re_purchase_heavy_catalogue_serves_history_first(arn):
    frame, _ = re_purchases()
    model = train(arn, TrainingData(frame))
    assert own_items_in_top(model, model.user_ids, k=3).mean() > 0.9


def test_each_user_gets_their_own_repeat_share():
    frame, loyal = re_purchases(loyal_share=0.5)
    model = train(UP2, TrainingData(frame))
    users = model.user_ids
    is_loyal = np.isin(users, list(loyal))
    first = own_items_in_top(model, users, k=1)[:, 0]
    probability = model.repeats.probability[model.user_index(users)]
    assert probability[is_loyal].min() > probability[~is_loyal].max()
    assert first[is_loyal].mean() > 0.9 and first[~is_loyal].mean() < 0.5


def test_personalized_ranking_puts_a_re_purchased_item_first():
    frame, _ = re_purchases()
    model = train(PR2, TrainingData(frame))
    user = model.user_ids[0]
    own = frame.loc[frame["USER_ID"] == user, "ITEM_ID"].value_counts().index[0]
    others = [i for i in model.item_ids[:20] if i != own]
    assert model.rank([user], [others + [own]])[0][0][0] == own


def test_repeat_weight_zero_never_serves_history():
    frame, _ = re_purchases()
    model = train(UP2, TrainingData(frame), solution_config={"algorithmHyperParameters": {"repeat_weight": "0"}})
    assert not own_items_in_top(model, model.user_ids, k=10).any()
    assert model.hyperparameters["repeat_weight"] == "0.0"


def test_scores_stay_a_distribution_and_survive_save_and_load(tmp_path):
    frame, _ = re_purchases()
    model = train(UP2, TrainingData(frame))
    scores = model.score(model.user_ids[:50])
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-4)
    model.save(tmp_path / "m.npz")
    loaded = Model.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.score(model.user_ids[:50]), scores)


def test_unknown_users_get_popular_items_and_thin_users_a_blend():
    frame, _ = re_purchases()
    thin = pd.DataFrame({"USER_ID": "thin", "ITEM_ID": frame["ITEM_ID"].value_counts().index[-1],
                         "TIMESTAMP": [frame["TIMESTAMP"].max()]})
    model = train(UP2, TrainingData(pd.concat([frame, thin], ignore_index=True)))
    stranger = model.recommend(["nobody"], 10)[0][0]
    assert stranger == list(model.item_ids[np.argsort(-model.popularity, kind="stable")[:10]])
    top = model.recommend(["thin"], 10)[0][0]
    # The shop's repeat share (high here) brings their one item into the list, next to other items.
    assert thin["ITEM_ID"].iloc[0] in top and len(top) == 10


def test_event_weights_shape_the_repeat_part():
    seq = repeats.Sequences.of(np.zeros(6, dtype=np.int64), np.array([0, 0, 1, 1, 1, 0]),
                               np.array([1.0, 1.0, 0.1, 0.1, 0.1, 1.0]), n_items=2)
    built = repeats.build(seq, (1, 2), weight=1.0, half_life=None)
    share = built.history.toarray()[0]
    assert share[0] > share[1]  # three heavy events outweigh three light ones
    assert seq.repeat.tolist() == [False, True, False, True, True, True]
    assert seq.from_newest.tolist() == [5, 4, 3, 2, 1, 0]


def test_repeat_shares_shrink_thin_users_to_the_shop():
    # User 0 repeats every time over 20 events; user 1 has two events, no repeat.
    user = np.r_[np.zeros(20, np.int64), [1, 1]]
    item = np.r_[np.zeros(20, np.int64), [1, 2]]
    seq = repeats.Sequences.of(user, item, np.ones(22), n_items=3)
    share, overall = repeats.repeat_shares(seq, 2)
    assert overall == pytest.approx(19 / 20)
    assert share[0] == pytest.approx((19 + 10 * overall) / (19 + 10))
    assert share[1] == pytest.approx(10 * overall / 11)
