"""Solutions, solution versions (training) and their metrics."""

from __future__ import annotations

import re
import secrets

from recsys_assets.engine import lifecycle
from recsys_assets.engine.core import ServiceCore
from recsys_assets.engine.errors import check_quota, in_use, invalid, not_found
from recsys_assets.engine.metrics import METRIC_NAMES
from recsys_assets.engine.recipes.catalogue import (DOMAIN_OF, SEMANTIC_SIMILARITY, auto_ml_config_problem,
                                                    get_recipe)
from recsys_assets.engine.statuses import CREATING, DELETING
from recsys_assets.personalize_rules.limits import MAX_SOLUTIONS_PER_GROUP, MAX_TRAINING_INTERVAL_DAYS


def create_solution(svc: ServiceCore, p: dict) -> dict:
    name = p["name"]
    auto_ml = bool(p.get("performAutoML"))
    config = p.get("solutionConfig") or {}
    if auto_ml:
        # "Either performAutoML or recipeArn must be specified but not both" (catalogue's AutoML notes).
        if p.get("recipeArn"):
            raise invalid("recipeArn must be omitted when performAutoML is true: AutoML chooses the recipe.")
        problem = auto_ml_config_problem(config, METRIC_NAMES)
        if problem:
            raise invalid(problem)
    elif not p.get("recipeArn"):
        raise invalid("recipeArn is required when performAutoML is false.")
    else:
        _custom_recipe(p["recipeArn"])
    if p.get("performIncrementalUpdate") and p.get("recipeArn") != SEMANTIC_SIMILARITY:
        raise invalid("performIncrementalUpdate is supported only for solutions that use the "
                      "semantic-similarity recipe.")
    _check_training_interval(config)
    with svc.transaction() as txn:
        group = svc.get(txn, p["datasetGroupArn"], "dataset-group")
        svc.require_active(group, "Dataset group")
        check_quota(txn.count("solution", group.arn, excluding=DELETING), MAX_SOLUTIONS_PER_GROUP,
                    f"More than {MAX_SOLUTIONS_PER_GROUP} solutions in dataset group {group.arn}.")
        body = {
            "datasetGroupArn": group.arn, "recipeArn": p.get("recipeArn"),
            # AutoML always tunes: performHPO "is always true" with it (CreateSolution).
            "performHPO": auto_ml or p.get("performHPO", False), "performAutoML": auto_ml,
            # The service defaults to automatic training every 7 days (a cost trap we report faithfully).
            "performAutoTraining": p.get("performAutoTraining", True),
            "performIncrementalUpdate": p.get("performIncrementalUpdate", False),
            "eventType": p.get("eventType"), "solutionConfig": p.get("solutionConfig"),
        }
        res = svc.new(txn, "solution", svc.arn(f"solution/{name}"), name, group.arn, body, p.get("tags"))
    return {"solutionArn": res.arn}


def update_solution(svc: ServiceCore, p: dict) -> dict:
    update = p.get("solutionUpdateConfig") or {}
    _check_training_interval(update)
    if p.get("performIncrementalUpdate"):
        raise invalid("performIncrementalUpdate is supported only for solutions that use the "
                      "semantic-similarity recipe.")
    with svc.transaction() as txn:
        solution = svc.get(txn, p["solutionArn"], "solution")
        svc.require_active(solution, "Solution")
        svc.require_no_update(solution)
        auto = p.get("performAutoTraining", solution.body["performAutoTraining"])
        summary = {"solutionUpdateConfig": update, "performAutoTraining": auto,
                   "performIncrementalUpdate": p.get("performIncrementalUpdate", False)}
        # The new automatic-training schedule and event weights replace the solution's.
        config = {**(solution.body.get("solutionConfig") or {}), **update}
        svc.start_update(txn, solution, summary, {"performAutoTraining": auto, "solutionConfig": config})
    return {"solutionArn": solution.arn}


def create_solution_version(svc: ServiceCore, p: dict) -> dict:
    mode, base = p.get("trainingMode", "FULL"), None
    with svc.transaction() as txn:
        solution = svc.get(txn, p["solutionArn"], "solution")
        svc.require_active(solution, "Solution")
        svc.require_no_update(solution)
        body = {k: solution.body[k] for k in ("recipeArn", "datasetGroupArn", "eventType", "performHPO",
                                              "performAutoML", "solutionConfig")}
        if mode == "UPDATE":
            full = [v for v in txn.find("solution-version", solution.arn, statuses=("ACTIVE",))
                    if v.body["trainingMode"] == "FULL"]
            if body["performAutoML"]:  # AutoML's choice is known once a FULL version trained: UPDATE retrains it
                if not full:
                    raise invalid("trainingMode UPDATE needs an ACTIVE solution version trained with FULL.")
                body["recipeArn"] = full[0].body["recipeArn"]
            recipe = get_recipe(body["recipeArn"])
            if not recipe.supports_update:
                raise invalid(f"trainingMode UPDATE is not supported for recipe {recipe.arn}.")
            if not full:
                raise invalid("trainingMode UPDATE needs an ACTIVE solution version trained with FULL.")
            base = full[0].arn
        elif mode != "FULL":
            raise invalid(f"trainingMode {mode} is not supported for manual training.")
        svc.check_in_flight_quota(txn, "solution-version")
        body.update(solutionArn=solution.arn, trainingMode=mode, trainingType="MANUAL")
        arn = svc.arn(f"solution/{solution.name}/{secrets.token_hex(4)}")
        res = svc.new(txn, "solution-version", arn, p.get("name", ""), solution.arn, body, p.get("tags"))
        if base:  # an UPDATE keeps the hyperparameters of the FULL version it updates
            res.internal["base"] = base
        svc.start_worker(txn, res)
    return {"solutionVersionArn": res.arn}


def stop_solution_version_creation(svc: ServiceCore, p: dict) -> dict:
    with svc.transaction() as txn:
        version = svc.get(txn, p["solutionVersionArn"], "solution-version")
        if version.status not in CREATING:
            raise in_use(f"Solution version {version.arn} is not being created (status: {version.status}).")
        lifecycle.stop_worker(version)
        now = lifecycle.now()
        if version.status == "CREATE PENDING":
            version.status = "CREATE STOPPED"
        else:  # IN_PROGRESS -> STOPPING -> STOPPED, as the service documents
            version.status = "CREATE STOPPING"
            lifecycle.begin(version, now, svc.transition_seconds)
        txn.save(version, now)
    return {}


def get_solution_metrics(svc: ServiceCore, p: dict) -> dict:
    with svc.transaction() as txn:
        version = svc.get(txn, p["solutionVersionArn"], "solution-version")
        svc.require_active(version, "Solution version")
    return {"solutionVersionArn": version.arn, "metrics": version.internal.get("metrics", {})}


def _custom_recipe(arn: str) -> None:
    if arn in DOMAIN_OF:
        raise invalid(f"{arn} is a {DOMAIN_OF[arn]} domain use case; use it with CreateRecommender, "
                      "not in a solution.")
    try:
        get_recipe(arn)
    except KeyError:
        raise not_found(arn) from None


def _check_training_interval(config: dict) -> None:
    expression = (config.get("autoTrainingConfig") or {}).get("schedulingExpression")
    if expression and not 1 <= int(re.search(r"\d+", expression)[0]) <= MAX_TRAINING_INTERVAL_DAYS:
        raise invalid(f"Invalid schedulingExpression {expression!r}: the rate must be from 1 to "
                      f"{MAX_TRAINING_INTERVAL_DAYS} days.")


OPERATIONS = {
    "CreateSolution": create_solution,
    "UpdateSolution": update_solution,
    "CreateSolutionVersion": create_solution_version,
    "StopSolutionVersionCreation": stop_solution_version_creation,
    "GetSolutionMetrics": get_solution_metrics,
}
