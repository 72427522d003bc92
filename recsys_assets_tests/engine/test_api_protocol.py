"""Contract tests of the local Personalize engine's protocol, driven through a real boto3 ``personalize`` client:
the service model's constraints, regions, lists and their pagination, every operation served or naming itself,
the operations not implemented, state shared across processes and malformed ARNs (see ``contract.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import botocore.exceptions
import pytest

from recsys_assets.engine import constraints, kinds, service

from .contract import (
    EVENT_FILTER,
    REGION_PREFIX,
    ROLE_ARN,
    UP_V2,
    batch_job,
    error_message,
    group_status,
    import_job,
    insert_version,
    make_dataset,
    make_group,
    make_schema,
    make_solution,
)

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
    # A modeled error (after botocore's own request validation), so ``except ClientError`` catches it.
    with pytest.raises(personalize.exceptions.InvalidInputException, match=f"does not implement {operation}"):
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


# ---- malformed ARNs -------------------------------------------------------------------------


@pytest.mark.parametrize("arn", ["not-an-arn", "arn:aws:s3:::bucket/key", "arn:aws:personalize:us-east-1:1:"])
def test_malformed_arn_is_invalid_input(personalize, arn):
    with pytest.raises(personalize.exceptions.InvalidInputException,
                       match="at 'datasetGroupArn' failed to satisfy constraint: Member must satisfy regular"):
        personalize.describe_dataset_group(datasetGroupArn=arn)
