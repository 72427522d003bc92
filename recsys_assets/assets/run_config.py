"""The run config of the Personalize assets, and its checks when a run starts, before any paid call.

Dagster validates each asset's config only when that asset's step starts: a ``num_results`` of 600 would
pass the run's launch, the imports and the training, and fail only in ``batch_output``. So the first
Personalize step (``dataset_group``) validates every asset's config of the run, and what the service would
refuse about it (recipe, hyperparameters, HPO limits, filter expression, table names), before it creates
anything.
"""

from __future__ import annotations

import dagster as dg
import pydantic
from pydantic import Field

from recsys_assets.assets.serving import WritebackConfig
from recsys_assets.personalize_rules.limits import MAX_NUM_RESULTS
from recsys_assets.export.batch_users import users_to_score_problem
from recsys_assets.resources import AppDatabaseResource, PersonalizeResource
from recsys_assets.workflow import run_checks
from recsys_assets.workflow.cost import trainings
from recsys_assets.workflow.refs import ExportedCsv
from recsys_assets.workflow.training import DEFAULT_RECIPE_ARN

class TrainingConfig(dg.Config):
    recipe_arn: str = Field(DEFAULT_RECIPE_ARN, description="The recipe to train.")
    perform_hpo: bool = Field(False, description="Hyperparameter search: a cost multiplier, off unless asked.")
    hpo_config: dict | None = Field(None, description="solutionConfig.hpoConfig (ranges, maxNumberOfTrainingJobs)")
    perform_auto_ml: bool = Field(False, description="AutoML (deprecated by AWS): trains several recipes, each "
                                                     "with HPO; a cost multiplier, off unless asked.")
    auto_ml_config: dict | None = Field(None, description="solutionConfig.autoMLConfig (metricName, recipeList)")
    event_type: str | None = Field(None, description="Train only on this EVENT_TYPE (all events if unset).")
    algorithm_hyperparameters: dict[str, str] = Field(default_factory=dict,
                                                      description="solutionConfig.algorithmHyperParameters")

    def solution_config(self) -> dict:
        config = {}
        if self.algorithm_hyperparameters:
            config["algorithmHyperParameters"] = self.algorithm_hyperparameters
        if (self.perform_hpo or self.perform_auto_ml) and self.hpo_config:
            config["hpoConfig"] = self.hpo_config
        if self.perform_auto_ml and self.auto_ml_config:
            config["autoMLConfig"] = self.auto_ml_config
        return config

    def trainings(self):
        return trainings(recipe_arn=self.recipe_arn, perform_hpo=self.perform_hpo,
                         perform_auto_ml=self.perform_auto_ml, solution_config=self.solution_config())


class BatchConfig(dg.Config):
    num_results: int = Field(25, ge=1, le=MAX_NUM_RESULTS, description="Recommendations per user (max 500).")
    # No filter by default: the engine ranks a user's own items by their chance to come back, and
    # excluding purchases cost 8-21 % NDCG@10 on the benchmark shops (README, "Choosing a recipe and a filter").
    filter_expression: str = Field("", description="Personalize filter expression; empty (the default) for none.")


# op name -> its config class; the run config's shape is ops: {<asset>: {config: {...}}}.
CONFIGS = {"solution_version": TrainingConfig, "batch_output": BatchConfig, "recommendations_table": WritebackConfig}


def run_configs(run_config: dict) -> tuple[dict[str, dg.Config], list[str]]:
    """Each asset's config as its step will see it (defaults where the run sets none), and what is invalid."""
    ops = (run_config or {}).get("ops") or {}
    configs, problems = {}, []
    for op, cls in CONFIGS.items():
        try:
            configs[op] = cls(**((ops.get(op) or {}).get("config") or {}))
        except pydantic.ValidationError as e:
            problems += [f"ops.{op}.config.{'.'.join(map(str, err['loc']))}: {err['msg']}"
                         + (f", not {err['input']!r}" if "input" in err and err["loc"] else "") for err in e.errors()]
    return configs, problems


def run_problems(configs: dict[str, dg.Config], exports: dict[str, ExportedCsv],
                 personalize: PersonalizeResource, app_db: AppDatabaseResource) -> list[str]:
    """What the service or the batch step would refuse about this run's configs and mapping, checked
    against the data being imported."""
    problem = users_to_score_problem(app_db.get_db(), app_db.get_mapping())
    problems = [problem] if problem else []
    training, batch = configs.get("solution_version"), configs.get("batch_output")
    if training is not None:
        problems += run_checks.event_type_problems(training.event_type, exports["interactions"].event_types)
        auto_ml_recipes = (training.auto_ml_config or {}).get("recipeList") or []
        problems += run_checks.recipe_problems(training.recipe_arn, perform_auto_ml=training.perform_auto_ml,
                                               auto_ml_recipes=auto_ml_recipes)
        problems += run_checks.hpo_resource_problems(training.hpo_config)
        recipes = auto_ml_recipes if training.perform_auto_ml else [training.recipe_arn]
        if not problems:
            for recipe in recipes:
                problem = personalize.solution_config_problem(recipe, training.solution_config(),
                                                              perform_hpo=training.perform_hpo or training.perform_auto_ml)
                if problem:
                    problems.append(f"{run_checks.TRAINING} ({recipe.rsplit('/', 1)[-1]}): {problem}")
    if batch is not None:
        problems += run_checks.filter_problems(batch.filter_expression, {ds: e.schema_json for ds, e in exports.items()})
    return problems
