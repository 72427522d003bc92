"""Solution and solution version: training, its cost rails, and the offline metrics Personalize reports."""

from __future__ import annotations

from typing import Callable

from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.ensure import ensure, find_reusable
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings, WaitTimeout, wait_for_status
from recsys_assets.workflow.refs import SolutionVersionRef
from recsys_assets.workflow.teardown import stop_training

DEFAULT_RECIPE_ARN = "arn:aws:personalize:::recipe/aws-user-personalization-v2"


class TrainingTooLong(Exception):
    pass


def train_solution_version(client, names: RunNames, *, dataset_group_arn: str, recipe_arn: str | None,
                           perform_hpo: bool, perform_auto_ml: bool, event_type: str | None,
                           solution_config: dict | None, poll: PollSettings,
                           log: Callable[[str], None]) -> SolutionVersionRef:
    """A trained solution version; an ACTIVE (or still training) one of an earlier attempt is reused.

    Training that runs past ``poll.training_timeout`` is stopped (the service bills training hours)
    and raises TrainingTooLong.
    """
    params = {
        "datasetGroupArn": dataset_group_arn,
        # Personalize otherwise retrains by itself every 7 days, billing hours nobody asked for.
        "performAutoTraining": False,
        "tags": names.tags,
    }
    if perform_auto_ml:
        # The service searches recipes itself: recipeArn must be omitted, and performHPO "is always true
        # and you should not set it to false" (CreateSolution, botocore's model).
        params["performAutoML"] = True
    else:
        params["recipeArn"] = recipe_arn
        params["performHPO"] = perform_hpo
    if event_type:
        params["eventType"] = event_type
    if solution_config:
        params["solutionConfig"] = solution_config
    name = names.solution({k: v for k, v in params.items() if k != "tags"})
    solution_arn = ensure(client, rt.SOLUTION, names, name,
                          lambda: client.create_solution(name=name, **params)["solutionArn"],
                          log, datasetGroupArn=dataset_group_arn)
    wait_for_status(client, rt.SOLUTION, solution_arn, poll, log)
    earlier = find_reusable(client, rt.SOLUTION_VERSION, names, lambda v: v.get("trainingMode", "FULL") == "FULL",
                            solutionArn=solution_arn)
    if earlier is not None:
        version_arn = earlier["solutionVersionArn"]
        log(f"reusing solution version {version_arn} ({earlier['status']}) instead of training again")
    else:
        # Named once per attempt: botocore's retry of a create that timed out resends the same name, and the
        # service's ResourceAlreadyExistsException then adopts the version instead of training it twice.
        version_name = names.job("train")
        version_arn = ensure(client, rt.SOLUTION_VERSION, names, version_name,
                             lambda: client.create_solution_version(
                                 name=version_name, solutionArn=solution_arn, trainingMode="FULL",
                                 tags=names.tags)["solutionVersionArn"],
                             log, fresh=True, solutionArn=solution_arn)
    try:
        version = wait_for_status(client, rt.SOLUTION_VERSION, version_arn, poll, log)
    except WaitTimeout as e:
        stop_training(client, version_arn, log)
        raise TrainingTooLong(f"training {version_arn} passed the maximum of {poll.training_timeout / 3600:g} h "
                              f"({e.status}); it was stopped so it bills no further") from e
    metrics = client.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
    return SolutionVersionRef(
        solution_arn=solution_arn, solution_version_arn=version_arn, dataset_group_arn=dataset_group_arn,
        # With AutoML the version names the recipe the service chose (DescribeSolutionVersion recipeArn).
        recipe_arn=version.get("recipeArn") or recipe_arn, status=version["status"],
        training_hours=version.get("trainingHours", 0.0),
        metrics=metrics, reused=earlier is not None, tuned_hpo_params=version.get("tunedHPOParams"))
