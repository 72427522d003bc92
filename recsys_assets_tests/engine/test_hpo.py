import pytest

from recsys_assets.engine.recipes import catalogue as recipes
from recsys_assets.engine.recipes import hpo
from recsys_assets.engine.recipes.hpo import AUTO, HyperparameterError, Param, build_search

PARAMS = {
    "size": Param(int, "64", 32, 256, tunable=True, used_by=frozenset({"a"})),
    "rate": Param(float, "0.5", 0.0, 1.0, tunable=True),
    "flag": Param(bool, "true", tunable=True),
    "fixed": Param(float, "0.99", 0.0, 1.0, section=hpo.SECTIONS[1]),
    "algorithm": Param(("auto", "a", "b"), "auto", tunable=True, auto=("a", "b")),
    "knob": Param(float, "auto", 0.0, 100.0, tunable=True, auto=(1.0, 2.0), used_by=frozenset({"b"})),
}


def hpo_config(jobs="5", **ranges):
    return {"hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": jobs},
                          "algorithmHyperParameterRanges": ranges}}


def test_without_hpo_the_auto_grids_are_the_candidates():
    search = build_search(PARAMS, None, perform_hpo=False, seed=0)
    # "a" ignores knob, "b" tries both of its values.
    assert [(c["algorithm"], c["knob"]) for c in search.candidates] == [("a", 1.0), ("b", 1.0), ("b", 2.0)]
    assert all(c["size"] == 64 and c["rate"] == 0.5 and c["flag"] is True for c in search.candidates)
    assert search.tuned == () and search.given["algorithm"] == AUTO


def test_given_values_pin_the_grid_and_are_parsed():
    config = {"algorithmHyperParameters": {"algorithm": "b", "knob": "7.5", "flag": "False", "size": "40"},
              "featureTransformationParameters": {"fixed": "0.5"}}
    (candidate,) = build_search(PARAMS, config, perform_hpo=False, seed=0).candidates
    assert candidate == {"size": 40, "rate": 0.5, "flag": False, "fixed": 0.5, "algorithm": "b", "knob": 7.5}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"algorithmHyperParameters": {"nope": "1"}}, "Unknown hyperparameter 'nope' in algorithmHyperParameters"),
        ({"algorithmHyperParameters": {"fixed": "1"}}, "Unknown hyperparameter 'fixed' in algorithmHyperParameters"),
        ({"algorithmHyperParameters": {"size": "12"}}, r"'12' for hyperparameter size: must be in \[32, 256\]"),
        ({"algorithmHyperParameters": {"size": "1.5"}}, "expected an integer"),
        ({"algorithmHyperParameters": {"rate": "nan"}}, "must be in"),
        ({"algorithmHyperParameters": {"flag": "yes"}}, "expected true or false"),
        ({"algorithmHyperParameters": {"algorithm": "c"}}, "expected one of auto, a, b"),
        ({"algorithmHyperParameters": "size=1"}, "must be a map"),
    ],
)
def test_bad_values_are_refused(config, message):
    with pytest.raises(HyperparameterError, match=message):
        build_search(PARAMS, config, perform_hpo=False, seed=0)


def test_unavailable_values_leave_the_grid_and_fail_when_given():
    unavailable = {"algorithm": {"b": "b needs a smaller catalogue"}}
    search = build_search(PARAMS, None, perform_hpo=False, seed=0, unavailable=unavailable)
    assert {c["algorithm"] for c in search.candidates} == {"a"}
    with pytest.raises(HyperparameterError, match="b needs a smaller catalogue"):
        build_search(PARAMS, {"algorithmHyperParameters": {"algorithm": "b"}}, perform_hpo=False, seed=0,
                     unavailable=unavailable)


def test_hpo_draws_at_most_max_jobs_distinct_candidates_reproducibly():
    config = hpo_config(
        jobs="6",
        integerHyperParameterRanges=[{"name": "training.size", "minValue": 32, "maxValue": 256}],
        continuousHyperParameterRanges=[{"name": "rate", "minValue": 0.1, "maxValue": 0.2}],
    )
    search = build_search(PARAMS, config, perform_hpo=True, seed=3)
    # The grid trained without HPO first, then 6 draws beyond it.
    assert search.candidates[:search.base] == build_search(PARAMS, config, perform_hpo=False, seed=3).candidates
    assert search.base == 3 and len(search.candidates) == 3 + 6 and search.tuned == ("size", "rate")
    keys = {tuple(sorted(hpo.relevant(PARAMS, c).items())) for c in search.candidates}
    assert len(keys) == 9
    for candidate in search.candidates[search.base:]:
        assert 32 <= candidate["size"] <= 256 and isinstance(candidate["size"], int)
        assert 0.1 <= candidate["rate"] <= 0.2
    assert build_search(PARAMS, config, perform_hpo=True, seed=3) == search
    assert build_search(PARAMS, config, perform_hpo=True, seed=4) != search


def test_a_small_discrete_space_is_searched_whole():
    config = hpo_config(jobs="40", categoricalHyperParameterRanges=[{"name": "data.flag", "values": ["true", "false"]}])
    search = build_search(PARAMS, config, perform_hpo=True, seed=0)
    # flag x (a; b with knob 1 or 2): 6 distinct candidates (the grid's 3 among them), fewer than the 40 allowed.
    assert len(search.candidates) == 6 and search.base == 3
    assert {(c["flag"], c["algorithm"], c["knob"] if c["algorithm"] == "b" else None) for c in search.candidates} == {
        (f, a, k) for f in (True, False) for a, k in (("a", None), ("b", 1.0), ("b", 2.0))}


def test_hpo_without_ranges_searches_the_documented_tunables():
    search = build_search(PARAMS, {"hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "40"}}},
                          perform_hpo=True, seed=0)
    assert set(search.tuned) == {"size", "rate", "flag"}  # not the engine's auto settings
    assert len(search.candidates) == search.base + 40


def test_hpo_objective_is_accepted_and_ignored():
    config = hpo_config(jobs="2", integerHyperParameterRanges=[{"name": "size", "minValue": 32, "maxValue": 40}])
    config["hpoConfig"]["hpoObjective"] = {"type": "Maximize", "metricName": "precision_at_25"}
    search = build_search(PARAMS, config, perform_hpo=True, seed=0)
    assert len(search.candidates) == search.base + 2


def test_an_auto_value_given_a_range_keeps_its_grid_next_to_the_draws():
    config = hpo_config(jobs="4", continuousHyperParameterRanges=[{"name": "knob", "minValue": 10, "maxValue": 20}])
    search = build_search(PARAMS, config, perform_hpo=True, seed=0)
    grid = {c["knob"] for c in search.candidates[:search.base] if c["algorithm"] == "b"}
    assert grid == {1.0, 2.0}
    assert all(10 <= c["knob"] <= 20 for c in search.candidates[search.base:])


def test_ranges_are_ignored_without_perform_hpo():
    config = hpo_config(integerHyperParameterRanges=[{"name": "size", "minValue": 32, "maxValue": 256}])
    assert len(build_search(PARAMS, config, perform_hpo=False, seed=0).candidates) == 3


@pytest.mark.parametrize(
    ("ranges", "resources", "message"),
    [
        ({"integerHyperParameterRanges": [{"name": "nope", "minValue": 1, "maxValue": 2}]}, {}, "Unknown hyperparameter 'nope'"),
        ({"integerHyperParameterRanges": [{"name": "fixed", "minValue": 0, "maxValue": 1}]}, {}, "not tunable"),
        ({"continuousHyperParameterRanges": [{"name": "size", "minValue": 32, "maxValue": 64}]}, {}, "takes a int range"),
        ({"integerHyperParameterRanges": [{"name": "size", "minValue": 64, "maxValue": 32}]}, {}, "minValue 64 above maxValue 32"),
        ({"integerHyperParameterRanges": [{"name": "size", "minValue": 1, "maxValue": 32}]}, {}, r"must be in \[32, 256\]"),
        ({"categoricalHyperParameterRanges": [{"name": "flag", "values": []}]}, {}, "at least one value"),
        ({"categoricalHyperParameterRanges": [{"name": "flag", "values": ["maybe"]}]}, {}, "expected true or false"),
        ({"integerHyperParameterRanges": [{"name": "size", "minValue": 32, "maxValue": 40}],
          "categoricalHyperParameterRanges": [{"name": "training.size", "values": ["33"]}]}, {}, "more than one hpoConfig range"),
        ({"booleanRanges": []}, {}, "Unknown hpoConfig range type 'booleanRanges'"),
        ({}, {"maxNumberOfTrainingJobs": "41"}, "maxNumberOfTrainingJobs '41': must be an integer from 1 to 40"),
        ({}, {"maxNumberOfTrainingJobs": "0"}, "maxNumberOfTrainingJobs"),
        ({}, {"maxNumberOfTrainingJobs": "many"}, "maxNumberOfTrainingJobs"),
        ({}, {"maxParallelTrainingJobs": "11"}, "maxParallelTrainingJobs '11': must be an integer from 1 to 10"),
    ],
)
def test_bad_hpo_configs_are_refused(ranges, resources, message):
    config = {"hpoConfig": {"algorithmHyperParameterRanges": ranges, "hpoResourceConfig": resources}}
    with pytest.raises(HyperparameterError, match=message):
        build_search(PARAMS, config, perform_hpo=True, seed=0)


def test_recipes_declare_the_documented_hyperparameters():
    # [personalize-api.md §4.2]: names, defaults and HPO-tunability.
    sims = recipes.PARAMS[recipes.SIMS.arn]
    assert {n: (p.default, p.tunable) for n, p in sims.items()} == {
        "popularity_discount_factor": ("0.5", True), "min_cointeraction_count": ("3", True),
        "min_user_history_length_percentile": ("0.005", False), "max_user_history_length_percentile": ("0.995", False),
        "min_item_interaction_count_percentile": ("0.01", False), "max_item_interaction_count_percentile": ("0.9", False),
    }
    v1 = recipes.PARAMS[recipes.USER_PERSONALIZATION.arn]
    assert {n for n, p in v1.items() if p.tunable and not p.auto} == {"hidden_dimension", "bptt", "recency_mask"}
    assert not recipes.PARAMS[recipes.USER_PERSONALIZATION_V2.arn]["apply_recency_bias"].tunable
    trending = recipes.PARAMS[recipes.TRENDING_NOW.arn]["trend_discovery_frequency"]
    assert trending.default == "2 hours" and trending.section == "featureTransformationParameters"
    assert recipes.PARAMS[recipes.POPULARITY_COUNT.arn] == {}
