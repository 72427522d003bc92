"""Dataset group, schemas, datasets and import jobs: getting the CSVs into Personalize."""

from __future__ import annotations

import json
from typing import Callable

from botocore.exceptions import ClientError

from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings, wait_for_status

# Our dataset names and the Personalize dataset type each one fills.
DATASET_TYPES = {"users": "USERS", "items": "ITEMS", "interactions": "INTERACTIONS"}


def create_or_adopt(create: Callable[[], str], find: Callable[[], dict | None], arn_key: str) -> str:
    """Create a resource, or adopt ours of the same name when a retried step finds it already there."""
    try:
        return create()
    except ClientError as e:
        if rt.error_code(e) != "ResourceAlreadyExistsException":
            raise
        existing = find()
        if existing is None:
            raise
        return existing[arn_key]


def ensure_schema(client, name: str, schema_json: str) -> str:
    def find():
        found = rt.SCHEMA.find(client, name)
        if found is not None and json.loads(rt.SCHEMA.describe(client, found["schemaArn"])["schema"]) != json.loads(schema_json):
            raise ValueError(f"schema {name} already exists with different fields; schemas are immutable")
        return found

    return create_or_adopt(lambda: client.create_schema(name=name, schema=schema_json)["schemaArn"], find, "schemaArn")


def build_dataset_group(client, names: RunNames, *, schemas: dict[str, str], csv_uris: dict[str, str], role_arn: str,
                        poll: PollSettings, log: Callable[[str], None]) -> dict:
    """Schemas, dataset group, one dataset per CSV and a FULL import of each; waits until all are ACTIVE."""
    schema_arns = {ds: ensure_schema(client, names.schema(ds), schemas[ds]) for ds in csv_uris}
    group_arn = create_or_adopt(
        lambda: client.create_dataset_group(name=names.dataset_group, tags=names.tags)["datasetGroupArn"],
        lambda: rt.DATASET_GROUP.find(client, names.dataset_group), "datasetGroupArn",
    )
    wait_for_status(lambda: rt.DATASET_GROUP.describe(client, group_arn), group_arn, poll, log)
    dataset_arns = {}
    for ds in csv_uris:
        dataset_arns[ds] = create_or_adopt(
            lambda ds=ds: client.create_dataset(name=names.dataset(ds), schemaArn=schema_arns[ds],
                                                datasetGroupArn=group_arn, datasetType=DATASET_TYPES[ds],
                                                tags=names.tags)["datasetArn"],
            lambda ds=ds: rt.DATASET.find(client, names.dataset(ds), datasetGroupArn=group_arn), "datasetArn",
        )
    for arn in dataset_arns.values():
        wait_for_status(lambda arn=arn: rt.DATASET.describe(client, arn), arn, poll, log)
    jobs = {
        ds: client.create_dataset_import_job(
            jobName=names.job(f"import-{ds}"), datasetArn=dataset_arns[ds],
            dataSource={"dataLocation": csv_uris[ds]}, roleArn=role_arn, importMode="FULL", tags=names.tags,
        )["datasetImportJobArn"]
        for ds in csv_uris
    }
    # The imports run in parallel on the service; waiting for them one after another costs nothing.
    for arn in jobs.values():
        wait_for_status(lambda arn=arn: rt.DATASET_IMPORT_JOB.describe(client, arn), arn, poll, log)
    return {"dataset_group_arn": group_arn, "schema_arns": schema_arns, "dataset_arns": dataset_arns,
            "import_job_arns": jobs}
