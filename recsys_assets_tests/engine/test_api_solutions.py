"""Contract tests of solutions and solution versions, driven through a real boto3 ``personalize`` client on the
local Personalize engine (see ``contract.py``). Most versions are inserted into the catalog;
``test_end_to_end_training_and_batch_inference`` and the HPO test train for real.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from recsys_assets.engine.catalog import Catalog
from recsys_assets.engine.data import DataStore
from recsys_assets.engine.models import Model

from .contract import (
    IN_FLIGHT,
    REGION_PREFIX,
    UP_V2,
    assert_gone,
    batch_job,
    error_message,
    import_job,
    insert_version,
    make_dataset,
    make_group,
    make_solution,
    wait_for,
)

UP_V1 = "arn:aws:personalize:::recipe/aws-user-personalization"
METRIC_NAMES = {"coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_5",
                "normalized_discounted_cumulative_gain_at_10", "normalized_discounted_cumulative_gain_at_25",
                "precision_at_5", "precision_at_10", "precision_at_25"}


# ---- solutions -----------------------------------------------------------------------------------


def test_solution_create_describe_list_delete(personalize):
    group = make_group(personalize)
    arn = personalize.create_solution(name="recs", datasetGroupArn=group, recipeArn=UP_V2, eventType="purchase",
                                      solutionConfig={"eventValueThreshold": "0.5"})["solutionArn"]
    assert arn == REGION_PREFIX + "solution/recs"
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert (solution["status"], solution["recipeArn"], solution["datasetGroupArn"], solution["eventType"]) == (
        "ACTIVE", UP_V2, group, "purchase")
    # The service's defaults, automatic training included (a cost trap we report faithfully).
    assert (solution["performHPO"], solution["performAutoML"], solution["performAutoTraining"],
            solution["performIncrementalUpdate"]) == (False, False, True, False)
    assert solution["solutionConfig"] == {"eventValueThreshold": "0.5"}
    assert "latestSolutionVersion" not in solution and "latestSolutionUpdate" not in solution
    summaries = personalize.list_solutions(datasetGroupArn=group)["solutions"]
    assert [(s["solutionArn"], s["recipeArn"]) for s in summaries] == [(arn, UP_V2)]
    personalize.delete_solution(solutionArn=arn)
    assert_gone(personalize.describe_solution, solutionArn=arn)


def test_solution_preconditions(make_personalize):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)
    group = make_group(c)

    def create(**kwargs):
        params = {"name": "recs", "datasetGroupArn": group, "recipeArn": UP_V2, **kwargs}
        return c.create_solution(**{k: v for k, v in params.items() if v is not None})

    with pytest.raises(c.exceptions.ResourceNotFoundException):
        create(recipeArn="arn:aws:personalize:::recipe/aws-no-such-recipe")
    with pytest.raises(c.exceptions.InvalidInputException, match="domain use case"):
        create(recipeArn="arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-views")
    with pytest.raises(c.exceptions.InvalidInputException, match="recipeArn is required"):
        create(recipeArn=None)
    with pytest.raises(c.exceptions.InvalidInputException, match="recipeArn must be omitted"):
        create(performAutoML=True)
    with pytest.raises(c.exceptions.InvalidInputException, match="semantic-similarity"):
        create(performIncrementalUpdate=True)
    with pytest.raises(c.exceptions.InvalidInputException, match="from 1 to 30 days"):
        create(solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(31 days)"}})
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        create(datasetGroupArn=REGION_PREFIX + "dataset-group/nope")
    with pytest.raises(c.exceptions.ResourceInUseException):
        create(datasetGroupArn=slow.create_dataset_group(name="pending")["datasetGroupArn"])
    create(solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(30 days)"}})
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        create()


def test_solution_quota_of_ten_per_group(personalize):
    group = make_group(personalize)
    arns = [make_solution(personalize, group, f"recs{i}") for i in range(10)]
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.create_solution(name="recs10", datasetGroupArn=group, recipeArn=UP_V2)
    make_solution(personalize, make_group(personalize, "other"), "recs10")  # the quota is per group
    personalize.delete_solution(solutionArn=arns[0])
    make_solution(personalize, group, "recs11")


def test_update_solution_applies_when_the_update_is_active(make_personalize, fake_clock):
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    fake_clock.advance(1)
    solution = c.create_solution(name="recs", datasetGroupArn=group, recipeArn=UP_V2)["solutionArn"]
    with pytest.raises(c.exceptions.ResourceInUseException):  # the solution must be ACTIVE
        c.update_solution(solutionArn=solution, performAutoTraining=False)
    fake_clock.advance(1)
    config = {"autoTrainingConfig": {"schedulingExpression": "rate(3 days)"}}
    assert c.update_solution(solutionArn=solution, performAutoTraining=True,
                             solutionUpdateConfig=config)["solutionArn"] == solution

    def describe():
        return c.describe_solution(solutionArn=solution)["solution"]

    update = describe()["latestSolutionUpdate"]
    assert (update["status"], update["performAutoTraining"], update["solutionUpdateConfig"]) == (
        "CREATE PENDING", True, config)
    assert "solutionConfig" not in describe()  # not applied yet
    # While it is in progress: no second update, no delete, no training [DG:deleting-resources].
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.update_solution(solutionArn=solution, performAutoTraining=False)
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.delete_solution(solutionArn=solution)
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_solution_version(solutionArn=solution)
    fake_clock.advance(0.7)
    described = describe()
    assert described["latestSolutionUpdate"]["status"] == "ACTIVE"
    assert described["solutionConfig"] == config
    c.update_solution(solutionArn=solution, performAutoTraining=False)  # turn the cost trap off
    fake_clock.advance(0.7)
    assert describe()["performAutoTraining"] is False
    with pytest.raises(c.exceptions.InvalidInputException, match="semantic-similarity"):
        c.update_solution(solutionArn=solution, performIncrementalUpdate=True)
    with pytest.raises(c.exceptions.InvalidInputException, match="from 1 to 30 days"):
        c.update_solution(solutionArn=solution, solutionUpdateConfig={
            "autoTrainingConfig": {"schedulingExpression": "rate(0 days)"}})
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.update_solution(solutionArn=REGION_PREFIX + "solution/nope", performAutoTraining=False)


def test_describe_solution_reports_its_latest_version(personalize, engine_root):
    group = make_group(personalize)
    solution = make_solution(personalize, group)
    insert_version(engine_root, solution, group, "ACTIVE", "00000001")
    newest = insert_version(engine_root, solution, group, "CREATE FAILED", "00000002")
    latest = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"]
    assert (latest["solutionVersionArn"], latest["status"], latest["trainingMode"], latest["trainingType"]) == (
        newest, "CREATE FAILED", "FULL", "MANUAL")


# ---- solution versions -----------------------------------------------------------------------------


def test_solution_version_preconditions(make_personalize, engine_root):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)
    group = make_group(c)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_solution_version(solutionArn=REGION_PREFIX + "solution/nope")
    pending = slow.create_solution(name="pending", datasetGroupArn=group, recipeArn=UP_V2)["solutionArn"]
    with pytest.raises(c.exceptions.ResourceInUseException):  # the solution must be ACTIVE
        c.create_solution_version(solutionArn=pending)
    v2 = make_solution(c, group, "v2")
    with pytest.raises(c.exceptions.InvalidInputException, match="manual training"):
        c.create_solution_version(solutionArn=v2, trainingMode="AUTOTRAIN")
    # UPDATE: User-Personalization (v1) only, and only on top of an ACTIVE FULL version.
    with pytest.raises(c.exceptions.InvalidInputException, match="UPDATE is not supported"):
        c.create_solution_version(solutionArn=v2, trainingMode="UPDATE")
    v1 = make_solution(c, group, "v1", recipe=UP_V1)
    insert_version(engine_root, v1, group, "CREATE FAILED", "00000001", recipe=UP_V1)
    insert_version(engine_root, v1, group, "ACTIVE", "00000002", mode="UPDATE", recipe=UP_V1)
    with pytest.raises(c.exceptions.InvalidInputException, match="needs an ACTIVE solution version trained with FULL"):
        c.create_solution_version(solutionArn=v1, trainingMode="UPDATE")
    assert len(c.list_solution_versions(solutionArn=v1)["solutionVersions"]) == 2


def test_solution_version_arn_name_and_summary(make_personalize):
    slow = make_personalize(transition_seconds=30)  # the worker sleeps: the versions stay CREATE PENDING
    group = make_group(make_personalize())
    solution = make_solution(make_personalize(), group)
    arn = slow.create_solution_version(solutionArn=solution, name="first",
                                       tags=[{"tagKey": "team", "tagValue": "recsys"}])["solutionVersionArn"]
    assert re.fullmatch(re.escape(solution) + r"/[0-9a-f]{8}", arn)  # <solution ARN>/<8 hex> [§1.1]
    version = slow.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    assert (version["name"], version["status"], version["trainingMode"], version["trainingType"]) == (
        "first", "CREATE PENDING", "FULL", "MANUAL")
    assert (version["recipeArn"], version["datasetGroupArn"], version["solutionArn"]) == (UP_V2, group, solution)
    assert "trainingHours" not in version  # visible only after training succeeded
    assert slow.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "team", "tagValue": "recsys"}]
    with pytest.raises(slow.exceptions.ResourceAlreadyExistsException):  # names are unique per type
        slow.create_solution_version(solutionArn=solution, name="first")
    with pytest.raises(slow.exceptions.ResourceInUseException):  # training in progress
        slow.get_solution_metrics(solutionVersionArn=arn)


def test_solution_versions_in_flight_quota_of_twenty(personalize, engine_root):
    group = make_group(personalize)
    solution = make_solution(personalize, group)
    for i in range(20):
        insert_version(engine_root, solution, group, IN_FLIGHT[i % 2], f"{i:08x}")
    with pytest.raises(personalize.exceptions.LimitExceededException) as e:
        personalize.create_solution_version(solutionArn=solution)
    assert error_message(e) == "More than 20 resources with PENDING or IN_PROGRESS status."


def test_get_solution_metrics_needs_an_active_version(personalize, engine_root):
    group = make_group(personalize)
    solution = make_solution(personalize, group)
    failed = insert_version(engine_root, solution, group, "CREATE FAILED")
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.get_solution_metrics(solutionVersionArn=failed)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.get_solution_metrics(solutionVersionArn=solution + "/00000000")


def _training_with_delays(make_personalize, engine_root, fake_clock):
    """A client whose statuses move in 0.6 s, and a group, a solution and a version CREATE IN_PROGRESS in it."""
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    fake_clock.advance(1)
    solution = c.create_solution(name="recs", datasetGroupArn=group, recipeArn=UP_V2,
                                 performAutoTraining=False)["solutionArn"]
    fake_clock.advance(1)
    return c, group, solution, insert_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000001")


def test_a_stopped_training_whose_worker_is_gone_ends_stopped_not_failed(make_personalize, engine_root, fake_clock):
    """StopSolutionVersionCreation ends the worker at once; the version still goes STOPPING -> STOPPED."""
    c, group, solution, training = _training_with_delays(make_personalize, engine_root, fake_clock)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # stands for the worker
    with Catalog(engine_root / "catalog.db").transaction() as txn:
        version = txn.get(training)
        version.internal["pid"] = worker.pid
        txn.save(version)
    c.stop_solution_version_creation(solutionVersionArn=training)
    worker.wait(timeout=10)

    def status():
        return c.describe_solution_version(solutionVersionArn=training)["solutionVersion"]["status"]

    assert status() == "CREATE STOPPING"
    fake_clock.advance(0.7)
    assert status() == "CREATE STOPPED"


def test_stop_solution_version_creation(make_personalize, engine_root, fake_clock):
    c, group, solution, training = _training_with_delays(make_personalize, engine_root, fake_clock)
    pending = insert_version(engine_root, solution, group, "CREATE PENDING", "00000002")
    done = insert_version(engine_root, solution, group, "ACTIVE", "00000003")

    def status(arn):
        return c.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["status"]

    c.stop_solution_version_creation(solutionVersionArn=training)
    assert status(training) == "CREATE STOPPING"
    with pytest.raises(c.exceptions.ResourceInUseException):  # stopping is not yet stopped
        c.delete_solution(solutionArn=solution)
    fake_clock.advance(0.7)
    assert status(training) == "CREATE STOPPED"
    c.stop_solution_version_creation(solutionVersionArn=pending)
    assert status(pending) == "CREATE STOPPED"
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.stop_solution_version_creation(solutionVersionArn=done)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.stop_solution_version_creation(solutionVersionArn=solution + "/ffffffff")
    # A stopped version no longer blocks deleting its solution, which takes its versions along.
    c.delete_solution(solutionArn=solution)
    fake_clock.advance(0.7)
    assert_gone(c.describe_solution_version, solutionVersionArn=done)


# ---- end to end: real training and a batch job through the client ---------------------------------


def _interactions_csv() -> tuple[str, dict[str, set[str]]]:
    """1,200 interactions of 40 users with 60 items in 4 taste clusters; each user's purchases."""
    rows, purchased = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"], {}
    for u in range(40):
        for k in range(30):
            item = (u % 4) * 15 + (k * 7 + u) % 15
            event = "purchase" if k % 6 == 0 else "view"
            rows.append(f"u{u},i{item},{1_700_000_000 + u * 1000 + k},{event},")
            if event == "purchase":
                purchased.setdefault(f"u{u}", set()).add(f"i{item}")
    return "\n".join(rows) + "\n", purchased


def test_end_to_end_training_and_batch_inference(personalize, object_store):
    c = personalize
    group = make_group(c)
    dataset = make_dataset(c, group, "interactions")
    csv_text, purchased = _interactions_csv()
    object_store.write_bytes("s3://bucket/train/interactions.csv", csv_text.encode())
    job = wait_for(c.describe_dataset_import_job, "datasetImportJob",
                   datasetImportJobArn=import_job(c, dataset, "s3://bucket/train/interactions.csv"))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    no_purchases = c.create_filter(name="no-purchases", datasetGroupArn=group,
                                   filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    solution = make_solution(c, group, recipe=UP_V1)

    first = c.create_solution_version(solutionArn=solution, name="first")["solutionVersionArn"]
    version = wait_for(c.describe_solution_version, "solutionVersion", solutionVersionArn=first)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    assert (version["trainingMode"], version["name"]) == ("FULL", "first")
    assert version["trainingHours"] >= 0
    metrics = c.get_solution_metrics(solutionVersionArn=first)["metrics"]
    assert set(metrics) == METRIC_NAMES and all(0.0 <= v <= 1.0 for v in metrics.values())
    assert c.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"]["status"] == "ACTIVE"

    users = [f"u{u}" for u in range(0, 40, 7)]
    lines = [json.dumps({"userId": u}) for u in users] + ['{"itemId": "i1"}']
    object_store.write_bytes("s3://bucket/batch/in/users.json", ("\n".join(lines) + "\n").encode())
    job = wait_for(c.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=batch_job(
        c, first, filterArn=no_purchases["filterArn"], numResults=5))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    out = [json.loads(line) for line in
           object_store.read_bytes("s3://bucket/batch/out/users.json.out").decode().splitlines()]
    assert [o["input"] for o in out] == [json.loads(line) for line in lines]  # one line per input line
    for user, line in zip(users, out):
        items = line["output"]["recommendedItems"]
        assert line["error"] is None and len(items) == 5
        assert not set(items) & purchased[user]  # the filter applied before the top 5 were taken
    assert out[-1]["error"].startswith("User error:")

    # trainingMode UPDATE: on top of the ACTIVE FULL version, for User-Personalization.
    update = c.create_solution_version(solutionArn=solution, trainingMode="UPDATE")["solutionVersionArn"]
    version = wait_for(c.describe_solution_version, "solutionVersion", solutionVersionArn=update)
    assert (version["status"], version["trainingMode"]) == ("ACTIVE", "UPDATE"), version.get("failureReason")
    summaries = c.list_solution_versions(solutionArn=solution)["solutionVersions"]
    assert [(s["solutionVersionArn"], s["trainingMode"]) for s in summaries] == [(update, "UPDATE"), (first, "FULL")]


def test_hpo_reports_the_winner_and_an_update_keeps_it(personalize, object_store, engine_root):
    c = personalize
    group = make_group(c)
    dataset = make_dataset(c, group, "interactions")
    object_store.write_bytes("s3://bucket/train/interactions.csv", _interactions_csv()[0].encode())
    job = wait_for(c.describe_dataset_import_job, "datasetImportJob",
                   datasetImportJobArn=import_job(c, dataset, "s3://bucket/train/interactions.csv"))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    config = {"algorithmHyperParameters": {"algorithm": "ials", "ials_alpha": "5"},
              "hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"},
                            "algorithmHyperParameterRanges": {"continuousHyperParameterRanges": [
                                {"name": "ials_regularization", "minValue": 1.0, "maxValue": 300.0}]}}}
    tuned = make_solution(c, group, name="tuned", recipe=UP_V1, performHPO=True, solutionConfig=config)
    plain = make_solution(c, group, name="plain", recipe=UP_V1, solutionConfig=config)
    versions = {s: c.create_solution_version(solutionArn=s)["solutionVersionArn"] for s in (tuned, plain)}
    described = {s: wait_for(c.describe_solution_version, "solutionVersion", solutionVersionArn=v)
                 for s, v in versions.items()}
    assert all(v["status"] == "ACTIVE" for v in described.values()), described
    assert "tunedHPOParams" not in described[plain]  # no performHPO, no search
    winner = described[tuned]["tunedHPOParams"]["algorithmHyperParameters"]
    assert set(winner) == {"ials_regularization"} and 1.0 <= float(winner["ials_regularization"]) <= 300.0

    # An UPDATE trains with the winner (and reports no search of its own).
    update = c.create_solution_version(solutionArn=tuned, trainingMode="UPDATE")["solutionVersionArn"]
    version = wait_for(c.describe_solution_version, "solutionVersion", solutionVersionArn=update)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    assert "tunedHPOParams" not in version
    for arn in (versions[tuned], update):
        model = Model.load(DataStore(engine_root).model_path(arn))
        assert model.hyperparameters["ials_regularization"] == winner["ials_regularization"]
