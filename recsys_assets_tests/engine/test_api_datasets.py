"""Contract tests of dataset groups, schemas, datasets, UpdateDataset and dataset import jobs (run by worker
processes), driven through a real boto3 ``personalize`` client on the local Personalize engine (see ``contract.py``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading

import pytest

from recsys_assets.engine.catalog import Catalog
from recsys_assets.engine.data import DataStore

from .contract import (
    REGION_PREFIX,
    ROLE_ARN,
    SCHEMAS_DIR,
    assert_gone,
    avro,
    error_message,
    group_status,
    import_job,
    make_dataset,
    make_group,
    make_schema,
    schema_text,
    wait_for,
)

# ---- dataset groups ------------------------------------------------------------------------------


def test_dataset_group_create_describe_list_delete(personalize):
    arn = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    assert arn == REGION_PREFIX + "dataset-group/shop"  # ARNs derive from the name [§1.1]
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert (group["name"], group["datasetGroupArn"], group["status"]) == ("shop", arn, "ACTIVE")
    assert {"creationDateTime", "lastUpdatedDateTime"} <= set(group)
    listed = personalize.list_dataset_groups()["datasetGroups"]
    assert [(g["datasetGroupArn"], g["status"]) for g in listed] == [(arn, "ACTIVE")]

    assert personalize.delete_dataset_group(datasetGroupArn=arn)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_gone(personalize.describe_dataset_group, datasetGroupArn=arn)
    assert personalize.list_dataset_groups()["datasetGroups"] == []
    assert_gone(personalize.delete_dataset_group, datasetGroupArn=arn)


def test_dataset_group_same_name_already_exists(personalize):
    make_group(personalize, "shop")
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset_group(name="shop")


@pytest.mark.parametrize("name", ["a" * 64, "-leading-dash", "_leading_underscore", "has space", "dot.ted", "ünïcode"])
def test_dataset_group_invalid_name(personalize, name):
    # botocore checks only the minimum length client-side; the pattern and 63-char cap are the service's.
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_group(name=name)
    assert personalize.list_dataset_groups()["datasetGroups"] == []


def test_dataset_group_name_of_63_chars_is_valid(personalize):
    make_group(personalize, "A1-_" + "b" * 59)


def test_dataset_group_kms_key_and_role_go_together(personalize):
    key = "arn:aws:kms:us-east-1:123456789012:key/abcd"
    for params in ({"roleArn": ROLE_ARN}, {"kmsKeyArn": key}):
        with pytest.raises(personalize.exceptions.InvalidInputException):
            personalize.create_dataset_group(name="shop", **params)
    arn = make_group(personalize, roleArn=ROLE_ARN, kmsKeyArn=key)
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert (group["roleArn"], group["kmsKeyArn"]) == (ROLE_ARN, key)


def test_custom_dataset_groups_have_no_domain(personalize):
    # Domain dataset groups and domain schemas: test_api_domains.py.
    group = personalize.describe_dataset_group(datasetGroupArn=make_group(personalize))["datasetGroup"]
    assert "domain" not in group
    schema = personalize.describe_schema(schemaArn=make_schema(personalize, "users"))["schema"]
    assert "domain" not in schema


def test_dataset_group_quota_of_five(personalize):
    arns = [make_group(personalize, f"group{i}") for i in range(5)]
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.create_dataset_group(name="group5")
    # A group being deleted no longer counts against the quota.
    personalize.delete_dataset_group(datasetGroupArn=arns[0])
    make_group(personalize, "group5")


def test_dataset_group_quota_holds_under_concurrent_creates(make_personalize):
    # The count-then-insert runs in one BEGIN IMMEDIATE transaction, so racing creates can't overshoot.
    client = make_personalize()  # botocore clients are thread-safe
    results: list[str] = []

    def create(i):
        try:
            client.create_dataset_group(name=f"group{i}")
            results.append("created")
        except client.exceptions.LimitExceededException:
            results.append("limit")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["created"] * 5 + ["limit"] * 3
    assert len(client.list_dataset_groups()["datasetGroups"]) == 5


def test_delete_while_creating_is_in_use(make_personalize):
    slow = make_personalize(transition_seconds=30)
    group = slow.create_dataset_group(name="shop")["datasetGroupArn"]
    with pytest.raises(slow.exceptions.ResourceInUseException):
        slow.delete_dataset_group(datasetGroupArn=group)


def test_deleting_twice_is_in_use(make_personalize):
    # Calling DeleteDatasetGroup on a group already DELETE PENDING raises ResourceInUseException [§1.5].
    group = make_group(make_personalize())
    slow = make_personalize(transition_seconds=30)  # the delete stays pending for the whole test
    slow.delete_dataset_group(datasetGroupArn=group)
    assert group_status(slow, group) == "DELETE PENDING"
    with pytest.raises(slow.exceptions.ResourceInUseException) as e:
        slow.delete_dataset_group(datasetGroupArn=group)
    assert "already being deleted" in error_message(e)


# ---- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SCHEMAS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_project_schemas_are_accepted(personalize, path):
    text = path.read_text()
    arn = personalize.create_schema(name=path.stem, schema=text)["schemaArn"]
    assert arn == REGION_PREFIX + f"schema/{path.stem}"
    described = personalize.describe_schema(schemaArn=arn)["schema"]
    assert described["name"] == path.stem
    assert described["schema"] == text  # the raw Avro JSON string, unchanged [§1.3]
    assert "status" not in described  # schemas are synchronous and have no status


@pytest.mark.parametrize("schema", [
    "this is not JSON",
    json.dumps(["string"]),
    json.dumps({"type": "enum", "name": "Users", "symbols": ["A", "B"]}),
    json.dumps({"type": "record", "name": "Users", "fields": []}),
], ids=["not-json", "json-array", "not-a-record", "no-fields"])
def test_invalid_schema_rejected(personalize, schema):
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_schema(name="bad", schema=schema)
    assert personalize.list_schemas()["schemas"] == []


def test_schema_same_name_already_exists(personalize):
    make_schema(personalize, "users", "people")
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        make_schema(personalize, "items", "people")


def test_schema_quota_of_five_hundred(personalize):
    text = schema_text("users")
    for i in range(500):
        personalize.create_schema(name=f"schema{i}", schema=text)
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.create_schema(name="schema500", schema=text)
    personalize.delete_schema(schemaArn=REGION_PREFIX + "schema/schema0")
    personalize.create_schema(name="schema500", schema=text)


def test_schema_delete(personalize):
    arn = make_schema(personalize, "users")
    personalize.delete_schema(schemaArn=arn)
    assert_gone(personalize.describe_schema, schemaArn=arn)
    assert_gone(personalize.delete_schema, schemaArn=arn)


def test_schema_in_use_by_dataset_cannot_be_deleted(personalize):
    schema = make_schema(personalize, "users")
    dataset = make_dataset(personalize, make_group(personalize), "users", schema)
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_schema(schemaArn=schema)
    personalize.delete_dataset(datasetArn=dataset)
    assert_gone(personalize.describe_dataset, datasetArn=dataset)
    personalize.delete_schema(schemaArn=schema)  # free once the dataset is gone
    assert_gone(personalize.describe_schema, schemaArn=schema)


def test_schemas_cannot_be_tagged(personalize):
    arn = make_schema(personalize, "users")
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "team", "tagValue": "recsys"}])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == []


# ---- datasets --------------------------------------------------------------------------------


def test_dataset_created_in_active_group(personalize):
    group = make_group(personalize, "shop")
    schema = make_schema(personalize, "users")
    arn = personalize.create_dataset(name="people", datasetGroupArn=group, schemaArn=schema,
                                     datasetType="Users")["datasetArn"]
    assert arn == REGION_PREFIX + "dataset/shop/USERS"  # dataset/<group name>/<TYPE> [§1.1]
    dataset = personalize.describe_dataset(datasetArn=arn)["dataset"]
    assert dataset["datasetType"] == "USERS"  # case-insensitive in, upper-case out [§1.3]
    assert (dataset["name"], dataset["status"], dataset["datasetGroupArn"], dataset["schemaArn"]) == (
        "people", "ACTIVE", group, schema)
    assert "latestDatasetUpdate" not in dataset and "trackingId" not in dataset
    summaries = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    assert [(d["datasetArn"], d["datasetType"]) for d in summaries] == [(arn, "USERS")]


def test_second_dataset_of_a_type_already_exists(personalize):
    group = make_group(personalize)
    schema = make_schema(personalize, "users")
    make_dataset(personalize, group, "users", schema)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset(name="more-users", datasetGroupArn=group, schemaArn=schema, datasetType="USERS")


def test_dataset_names_are_unique_per_account_and_region(personalize):
    schema = make_schema(personalize, "users")
    make_dataset(personalize, make_group(personalize, "a"), "users", schema, name="people")
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        make_dataset(personalize, make_group(personalize, "b"), "users", schema, name="people")


def test_dataset_preconditions(make_personalize):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)
    schema = make_schema(c, "users")
    pending = slow.create_dataset_group(name="pending")["datasetGroupArn"]
    with pytest.raises(c.exceptions.ResourceInUseException):  # the group must be ACTIVE
        c.create_dataset(name="people", datasetGroupArn=pending, schemaArn=schema, datasetType="USERS")
    group = make_group(c)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_dataset(name="people", datasetGroupArn=group, schemaArn=REGION_PREFIX + "schema/nope",
                         datasetType="USERS")
    with pytest.raises(c.exceptions.ResourceNotFoundException):  # an ARN of another kind is not a schema
        c.create_dataset(name="people", datasetGroupArn=group, schemaArn=group, datasetType="USERS")
    with pytest.raises(c.exceptions.InvalidInputException) as e:
        c.create_dataset(name="people", datasetGroupArn=group, schemaArn=schema, datasetType="Purchases")
    assert "datasetType must be one of" in error_message(e)
    # The Users schema's record is named Users: it does not fit an Items dataset [§2.1].
    with pytest.raises(c.exceptions.InvalidInputException) as e:
        c.create_dataset(name="things", datasetGroupArn=group, schemaArn=schema, datasetType="ITEMS")
    assert error_message(e) == "Schema record name 'Users' does not match dataset type Items; expected 'Items'."


def test_action_interactions_dataset_carries_its_tracking_id(personalize):
    group = make_group(personalize)
    schema = personalize.create_schema(name="actions", schema=avro(
        "ActionInteractions", {"name": "USER_ID", "type": "string"}, {"name": "ACTION_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"}, {"name": "TIMESTAMP", "type": "long"}))["schemaArn"]
    arn = personalize.create_dataset(name="acts", datasetGroupArn=group, schemaArn=schema,
                                     datasetType="Action_Interactions")["datasetArn"]
    dataset = personalize.describe_dataset(datasetArn=arn)["dataset"]
    assert dataset["datasetType"] == "ACTION_INTERACTIONS"
    assert re.fullmatch(r"[0-9a-f-]{36}", dataset["trackingId"])


def test_list_by_an_unknown_or_wrong_kind_parent_is_not_found(personalize):
    group = make_group(personalize)
    schema = make_schema(personalize, "users")
    for params in ({"datasetGroupArn": REGION_PREFIX + "dataset-group/nope"}, {"datasetGroupArn": schema}):
        for method in (personalize.list_datasets, personalize.list_solutions, personalize.list_filters,
                       personalize.list_event_trackers):
            with pytest.raises(personalize.exceptions.ResourceNotFoundException):
                method(**params)
    for method, param in ((personalize.list_dataset_import_jobs, "datasetArn"),
                          (personalize.list_solution_versions, "solutionArn"),
                          (personalize.list_campaigns, "solutionArn"),
                          (personalize.list_batch_inference_jobs, "solutionVersionArn")):
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            method(**{param: group})


# ---- UpdateDataset ----------------------------------------------------------------------------

USERS_FIELDS = json.loads(schema_text("users"))["fields"]
TIER = {"name": "TIER", "type": ["null", "string"], "categorical": True}


def test_update_dataset_replaces_the_schema_when_the_update_is_active(make_personalize, fake_clock):
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    fake_clock.advance(1)
    v1 = make_schema(c, "users")
    dataset = c.create_dataset(name="people", datasetGroupArn=group, schemaArn=v1, datasetType="USERS")["datasetArn"]
    fake_clock.advance(1)
    v2 = c.create_schema(name="users-v2", schema=avro("Users", *USERS_FIELDS, TIER))["schemaArn"]
    assert c.update_dataset(datasetArn=dataset, schemaArn=v2)["datasetArn"] == dataset

    def describe():
        return c.describe_dataset(datasetArn=dataset)["dataset"]

    # Until the update is ACTIVE the dataset keeps its schema [BC DatasetUpdateSummary].
    described = describe()
    assert (described["status"], described["schemaArn"]) == ("ACTIVE", v1)
    assert (described["latestDatasetUpdate"]["schemaArn"], described["latestDatasetUpdate"]["status"]) == (
        v2, "CREATE PENDING")
    fake_clock.advance(0.35)
    assert describe()["latestDatasetUpdate"]["status"] == "CREATE IN_PROGRESS"
    # While it is in progress: no second update, no delete, no import, and the new schema is in use.
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.update_dataset(datasetArn=dataset, schemaArn=v1)
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.delete_dataset(datasetArn=dataset)
    with pytest.raises(c.exceptions.ResourceInUseException):
        import_job(c, dataset, "s3://bucket/users.csv")
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.delete_schema(schemaArn=v2)
    fake_clock.advance(0.3)
    described = describe()
    assert (described["schemaArn"], described["latestDatasetUpdate"]["status"]) == (v2, "ACTIVE")
    c.delete_schema(schemaArn=v1)  # nothing uses the old schema any more


@pytest.mark.parametrize(
    "kind, new_schema, message",
    [
        ("interactions", avro("Interactions", *json.loads(schema_text("interactions"))["fields"], TIER),
         "Only an Items or Users dataset's schema can be replaced"),
        ("users", None, "already uses schema"),
        ("users", avro("Users", USERS_FIELDS[0], USERS_FIELDS[1]), "drops the field OS_DEVICE"),
        ("users", avro("Users", *USERS_FIELDS, {"name": "TIER", "type": "string"}), "adds the field TIER without null"),
        ("users", avro("Items", *USERS_FIELDS, TIER), "Schema record name 'Items' does not match dataset type Users"),
    ],
    ids=["interactions", "same-schema", "dropped-field", "not-nullable", "wrong-record"],
)
def test_update_dataset_rejects_invalid_replacements(personalize, kind, new_schema, message):
    dataset = make_dataset(personalize, make_group(personalize), kind)
    current = personalize.describe_dataset(datasetArn=dataset)["dataset"]["schemaArn"]
    schema = make_schema(personalize, kind, "replacement", new_schema) if new_schema else current
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        personalize.update_dataset(datasetArn=dataset, schemaArn=schema)
    assert message in error_message(e)
    assert "latestDatasetUpdate" not in personalize.describe_dataset(datasetArn=dataset)["dataset"]


def test_update_dataset_of_unknown_resources_not_found(personalize):
    dataset = make_dataset(personalize, make_group(personalize), "users")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.update_dataset(datasetArn=dataset, schemaArn=REGION_PREFIX + "schema/nope")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.update_dataset(datasetArn=REGION_PREFIX + "dataset/nope/USERS",
                                   schemaArn=make_schema(personalize, "users", "other"))


def test_filters_may_use_a_field_an_update_added(personalize):
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    users = make_dataset(personalize, group, "users")
    expression = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase") IF CurrentUser.TIER = "gold"'
    with pytest.raises(personalize.exceptions.InvalidInputException, match="TIER is not a field"):
        personalize.create_filter(name="gold", datasetGroupArn=group, filterExpression=expression)
    v2 = personalize.create_schema(name="users-v2", schema=avro("Users", *USERS_FIELDS, TIER))["schemaArn"]
    personalize.update_dataset(datasetArn=users, schemaArn=v2)
    assert personalize.describe_dataset(datasetArn=users)["dataset"]["schemaArn"] == v2
    personalize.create_filter(name="gold", datasetGroupArn=group, filterExpression=expression)


# ---- dataset import jobs (worker processes) ----------------------------------------------------

USERS_CSV = "USER_ID,AGE,OS_DEVICE\n" + "".join(f"u{i},{20 + i},{'ios' if i % 2 else 'android'}\n" for i in range(30))


def test_import_full_then_incremental(personalize, object_store, engine_root):
    dataset = make_dataset(personalize, make_group(personalize), "users")
    # A location ending in "/" imports every CSV in that folder, and nothing from its sibling users_old/.
    header, *rows = USERS_CSV.splitlines(keepends=True)
    object_store.write_bytes("s3://bucket/users/part1.csv", "".join([header, *rows[:15]]).encode())
    object_store.write_bytes("s3://bucket/users/part2.csv", "".join([header, *rows[15:]]).encode())
    object_store.write_bytes("s3://bucket/users/README.txt", b"not a CSV")
    object_store.write_bytes("s3://bucket/users_old/stale.csv", b"USER_ID,AGE,OS_DEVICE\nstale,1,ios\n")
    arn = import_job(personalize, dataset, "s3://bucket/users/")
    assert arn == REGION_PREFIX + "dataset-import-job/import1"
    job = wait_for(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=arn)
    assert (job["status"], job.get("failureReason")) == ("ACTIVE", None)
    assert (job["importMode"], job["datasetArn"], job["roleArn"], job["dataSource"]) == (
        "FULL", dataset, ROLE_ARN, {"dataLocation": "s3://bucket/users/"})
    stored = DataStore(engine_root).read_dataset(dataset)
    assert sorted(stored["USER_ID"]) == sorted(f"u{i}" for i in range(30))

    # INCREMENTAL is allowed after a FULL import: same IDs replace, new ones are appended.
    object_store.write_bytes("s3://bucket/more.csv", b"USER_ID,AGE,OS_DEVICE\nu0,99,ios\nu30,31,ios\n")
    second = import_job(personalize, dataset, "s3://bucket/more.csv", "import2", "INCREMENTAL")
    job = wait_for(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=second)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    stored = DataStore(engine_root).read_dataset(dataset)
    assert len(stored) == 31
    assert stored.set_index("USER_ID").loc["u0", "AGE"] == 99
    summaries = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    assert [(s["datasetImportJobArn"], s["importMode"]) for s in summaries] == [(second, "INCREMENTAL"), (arn, "FULL")]

    # A FULL import replaces everything imported before.
    object_store.write_bytes("s3://bucket/few.csv", b"USER_ID,AGE,OS_DEVICE\nonly,1,ios\n")
    job = wait_for(personalize.describe_dataset_import_job, "datasetImportJob",
                   datasetImportJobArn=import_job(personalize, dataset, "s3://bucket/few.csv", "import3"))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert list(DataStore(engine_root).read_dataset(dataset)["USER_ID"]) == ["only"]


@pytest.mark.parametrize(
    "kind, body, reason",
    [
        ("users", "USER_ID,AGE\nu1,30\nu2,40\n",
         "Failed to create a data import job for Users dataset. s3://bucket/data.csv, row 1: Input CSV is missing "
         "the following columns:[OS_DEVICE]."),
        ("users", "USER_ID,AGE,OS_DEVICE\nu1,30,ios\nu2,forty,ios\n",
         "Failed to create a data import job for Users dataset. s3://bucket/data.csv, row 3, column AGE: "
         "The value 'forty' of AGE is not a valid int."),
        ("interactions", "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
                         + "".join(f"u{i % 10},i{i},{1_700_000_000 + i},click,\n" for i in range(999)),
         "Failed to create a data import job for Interactions dataset. An import job needs at least 1000 "
         "interaction records; s3://bucket/data.csv has 999."),
        ("users", None, "Invalid Data location."),
    ],
    ids=["missing-column", "bad-value", "too-few-interactions", "no-file"],
)
def test_a_bad_file_fails_the_import_job(personalize, object_store, kind, body, reason):
    dataset = make_dataset(personalize, make_group(personalize), kind)
    if body is not None:
        object_store.write_bytes("s3://bucket/data.csv", body.encode())
    job = wait_for(personalize.describe_dataset_import_job, "datasetImportJob",
                   datasetImportJobArn=import_job(personalize, dataset, "s3://bucket/data.csv"))
    assert (job["status"], job["failureReason"]) == ("CREATE FAILED", reason)
    summary = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"][0]
    assert (summary["status"], summary["failureReason"]) == ("CREATE FAILED", reason)


def test_import_of_more_than_100_gb_fails(personalize, object_store):
    dataset = make_dataset(personalize, make_group(personalize), "users")
    object_store.write_bytes("s3://bucket/huge.csv", b"")
    with open(object_store.path("s3://bucket/huge.csv"), "r+b") as f:  # sparse: no disk space is used
        f.truncate(100 * 2**30 + 1)
    job = wait_for(personalize.describe_dataset_import_job, "datasetImportJob",
                   datasetImportJobArn=import_job(personalize, dataset, "s3://bucket/huge.csv"))
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"] == ("Failed to create a data import job for Users dataset. s3://bucket/huge.csv "
                                    "holds 107374182401 bytes; a FULL import takes at most 107374182400.")


def test_import_job_request_errors(make_personalize, object_store):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)
    group = make_group(c)
    dataset = make_dataset(c, group, "users")
    object_store.write_bytes("s3://bucket/users.csv", USERS_CSV.encode())
    with pytest.raises(c.exceptions.InvalidInputException, match="If you haven't imported bulk records"):
        import_job(c, dataset, "s3://bucket/users.csv", mode="INCREMENTAL")
    with pytest.raises(c.exceptions.InvalidInputException, match="Invalid Data location."):
        import_job(c, dataset, "https://bucket/users.csv")
    with pytest.raises(c.exceptions.InvalidInputException, match="roleArn is required"):
        c.create_dataset_import_job(jobName="j", datasetArn=dataset, dataSource={"dataLocation": "s3://bucket/x.csv"})
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        import_job(c, REGION_PREFIX + "dataset/nope/USERS", "s3://bucket/users.csv")
    pending = slow.create_dataset(name="things", datasetGroupArn=group, schemaArn=make_schema(c, "items"),
                                  datasetType="ITEMS")["datasetArn"]
    with pytest.raises(c.exceptions.ResourceInUseException):  # the dataset must be ACTIVE
        import_job(c, pending, "s3://bucket/items.csv")
    assert c.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"] == []


def test_import_jobs_in_flight_quota_of_five(make_personalize):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)  # the workers sleep: jobs stay pending
    dataset = make_dataset(c, make_group(c), "users")
    import_job(slow, dataset, "s3://bucket/users.csv", "import0")
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):  # job names are unique, whatever the dataset
        import_job(c, make_dataset(c, make_group(c, "other"), "users"), "s3://bucket/users.csv", "import0")
    for i in range(1, 5):
        import_job(slow, dataset, "s3://bucket/users.csv", f"import{i}")
    with pytest.raises(c.exceptions.LimitExceededException) as e:
        import_job(c, dataset, "s3://bucket/users.csv", "import5")
    # The documented text [DG:error-messages].
    assert error_message(e) == "More than 5 resources with PENDING or IN_PROGRESS status."
    # An import in progress blocks deleting its dataset.
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.delete_dataset(datasetArn=dataset)


def test_dead_worker_fails_its_job(make_personalize, engine_root, object_store):
    setup = make_personalize()
    dataset = make_dataset(setup, make_group(setup), "users")
    object_store.write_bytes("s3://bucket/users.csv", USERS_CSV.encode())
    # A long pending phase keeps the worker asleep before it does anything, so we kill it mid-job.
    slow = make_personalize(transition_seconds=30)
    arn = import_job(slow, dataset, "s3://bucket/users.csv")
    with Catalog(engine_root / "catalog.db").connect() as conn:
        pid = json.loads(conn.execute("SELECT internal FROM resources WHERE arn = ?", (arn,)).fetchone()[0])["pid"]
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it already died by itself: the engine must notice that just the same
    job = wait_for(slow.describe_dataset_import_job, "datasetImportJob", deadline_seconds=30, datasetImportJobArn=arn)
    assert job["status"] == "CREATE FAILED"
    assert "worker" in job["failureReason"] and str(pid) in job["failureReason"]
