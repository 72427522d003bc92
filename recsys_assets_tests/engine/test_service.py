"""Contract tests for the local Personalize engine, driven through a real boto3 ``personalize`` client.

The behaviour asserted is the service's as /work/shared/reference/personalize-api.md §0-§8 and the
botocore service model describe it: error codes and documented messages, statuses and lifecycle,
deletion order, quotas, pagination. Resources in these tests become ACTIVE (or gone) on the call after
their create (or delete) unless a test sets ``transition_seconds``; tests that look at a transition
part-way drive the service's clock with ``fake_clock``. Solution versions are inserted into the catalog
where training would be the slow alternative; ``test_end_to_end_training_and_batch_inference`` trains
for real.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import botocore.exceptions
import pytest

from recsys_assets.engine import constraints, kinds, service
from recsys_assets.engine.models import Model
from recsys_assets.engine.recipes import catalogue
from recsys_assets.engine.catalog import Catalog, Resource
from recsys_assets.engine.data import DataStore

from .conftest import ROLE_ARN, SCHEMAS_DIR, schema_text

REGION_PREFIX = "arn:aws:personalize:us-east-1:000000000000:"
UP_V2 = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
UP_V1 = "arn:aws:personalize:::recipe/aws-user-personalization"
EVENT_FILTER = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
IN_FLIGHT = ("CREATE PENDING", "CREATE IN_PROGRESS")
METRIC_NAMES = {"coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_5",
                "normalized_discounted_cumulative_gain_at_10", "normalized_discounted_cumulative_gain_at_25",
                "precision_at_5", "precision_at_10", "precision_at_25"}


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


# ---- the service model's constraints --------------------------------------------------------------


def test_constraint_errors_use_the_aws_wording(personalize):
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        personalize.create_dataset_group(name="has space")
    assert error_message(e) == (
        "1 validation error detected: Value 'has space' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*"
    )
    assert personalize.list_dataset_groups()["datasetGroups"] == []


def test_several_violations_are_reported_together(personalize):
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        personalize.create_dataset_import_job(jobName="j" * 64, datasetArn=REGION_PREFIX + "dataset/shop/USERS",
                                              dataSource={"dataLocation": "s3://bucket/users.csv"},
                                              roleArn="arn:aws:iam::12:role/short-account", importMode="PARTIAL")
    message = error_message(e)
    assert message.startswith("3 validation errors detected: ")
    assert "at 'jobName' failed to satisfy constraint: Member must have length less than or equal to 63" in message
    assert "at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern" in message
    assert "at 'importMode' failed to satisfy constraint: Member must satisfy enum value set: [FULL, INCREMENTAL]" in message


ARN = REGION_PREFIX + "dataset-group/shop"


@pytest.mark.parametrize(
    "method, params, expected",
    [
        ("list_recipes", {"recipeProvider": "CUSTOM"}, "at 'recipeProvider' failed to satisfy constraint: Member must satisfy enum value set: [SERVICE]"),
        ("list_recipes", {"domain": "RETAIL"}, "at 'domain' failed to satisfy constraint: Member must satisfy enum value set"),
        ("create_solution_version", {"solutionArn": REGION_PREFIX + "solution/s", "trainingMode": "PARTIAL"},
         "at 'trainingMode' failed to satisfy constraint: Member must satisfy enum value set: [FULL, UPDATE, AUTOTRAIN]"),
        ("create_solution", {"name": "s", "datasetGroupArn": ARN, "recipeArn": UP_V2, "eventType": "e" * 257},
         "at 'eventType' failed to satisfy constraint: Member must have length less than or equal to 256"),
        ("create_solution", {"name": "s", "datasetGroupArn": ARN, "recipeArn": UP_V2,
                             "solutionConfig": {"autoTrainingConfig": {"schedulingExpression": "rate(1 week)"}}},
         "at 'solutionConfig.autoTrainingConfig.schedulingExpression' failed to satisfy constraint: Member must "
         "satisfy regular expression pattern: rate\\(\\d+ days?\\)"),
        ("create_dataset_group", {"name": "g", "roleArn": ROLE_ARN, "kmsKeyArn": "not-a-key"},
         "at 'kmsKeyArn' failed to satisfy constraint: Member must satisfy regular expression pattern"),
        ("tag_resource", {"resourceArn": ARN, "tags": [{"tagKey": "k", "tagValue": "tab\there"}]},
         "Value at 'tags.1.member.tagValue' failed to satisfy constraint"),  # sensitive: not echoed
        ("list_dataset_groups", {"nextToken": "nicht-ascii-ü"}, "at 'nextToken' failed to satisfy constraint"),
        ("list_solutions", {"maxResults": 101}, "Value '101' at 'maxResults' failed to satisfy constraint: Member "
                                                "must have value less than or equal to 100"),
        # The expression is sensitive in the model: its value is not echoed back.
        ("create_filter", {"name": "f", "datasetGroupArn": ARN, "filterExpression": "x" * 2501},
         "1 validation error detected: Value at 'filterExpression' failed to satisfy constraint: Member must have "
         "length less than or equal to 2500"),
        ("create_batch_inference_job", {"jobName": "j", "solutionVersionArn": REGION_PREFIX + "solution/s/1",
                                        "roleArn": ROLE_ARN, "jobInput": {"s3DataSource": {"path": "ftp://b/in"}},
                                        "jobOutput": {"s3DataDestination": {"path": "s3://b/out/"}}},
         "at 'jobInput.s3DataSource.path' failed to satisfy constraint: Member must satisfy regular expression pattern"),
    ],
)
def test_model_constraints_botocore_leaves_to_the_server(personalize, method, params, expected):
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        getattr(personalize, method)(**params)
    assert expected in error_message(e)


def test_every_pattern_of_the_service_model_is_understood():
    # Java regexes; the tag pattern's \p{L}\p{Z}\p{N} classes have no Python re equivalent.
    model = constraints.service_model()
    patterns = {m.metadata["pattern"] for op in model.operation_names
                for m in _shapes(model.operation_model(op).input_shape) if "pattern" in m.metadata}
    assert len(patterns) >= 8
    for pattern in patterns:
        constraints.matcher(pattern)("")  # compiles
    tag = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
    assert tag in patterns
    for ok in ("Größe", "naïve 1 ½", "東京", "k:/=+-@_.", "", "\u00a0"):
        assert constraints.matcher(tag)(ok), ok
    for bad in ("tab\t", "new\nline", "a*b", "emoji🙂", "\ufdd0"):
        assert not constraints.matcher(tag)(bad), bad
    # Java's \d is ASCII: Arabic-Indic digits are no account number.
    role = r"arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
    assert constraints.matcher(role)("arn:aws:iam::123456789012:role/x")
    assert not constraints.matcher(role)("arn:aws:iam::" + "\u0661" * 12 + ":role/x")


def _shapes(shape, seen=None):
    seen = set() if seen is None else seen
    if shape.name in seen:
        return
    seen.add(shape.name)
    yield shape
    children = {"structure": lambda: shape.members.values(), "list": lambda: [shape.member],
                "map": lambda: [shape.key, shape.value]}.get(shape.type_name, lambda: [])()
    for child in children:
        yield from _shapes(child, seen)


def test_tags_accept_unicode_letters_numbers_and_spaces(personalize):
    arn = make_group(personalize, tags=[{"tagKey": "Größe", "tagValue": "naïve 1 ½"},
                                        {"tagKey": "k:/=+-@_.", "tagValue": ""}])
    tags = {t["tagKey"]: t["tagValue"] for t in personalize.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags == {"Größe": "naïve 1 ½", "k:/=+-@_.": ""}


# ---- regions ------------------------------------------------------------------------------------


def test_regions_do_not_see_or_count_each_other(make_personalize):
    us, eu = make_personalize(), make_personalize(region="eu-west-1")
    us_group = make_group(us, "shop", tags=[{"tagKey": "team", "tagValue": "recsys"}])
    make_schema(us, "users")
    assert eu.list_dataset_groups()["datasetGroups"] == []
    assert eu.list_schemas()["schemas"] == []
    for call in (lambda: eu.describe_dataset_group(datasetGroupArn=us_group),
                 lambda: eu.list_tags_for_resource(resourceArn=us_group),
                 lambda: eu.list_datasets(datasetGroupArn=us_group)):
        with pytest.raises(eu.exceptions.ResourceNotFoundException):
            call()
    # Same names in another region: other ARNs, and a quota of its own.
    eu_groups = [make_group(eu, "shop")] + [make_group(eu, f"group{i}") for i in range(4)]
    assert eu_groups[0] == "arn:aws:personalize:eu-west-1:000000000000:dataset-group/shop"
    assert make_schema(eu, "users").startswith("arn:aws:personalize:eu-west-1:")
    with pytest.raises(eu.exceptions.LimitExceededException):
        eu.create_dataset_group(name="group5")
    assert [g["datasetGroupArn"] for g in us.list_dataset_groups()["datasetGroups"]] == [us_group]
    us.delete_dataset_group(datasetGroupArn=us_group)
    assert len(eu.list_dataset_groups()["datasetGroups"]) == 5


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


def test_domain_dataset_groups_and_schemas_are_not_implemented(personalize):
    with pytest.raises(NotImplementedError, match="CreateDatasetGroup with domain"):
        personalize.create_dataset_group(name="shop", domain="ECOMMERCE")
    with pytest.raises(NotImplementedError, match="CreateSchema with domain"):
        personalize.create_schema(name="s", schema=schema_text("users"), domain="ECOMMERCE")


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


# ---- tags ------------------------------------------------------------------------------------------


def test_tags_given_on_create_are_listed(personalize):
    arn = make_group(personalize, tags=[{"tagKey": "team", "tagValue": "recsys"},
                                        {"tagKey": "cost-center", "tagValue": "42"}])
    tags = personalize.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted((t["tagKey"], t["tagValue"]) for t in tags) == [("cost-center", "42"), ("team", "recsys")]


def test_tag_and_untag_resource(personalize):
    arn = make_group(personalize, tags=[{"tagKey": "team", "tagValue": "recsys"}])
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "env", "tagValue": "test"},
                                                    {"tagKey": "team", "tagValue": "search"}])
    tags = {t["tagKey"]: t["tagValue"] for t in personalize.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags == {"env": "test", "team": "search"}  # re-tagging a key replaces its value
    personalize.untag_resource(resourceArn=arn, tagKeys=["team", "never-set"])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "env", "tagValue": "test"}]
    for call in (lambda a: personalize.tag_resource(resourceArn=a, tags=[{"tagKey": "a", "tagValue": "b"}]),
                 lambda a: personalize.untag_resource(resourceArn=a, tagKeys=["a"]),
                 lambda a: personalize.list_tags_for_resource(resourceArn=a)):
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            call(REGION_PREFIX + "dataset-group/nope")


def test_tag_operations_on_a_deleted_resource_not_found(personalize):
    # Like describe, the tag operations see a completed deletion (ACTIVE/gone on the next call).
    arn = make_group(personalize, tags=[{"tagKey": "team", "tagValue": "recsys"}])
    personalize.delete_dataset_group(datasetGroupArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.list_tags_for_resource(resourceArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "env", "tagValue": "test"}])
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.untag_resource(resourceArn=arn, tagKeys=["team"])
    # A new group of the same name starts without the old one's tags.
    assert personalize.list_tags_for_resource(resourceArn=make_group(personalize))["tags"] == []


def test_tagging_a_resource_being_deleted_is_in_use(make_personalize):
    group = make_group(make_personalize(), tags=[{"tagKey": "team", "tagValue": "recsys"}])
    slow = make_personalize(transition_seconds=30)
    slow.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(slow.exceptions.ResourceInUseException):
        slow.tag_resource(resourceArn=group, tags=[{"tagKey": "env", "tagValue": "test"}])
    with pytest.raises(slow.exceptions.ResourceInUseException):
        slow.untag_resource(resourceArn=group, tagKeys=["team"])
    # Reading them still works: a teardown checks ownership of what it is waiting on.
    assert slow.list_tags_for_resource(resourceArn=group)["tags"] == [{"tagKey": "team", "tagValue": "recsys"}]


def test_fifty_tags_per_resource(personalize):
    fifty = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(50)]
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.create_dataset_group(name="shop", tags=fifty + [{"tagKey": "k50", "tagValue": "v"}])
    assert_gone(personalize.describe_dataset_group, datasetGroupArn=REGION_PREFIX + "dataset-group/shop")
    arn = make_group(personalize, tags=fifty)
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "k0", "tagValue": "replaced"}])  # not a new key
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "k50", "tagValue": "v"}])
    with pytest.raises(personalize.exceptions.TooManyTagKeysException):
        personalize.untag_resource(resourceArn=arn, tagKeys=[f"k{i}" for i in range(51)])
    assert len(personalize.list_tags_for_resource(resourceArn=arn)["tags"]) == 50


@pytest.mark.parametrize("tag", [{"tagKey": "aws:owner", "tagValue": "x"}, {"tagKey": "owner", "tagValue": "AWS:x"},
                                 {"tagKey": "bad*key", "tagValue": "x"}])
def test_invalid_tag_rejected_and_group_not_created(personalize, tag):
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_group(name="shop", tags=[tag])
    assert_gone(personalize.describe_dataset_group, datasetGroupArn=REGION_PREFIX + "dataset-group/shop")


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
    with pytest.raises(NotImplementedError, match="performAutoML"):
        create(recipeArn=None, performAutoML=True)
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


def test_stop_solution_version_creation(make_personalize, engine_root, fake_clock):
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    fake_clock.advance(1)
    solution = c.create_solution(name="recs", datasetGroupArn=group, recipeArn=UP_V2,
                                 performAutoTraining=False)["solutionArn"]
    fake_clock.advance(1)
    training = insert_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000001")
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


# ---- campaigns -------------------------------------------------------------------------------------


def test_campaign_lifecycle_and_update(make_personalize, engine_root, fake_clock):
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    fake_clock.advance(1)
    solution = c.create_solution(name="recs", datasetGroupArn=group, recipeArn=UP_V2)["solutionArn"]
    fake_clock.advance(1)
    v1 = insert_version(engine_root, solution, group, suffix="00000001")
    v2 = insert_version(engine_root, solution, group, suffix="00000002")
    arn = c.create_campaign(name="live", solutionVersionArn=v1)["campaignArn"]
    assert arn == REGION_PREFIX + "campaign/live"

    def describe():
        return c.describe_campaign(campaignArn=arn)["campaign"]

    assert describe()["status"] == "CREATE PENDING"
    with pytest.raises(c.exceptions.ResourceInUseException):  # updates need ACTIVE or CREATE FAILED
        c.update_campaign(campaignArn=arn, minProvisionedTPS=2)
    fake_clock.advance(0.7)
    campaign = describe()
    assert (campaign["status"], campaign["solutionVersionArn"], campaign["minProvisionedTPS"]) == ("ACTIVE", v1, 1)
    assert "latestCampaignUpdate" not in campaign  # only after an UpdateCampaign [BC Campaign]

    assert c.update_campaign(campaignArn=arn, solutionVersionArn=v2, minProvisionedTPS=2)["campaignArn"] == arn
    campaign = describe()  # the old version keeps serving until the update is ACTIVE
    assert (campaign["solutionVersionArn"], campaign["minProvisionedTPS"]) == (v1, 1)
    update = campaign["latestCampaignUpdate"]
    assert (update["solutionVersionArn"], update["minProvisionedTPS"], update["status"]) == (v2, 2, "CREATE PENDING")
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.update_campaign(campaignArn=arn, minProvisionedTPS=3)
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.delete_campaign(campaignArn=arn)
    fake_clock.advance(0.35)
    assert describe()["latestCampaignUpdate"]["status"] == "CREATE IN_PROGRESS"
    fake_clock.advance(0.3)
    campaign = describe()
    assert (campaign["solutionVersionArn"], campaign["minProvisionedTPS"]) == (v2, 2)
    assert campaign["latestCampaignUpdate"]["status"] == "ACTIVE"

    c.delete_campaign(campaignArn=arn)
    assert describe()["status"] == "DELETE PENDING"
    fake_clock.advance(0.35)
    assert describe()["status"] == "DELETE IN_PROGRESS"
    fake_clock.advance(0.3)
    assert_gone(c.describe_campaign, campaignArn=arn)


def test_campaign_preconditions(personalize, engine_root):
    c = personalize
    group = make_group(c)
    solution = make_solution(c, group)
    other = make_solution(c, group, "other")
    training = insert_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000001")
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_campaign(name="live", solutionVersionArn=training)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_campaign(name="live", solutionVersionArn=solution + "/ffffffff")
    # <solution>/$LATEST deploys the newest ACTIVE version; syncWithLatestSolutionVersion requires it.
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_campaign(name="live", solutionVersionArn=solution + "/$LATEST")
    active = insert_version(engine_root, solution, group, "ACTIVE", "00000002")
    with pytest.raises(c.exceptions.InvalidInputException, match="SolutionArn/\\$LATEST"):
        c.create_campaign(name="live", solutionVersionArn=active,
                          campaignConfig={"syncWithLatestSolutionVersion": True})
    arn = c.create_campaign(name="live", solutionVersionArn=solution + "/$LATEST", minProvisionedTPS=3,
                            campaignConfig={"syncWithLatestSolutionVersion": True})["campaignArn"]
    campaign = c.describe_campaign(campaignArn=arn)["campaign"]
    assert (campaign["solutionVersionArn"], campaign["minProvisionedTPS"], campaign["campaignConfig"]) == (
        solution + "/$LATEST", 3, {"syncWithLatestSolutionVersion": True})
    assert [s["campaignArn"] for s in c.list_campaigns(solutionArn=solution)["campaigns"]] == [arn]
    assert c.list_campaigns(solutionArn=other)["campaigns"] == []
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        c.create_campaign(name="live", solutionVersionArn=active)
    elsewhere = insert_version(engine_root, other, group, "ACTIVE", "00000003")
    with pytest.raises(c.exceptions.InvalidInputException, match="belongs to another solution"):
        c.update_campaign(campaignArn=arn, solutionVersionArn=elsewhere,
                          campaignConfig={"syncWithLatestSolutionVersion": False})
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.update_campaign(campaignArn=REGION_PREFIX + "campaign/nope", minProvisionedTPS=2)


def test_campaign_quota_of_five_per_group(personalize, engine_root):
    group = make_group(personalize)
    version = insert_version(engine_root, make_solution(personalize, group), group)
    for i in range(5):
        personalize.create_campaign(name=f"live{i}", solutionVersionArn=version)
    with pytest.raises(personalize.exceptions.LimitExceededException) as e:
        personalize.create_campaign(name="live5", solutionVersionArn=version)
    assert error_message(e) == ("Cannot create a campaign. More than 5 resources in ACTIVE state. "
                                "Please delete some and try again.")


# ---- event trackers --------------------------------------------------------------------------------


def test_event_tracker_create_describe_list_delete(make_personalize):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)
    group = make_group(c)
    created = c.create_event_tracker(name="web", datasetGroupArn=group,
                                     tags=[{"tagKey": "team", "tagValue": "recsys"}])
    arn, tracking_id = created["eventTrackerArn"], created["trackingId"]
    # Named by an id, not the name; trackingId is a UUID [§1.1].
    assert re.fullmatch(re.escape(REGION_PREFIX) + r"event-tracker/[0-9a-f]{8}", arn)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", tracking_id)
    tracker = c.describe_event_tracker(eventTrackerArn=arn)["eventTracker"]
    assert (tracker["name"], tracker["status"], tracker["trackingId"], tracker["accountId"],
            tracker["datasetGroupArn"]) == ("web", "ACTIVE", tracking_id, "000000000000", group)
    assert [t["eventTrackerArn"] for t in c.list_event_trackers(datasetGroupArn=group)["eventTrackers"]] == [arn]
    # One tracker per dataset group; names unique per type.
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        c.create_event_tracker(name="app", datasetGroupArn=group)
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        c.create_event_tracker(name="web", datasetGroupArn=make_group(c, "other"))
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_event_tracker(name="app", datasetGroupArn=REGION_PREFIX + "dataset-group/nope")
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_event_tracker(name="app", datasetGroupArn=slow.create_dataset_group(name="pending")["datasetGroupArn"])
    c.delete_event_tracker(eventTrackerArn=arn)
    assert_gone(c.describe_event_tracker, eventTrackerArn=arn)
    c.create_event_tracker(name="app", datasetGroupArn=group)  # the group's slot is free again


# ---- filters ---------------------------------------------------------------------------------------


def test_filter_create_describe_list_delete(personalize):
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    arn = personalize.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER,
                                    tags=[{"tagKey": "team", "tagValue": "recsys"}])["filterArn"]
    assert arn == REGION_PREFIX + "filter/no-clicks"
    flt = personalize.describe_filter(filterArn=arn)["filter"]
    assert (flt["name"], flt["status"], flt["datasetGroupArn"], flt["filterExpression"]) == (
        "no-clicks", "ACTIVE", group, EVENT_FILTER)
    response = personalize.list_filters(datasetGroupArn=group)
    assert "filters" not in response  # the service's one non-camelCase list key [§0]
    assert [(f["filterArn"], f["datasetGroupArn"]) for f in response["Filters"]] == [(arn, group)]
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)
    personalize.delete_filter(filterArn=arn)
    assert_gone(personalize.describe_filter, filterArn=arn)


ITEMS_WITH_FLAGS = avro("Items", {"name": "ITEM_ID", "type": "string"},
                        {"name": "GENRE", "type": "string", "categorical": True},
                        {"name": "PRICE", "type": "float"}, {"name": "IN_STOCK", "type": "boolean"},
                        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True})


@pytest.mark.parametrize(
    "expression, message",
    [
        ('EXCLUDE ItemID WHERE Items.GENRE NOT IN ($GENRE)',
         "Could not create filter. Invalid input symbol: $GENRE. Placeholders are not allowed with NOT_IN operator."),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") AND Interactions.EVENT_TYPE IN ("click")',
         "Could not create filter. Invalid Expression: you can't use Items and Interactions datasets in one expression"),
        ('INCLUDE ItemID WHERE Items.COLOR IN ("red")',
         "Could not create filter. Invalid Expression: COLOR is not a field of the Items dataset schema."),
        ('INCLUDE ItemID WHERE Items.IN_STOCK IN ("true")',
         "Could not create filter. Invalid Expression: Items.IN_STOCK is a boolean field"),
        ('EXCLUDE ItemID WHERE Items.DESCRIPTION IN ("red")',
         "Could not create filter. Invalid Expression: Items.DESCRIPTION is a textual field"),
        ('EXCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > 18',
         "Could not create filter. Invalid Expression: Users.AGE needs the dataset group's Users dataset"),
    ],
)
def test_invalid_filter_expressions_rejected_at_create(personalize, expression, message):
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    make_dataset(personalize, group, "items", make_schema(personalize, "items", text=ITEMS_WITH_FLAGS))
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        personalize.create_filter(name="f", datasetGroupArn=group, filterExpression=expression)
    assert error_message(e).startswith(message)
    assert personalize.list_filters(datasetGroupArn=group)["Filters"] == []


def test_filter_preconditions(make_personalize):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_filter(name="f", datasetGroupArn=REGION_PREFIX + "dataset-group/nope", filterExpression=EVENT_FILTER)
    pending = slow.create_dataset_group(name="pending")["datasetGroupArn"]
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_filter(name="f", datasetGroupArn=pending, filterExpression=EVENT_FILTER)
    with pytest.raises(c.exceptions.InvalidInputException, match="needs the dataset group's Interactions dataset"):
        c.create_filter(name="f", datasetGroupArn=make_group(c), filterExpression=EVENT_FILTER)


def test_filter_quota_of_thirty_per_group(personalize):
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    for i in range(30):
        personalize.create_filter(name=f"f{i}", datasetGroupArn=group,
                                  filterExpression=f'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("e{i}")')
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.create_filter(name="f30", datasetGroupArn=group, filterExpression=EVENT_FILTER)
    personalize.delete_filter(filterArn=REGION_PREFIX + "filter/f0")  # deleting frees a slot at once
    personalize.create_filter(name="f30", datasetGroupArn=group, filterExpression=EVENT_FILTER)


def test_twenty_distinct_fields_across_a_groups_filters(personalize):
    group = make_group(personalize)
    fields = [{"name": f"F{i}", "type": ["null", "string"], "categorical": True} for i in range(21)]
    make_dataset(personalize, group, "items", make_schema(personalize, "items", text=avro(
        "Items", {"name": "ITEM_ID", "type": "string"}, *fields)))

    def expression(numbers):
        return " | ".join(f'EXCLUDE ItemID WHERE Items.F{i} IN ("x")' for i in numbers)

    personalize.create_filter(name="a", datasetGroupArn=group, filterExpression=expression(range(10)))
    personalize.create_filter(name="b", datasetGroupArn=group, filterExpression=expression(range(5, 15)))
    personalize.create_filter(name="c", datasetGroupArn=group, filterExpression=expression(range(15, 20)))
    with pytest.raises(personalize.exceptions.LimitExceededException) as e:
        personalize.create_filter(name="d", datasetGroupArn=group, filterExpression=expression([20]))
    assert "would use 21 distinct dataset fields; the maximum is 20" in error_message(e)
    personalize.create_filter(name="d", datasetGroupArn=group, filterExpression=expression([0, 19]))


# ---- batch inference jobs -------------------------------------------------------------------------


@pytest.fixture
def trained(personalize, engine_root):
    """A group with interactions, items and users datasets and an ACTIVE (inserted) UP-v2 version."""
    group = make_group(personalize)
    for kind in ("interactions", "items", "users"):
        make_dataset(personalize, group, kind)
    solution = make_solution(personalize, group)
    return group, solution, insert_version(engine_root, solution, group)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"jobInput": {"s3DataSource": {"path": "https://bucket/in/"}}}, "Invalid S3 input path"),
        ({"jobOutput": {"s3DataDestination": {"path": "s3://bucket/batch/in"}}}, "Invalid S3 output path"),
        ({"numResults": 0}, "numResults must be between 1 and 500."),
        ({"numResults": 501}, "numResults must be between 1 and 500."),
    ],
)
def test_batch_job_request_errors(personalize, trained, kwargs, message):
    version = trained[2]
    params = {"jobName": "recs", "solutionVersionArn": version, "roleArn": ROLE_ARN,
              "jobInput": {"s3DataSource": {"path": "s3://bucket/batch/in/"}},
              "jobOutput": {"s3DataDestination": {"path": "s3://bucket/batch/out/"}}, **kwargs}
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        personalize.create_batch_inference_job(**params)
    assert error_message(e) == message
    assert personalize.list_batch_inference_jobs()["batchInferenceJobs"] == []


def test_batch_job_preconditions(personalize, trained, engine_root, monkeypatch):
    c = personalize
    group, solution, version = trained
    training = insert_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000001")
    with pytest.raises(c.exceptions.ResourceInUseException):
        batch_job(c, training)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        batch_job(c, solution + "/ffffffff")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        batch_job(c, version, filterArn=REGION_PREFIX + "filter/nope")
    with pytest.raises(c.exceptions.InvalidInputException, match="THEME_GENERATION"):
        batch_job(c, version, batchInferenceJobMode="THEME_GENERATION",
                  themeGenerationConfig={"fieldsForThemeGeneration": {"itemName": "TITLE"}})

    def make_filter(name, expression, group_arn=group):
        return c.create_filter(name=name, datasetGroupArn=group_arn, filterExpression=expression)["filterArn"]

    users_filter = make_filter("adults", "INCLUDE UserID WHERE Users.AGE >= 18")
    with pytest.raises(c.exceptions.InvalidInputException, match="needs an ItemID filter"):
        batch_job(c, version, filterArn=users_filter)
    cheaper = make_filter("cheaper", "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE")
    with pytest.raises(c.exceptions.InvalidInputException, match="CurrentItem filters apply only to related-items"):
        batch_job(c, version, filterArn=cheaper)
    other_group = make_group(c, "other")
    make_dataset(c, other_group, "interactions")
    with pytest.raises(c.exceptions.InvalidInputException, match="another dataset group"):
        batch_job(c, version, filterArn=make_filter("elsewhere", EVENT_FILTER, other_group))
    # Trending-Now recommends without a batch input: the service refuses its batch jobs.
    trending = "arn:aws:personalize:::recipe/aws-trending-now"
    monkeypatch.setitem(catalogue.RECIPES, trending, replace(catalogue.get_recipe(UP_V2), name="aws-trending-now",
                                                          arn=trending, batch_input=None))
    trending_version = insert_version(engine_root, make_solution(c, group, "trending", recipe=trending), group,
                                      recipe=trending)
    with pytest.raises(c.exceptions.InvalidInputException,
                       match="You can't get batch recommendations with the aws-trending-now recipe"):
        batch_job(c, trending_version)
    assert c.list_batch_inference_jobs()["batchInferenceJobs"] == []


def test_batch_jobs_in_flight_quota_and_what_they_block(make_personalize, trained):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)  # the workers sleep: jobs stay pending
    group, solution, version = trained
    flt = c.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)["filterArn"]
    arns = [batch_job(slow, version, "recs0", filterArn=flt, numResults=10)]
    assert arns[0] == REGION_PREFIX + "batch-inference-job/recs0"
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        batch_job(c, version, "recs0")
    arns += [batch_job(slow, version, f"recs{i}") for i in range(1, 5)]
    with pytest.raises(c.exceptions.LimitExceededException) as e:
        batch_job(c, version, "recs5")
    assert error_message(e) == "More than 5 resources with PENDING or IN_PROGRESS status."
    job = c.describe_batch_inference_job(batchInferenceJobArn=arns[0])["batchInferenceJob"]
    assert (job["jobName"], job["status"], job["filterArn"], job["numResults"], job["roleArn"],
            job["batchInferenceJobMode"]) == ("recs0", "CREATE PENDING", flt, 10, ROLE_ARN, "BATCH_INFERENCE")
    assert job["jobInput"] == {"s3DataSource": {"path": "s3://bucket/batch/in/"}}
    summaries = c.list_batch_inference_jobs(solutionVersionArn=version)["batchInferenceJobs"]
    assert [s["batchInferenceJobArn"] for s in summaries] == arns[::-1]
    assert {s["solutionVersionArn"] for s in summaries} == {version}
    # A filter in use by a job in progress can't be deleted [DG:filter-real-time]; nor can the datasets.
    with pytest.raises(c.exceptions.ResourceInUseException, match="in use by batch inference job"):
        c.delete_filter(filterArn=flt)


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


# ---- deletion order --------------------------------------------------------------------------------


def test_teardown_in_documented_order_removes_everything(personalize, engine_root):
    c = personalize
    group = make_group(c)
    schemas = {kind: make_schema(c, kind) for kind in ("interactions", "items", "users")}
    datasets = {kind: make_dataset(c, group, kind, schemas[kind]) for kind in schemas}
    flt = c.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)["filterArn"]
    tracker = c.create_event_tracker(name="web", datasetGroupArn=group)["eventTrackerArn"]
    solution = make_solution(c, group)
    version = insert_version(engine_root, solution, group)
    campaign = c.create_campaign(name="live", solutionVersionArn=version)["campaignArn"]
    c.describe_campaign(campaignArn=campaign)

    def delete(method, describe, **arn):
        method(**arn)
        assert_gone(describe, **arn)

    with pytest.raises(c.exceptions.ResourceInUseException, match="still has resources"):
        c.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(c.exceptions.ResourceInUseException):  # the campaign deploys one of its versions
        c.delete_solution(solutionArn=solution)
    delete(c.delete_campaign, c.describe_campaign, campaignArn=campaign)
    delete(c.delete_solution, c.describe_solution, solutionArn=solution)
    with pytest.raises(c.exceptions.ResourceInUseException):  # the tracker feeds the Interactions dataset
        c.delete_dataset(datasetArn=datasets["interactions"])
    delete(c.delete_event_tracker, c.describe_event_tracker, eventTrackerArn=tracker)
    with pytest.raises(c.exceptions.ResourceInUseException):  # still the filter
        c.delete_dataset(datasetArn=datasets["users"])
    delete(c.delete_filter, c.describe_filter, filterArn=flt)
    for arn in datasets.values():
        delete(c.delete_dataset, c.describe_dataset, datasetArn=arn)
    delete(c.delete_dataset_group, c.describe_dataset_group, datasetGroupArn=group)
    for arn in schemas.values():
        delete(c.delete_schema, c.describe_schema, schemaArn=arn)
    assert c.list_dataset_groups()["datasetGroups"] == []
    assert c.list_schemas()["schemas"] == []
    assert c.list_solution_versions()["solutionVersions"] == []


def test_campaigns_and_training_block_deleting_datasets(personalize, engine_root):
    c = personalize
    group = make_group(c)
    dataset = make_dataset(c, group, "users")  # no filter, no tracker: only the campaign is in the way
    solution = make_solution(c, group)
    campaign = c.create_campaign(name="live", solutionVersionArn=insert_version(engine_root, solution, group))
    with pytest.raises(c.exceptions.ResourceInUseException, match=re.escape(campaign["campaignArn"])):
        c.delete_dataset(datasetArn=dataset)
    c.delete_campaign(campaignArn=campaign["campaignArn"])
    assert_gone(c.describe_campaign, campaignArn=campaign["campaignArn"])
    training = insert_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000002")
    for delete in (lambda: c.delete_dataset(datasetArn=dataset), lambda: c.delete_solution(solutionArn=solution)):
        with pytest.raises(c.exceptions.ResourceInUseException, match=re.escape(training)):
            delete()


# ---- lifecycle -------------------------------------------------------------------------------


def test_lifecycle_statuses_follow_the_clock(make_personalize, fake_clock):
    # The service's clock is faked, so each status is checked at a known point of its 0.6 s transition.
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    assert group_status(c, group) == "CREATE PENDING"
    fake_clock.advance(0.2)
    assert group_status(c, group) == "CREATE PENDING"
    fake_clock.advance(0.15)  # past half way
    assert group_status(c, group) == "CREATE IN_PROGRESS"
    fake_clock.advance(0.3)
    assert group_status(c, group) == "ACTIVE"

    dataset = c.create_dataset(name="people", datasetGroupArn=group, schemaArn=make_schema(c, "users"),
                               datasetType="USERS")["datasetArn"]
    fake_clock.advance(0.7)
    c.delete_dataset(datasetArn=dataset)

    def dataset_status():
        return c.describe_dataset(datasetArn=dataset)["dataset"]["status"]

    assert dataset_status() == "DELETE PENDING"
    fake_clock.advance(0.35)
    assert dataset_status() == "DELETE IN_PROGRESS"
    fake_clock.advance(0.3)
    assert_gone(c.describe_dataset, datasetArn=dataset)

    c.delete_dataset_group(datasetGroupArn=group)
    assert group_status(c, group) == "DELETE PENDING"
    fake_clock.advance(0.35)  # dataset groups have no DELETE IN_PROGRESS
    assert group_status(c, group) == "DELETE PENDING"
    fake_clock.advance(0.3)
    assert_gone(c.describe_dataset_group, datasetGroupArn=group)


def _observe(read, final, deadline_seconds=30.0) -> list[str]:
    """Poll ``read()`` until it returns ``final``; the distinct statuses seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + deadline_seconds
    while True:
        status = read()
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == final:
            return seen
        assert time.monotonic() < deadline, f"still {status} after {deadline_seconds}s; saw {seen}"
        time.sleep(0.05)


def test_lifecycle_in_real_time(make_personalize):
    # The same transitions on the real clock: only their order and outcome are asserted, never timing.
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    seen = _observe(lambda: group_status(c, group), "ACTIVE")
    order = ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
    assert seen == sorted(seen, key=order.index) and set(seen) <= set(order)

    c.delete_dataset_group(datasetGroupArn=group)

    def status_or_gone():
        try:
            return group_status(c, group)
        except c.exceptions.ResourceNotFoundException:
            return "gone"

    seen = _observe(status_or_gone, "gone")
    order = ["DELETE PENDING", "DELETE IN_PROGRESS", "gone"]
    assert seen == sorted(seen, key=order.index) and set(seen) <= set(order)


# ---- lists -----------------------------------------------------------------------------------


def walk_pages(method, key: str, arn_key: str, **params) -> list[str]:
    """Every ARN of a list, one per page, following nextToken; the last page carries none."""
    arns, token = [], None
    while True:
        page = method(maxResults=1, **params, **({"nextToken": token} if token else {}))
        assert len(page[key]) <= 1
        arns += [r[arn_key] for r in page[key]]
        token = page.get("nextToken")
        if token is None:
            return arns


@pytest.fixture
def world(make_personalize, engine_root):
    """Three of each resource, created in order (the newest last), where each list can show them."""
    c, slow = make_personalize(), make_personalize(transition_seconds=30)  # slow: jobs stay pending
    made: dict[str, list[str]] = {"dataset-group": [make_group(c, f"g{i}") for i in range(3)]}
    group = made["dataset-group"][0]
    made["schema"] = [make_schema(c, kind) for kind in ("interactions", "items", "users")]
    made["dataset"] = [make_dataset(c, group, kind, schema)
                       for kind, schema in zip(("interactions", "items", "users"), made["schema"])]
    made["event-tracker"] = [c.create_event_tracker(name=f"t{i}", datasetGroupArn=g)["eventTrackerArn"]
                             for i, g in enumerate(made["dataset-group"])]
    made["filter"] = [c.create_filter(name=f"f{i}", datasetGroupArn=group, filterExpression=EVENT_FILTER)["filterArn"]
                      for i in range(3)]
    made["solution"] = [make_solution(c, group, f"s{i}") for i in range(3)]
    solution = made["solution"][0]
    made["solution-version"] = [insert_version(engine_root, solution, group, suffix=f"0000000{i}") for i in range(3)]
    version = made["solution-version"][0]
    made["campaign"] = [c.create_campaign(name=f"c{i}", solutionVersionArn=version)["campaignArn"] for i in range(3)]
    made["dataset-import-job"] = [import_job(slow, made["dataset"][1], "s3://bucket/items.csv", f"j{i}")
                                  for i in range(3)]
    made["batch-inference-job"] = [batch_job(slow, version, f"b{i}") for i in range(3)]
    return c, made, {"datasetGroupArn": group, "datasetArn": made["dataset"][1], "solutionArn": solution,
                     "solutionVersionArn": version}


def test_every_list_pages_newest_first(world):
    c, made, parents = world
    for kind in (k for k in kinds.KINDS.values() if k.creatable):
        method = getattr(c, f"list_{re.sub(r'(?<!^)(?=[A-Z])', '_', kind.op).lower()}s")
        # Event trackers: one per group, so the three are listed account-wide.
        params = {kind.list_parent: parents[kind.list_parent]} if kind.list_parent and kind.name != "event-tracker" else {}
        expected = made[kind.name][::-1]
        assert walk_pages(method, kind.list_key, kind.arn_key, **params) == expected, kind.name
        pages = list(c.get_paginator(method.__name__).paginate(**params, PaginationConfig={"PageSize": 2}))
        assert [r[kind.arn_key] for page in pages for r in page[kind.list_key]] == expected, kind.name
        assert len(pages) == 2, kind.name
        # A token is only good for the list that issued it.
        token = method(maxResults=1, **params)["nextToken"]
        with pytest.raises(c.exceptions.InvalidNextTokenException):
            c.list_recipes(nextToken=token)


def test_list_pages_newest_first(personalize):
    arns = [make_group(personalize, f"group{i}") for i in range(4)]  # 4 stays within the quota of 5
    first = personalize.list_dataset_groups(maxResults=2)
    second = personalize.list_dataset_groups(maxResults=2, nextToken=first["nextToken"])
    assert [g["datasetGroupArn"] for g in first["datasetGroups"]] == [arns[3], arns[2]]
    assert [g["datasetGroupArn"] for g in second["datasetGroups"]] == [arns[1], arns[0]]
    assert "nextToken" not in second  # no token on the last page [§0]


def test_list_with_invalid_token(personalize):
    for i in range(2):
        make_schema(personalize, "users", f"schema{i}")
    with pytest.raises(personalize.exceptions.InvalidNextTokenException) as e:
        personalize.list_dataset_groups(nextToken="not-a-token")
    assert error_message(e) == "The token is not valid."
    schema_token = personalize.list_schemas(maxResults=1)["nextToken"]
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_dataset_groups(nextToken=schema_token)


def test_list_max_results_out_of_range(personalize):
    # botocore does not check maxResults' maximum client-side: 101 reaches the engine, which refuses it.
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.list_dataset_groups(maxResults=101)
    # It does check the minimum (1), so 0 never leaves the client.
    with pytest.raises(botocore.exceptions.ParamValidationError):
        personalize.list_dataset_groups(maxResults=0)


@pytest.mark.parametrize(
    "method, key, parent",
    [
        ("list_recommenders", "recommenders", "datasetGroupArn"),
        ("list_metric_attributions", "metricAttributions", "datasetGroupArn"),
        ("list_batch_segment_jobs", "batchSegmentJobs", "solutionVersionArn"),
        ("list_dataset_export_jobs", "datasetExportJobs", "datasetArn"),
        ("list_data_deletion_jobs", "dataDeletionJobs", "datasetGroupArn"),
    ],
)
def test_lists_of_what_the_engine_cannot_create_answer_empty(personalize, trained, method, key, parent):
    # A teardown lists recommenders and metric attributions: the truthful answer is "none".
    group, _, version = trained
    parents = {"datasetGroupArn": group, "solutionVersionArn": version,
               "datasetArn": personalize.list_datasets(datasetGroupArn=group)["datasets"][0]["datasetArn"]}
    call = getattr(personalize, method)
    response = call()
    assert response[key] == [] and "nextToken" not in response
    assert call(**{parent: parents[parent]})[key] == []
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        call(**{parent: parents[parent] + "-gone"})
    with pytest.raises(personalize.exceptions.InvalidInputException):
        call(maxResults=101)
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        call(nextToken="not-a-token")


# What the batch workflow and a complete teardown touch (the engine's required surface).
REQUIRED_OPERATIONS = {
    f"{verb}{noun}" for noun in ("DatasetGroup", "Schema", "Dataset", "Solution", "Campaign", "EventTracker", "Filter")
    for verb in ("Create", "Describe", "Delete")
} | {f"List{noun}s" for noun in ("DatasetGroup", "Schema", "Dataset", "DatasetImportJob", "Solution",
                                  "SolutionVersion", "Campaign", "EventTracker", "Filter", "BatchInferenceJob",
                                  "Recipe", "Recommender", "MetricAttribution")} | {
    "UpdateDataset", "UpdateSolution", "UpdateCampaign", "CreateDatasetImportJob", "DescribeDatasetImportJob",
    "CreateSolutionVersion", "DescribeSolutionVersion", "StopSolutionVersionCreation", "GetSolutionMetrics",
    "CreateBatchInferenceJob", "DescribeBatchInferenceJob", "DescribeRecipe", "TagResource", "UntagResource",
    "ListTagsForResource",
}


def test_every_operation_is_served_or_names_itself(tmp_path):
    engine = service.LocalPersonalize(tmp_path / "engine", {"kind": "local", "root": str(tmp_path / "s3")})
    unimplemented = set()
    for operation in engine.service_model.operation_names:
        try:
            engine._route(operation)
        except NotImplementedError as e:
            assert f"does not implement {operation}." in str(e)
            unimplemented.add(operation)
    assert REQUIRED_OPERATIONS <= set(engine.service_model.operation_names) - unimplemented


GROUP = REGION_PREFIX + "dataset-group/shop"


@pytest.mark.parametrize(
    "method, params",
    [
        ("create_recommender", {"name": "r", "datasetGroupArn": GROUP,
                                "recipeArn": "arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-views"}),
        ("describe_recommender", {"recommenderArn": REGION_PREFIX + "recommender/r"}),
        ("delete_recommender", {"recommenderArn": REGION_PREFIX + "recommender/r"}),
        ("start_recommender", {"recommenderArn": REGION_PREFIX + "recommender/r"}),
        ("describe_metric_attribution", {"metricAttributionArn": REGION_PREFIX + "metric-attribution/m"}),
        ("delete_metric_attribution", {"metricAttributionArn": REGION_PREFIX + "metric-attribution/m"}),
        ("create_batch_segment_job", {"jobName": "j", "solutionVersionArn": REGION_PREFIX + "solution/s/1",
                                      "roleArn": ROLE_ARN, "jobInput": {"s3DataSource": {"path": "s3://b/in"}},
                                      "jobOutput": {"s3DataDestination": {"path": "s3://b/out/"}}}),
        ("create_dataset_export_job", {"jobName": "j", "datasetArn": REGION_PREFIX + "dataset/shop/USERS",
                                       "roleArn": ROLE_ARN, "jobOutput": {"s3DataDestination": {"path": "s3://b/o/"}}}),
        ("create_data_deletion_job", {"jobName": "j", "datasetGroupArn": GROUP, "roleArn": ROLE_ARN,
                                      "dataSource": {"dataLocation": "s3://b/users.csv"}}),
        ("describe_algorithm", {"algorithmArn": "arn:aws:personalize:::algorithm/aws-user-personalization"}),
        ("list_metric_attribution_metrics", {}),
    ],
)
def test_unimplemented_operations_name_themselves(personalize, method, params):
    operation = personalize.meta.method_to_api_mapping[method]
    with pytest.raises(NotImplementedError, match=f"does not implement {operation}"):
        getattr(personalize, method)(**params)


# ---- state across processes ------------------------------------------------------------------


def test_state_is_shared_across_processes(personalize, engine_root, object_store):
    parent_group = make_group(personalize, "from-parent")
    child = textwrap.dedent("""
        import json, sys
        from recsys_assets.engine import local_client
        client = local_client(sys.argv[1], json.loads(sys.argv[2]))
        print(client.describe_dataset_group(datasetGroupArn=sys.argv[3])["datasetGroup"]["status"])
        print(client.create_dataset_group(name="from-child")["datasetGroupArn"])
    """)
    done = subprocess.run([sys.executable, "-c", child, str(engine_root), json.dumps(object_store.config()),
                           parent_group], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status, child_group = done.stdout.split()
    assert status == "ACTIVE"  # the child saw the parent's group
    assert group_status(personalize, child_group) == "ACTIVE"  # and the parent sees the child's
    assert {g["name"] for g in personalize.list_dataset_groups()["datasetGroups"]} == {"from-parent", "from-child"}


# ---- recipes ---------------------------------------------------------------------------------


def test_list_and_describe_recipes(personalize):
    listed = personalize.list_recipes(recipeProvider="SERVICE")["recipes"]
    assert UP_V2 in [r["recipeArn"] for r in listed]
    assert all(r["status"] == "ACTIVE" for r in listed)
    recipe = personalize.describe_recipe(recipeArn=UP_V2)["recipe"]
    assert (recipe["name"], recipe["recipeType"]) == ("aws-user-personalization-v2", "USER_PERSONALIZATION")
    assert recipe["algorithmArn"] == "arn:aws:personalize:::algorithm/aws-user-personalization-v2"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-no-such-recipe")


def test_list_recipes_by_domain(personalize):
    everything = personalize.list_recipes()["recipes"]
    ecommerce = personalize.list_recipes(domain="ECOMMERCE")["recipes"]
    assert ecommerce and {r["domain"] for r in ecommerce} == {"ECOMMERCE"}
    assert all(r["name"].startswith("aws-ecomm-") for r in ecommerce)
    assert {r["recipeArn"] for r in ecommerce} < {r["recipeArn"] for r in everything}
    assert UP_V2 not in {r["recipeArn"] for r in ecommerce}
    vod = personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-vod-top-picks")["recipe"]
    assert (vod["name"], vod["status"]) == ("aws-vod-top-picks", "ACTIVE")


def test_list_recipes_pages(personalize):
    everything = [r["recipeArn"] for r in personalize.list_recipes()["recipes"]]
    paged = [r["recipeArn"] for page in personalize.get_paginator("list_recipes").paginate(
        PaginationConfig={"PageSize": 1}) for r in page["recipes"]]
    assert paged == everything and len(everything) > 1
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.list_recipes(maxResults=101)


@pytest.mark.parametrize("arn", ["not-an-arn", "arn:aws:s3:::bucket/key", "arn:aws:personalize:us-east-1:1:"])
def test_malformed_arn_is_invalid_input(personalize, arn):
    with pytest.raises(personalize.exceptions.InvalidInputException,
                       match="at 'datasetGroupArn' failed to satisfy constraint: Member must satisfy regular"):
        personalize.describe_dataset_group(datasetGroupArn=arn)
