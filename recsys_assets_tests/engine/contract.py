"""Constants and helpers shared by the local Personalize engine's contract tests, ``test_api_*.py``.

Those tests drive the engine through a real boto3 ``personalize`` client, one module per resource family. The
behaviour asserted is the service's as /work/shared/reference/personalize-api.md §0-§8 and the botocore service model
describe it: error codes and documented messages, statuses and lifecycle, deletion order, quotas, pagination.
Resources in these tests become ACTIVE (or gone) on the call after their create (or delete) unless a test sets
``transition_seconds``; tests that look at a transition part-way drive the service's clock with ``fake_clock``.
Solution versions are inserted into the catalog (``insert_version``) where training would be the slow alternative;
``test_end_to_end_training_and_batch_inference`` trains for real. The fixtures they share (``personalize``,
``make_personalize``, ``fake_clock``, ``trained``, ...) are in ``conftest.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import botocore.exceptions
import pytest

from recsys_assets.engine.catalog import Catalog, Resource

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeS3Access"
REGION_PREFIX = "arn:aws:personalize:us-east-1:000000000000:"
UP_V2 = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
EVENT_FILTER = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
IN_FLIGHT = ("CREATE PENDING", "CREATE IN_PROGRESS")


def schema_text(name: str) -> str:
    """One of the project's schemas (``schemas/<name>.json``) as CreateSchema takes it."""
    return (SCHEMAS_DIR / f"{name}.json").read_text()


def error_message(excinfo) -> str:
    return excinfo.value.response["Error"]["Message"]


def group_status(client, arn: str) -> str:
    return client.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"]


def make_group(client, name: str = "shop", **kwargs) -> str:
    arn = client.create_dataset_group(name=name, **kwargs)["datasetGroupArn"]
    assert group_status(client, arn) == "ACTIVE"  # transition_seconds=0: ACTIVE on the next call
    return arn


def make_schema(client, kind: str, name: str | None = None, text: str | None = None) -> str:
    return client.create_schema(name=name or f"{kind}-schema", schema=text or schema_text(kind))["schemaArn"]


def make_dataset(client, group: str, kind: str, schema: str | None = None, name: str | None = None) -> str:
    schema = schema or make_schema(client, kind, f"{kind}-schema-{group.rsplit('/', 1)[1]}")
    arn = client.create_dataset(name=name or f"{kind}-{group.rsplit('/', 1)[1]}", datasetGroupArn=group,
                                schemaArn=schema, datasetType=kind.capitalize())["datasetArn"]
    assert client.describe_dataset(datasetArn=arn)["dataset"]["status"] == "ACTIVE"
    return arn


def make_solution(client, group: str, name: str = "recs", recipe: str = UP_V2, **kwargs) -> str:
    arn = client.create_solution(name=name, datasetGroupArn=group, recipeArn=recipe, performAutoTraining=False,
                                 **kwargs)["solutionArn"]
    assert client.describe_solution(solutionArn=arn)["solution"]["status"] == "ACTIVE"
    return arn


def insert_version(engine_root: Path, solution_arn: str, group_arn: str, status: str = "ACTIVE",
                   suffix: str = "abcd1234", mode: str = "FULL", recipe: str = UP_V2) -> str:
    """A solution version written straight into the catalog in a given state.

    Training takes seconds; the rules under test (deletion order, quotas, stopping, deploying) don't look
    at the model, so these tests stand in for CreateSolutionVersion.
    """
    arn = f"{solution_arn}/{suffix}"
    now = time.time()
    body = {"solutionArn": solution_arn, "datasetGroupArn": group_arn, "recipeArn": recipe,
            "trainingMode": mode, "trainingType": "MANUAL"}
    with Catalog(engine_root / "catalog.db").transaction() as txn:
        txn.insert(Resource(arn=arn, kind="solution-version", name="", parent=solution_arn, status=status,
                            created=now, updated=now, body=body))
    return arn


def assert_gone(describe, **arn) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        describe(**arn)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def wait_for(describe, wrapper: str, deadline_seconds: float = 120.0, **arn) -> dict:
    """Poll a worker-driven job until it leaves CREATE PENDING/IN_PROGRESS."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        res = describe(**arn)[wrapper]
        if res["status"] not in IN_FLIGHT:
            return res
        assert time.monotonic() < deadline, f"{arn} still {res['status']} after {deadline_seconds}s"
        time.sleep(0.1)


def batch_job(client, version: str, name: str = "recs", **kwargs) -> str:
    return client.create_batch_inference_job(
        jobName=name, solutionVersionArn=version, roleArn=ROLE_ARN,
        jobInput={"s3DataSource": {"path": "s3://bucket/batch/in/"}},
        jobOutput={"s3DataDestination": {"path": "s3://bucket/batch/out/"}}, **kwargs)["batchInferenceJobArn"]


def import_job(client, dataset: str, location: str, name: str = "import1", mode: str = "FULL") -> str:
    return client.create_dataset_import_job(jobName=name, datasetArn=dataset, roleArn=ROLE_ARN, importMode=mode,
                                            dataSource={"dataLocation": location})["datasetImportJobArn"]


def avro(record: str, *fields: dict) -> str:
    return json.dumps({"type": "record", "name": record, "namespace": "com.amazonaws.personalize.schema",
                       "fields": list(fields), "version": "1.0"})
