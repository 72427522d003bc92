"""A run's config is checked when its first Personalize step starts, before anything is created or paid for."""

import json
from pathlib import Path

import dagster as dg
import pytest

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS
from recsys_assets.assets.run_config import run_configs
from recsys_assets.demo import leftovers
from recsys_assets.resources import AwsPersonalizeResource, LocalObjectStoreResource
from recsys_assets.workflow import run_checks
from recsys_assets_tests.conftest import with_fields

SCHEMAS = {ds: json.dumps(json.loads((Path("schemas") / f"{ds}.json").read_text())) for ds in ("users", "items", "interactions")}
V1 = "arn:aws:personalize:::recipe/aws-user-personalization"


def _training(**config):
    return {"ops": {"solution_version": {"config": config}}}


@pytest.mark.parametrize("run_config, expected", [
    ({"ops": {"batch_output": {"config": {"num_results": 600}}}},
     "ops.batch_output.config.num_results: Input should be less than or equal to 500, not 600"),
    ({"ops": {"recommendations_table": {"config": {"table": "recs; DROP TABLE users"}}}},
     "ops.recommendations_table.config.table: String should match pattern"),
    (_training(perform_hpo="maybe"), "ops.solution_version.config.perform_hpo: Input should be a valid boolean"),
])
def test_each_assets_config_is_validated_with_its_key(run_config, expected):
    _, problems = run_configs(run_config)
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_an_unset_config_is_the_defaults():
    configs, problems = run_configs({})
    assert problems == [] and configs["batch_output"].num_results == 25


def test_recipes_the_batch_job_cannot_serve_are_refused():
    assert run_checks.recipe_problems(V1, perform_auto_ml=False, auto_ml_recipes=[]) == []
    sims = run_checks.recipe_problems("arn:aws:personalize:::recipe/aws-sims", perform_auto_ml=False, auto_ml_recipes=[])
    assert sims[0].startswith("ops.solution_version.config.recipe_arn: aws-sims can't serve")
    typo = run_checks.recipe_problems("aws-user-personalization", perform_auto_ml=False, auto_ml_recipes=[])
    assert "is not a recipe ARN" in typo[0]
    listed = run_checks.recipe_problems(V1, perform_auto_ml=True,
                                        auto_ml_recipes=[V1, "arn:aws:personalize:::recipe/aws-trending-now"])
    assert len(listed) == 1 and listed[0].startswith("ops.solution_version.config.auto_ml_config.recipeList")


@pytest.mark.parametrize("resources, expected", [
    ({"maxNumberOfTrainingJobs": "5000"}, "maxNumberOfTrainingJobs: '5000' must be a whole number from 1 to 40"),
    ({"maxNumberOfTrainingJobs": "abc"}, "maxNumberOfTrainingJobs: 'abc' must be a whole number from 1 to 40"),
    ({"maxParallelTrainingJobs": "11"}, "maxParallelTrainingJobs: '11' must be a whole number from 1 to 10"),
    ({"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "8"}, "exceeds maxNumberOfTrainingJobs"),
])
def test_hpo_resource_limits(resources, expected):
    problems = run_checks.hpo_resource_problems({"hpoResourceConfig": resources})
    assert len(problems) == 1 and expected in problems[0]
    assert run_checks.hpo_resource_problems({"hpoResourceConfig": {"maxNumberOfTrainingJobs": "40"}}) == []


def test_filter_expressions_are_parsed_against_the_schemas_being_imported():
    ok = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    assert run_checks.filter_problems(ok, SCHEMAS) == []
    assert run_checks.filter_problems("", SCHEMAS) == []
    unknown = run_checks.filter_problems('INCLUDE ItemID WHERE Items.COLOUR IN ("red")', SCHEMAS)
    assert unknown[0].startswith("ops.batch_output.config.filter_expression") and "COLOUR" in unknown[0]
    broken = run_checks.filter_problems("EXCLUDE ItemID WHERE", SCHEMAS)
    assert len(broken) == 1


def test_hyperparameters_each_backend_would_refuse(local_resources):
    local = local_resources["personalize"]
    aws = AwsPersonalizeResource(role_arn="arn:aws:iam::123456789012:role/p", region_name="us-east-1",
                                 object_store=LocalObjectStoreResource(bucket="b"))
    engine_only = {"algorithmHyperParameters": {"ials_alpha": "10"}}
    # the engine's own hyperparameters train locally, and the service would refuse them
    assert local.solution_config_problem(V1, engine_only, perform_hpo=False) is None
    assert "ials_alpha" in aws.solution_config_problem(V1, engine_only, perform_hpo=False)
    out_of_range = {"hpoConfig": {"algorithmHyperParameterRanges": {"integerHyperParameterRanges": [
        {"name": "hidden_dimension", "minValue": 8, "maxValue": 64}]}}}
    for backend in (local, aws):
        assert "must be in [32, 256]" in backend.solution_config_problem(V1, out_of_range, perform_hpo=True)


@pytest.mark.parametrize("run_config, expected", [
    ({"ops": {"batch_output": {"config": {"num_results": 600}}}}, "num_results"),
    ({"ops": {"batch_output": {"config": {"filter_expression": 'INCLUDE ItemID WHERE Items.NOSUCH IN ("x")'}}}},
     "NOSUCH"),
    (_training(recipe_arn="arn:aws:personalize:::recipe/aws-sims"), "aws-sims"),
    (_training(perform_hpo=True, hpo_config={"hpoResourceConfig": {"maxNumberOfTrainingJobs": "5000"}}), "5000"),
    (_training(perform_hpo=True, hpo_config={"hpoResourceConfig": {"maxNumberOfTrainingJobs": "abc"}}),
     "hpoResourceConfig.maxNumberOfTrainingJobs: 'abc' must be a whole number"),
    (_training(event_type="nosuch"), "event_type 'nosuch': no interaction has this EVENT_TYPE; the interactions "
                                     "hold 'view' ("),
    ({"ops": {"recommendations_table": {"config": {"table": "recs; DROP TABLE users"}}}},
     "ops.recommendations_table.config.table"),
    ("users_to_score", "users_to_score 'SELECT id FROM nosuch_customers' can't be read: no such table"),
])
def test_a_bad_run_config_stops_the_run_before_any_personalize_resource_exists(local_resources, run_config, expected,
                                                                                tmp_path):
    if run_config == "users_to_score":  # a mapping whose users_to_score names no table
        mapping = tmp_path / "mapping.toml"
        mapping.write_text(Path("mappings/demo.toml").read_text().replace(
            'users_to_score = "SELECT user_id FROM users ORDER BY user_id"',
            'users_to_score = "SELECT id FROM nosuch_customers"'))
        local_resources["app_db"] = with_fields(local_resources["app_db"], mapping_file=str(mapping))
        run_config = {}
    with dg.instance_for_test() as instance:
        result = dg.materialize(ALL_ASSETS + ALL_CHECKS, resources=local_resources, instance=instance,
                                run_config=run_config, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "dataset_group"
    assert "nothing was created or paid for" in failure.step_failure_data.error.message
    assert expected in failure.step_failure_data.error.message
    assert sum(leftovers(local_resources["personalize"].get_client()).values()) == 0


@pytest.mark.parametrize("event_type, counts, expected", [
    (None, None, []),
    ("purchase", {"view": 5000, "purchase": 1200}, []),
    ("nosuch", {"view": 5000, "purchase": 1200},
     ["ops.solution_version.config.event_type 'nosuch': no interaction has this EVENT_TYPE; the interactions hold "
      "'view' (5,000), 'purchase' (1,200)"]),
    ("purchase", {"view": 5000, "purchase": 999},
     ["ops.solution_version.config.event_type 'purchase': only 999 interactions have this EVENT_TYPE; Personalize "
      "trains on at least 1,000 (the interactions hold 'view' (5,000), 'purchase' (999))"]),
    ("view", None, ["ops.solution_version.config.event_type 'view': the interactions schema has no EVENT_TYPE field"]),
])
def test_training_on_one_event_type_needs_enough_of_it(event_type, counts, expected):
    assert run_checks.event_type_problems(event_type, counts) == expected
