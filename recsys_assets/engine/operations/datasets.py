"""Dataset groups (Custom and Domain), schemas, datasets and dataset import jobs."""

from __future__ import annotations

import uuid

from recsys_assets.engine.catalog import Resource
from recsys_assets.engine.core import ServiceCore
from recsys_assets.engine.errors import already_exists, check_quota, in_use, invalid
from recsys_assets.engine.statuses import CREATING, DELETING
from recsys_assets.personalize_rules import schemas
from recsys_assets.personalize_rules.limits import MAX_DATASET_GROUPS, MAX_SCHEMAS


def create_dataset_group(svc: ServiceCore, p: dict) -> dict:
    domain = p.get("domain")
    if domain is not None:
        _check_domain(domain)
    if bool(p.get("roleArn")) != bool(p.get("kmsKeyArn")):
        raise invalid("Supplying an IAM role is only valid when also specifying a KMS key, "
                      "and a KMS key needs a role that can access it.")
    name = p["name"]
    with svc.transaction() as txn:
        check_quota(txn.count("dataset-group", excluding=DELETING), MAX_DATASET_GROUPS,
                    f"More than {MAX_DATASET_GROUPS} dataset groups; delete some and try again.")
        # A Domain dataset group [DG:CreateDatasetGroup]: its datasets use schemas of its domain.
        body = {k: p.get(k) for k in ("roleArn", "kmsKeyArn", "domain")}
        res = svc.new(txn, "dataset-group", svc.arn(f"dataset-group/{name}"), name, None, body, p.get("tags"))
    return {"datasetGroupArn": res.arn}


def create_schema(svc: ServiceCore, p: dict) -> dict:
    domain = p.get("domain")
    if domain is not None:
        _check_domain(domain)
    name = p["name"]
    try:
        schemas.parse_schema(p["schema"])
    except schemas.SchemaValidationError as e:
        raise invalid(str(e)) from None
    with svc.transaction() as txn:
        check_quota(txn.count("schema"), MAX_SCHEMAS, f"More than {MAX_SCHEMAS} schemas.")
        # The domain's own rules apply at CreateDataset, once the dataset type is known [DG:CreateSchema].
        res = svc.new(txn, "schema", svc.arn(f"schema/{name}"), name, None, {"schema": p["schema"], "domain": domain})
    return {"schemaArn": res.arn}


def create_dataset(svc: ServiceCore, p: dict) -> dict:
    name = p["name"]
    dataset_type = p["datasetType"].upper()
    if dataset_type not in schemas.DATASET_TYPES:
        raise invalid(f"datasetType must be one of {', '.join(schemas.DATASET_TYPES)}.")
    with svc.transaction() as txn:
        group = svc.get(txn, p["datasetGroupArn"], "dataset-group")
        svc.require_active(group, "Dataset group")
        schema = svc.get(txn, p["schemaArn"], "schema")
        _schema_for(schema, dataset_type, group)
        if any(d.body["datasetType"] == dataset_type for d in txn.find("dataset", group.arn)):
            raise already_exists(f"Dataset group {group.arn} already has a {dataset_type} dataset.")
        body = {"datasetGroupArn": group.arn, "datasetType": dataset_type, "schemaArn": schema.arn,
                # The service creates an action event tracker with each Action interactions dataset.
                "trackingId": str(uuid.uuid4()) if dataset_type == "ACTION_INTERACTIONS" else None}
        res = svc.new(txn, "dataset", svc.arn(f"dataset/{group.name}/{dataset_type}"), name, group.arn,
                        body, p.get("tags"))
    return {"datasetArn": res.arn}


def update_dataset(svc: ServiceCore, p: dict) -> dict:
    with svc.transaction() as txn:
        dataset = svc.get(txn, p["datasetArn"], "dataset")
        dataset_type = dataset.body["datasetType"]
        if dataset_type not in ("ITEMS", "USERS"):
            raise invalid(f"Only an Items or Users dataset's schema can be replaced, not a {dataset_type} "
                          "dataset's.")
        svc.require_active(dataset, "Dataset")
        svc.require_no_update(dataset)
        busy = txn.find("dataset-import-job", dataset.arn, statuses=CREATING)
        if busy:
            raise in_use(f"Dataset {dataset.arn} has an import job in progress: {busy[0].arn}")
        schema = svc.get(txn, p["schemaArn"], "schema")
        if schema.arn == dataset.body["schemaArn"]:
            raise invalid(f"Dataset {dataset.arn} already uses schema {schema.arn}.")
        current = schemas.parse_schema(svc.get(txn, dataset.body["schemaArn"], "schema").body["schema"])
        group = svc.get(txn, dataset.body["datasetGroupArn"], "dataset-group")
        try:
            schemas.check_schema_replacement(current, _schema_for(schema, dataset_type, group))
        except schemas.SchemaValidationError as e:
            raise invalid(str(e)) from None
        svc.start_update(txn, dataset, {"schemaArn": schema.arn}, {"schemaArn": schema.arn})
    return {"datasetArn": dataset.arn}


def create_dataset_import_job(svc: ServiceCore, p: dict) -> dict:
    name = p["jobName"]
    location = p["dataSource"].get("dataLocation", "")
    if not location.startswith("s3://"):
        raise invalid("Invalid Data location.")
    # Optional in the model, but the service reads S3 with it: every documented call passes one.
    if not p.get("roleArn"):
        raise invalid("roleArn is required: Amazon Personalize reads the data from Amazon S3 with this role.")
    mode = p.get("importMode", "FULL")
    with svc.transaction() as txn:
        dataset = svc.get(txn, p["datasetArn"], "dataset")
        svc.require_active(dataset, "Dataset")
        svc.require_no_update(dataset)
        if mode == "INCREMENTAL" and not txn.find("dataset-import-job", dataset.arn, statuses=("ACTIVE",)):
            raise invalid("If you haven't imported bulk records into the dataset previously, "
                          "you can only specify FULL.")
        svc.check_in_flight_quota(txn, "dataset-import-job")
        res = svc.new(txn, "dataset-import-job", svc.arn(f"dataset-import-job/{name}"), name, dataset.arn,
                        {"datasetArn": dataset.arn, "dataSource": {"dataLocation": location},
                         "roleArn": p["roleArn"], "importMode": mode,
                         "publishAttributionMetricsToS3": p.get("publishAttributionMetricsToS3", False)},
                        p.get("tags"))
        svc.start_worker(txn, res)
    return {"datasetImportJobArn": res.arn}


def _schema_for(schema: Resource, dataset_type: str, group: Resource) -> schemas.DatasetSchema:
    """A stored schema, checked for a dataset type of ``group`` as CreateDataset/UpdateDataset do.

    A Domain dataset group takes schemas created with its domain, and a Custom one schemas created without
    [DG:CreateSchema: "specify the domain you chose when you created the Domain dataset group"]."""
    domain, schema_domain = group.body.get("domain"), schema.body.get("domain")
    if schema_domain != domain:
        made = f"with domain {schema_domain}" if schema_domain else "without a domain"
        wanted = f"the {domain} Domain dataset group" if domain else "a Custom dataset group (no domain)"
        raise invalid(f"Schema {schema.arn} was created {made}; {wanted} {group.arn} needs a schema created "
                      f"{f'with domain {domain}' if domain else 'without a domain'}.")
    parsed = schemas.parse_schema(schema.body["schema"])
    try:
        schemas.check_schema_for_dataset_type(parsed, dataset_type, domain)
    except schemas.SchemaValidationError as e:
        raise invalid(str(e)) from None
    return parsed


def _check_domain(domain: str) -> None:
    try:
        schemas.check_domain(domain)
    except schemas.SchemaValidationError as e:
        raise invalid(str(e)) from None


OPERATIONS = {
    "CreateDatasetGroup": create_dataset_group,
    "CreateSchema": create_schema,
    "CreateDataset": create_dataset,
    "UpdateDataset": update_dataset,
    "CreateDatasetImportJob": create_dataset_import_job,
}
