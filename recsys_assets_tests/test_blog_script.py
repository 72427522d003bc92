"""The AWS blog's daily batch-recommendations script (issue 13), against the local Personalize engine.

Written from the documented API (botocore's personalize model, docs.aws.amazon.com/personalize/latest/dg/
API_Operations.html), not copied: dataset group, schemas, datasets, import jobs, AutoML with HPO
(``performAutoML=True, performHPO=True``), metrics, a filter, a batch inference job, its output, then every
resource deleted in dependency order. Then the same AutoML training through the Dagster graph.
"""

from __future__ import annotations

import json
import time

import botocore.exceptions
import dagster as dg
import pytest

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS
from recsys_assets.engine.recipes.catalogue import AUTOML_DEFAULT_RECIPES
from recsys_assets.engine.transport import local_client
from recsys_assets.storage import LocalObjectStore

ROLE = "arn:aws:iam::123456789012:role/PersonalizeRole"
BUCKET = "s3://blog-bucket"
USERS, ITEMS, PER_USER = 40, 60, 30  # 1,200 interactions, every user with 30


def _schema(name: str, *fields: dict) -> str:
    return json.dumps({"type": "record", "name": name, "namespace": "com.amazonaws.personalize.schema",
                       "fields": list(fields), "version": "1.0"})


INTERACTIONS_SCHEMA = _schema("Interactions", {"name": "USER_ID", "type": "string"},
                              {"name": "ITEM_ID", "type": "string"}, {"name": "EVENT_TYPE", "type": "string"},
                              {"name": "TIMESTAMP", "type": "long"})
ITEMS_SCHEMA = _schema("Items", {"name": "ITEM_ID", "type": "string"},
                       {"name": "GENRE", "type": "string", "categorical": True})


def _csvs() -> tuple[str, str, dict[str, set[str]]]:
    """Interactions and items CSVs (4 taste clusters of 15 items each) and each user's purchases."""
    rows, purchased = ["USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP"], {}
    for u in range(USERS):
        for k in range(PER_USER):
            item = f"i{(u % 4) * 15 + (k * 7 + u) % 15}"
            event = "purchase" if k % 5 == 0 else "click"
            rows.append(f"u{u},{item},{event},{1_700_000_000 + u * 1000 + k}")
            if event == "purchase":
                purchased.setdefault(f"u{u}", set()).add(item)
    items = ["ITEM_ID,GENRE"] + [f"i{i},genre{i // 15}" for i in range(ITEMS)]
    return "\n".join(rows) + "\n", "\n".join(items) + "\n", purchased


def _wait(describe, wrapper: str, timeout: float = 120.0, **arn) -> dict:
    """The blog's polling loop: until the resource leaves CREATE PENDING / CREATE IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        res = describe(**arn)[wrapper]
        if res["status"] in ("ACTIVE", "CREATE FAILED"):
            assert res["status"] == "ACTIVE", res.get("failureReason")
            return res
        assert time.monotonic() < deadline, f"{arn} still {res['status']}"
        time.sleep(0.1)


def _wait_gone(describe, timeout: float = 60.0, **arn) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            describe(**arn)
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException"
            return
        assert time.monotonic() < deadline, f"{arn} not deleted"
        time.sleep(0.1)


def test_blog_daily_script_with_automl_and_hpo(tmp_path):
    store = LocalObjectStore(tmp_path / "s3")
    personalize = local_client(tmp_path / "engine", store.config())
    interactions_csv, items_csv, purchased = _csvs()
    store.write_bytes(f"{BUCKET}/input/interactions.csv", interactions_csv.encode())
    store.write_bytes(f"{BUCKET}/input/items.csv", items_csv.encode())

    # 1. Dataset group, schemas, datasets, imports.
    group = personalize.create_dataset_group(name="blog-daily")["datasetGroupArn"]
    _wait(personalize.describe_dataset_group, "datasetGroup", datasetGroupArn=group)
    schemas, datasets, imports = {}, {}, {}
    for kind, text in (("Interactions", INTERACTIONS_SCHEMA), ("Items", ITEMS_SCHEMA)):
        schemas[kind] = personalize.create_schema(name=f"blog-{kind.lower()}", schema=text)["schemaArn"]
        datasets[kind] = personalize.create_dataset(name=f"blog-{kind.lower()}", datasetGroupArn=group,
                                                    datasetType=kind, schemaArn=schemas[kind])["datasetArn"]
        _wait(personalize.describe_dataset, "dataset", datasetArn=datasets[kind])
        imports[kind] = personalize.create_dataset_import_job(
            jobName=f"blog-import-{kind.lower()}", datasetArn=datasets[kind], roleArn=ROLE,
            dataSource={"dataLocation": f"{BUCKET}/input/{kind.lower()}.csv"})["datasetImportJobArn"]
    for arn in imports.values():
        _wait(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=arn)

    # 2. AutoML with HPO: the service picks the recipe (no recipeArn) and tunes it.
    solution = personalize.create_solution(name="blog-solution", datasetGroupArn=group, performAutoML=True,
                                           performHPO=True, performAutoTraining=False)["solutionArn"]
    _wait(personalize.describe_solution, "solution", solutionArn=solution)
    version_arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = _wait(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=version_arn)
    best = personalize.describe_solution(solutionArn=solution)["solution"]["autoMLResult"]["bestRecipeArn"]
    assert version["recipeArn"] == best and best in AUTOML_DEFAULT_RECIPES
    assert version["tunedHPOParams"]["algorithmHyperParameters"]
    metrics = personalize.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
    assert 0.0 <= metrics["precision_at_25"] <= 1.0 and 0.0 <= metrics["coverage"] <= 1.0

    # 3. A filter and the daily batch job over every user.
    filter_arn = personalize.create_filter(
        name="blog-no-purchased", datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')["filterArn"]
    _wait(personalize.describe_filter, "filter", filterArn=filter_arn)
    users = sorted(purchased)
    store.write_bytes(f"{BUCKET}/batch/in/users.json",
                      "".join(json.dumps({"userId": u}) + "\n" for u in users).encode())
    job = personalize.create_batch_inference_job(
        jobName="blog-daily-batch", solutionVersionArn=version_arn, filterArn=filter_arn, numResults=10,
        roleArn=ROLE, jobInput={"s3DataSource": {"path": f"{BUCKET}/batch/in/"}},
        jobOutput={"s3DataDestination": {"path": f"{BUCKET}/batch/out/"}})["batchInferenceJobArn"]
    _wait(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=job)
    lines = [json.loads(line) for line in store.read_bytes(f"{BUCKET}/batch/out/users.json.out").decode().splitlines()]
    assert [line["input"]["userId"] for line in lines] == users
    for line in lines:
        items = line["output"]["recommendedItems"]
        assert line["error"] is None and len(items) == 10
        assert not set(items) & purchased[line["input"]["userId"]]

    # 4. Delete everything, dependants first (batch inference jobs have no Delete operation).
    personalize.delete_filter(filterArn=filter_arn)
    personalize.delete_solution(solutionArn=solution)
    _wait_gone(personalize.describe_filter, filterArn=filter_arn)
    _wait_gone(personalize.describe_solution, solutionArn=solution)
    _wait_gone(personalize.describe_solution_version, solutionVersionArn=version_arn)
    for arn in datasets.values():
        personalize.delete_dataset(datasetArn=arn)
    for arn in datasets.values():
        _wait_gone(personalize.describe_dataset, datasetArn=arn)
    for arn in schemas.values():
        personalize.delete_schema(schemaArn=arn)
        _wait_gone(personalize.describe_schema, schemaArn=arn)
    personalize.delete_dataset_group(datasetGroupArn=group)
    _wait_gone(personalize.describe_dataset_group, datasetGroupArn=group)
    assert personalize.list_dataset_groups()["datasetGroups"] == []
    assert personalize.list_schemas()["schemas"] == []


@pytest.mark.parametrize("auto_ml_config", [None, {"metricName": "precision_at_25",
                                                   "recipeList": ["arn:aws:personalize:::recipe/aws-popularity-count",
                                                                  "arn:aws:personalize:::recipe/aws-user-personalization"]}])
def test_pipeline_trains_with_automl_on_the_local_backend(local_resources, auto_ml_config):
    config = {"perform_auto_ml": True, **({"auto_ml_config": auto_ml_config} if auto_ml_config else {})}
    candidates = auto_ml_config["recipeList"] if auto_ml_config else AUTOML_DEFAULT_RECIPES
    with dg.instance_for_test() as instance:
        result = dg.materialize(ALL_ASSETS + ALL_CHECKS, resources=local_resources, instance=instance,
                                run_config={"ops": {"solution_version": {"config": config},
                                                    "batch_output": {"config": {"num_results": 5}}}})
        assert result.success
        version = result.output_for_node("solution_version")
        described = local_resources["personalize"].get_client().describe_solution(
            solutionArn=version.solution_arn)["solution"]
        assert described["performAutoML"] is True and "recipeArn" not in described
        assert version.recipe_arn == described["autoMLResult"]["bestRecipeArn"] and version.recipe_arn in candidates
        assert version.metrics and version.tuned_hpo_params
