"""Contract tests of AutoML (CreateSolution ``performAutoML``), through a real boto3 ``personalize`` client on
the local Personalize engine (see ``contract.py``).

The rules (botocore's model, CreateSolution and AutoMLConfig; docs.aws.amazon.com/personalize/latest/dg/
training-solution-auto-ml.html): performAutoML and recipeArn, one but not both; AutoML picks, from
autoMLConfig.recipeList, the USER_PERSONALIZATION recipe that optimizes metricName, with HPO always on;
DescribeSolution reports it as autoMLResult.bestRecipeArn.
"""

from __future__ import annotations

import pytest

from recsys_assets.engine.recipes.catalogue import AUTOML_DEFAULT_RECIPES

from .contract import error_message, import_job, make_dataset, make_group, wait_for

UP_V1 = "arn:aws:personalize:::recipe/aws-user-personalization"
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
PRECISION, NDCG = "precision_at_25", "normalized_discounted_cumulative_gain_at_10"


def _interactions_csv() -> str:
    """1,200 interactions of 40 users with 60 items in 4 taste clusters."""
    rows = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"]
    for u in range(40):
        for k in range(30):
            rows.append(f"u{u},i{(u % 4) * 15 + (k * 7 + u) % 15},{1_700_000_000 + u * 1000 + k},view,")
    return "\n".join(rows) + "\n"


@pytest.fixture
def group(personalize, object_store) -> str:
    arn = make_group(personalize)
    dataset = make_dataset(personalize, arn, "interactions")
    object_store.write_bytes("s3://bucket/train/interactions.csv", _interactions_csv().encode())
    job = wait_for(personalize.describe_dataset_import_job, "datasetImportJob",
                   datasetImportJobArn=import_job(personalize, dataset, "s3://bucket/train/interactions.csv"))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    return arn


def _auto_ml_solution(c, group: str, name: str, **kwargs) -> str:
    arn = c.create_solution(name=name, datasetGroupArn=group, performAutoML=True, performAutoTraining=False,
                            **kwargs)["solutionArn"]
    assert c.describe_solution(solutionArn=arn)["solution"]["status"] == "ACTIVE"
    return arn


def _train(c, solution: str, **kwargs) -> dict:
    arn = c.create_solution_version(solutionArn=solution, **kwargs)["solutionVersionArn"]
    version = wait_for(c.describe_solution_version, "solutionVersion", solutionVersionArn=arn)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    return version


def test_automl_without_a_list_chooses_from_the_engine_candidates_with_hpo(personalize, group):
    c = personalize
    solution = _auto_ml_solution(c, group, "auto")
    described = c.describe_solution(solutionArn=solution)["solution"]
    # HPO is always on with AutoML; no recipe until a version has trained.
    assert (described["performAutoML"], described["performHPO"]) == (True, True)
    assert "recipeArn" not in described and "autoMLResult" not in described
    version = _train(c, solution)
    assert version["recipeArn"] in AUTOML_DEFAULT_RECIPES
    assert version["performAutoML"] is True
    assert version["tunedHPOParams"]["algorithmHyperParameters"]  # HPO ran on the chosen recipe
    assert c.describe_solution(solutionArn=solution)["solution"]["autoMLResult"] == {
        "bestRecipeArn": version["recipeArn"]}
    metrics = c.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])["metrics"]
    assert PRECISION in metrics and all(0.0 <= v <= 1.0 for v in metrics.values())
    # An UPDATE retrains the recipe AutoML chose (User-Personalization supports it), without searching.
    if version["recipeArn"] == UP_V1:  # (v1 on this data: v1 and v2 tie, the earlier wins)
        update = _train(c, solution, trainingMode="UPDATE")
        assert (update["recipeArn"], update["trainingMode"]) == (UP_V1, "UPDATE")


def test_best_recipe_is_the_one_with_the_better_metric(personalize, group):
    c = personalize
    plain = {}
    for recipe in (POPULARITY, UP_V1):
        arn = c.create_solution(name=recipe.rsplit("/", 1)[1], datasetGroupArn=group, recipeArn=recipe,
                                performHPO=True, performAutoTraining=False)["solutionArn"]
        assert c.describe_solution(solutionArn=arn)["solution"]["status"] == "ACTIVE"
        version = _train(c, arn)["solutionVersionArn"]
        plain[recipe] = c.get_solution_metrics(solutionVersionArn=version)["metrics"]
    for metric in (PRECISION, NDCG):
        assert plain[POPULARITY][metric] != plain[UP_V1][metric]  # the data decides each metric clearly
    chosen = set()
    for metric in (PRECISION, NDCG):
        solution = _auto_ml_solution(c, group, f"auto-{metric[:4]}", performHPO=True, solutionConfig={
            "autoMLConfig": {"metricName": metric, "recipeList": [POPULARITY, UP_V1]}})
        version = _train(c, solution)
        best = max(plain, key=lambda r: plain[r][metric])
        assert version["recipeArn"] == best
        assert c.describe_solution(solutionArn=solution)["solution"]["autoMLResult"]["bestRecipeArn"] == best
        # The version serves, and reports the metrics of, the recipe it chose.
        assert c.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])["metrics"] == plain[best]
        chosen.add(best)
    assert chosen == {POPULARITY, UP_V1}  # on this data the two metrics disagree: the metric decides


@pytest.mark.parametrize("kwargs, message", [
    ({"recipeArn": UP_V1}, "recipeArn must be omitted"),
    ({"solutionConfig": {"autoMLConfig": {"recipeList": ["arn:aws:personalize:::recipe/aws-sims"]}}},
     "not a USER_PERSONALIZATION recipe"),
    ({"solutionConfig": {"autoMLConfig": {"recipeList": ["arn:aws:personalize:::recipe/aws-trending-now"]}}},
     "not a USER_PERSONALIZATION recipe"),
    ({"solutionConfig": {"autoMLConfig": {"recipeList": ["arn:aws:personalize:::recipe/aws-hrnn"]}}},
     "legacy HRNN recipe"),
    ({"solutionConfig": {"autoMLConfig": {"recipeList": [UP_V1, "not-an-arn"]}}}, "regular expression pattern"),
    ({"solutionConfig": {"autoMLConfig": {"metricName": "accuracy"}}}, "unknown metric 'accuracy'"),
    ({"performIncrementalUpdate": True}, "semantic-similarity"),
])
def test_invalid_automl_requests_are_refused(personalize, kwargs, message):
    c = personalize
    group = make_group(c)
    with pytest.raises(c.exceptions.InvalidInputException) as e:
        c.create_solution(name="auto", datasetGroupArn=group, performAutoML=True, **kwargs)
    assert message in error_message(e)
    assert c.list_solutions(datasetGroupArn=group)["solutions"] == []
