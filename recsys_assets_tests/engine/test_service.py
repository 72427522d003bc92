"""Contract tests for the local Personalize engine, driven through a real boto3 ``personalize`` client.

The behaviour asserted is the service's as /work/shared/reference/personalize-api.md §0-§1 describes it:
error codes, statuses, deletion order, quotas, pagination. Resources in these tests become ACTIVE (or
gone) on the call after their create (or delete) unless a test sets ``transition_seconds``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import botocore.exceptions
import pytest

from recsys_assets.engine import validation
from recsys_assets.engine.catalog import Catalog, Resource
from recsys_assets.engine.data import DataStore

from .conftest import ROLE_ARN, SCHEMAS_DIR, schema_text

REGION_PREFIX = "arn:aws:personalize:us-east-1:000000000000:"
UP_V2 = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
EVENT_FILTER = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def group_status(client, arn: str) -> str:
    return client.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"]


def make_group(client, name: str = "shop", **kwargs) -> str:
    arn = client.create_dataset_group(name=name, **kwargs)["datasetGroupArn"]
    assert group_status(client, arn) == "ACTIVE"  # transition_seconds=0: ACTIVE on the next call
    return arn


def make_schema(client, kind: str, name: str | None = None) -> str:
    return client.create_schema(name=name or f"{kind}-schema", schema=schema_text(kind))["schemaArn"]


def make_dataset(client, group: str, kind: str, schema: str | None = None) -> str:
    schema = schema or make_schema(client, kind)
    arn = client.create_dataset(name=f"{kind}-ds", datasetGroupArn=group, schemaArn=schema,
                                datasetType=kind.capitalize())["datasetArn"]
    assert client.describe_dataset(datasetArn=arn)["dataset"]["status"] == "ACTIVE"
    return arn


def insert_active_solution_version(engine_root: Path, solution_arn: str, group_arn: str,
                                   status: str = "ACTIVE", suffix: str = "abcd1234") -> str:
    """A solution version written straight into the catalog in a given state.

    Training takes seconds; the rules under test (deletion order, stopping) don't look at the model,
    so these tests stand in for CreateSolutionVersion.
    """
    arn = f"{solution_arn}/{suffix}"
    now = time.time()
    body = {"solutionArn": solution_arn, "datasetGroupArn": group_arn, "recipeArn": UP_V2,
            "trainingMode": "FULL", "trainingType": "MANUAL"}
    with Catalog(engine_root / "catalog.db").transaction() as txn:
        txn.insert(Resource(arn=arn, kind="solution-version", name="", parent=solution_arn, status=status,
                            created=now, updated=now, body=body))
    return arn


def assert_gone(describe, **arn) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        describe(**arn)
    assert error_code(e) == "ResourceNotFoundException"


# ---- dataset groups ------------------------------------------------------------------------


def test_dataset_group_create_describe_list_delete(personalize):
    arn = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    assert arn == REGION_PREFIX + "dataset-group/shop"  # ARNs derive from the name [§1.1]
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert (group["name"], group["datasetGroupArn"], group["status"]) == ("shop", arn, "ACTIVE")
    listed = personalize.list_dataset_groups()["datasetGroups"]
    assert [(g["datasetGroupArn"], g["status"]) for g in listed] == [(arn, "ACTIVE")]

    assert personalize.delete_dataset_group(datasetGroupArn=arn)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_gone(personalize.describe_dataset_group, datasetGroupArn=arn)
    assert personalize.list_dataset_groups()["datasetGroups"] == []


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
    personalize.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "env", "tagValue": "test"}]
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.tag_resource(resourceArn=REGION_PREFIX + "dataset-group/nope",
                                 tags=[{"tagKey": "a", "tagValue": "b"}])


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


def test_invalid_tag_rejected_and_group_not_created(personalize):
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_group(name="shop", tags=[{"tagKey": "bad*key", "tagValue": "x"}])
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


def test_schema_delete(personalize):
    arn = make_schema(personalize, "users")
    personalize.delete_schema(schemaArn=arn)
    assert_gone(personalize.describe_schema, schemaArn=arn)


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
    summaries = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    assert [(d["datasetArn"], d["datasetType"]) for d in summaries] == [(arn, "USERS")]


def test_second_dataset_of_a_type_already_exists(personalize):
    group = make_group(personalize)
    schema = make_schema(personalize, "users")
    make_dataset(personalize, group, "users", schema)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset(name="more-users", datasetGroupArn=group, schemaArn=schema, datasetType="USERS")


def test_dataset_in_group_not_yet_active_is_in_use(make_personalize):
    slow = make_personalize(transition_seconds=30)  # the group stays CREATE PENDING for the whole test
    group = slow.create_dataset_group(name="shop")["datasetGroupArn"]
    schema = make_schema(slow, "users")
    assert group_status(slow, group) == "CREATE PENDING"
    with pytest.raises(slow.exceptions.ResourceInUseException):
        slow.create_dataset(name="people", datasetGroupArn=group, schemaArn=schema, datasetType="USERS")


def test_dataset_schema_must_fit_its_type(personalize):
    group = make_group(personalize)
    users_schema = make_schema(personalize, "users")
    with pytest.raises(personalize.exceptions.InvalidInputException):  # a Users record for INTERACTIONS
        personalize.create_dataset(name="events", datasetGroupArn=group, schemaArn=users_schema,
                                   datasetType="INTERACTIONS")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_dataset(name="events", datasetGroupArn=group, schemaArn=REGION_PREFIX + "schema/nope",
                                   datasetType="INTERACTIONS")
    assert personalize.list_datasets(datasetGroupArn=group)["datasets"] == []


def test_dataset_in_unknown_group_not_found(personalize):
    schema = make_schema(personalize, "users")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_dataset(name="people", datasetGroupArn=REGION_PREFIX + "dataset-group/nope",
                                   schemaArn=schema, datasetType="USERS")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.list_datasets(datasetGroupArn=REGION_PREFIX + "dataset-group/nope")


# ---- deletion order [§1.5] ---------------------------------------------------------------------


def test_group_with_dataset_cannot_be_deleted(personalize):
    group = make_group(personalize)
    dataset = make_dataset(personalize, group, "users")
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert group_status(personalize, group) == "ACTIVE"  # the refused delete changed nothing
    personalize.delete_dataset(datasetArn=dataset)
    assert_gone(personalize.describe_dataset, datasetArn=dataset)
    personalize.delete_dataset_group(datasetGroupArn=group)
    assert_gone(personalize.describe_dataset_group, datasetGroupArn=group)


def test_dataset_with_filter_in_group_cannot_be_deleted(personalize):
    group = make_group(personalize)
    dataset = make_dataset(personalize, group, "interactions")
    flt = personalize.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)["filterArn"]
    assert personalize.describe_filter(filterArn=flt)["filter"]["status"] == "ACTIVE"
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset(datasetArn=dataset)
    personalize.delete_filter(filterArn=flt)
    assert_gone(personalize.describe_filter, filterArn=flt)
    personalize.delete_dataset(datasetArn=dataset)
    assert_gone(personalize.describe_dataset, datasetArn=dataset)


def test_solution_with_campaign_cannot_be_deleted(personalize, engine_root):
    group = make_group(personalize)
    solution = personalize.create_solution(name="up", datasetGroupArn=group, recipeArn=UP_V2,
                                           performAutoTraining=False)["solutionArn"]
    assert personalize.describe_solution(solutionArn=solution)["solution"]["status"] == "ACTIVE"
    version = insert_active_solution_version(engine_root, solution, group)  # instead of training, see helper
    campaign = personalize.create_campaign(name="live", solutionVersionArn=version)["campaignArn"]
    assert personalize.describe_campaign(campaignArn=campaign)["campaign"]["status"] == "ACTIVE"
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_solution(solutionArn=solution)
    personalize.delete_campaign(campaignArn=campaign)
    # A campaign still being deleted blocks too; only once it is gone may the solution go.
    assert_gone(personalize.describe_campaign, campaignArn=campaign)
    personalize.delete_solution(solutionArn=solution)
    assert_gone(personalize.describe_solution, solutionArn=solution)
    assert_gone(personalize.describe_solution_version, solutionVersionArn=version)  # versions go with it


def test_deleting_twice_is_in_use(make_personalize):
    setup = make_personalize()
    group = make_group(setup)
    slow = make_personalize(transition_seconds=30)  # the delete stays pending for the whole test
    slow.delete_dataset_group(datasetGroupArn=group)
    assert group_status(slow, group) == "DELETE PENDING"
    with pytest.raises(slow.exceptions.ResourceInUseException) as e:
        slow.delete_dataset_group(datasetGroupArn=group)
    assert "already being deleted" in e.value.response["Error"]["Message"]


def test_delete_while_creating_is_in_use(make_personalize):
    slow = make_personalize(transition_seconds=30)
    group = slow.create_dataset_group(name="shop")["datasetGroupArn"]
    with pytest.raises(slow.exceptions.ResourceInUseException):
        slow.delete_dataset_group(datasetGroupArn=group)


def test_teardown_in_documented_order_removes_everything(personalize, engine_root):
    c = personalize
    group = make_group(c)
    schemas = {kind: make_schema(c, kind) for kind in ("interactions", "items", "users")}
    datasets = {kind: make_dataset(c, group, kind, schemas[kind]) for kind in schemas}
    flt = c.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)["filterArn"]
    tracker = c.create_event_tracker(name="web", datasetGroupArn=group)["eventTrackerArn"]
    solution = c.create_solution(name="up", datasetGroupArn=group, recipeArn=UP_V2,
                                 performAutoTraining=False)["solutionArn"]
    c.describe_solution(solutionArn=solution)
    version = insert_active_solution_version(engine_root, solution, group)
    campaign = c.create_campaign(name="live", solutionVersionArn=version)["campaignArn"]
    c.describe_campaign(campaignArn=campaign)

    def delete(method, describe, **arn):
        method(**arn)
        assert_gone(describe, **arn)

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


def test_list_pages_newest_first(personalize):
    arns = [make_group(personalize, f"group{i}") for i in range(4)]  # 4 stays within the quota of 5
    first = personalize.list_dataset_groups(maxResults=2)
    second = personalize.list_dataset_groups(maxResults=2, nextToken=first["nextToken"])
    assert [g["datasetGroupArn"] for g in first["datasetGroups"]] == [arns[3], arns[2]]
    assert [g["datasetGroupArn"] for g in second["datasetGroups"]] == [arns[1], arns[0]]
    assert "nextToken" not in second  # no token on the last page [§0]
    pages = personalize.get_paginator("list_dataset_groups").paginate(PaginationConfig={"PageSize": 3})
    assert [g["datasetGroupArn"] for page in pages for g in page["datasetGroups"]] == arns[::-1]


def test_list_schemas_pages_past_the_group_quota(personalize):
    arns = [make_schema(personalize, "users", f"schema{i}") for i in range(7)]
    seen, token = [], None
    while True:
        page = personalize.list_schemas(maxResults=2, **({"nextToken": token} if token else {}))
        assert len(page["schemas"]) <= 2
        seen += [s["schemaArn"] for s in page["schemas"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == arns[::-1]


def test_list_with_invalid_token(personalize):
    for i in range(2):
        make_schema(personalize, "users", f"schema{i}")
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_dataset_groups(nextToken="not-a-token")
    # A token is only good for the list that issued it.
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


def test_list_filters_uses_capitalised_key(personalize):
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    flt = personalize.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)["filterArn"]
    response = personalize.list_filters(datasetGroupArn=group)
    assert "filters" not in response  # the service's one non-camelCase list key [§0]
    assert [f["filterArn"] for f in response["Filters"]] == [flt]


def test_unimplemented_operation_names_itself(personalize):
    group = make_group(personalize)
    with pytest.raises(NotImplementedError, match="CreateRecommender"):
        personalize.create_recommender(name="popular", datasetGroupArn=group,
                                       recipeArn="arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-views")


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


# ---- dataset import jobs (worker processes) ----------------------------------------------------


# Import jobs read CSVs with validation.read_dataset_csv, which was still being written with these tests.
needs_import_worker = pytest.mark.skipif(not hasattr(validation, "read_dataset_csv"),
                                         reason="validation.read_dataset_csv is not written yet")

USERS_CSV = "USER_ID,AGE,OS_DEVICE\n" + "".join(f"u{i},{20 + i},{'ios' if i % 2 else 'android'}\n" for i in range(30))


def wait_for_job(client, arn: str, deadline_seconds: float = 60.0) -> dict:
    deadline = time.monotonic() + deadline_seconds
    while True:
        job = client.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
        if job["status"] not in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            return job
        assert time.monotonic() < deadline, f"import job still {job['status']} after {deadline_seconds}s"
        time.sleep(0.2)


def import_job(client, dataset: str, location: str, name: str = "import1", mode: str = "FULL") -> str:
    return client.create_dataset_import_job(jobName=name, datasetArn=dataset, roleArn=ROLE_ARN, importMode=mode,
                                            dataSource={"dataLocation": location})["datasetImportJobArn"]


@needs_import_worker
def test_import_full_then_incremental(personalize, object_store, engine_root):
    dataset = make_dataset(personalize, make_group(personalize), "users")
    # A location ending in "/" imports every CSV in that folder, and nothing from its sibling users_old/.
    header, *rows = USERS_CSV.splitlines(keepends=True)
    object_store.write_bytes("s3://bucket/users/part1.csv", "".join([header, *rows[:15]]).encode())
    object_store.write_bytes("s3://bucket/users/part2.csv", "".join([header, *rows[15:]]).encode())
    object_store.write_bytes("s3://bucket/users/README.txt", b"not a CSV")
    object_store.write_bytes("s3://bucket/users_old/stale.csv", b"USER_ID,AGE,OS_DEVICE\nstale,1,ios\n")
    job = wait_for_job(personalize, import_job(personalize, dataset, "s3://bucket/users/"))
    assert (job["status"], job.get("failureReason")) == ("ACTIVE", None)
    assert job["importMode"] == "FULL"
    stored = DataStore(engine_root).read_dataset(dataset)
    assert sorted(stored["USER_ID"]) == sorted(f"u{i}" for i in range(30))

    # INCREMENTAL is allowed after a FULL import: same IDs replace, new ones are appended.
    object_store.write_bytes("s3://bucket/more.csv", b"USER_ID,AGE,OS_DEVICE\nu0,99,ios\nu30,31,ios\n")
    job = wait_for_job(personalize, import_job(personalize, dataset, "s3://bucket/more.csv", "import2",
                                               "INCREMENTAL"))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    stored = DataStore(engine_root).read_dataset(dataset)
    assert len(stored) == 31
    assert stored.set_index("USER_ID").loc["u0", "AGE"] == 99


@needs_import_worker
def test_import_missing_column_fails(personalize, object_store):
    dataset = make_dataset(personalize, make_group(personalize), "users")
    object_store.write_bytes("s3://bucket/users.csv", ("USER_ID,AGE\n" + "u1,30\nu2,40\n").encode())
    job = wait_for_job(personalize, import_job(personalize, dataset, "s3://bucket/users.csv"))
    assert job["status"] == "CREATE FAILED"
    assert "OS_DEVICE" in job["failureReason"]


@needs_import_worker
def test_import_too_few_interactions_fails(personalize, object_store):
    dataset = make_dataset(personalize, make_group(personalize), "interactions")
    rows = "".join(f"u{i % 10},i{i},{1_700_000_000 + i},click,\n" for i in range(999))
    object_store.write_bytes("s3://bucket/interactions.csv",
                             ("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n" + rows).encode())
    job = wait_for_job(personalize, import_job(personalize, dataset, "s3://bucket/interactions.csv"))
    assert job["status"] == "CREATE FAILED"
    assert "1000" in job["failureReason"]


def test_incremental_import_before_any_full_is_invalid(personalize, object_store):
    dataset = make_dataset(personalize, make_group(personalize), "users")
    object_store.write_bytes("s3://bucket/users.csv", USERS_CSV.encode())
    with pytest.raises(personalize.exceptions.InvalidInputException):
        import_job(personalize, dataset, "s3://bucket/users.csv", mode="INCREMENTAL")
    assert personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"] == []


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
    job = wait_for_job(slow, arn, deadline_seconds=30)
    assert job["status"] == "CREATE FAILED"
    assert "worker" in job["failureReason"] and str(pid) in job["failureReason"]


# ---- recipes ---------------------------------------------------------------------------------


def test_list_and_describe_recipes(personalize):
    recipes = personalize.list_recipes()["recipes"]
    assert UP_V2 in [r["recipeArn"] for r in recipes]
    assert all(r["status"] == "ACTIVE" for r in recipes)
    recipe = personalize.describe_recipe(recipeArn=UP_V2)["recipe"]
    assert (recipe["name"], recipe["recipeType"]) == ("aws-user-personalization-v2", "USER_PERSONALIZATION")


def test_list_recipes_pages_and_checks_max_results(personalize):
    everything = [r["recipeArn"] for r in personalize.list_recipes()["recipes"]]
    paged = [r["recipeArn"] for page in personalize.get_paginator("list_recipes").paginate(
        PaginationConfig={"PageSize": 1}) for r in page["recipes"]]
    assert paged == everything and len(everything) > 1
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.list_recipes(maxResults=101)


def test_describe_unknown_recipe_not_found(personalize):
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-no-such-recipe")


def test_stop_solution_version_creation(make_personalize, engine_root, fake_clock):
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    fake_clock.advance(1)
    solution = c.create_solution(name="recs", datasetGroupArn=group, recipeArn=UP_V2,
                                 performAutoTraining=False)["solutionArn"]
    fake_clock.advance(1)
    training = insert_active_solution_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000001")
    pending = insert_active_solution_version(engine_root, solution, group, "CREATE PENDING", "00000002")
    done = insert_active_solution_version(engine_root, solution, group, "ACTIVE", "00000003")

    def status(arn):
        return c.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["status"]

    c.stop_solution_version_creation(solutionVersionArn=training)
    assert status(training) == "CREATE STOPPING"
    fake_clock.advance(0.7)
    assert status(training) == "CREATE STOPPED"
    c.stop_solution_version_creation(solutionVersionArn=pending)
    assert status(pending) == "CREATE STOPPED"
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.stop_solution_version_creation(solutionVersionArn=done)
    # A stopped version no longer blocks deleting its solution.
    c.delete_solution(solutionArn=solution)


@pytest.mark.parametrize("arn", ["not-an-arn", "arn:aws:s3:::bucket/key", "arn:aws:personalize:us-east-1:1:"])
def test_malformed_arn_is_invalid_input(personalize, arn):
    with pytest.raises(personalize.exceptions.InvalidInputException, match="Invalid ARN"):
        personalize.describe_dataset_group(datasetGroupArn=arn)
