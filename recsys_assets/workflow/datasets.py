"""Dataset group, schemas, datasets and import jobs: getting the CSVs into Personalize."""

from __future__ import annotations

from typing import Callable

from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.ensure import ensure, ensure_schema, find_reusable
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings, wait_for_status
from recsys_assets.workflow.refs import DatasetGroupRef


def build_dataset_group(client, names: RunNames, *, schemas: dict[str, str], csv_uris: dict[str, str], role_arn: str,
                        poll: PollSettings, log: Callable[[str], None],
                        kms_key_arn: str | None = None) -> DatasetGroupRef:
    """Schemas, dataset group, one dataset per CSV and a FULL import of each; waits until all are ACTIVE.

    Each dataset (``users``, ``items``, ``interactions``) is of the Personalize type its name upper-cased.

    An import of the same file by an earlier attempt of this run is reused, not paid for again.
    """
    schema_arns = {ds: ensure_schema(client, names.schema(ds), schemas[ds], log) for ds in csv_uris}
    # A KMS key encrypts the group's data; the service then needs the role to use the key, and roleArn is
    # "only valid when also specifying a KMS key" (CreateDatasetGroup, botocore's model).
    encryption = {"kmsKeyArn": kms_key_arn, "roleArn": role_arn} if kms_key_arn else {}
    group_arn = ensure(client, rt.DATASET_GROUP, names, names.dataset_group,
                       lambda: client.create_dataset_group(name=names.dataset_group, tags=names.tags,
                                                           **encryption)["datasetGroupArn"],
                       log)
    wait_for_status(client, rt.DATASET_GROUP, group_arn, poll, log)
    dataset_arns = {
        ds: ensure(client, rt.DATASET, names, names.dataset(ds),
                   lambda ds=ds: client.create_dataset(
                       name=names.dataset(ds), schemaArn=schema_arns[ds], datasetGroupArn=group_arn,
                       datasetType=ds.upper(), tags=names.tags)["datasetArn"],
                   log, datasetGroupArn=group_arn)
        for ds in csv_uris
    }
    for arn in dataset_arns.values():
        wait_for_status(client, rt.DATASET, arn, poll, log)
    jobs, reused = {}, []
    for ds, uri in csv_uris.items():
        earlier = find_reusable(client, rt.DATASET_IMPORT_JOB, names,
                                lambda job, uri=uri: job["dataSource"]["dataLocation"] == uri,
                                datasetArn=dataset_arns[ds])
        if earlier is not None:
            jobs[ds] = earlier["datasetImportJobArn"]
            reused.append(ds)
            log(f"reusing import {jobs[ds]} of {uri}")
        else:
            job_name = names.job(f"import-{ds}")
            # At most 5 imports run at once per region, not adjustable [DG:limits]; three per run, so a
            # second deployment's imports can hold the slots: wait for one rather than fail.
            jobs[ds] = ensure(client, rt.DATASET_IMPORT_JOB, names, job_name,
                              lambda ds=ds, uri=uri, job_name=job_name: client.create_dataset_import_job(
                                  jobName=job_name, datasetArn=dataset_arns[ds], dataSource={"dataLocation": uri},
                                  roleArn=role_arn, importMode="FULL", tags=names.tags)["datasetImportJobArn"],
                              log, fresh=True, quota_wait=poll, datasetArn=dataset_arns[ds])
    # The imports run in parallel on the service; waiting for them one after another costs nothing.
    for arn in jobs.values():
        wait_for_status(client, rt.DATASET_IMPORT_JOB, arn, poll, log)
    return DatasetGroupRef(dataset_group_arn=group_arn, schema_arns=schema_arns, dataset_arns=dataset_arns,
                           import_job_arns=jobs, imports_reused=reused)
