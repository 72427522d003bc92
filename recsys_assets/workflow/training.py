"""Solution and solution version: training, and the offline metrics Personalize reports."""

from __future__ import annotations

from typing import Callable

from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.datasets import create_or_adopt
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings, wait_for_status

DEFAULT_RECIPE_ARN = "arn:aws:personalize:::recipe/aws-user-personalization-v2"


def train_solution_version(client, names: RunNames, *, dataset_group_arn: str, recipe_arn: str,
                           perform_hpo: bool, event_type: str | None, solution_config: dict | None,
                           poll: PollSettings, log: Callable[[str], None]) -> dict:
    params = {
        "name": names.solution, "datasetGroupArn": dataset_group_arn, "recipeArn": recipe_arn,
        "performHPO": perform_hpo,
        # Personalize otherwise retrains by itself every 7 days, billing hours nobody asked for.
        "performAutoTraining": False,
        "tags": names.tags,
    }
    if event_type:
        params["eventType"] = event_type
    if solution_config:
        params["solutionConfig"] = solution_config
    solution_arn = create_or_adopt(lambda: client.create_solution(**params)["solutionArn"],
                                   lambda: rt.SOLUTION.find(client, names.solution, datasetGroupArn=dataset_group_arn),
                                   "solutionArn")
    wait_for_status(lambda: rt.SOLUTION.describe(client, solution_arn), solution_arn, poll, log)
    version_arn = client.create_solution_version(solutionArn=solution_arn, trainingMode="FULL",
                                                 tags=names.tags)["solutionVersionArn"]
    version = wait_for_status(lambda: rt.SOLUTION_VERSION.describe(client, version_arn), version_arn, poll, log)
    metrics = client.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
    return {"solution_arn": solution_arn, "solution_version_arn": version_arn, "status": version["status"],
            "training_hours": version.get("trainingHours", 0.0), "metrics": metrics}
