"""The exact requests the aws backend sends, pinned with botocore's Stubber (no network, no account)."""

from datetime import datetime, timezone

import pytest
from botocore.stub import ANY

from recsys_assets.resources import AwsPersonalizeResource, LocalObjectStoreResource
from recsys_assets.storage import S3ObjectStore
from recsys_assets.workflow.datasets import build_dataset_group
from recsys_assets.workflow.inference import run_batch_job
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings
from recsys_assets.workflow.teardown import run_scope, teardown
from recsys_assets.workflow.training import DEFAULT_RECIPE_ARN, train_solution_version

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3"
PREFIX = "arn:aws:personalize:eu-west-1:123456789012:"
NAMES = RunNames("shop", "0f3c9a2e-1111-2222-3333-444455556666")
TAGS = [{"tagKey": "recsys:deployment", "tagValue": "shop"},
        {"tagKey": "recsys:run-id", "tagValue": "0f3c9a2e-1111-2222-3333-444455556666"}]
POLL = PollSettings(interval=0.001, max_interval=0.001)
NOW = datetime(2026, 11, 29, tzinfo=timezone.utc)
GROUP = f"{PREFIX}dataset-group/shop-0f3c9a2e"


@pytest.fixture
def client(stubbed):
    return stubbed("personalize")


def _sent_job_names(client) -> list[str]:
    names = []
    client.meta.events.register("provide-client-params.personalize.*",
                                lambda params, **_: names.append(params["jobName"]) if "jobName" in params else None)
    return names


def test_aws_client_uses_standard_retries(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    resource = AwsPersonalizeResource(role_arn=ROLE, region_name="eu-west-1", max_attempts=7,
                                   object_store=LocalObjectStoreResource(bucket="b"))
    config = resource.get_client().meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 8} and config.region_name == "eu-west-1"


def test_dataset_group_requests(client):
    stub, job_names = client.stub, _sent_job_names(client)
    uris = {"users": "s3://recs/r/users.csv", "interactions": "s3://recs/r/interactions.csv"}
    schema = '{"type":"record","name":"Users","fields":[]}'
    for ds in uris:
        stub.add_response("list_schemas", {"schemas": []}, {})
        stub.add_response("create_schema", {"schemaArn": f"{PREFIX}schema/shop-0f3c9a2e-{ds}"},
                          {"name": f"shop-0f3c9a2e-{ds}", "schema": schema})
    stub.add_response("list_dataset_groups", {"datasetGroups": []}, {})
    stub.add_response("create_dataset_group", {"datasetGroupArn": GROUP}, {"name": "shop-0f3c9a2e", "tags": TAGS})
    stub.add_response("describe_dataset_group", {"datasetGroup": {"status": "ACTIVE"}}, {"datasetGroupArn": GROUP})
    for ds, kind in (("users", "USERS"), ("interactions", "INTERACTIONS")):
        stub.add_response("list_datasets", {"datasets": []}, {"datasetGroupArn": GROUP})
        stub.add_response("create_dataset", {"datasetArn": f"{PREFIX}dataset/shop-0f3c9a2e/{kind}"},
                          {"name": f"shop-0f3c9a2e-{ds}", "schemaArn": f"{PREFIX}schema/shop-0f3c9a2e-{ds}",
                           "datasetGroupArn": GROUP, "datasetType": kind, "tags": TAGS})
    for kind in ("USERS", "INTERACTIONS"):
        stub.add_response("describe_dataset", {"dataset": {"status": "ACTIVE"}},
                          {"datasetArn": f"{PREFIX}dataset/shop-0f3c9a2e/{kind}"})
    for ds, kind in (("users", "USERS"), ("interactions", "INTERACTIONS")):
        dataset = f"{PREFIX}dataset/shop-0f3c9a2e/{kind}"
        stub.add_response("list_dataset_import_jobs", {"datasetImportJobs": []}, {"datasetArn": dataset})
        stub.add_response("create_dataset_import_job", {"datasetImportJobArn": f"{PREFIX}dataset-import-job/{ds}"},
                          {"jobName": ANY, "datasetArn": dataset, "dataSource": {"dataLocation": uris[ds]},
                           "roleArn": ROLE, "importMode": "FULL", "tags": TAGS})
    for ds in uris:
        stub.add_response("describe_dataset_import_job", {"datasetImportJob": {"status": "ACTIVE"}},
                          {"datasetImportJobArn": f"{PREFIX}dataset-import-job/{ds}"})
    out = build_dataset_group(client, NAMES, schemas={ds: schema for ds in uris}, csv_uris=uris, role_arn=ROLE,
                              poll=POLL, log=lambda _: None)
    assert out.dataset_group_arn == GROUP and out.imports_reused == []
    assert len(set(job_names)) == 2 and all(n.startswith("shop-0f3c9a2e-import-") for n in job_names)


def test_training_requests_turn_automatic_training_off(client):
    stub = client.stub
    solution, version = f"{PREFIX}solution/s", f"{PREFIX}solution/s/abcd1234"
    stub.add_response("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP})
    stub.add_response("create_solution", {"solutionArn": solution}, {
        "name": ANY, "datasetGroupArn": GROUP, "recipeArn": DEFAULT_RECIPE_ARN, "performHPO": False,
        "performAutoTraining": False, "tags": TAGS})
    stub.add_response("describe_solution", {"solution": {"status": "ACTIVE"}}, {"solutionArn": solution})
    stub.add_response("list_solution_versions", {"solutionVersions": []}, {"solutionArn": solution})
    stub.add_response("create_solution_version", {"solutionVersionArn": version},
                      {"name": ANY, "solutionArn": solution, "trainingMode": "FULL", "tags": TAGS})
    stub.add_response("describe_solution_version", {"solutionVersion": {"status": "ACTIVE", "trainingHours": 0.4}},
                      {"solutionVersionArn": version})
    stub.add_response("get_solution_metrics", {"metrics": {"precision_at_10": 0.05}}, {"solutionVersionArn": version})
    out = train_solution_version(client, NAMES, dataset_group_arn=GROUP, recipe_arn=DEFAULT_RECIPE_ARN,
                                 perform_hpo=False, perform_auto_ml=False, event_type=None, solution_config=None,
                                 poll=POLL, log=lambda _: None)
    assert (out.training_hours, out.metrics, out.reused) == (0.4, {"precision_at_10": 0.05}, False)


def test_training_adopts_our_active_version_instead_of_training_again(client):
    stub = client.stub
    solution, version = f"{PREFIX}solution/s", f"{PREFIX}solution/s/abcd1234"
    name = NAMES.solution({"datasetGroupArn": GROUP, "performHPO": False, "performAutoTraining": False,
                           "recipeArn": DEFAULT_RECIPE_ARN})
    stub.add_response("list_solutions", {"solutions": [{"name": name, "solutionArn": solution, "status": "ACTIVE"}]},
                      {"datasetGroupArn": GROUP})
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": solution})
    stub.add_response("describe_solution", {"solution": {"status": "ACTIVE"}}, {"solutionArn": solution})
    stub.add_response("list_solution_versions", {"solutionVersions": [
        {"solutionVersionArn": version, "status": "ACTIVE"}]}, {"solutionArn": solution})
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": version})
    stub.add_response("describe_solution_version", {"solutionVersion": {
        "solutionVersionArn": version, "status": "ACTIVE", "trainingMode": "FULL"}}, {"solutionVersionArn": version})
    stub.add_response("describe_solution_version", {"solutionVersion": {"status": "ACTIVE", "trainingHours": 1.0}},
                      {"solutionVersionArn": version})
    stub.add_response("get_solution_metrics", {"metrics": {}}, {"solutionVersionArn": version})
    out = train_solution_version(client, NAMES, dataset_group_arn=GROUP, recipe_arn=DEFAULT_RECIPE_ARN,
                                 perform_hpo=False, perform_auto_ml=False, event_type=None, solution_config=None,
                                 poll=POLL, log=lambda _: None)
    assert out.reused and out.solution_version_arn == version  # no create_solution_version was sent


def test_batch_job_request(client):
    stub, job_names = client.stub, _sent_job_names(client)
    version, job = f"{PREFIX}solution/s/abcd1234", f"{PREFIX}batch-inference-job/j"
    stub.add_response("list_batch_inference_jobs", {"batchInferenceJobs": []}, {"solutionVersionArn": version})
    stub.add_response("create_batch_inference_job", {"batchInferenceJobArn": job}, {
        "jobName": ANY, "solutionVersionArn": version, "numResults": 50,
        "jobInput": {"s3DataSource": {"path": "s3://recs/in/users.json"}},
        "jobOutput": {"s3DataDestination": {"path": "s3://recs/out/"}}, "roleArn": ROLE, "tags": TAGS})
    stub.add_response("describe_batch_inference_job", {"batchInferenceJob": {"status": "ACTIVE"}},
                      {"batchInferenceJobArn": job})
    out = run_batch_job(client, NAMES, dataset_group_arn=GROUP, solution_version_arn=version,
                              input_uri="s3://recs/in/users.json", output_prefix="s3://recs/out", num_results=50,
                              filter_expression=None, role_arn=ROLE, poll=POLL, log=lambda _: None)
    assert out.output_uri == "s3://recs/out/users.json.out"
    assert job_names[0].startswith("shop-0f3c9a2e-batch-")


def test_teardown_touches_only_tagged_groups(client):
    stub = client.stub
    mine, theirs = GROUP, f"{PREFIX}dataset-group/shop-other"
    stub.add_response("list_dataset_groups", {"datasetGroups": [
        {"datasetGroupArn": theirs, "name": "shop-other", "creationDateTime": NOW},
        {"datasetGroupArn": mine, "name": "shop-0f3c9a2e", "creationDateTime": NOW}]}, {})
    stub.add_response("list_tags_for_resource", {"tags": [TAGS[0]]}, {"resourceArn": theirs})  # no run tag
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": mine})
    stub.add_response("list_schemas", {"schemas": []}, {})
    for op, key in (("list_solutions", "solutions"), ("list_recommenders", "recommenders"),
                    ("list_event_trackers", "eventTrackers"), ("list_metric_attributions", "metricAttributions"),
                    ("list_filters", "Filters"), ("list_datasets", "datasets")):
        stub.add_response(op, {key: []}, {"datasetGroupArn": mine})
    stub.add_response("describe_dataset_group", {"datasetGroup": {"status": "ACTIVE"}}, {"datasetGroupArn": mine})
    stub.add_response("delete_dataset_group", {}, {"datasetGroupArn": mine})
    stub.add_client_error("describe_dataset_group", "ResourceNotFoundException", expected_params={"datasetGroupArn": mine})
    report = teardown(client, run_scope(client, NAMES), POLL, lambda _: None)
    assert report.deleted == [mine]


SOLUTION = f"{PREFIX}solution/shop-0f3c9a2e-1a2b3c4d"
VERSION = f"{SOLUTION}/abcd1234"
JOB = f"{PREFIX}batch-inference-job/shop-0f3c9a2e-batch-0a0b0c0d"


def _stub_group_with_a_solution(stub, version_status: str) -> None:
    """The run's group holds one solution of ours, with one version in ``version_status``."""
    stub.add_response("list_dataset_groups", {"datasetGroups": [
        {"datasetGroupArn": GROUP, "name": "shop-0f3c9a2e", "creationDateTime": NOW}]}, {})
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": GROUP})
    stub.add_response("list_schemas", {"schemas": []}, {})
    stub.add_response("list_solutions", {"solutions": [{"solutionArn": SOLUTION, "name": "shop-0f3c9a2e-1a2b3c4d"}]},
                      {"datasetGroupArn": GROUP})
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": SOLUTION})
    stub.add_response("list_solution_versions", {"solutionVersions": [
        {"solutionVersionArn": VERSION, "status": version_status}]}, {"solutionArn": SOLUTION})
    stub.add_response("list_campaigns", {"campaigns": []}, {"solutionArn": SOLUTION})
    stub.add_response("list_recommenders", {"recommenders": []}, {"datasetGroupArn": GROUP})


def _stub_solution_then_group_deleted(stub, *, job_statuses: tuple[str, ...] = (), solution_refusals: int = 0):
    """The version's batch job (if ``job_statuses``: those it is described in) settles; the solution is deleted
    (refused ``solution_refusals`` times first), then the empty group."""
    jobs = [{"batchInferenceJobArn": JOB, "jobName": "shop-0f3c9a2e-batch-0a0b0c0d", "status": status}
            for status in job_statuses[:1]]
    stub.add_response("list_batch_inference_jobs", {"batchInferenceJobs": jobs}, {"solutionVersionArn": VERSION})
    for status in job_statuses:
        stub.add_response("describe_batch_inference_job", {"batchInferenceJob": {"status": status}},
                          {"batchInferenceJobArn": JOB})
    for _ in range(solution_refusals):
        stub.add_response("describe_solution", {"solution": {"status": "ACTIVE"}}, {"solutionArn": SOLUTION})
        stub.add_client_error("delete_solution", "ResourceInUseException",
                              "The latest update of the solution is in progress.",
                              expected_params={"solutionArn": SOLUTION})
    stub.add_response("describe_solution", {"solution": {"status": "ACTIVE"}}, {"solutionArn": SOLUTION})
    stub.add_response("delete_solution", {}, {"solutionArn": SOLUTION})
    stub.add_client_error("describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": SOLUTION})
    for op, key in (("list_event_trackers", "eventTrackers"), ("list_metric_attributions", "metricAttributions"),
                    ("list_filters", "Filters"), ("list_datasets", "datasets")):
        stub.add_response(op, {key: []}, {"datasetGroupArn": GROUP})
    stub.add_response("describe_dataset_group", {"datasetGroup": {"status": "ACTIVE"}}, {"datasetGroupArn": GROUP})
    stub.add_response("delete_dataset_group", {}, {"datasetGroupArn": GROUP})
    stub.add_client_error("describe_dataset_group", "ResourceNotFoundException",
                          expected_params={"datasetGroupArn": GROUP})


@pytest.mark.parametrize("race", ["ResourceInUseException", "ResourceNotFoundException"])
def test_a_stop_that_loses_the_race_is_progress(client, race):
    """Listed training, the version finished (or went) before the stop arrived: teardown settles it and goes on."""
    stub = client.stub
    _stub_group_with_a_solution(stub, "CREATE IN_PROGRESS")
    stub.add_client_error("stop_solution_version_creation", race, f"{VERSION} is not being created",
                          expected_params={"solutionVersionArn": VERSION})
    if race == "ResourceInUseException":
        stub.add_response("describe_solution_version", {"solutionVersion": {"status": "ACTIVE"}},
                          {"solutionVersionArn": VERSION})
    else:
        stub.add_client_error("describe_solution_version", race, expected_params={"solutionVersionArn": VERSION})
    _stub_solution_then_group_deleted(stub)
    report = teardown(client, run_scope(client, NAMES), POLL, lambda _: None)
    assert (report.deleted, report.failed) == ([SOLUTION, GROUP], {})


def test_a_version_already_stopping_is_waited_for_not_stopped(client):
    stub = client.stub
    _stub_group_with_a_solution(stub, "CREATE STOPPING")  # no stop_solution_version_creation: it would be refused
    for status in ("CREATE STOPPING", "CREATE STOPPED"):
        stub.add_response("describe_solution_version", {"solutionVersion": {"status": status}},
                          {"solutionVersionArn": VERSION})
    _stub_solution_then_group_deleted(stub)
    assert teardown(client, run_scope(client, NAMES), POLL, lambda _: None).deleted == [SOLUTION, GROUP]


@pytest.mark.parametrize("running", ["PENDING", "IN PROGRESS", "CREATE PENDING", "CREATE IN_PROGRESS"])
def test_batch_jobs_still_running_in_any_documented_spelling_are_waited_for(client, running):
    """BatchInferenceJob.status is documented PENDING | IN PROGRESS | ACTIVE | CREATE FAILED, while the service
    answers CREATE PENDING / CREATE IN_PROGRESS [personalize-api.md §1.2]: each is waited out before deleting."""
    stub = client.stub
    _stub_group_with_a_solution(stub, "ACTIVE")
    _stub_solution_then_group_deleted(stub, job_statuses=(running, running, "ACTIVE"))
    assert teardown(client, run_scope(client, NAMES), POLL, lambda _: None).deleted == [SOLUTION, GROUP]


def test_a_delete_refused_while_settling_is_retried(client):
    """The solution is ACTIVE but its latest update still runs: DeleteSolution answers ResourceInUse [DG:
    deleting-resources, "This includes the latestSolutionUpdate status"]; teardown settles and asks again."""
    stub = client.stub
    _stub_group_with_a_solution(stub, "ACTIVE")
    _stub_solution_then_group_deleted(stub, solution_refusals=2)
    report = teardown(client, run_scope(client, NAMES), POLL, lambda _: None)
    assert (report.deleted, report.failed) == ([SOLUTION, GROUP], {})


@pytest.fixture
def s3(stubbed):
    return stubbed("s3")


def test_a_runs_files_are_deleted_1000_keys_a_request(s3):
    keys = [f"recsys/run-1/batch-output/part-{i:04d}.out" for i in range(1001)]
    s3.stub.add_response("list_objects_v2", {"Contents": [{"Key": k} for k in keys[:1000]], "IsTruncated": True,
                                             "NextContinuationToken": "page-2"},
                         {"Bucket": "recs", "Prefix": "recsys/run-1/"})
    s3.stub.add_response("list_objects_v2", {"Contents": [{"Key": keys[1000]}], "IsTruncated": False},
                         {"Bucket": "recs", "Prefix": "recsys/run-1/", "ContinuationToken": "page-2"})
    for batch in (keys[:1000], keys[1000:]):
        s3.stub.add_response("delete_objects", {"Deleted": [{"Key": k} for k in batch]},
                             {"Bucket": "recs", "Delete": {"Objects": [{"Key": k} for k in batch], "Quiet": True}})
    assert S3ObjectStore(s3).delete_prefix("s3://recs/recsys/run-1/") == [f"s3://recs/{k}" for k in keys]


def test_keys_s3_did_not_delete_are_an_error(s3):
    s3.stub.add_response("list_objects_v2", {"Contents": [{"Key": "recsys/run-1/users.csv"}]},
                         {"Bucket": "recs", "Prefix": "recsys/run-1/"})
    s3.stub.add_response("delete_objects", {"Errors": [{"Key": "recsys/run-1/users.csv", "Code": "AccessDenied",
                                                        "Message": "Access Denied"}]}, {
        "Bucket": "recs", "Delete": {"Objects": [{"Key": "recsys/run-1/users.csv"}], "Quiet": True}})
    with pytest.raises(OSError, match="AccessDenied"):
        S3ObjectStore(s3).delete_prefix("s3://recs/recsys/run-1/")
    with pytest.raises(ValueError, match="folder"):
        S3ObjectStore(s3).delete_prefix("s3://recs/")  # never a whole bucket


def test_a_metric_attribution_in_our_group_is_left_without_asking_for_its_tags(client):
    """Metric attributions can't be tagged (tagging-resources page): one in our group is someone else's, and
    ListTagsForResource is not asked about it."""
    stub, mine = client.stub, GROUP
    attribution = f"{PREFIX}metric-attribution/theirs"
    stub.add_response("list_dataset_groups", {"datasetGroups": [
        {"datasetGroupArn": mine, "name": "shop-0f3c9a2e", "creationDateTime": NOW}]}, {})
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": mine})
    stub.add_response("list_schemas", {"schemas": []}, {})
    for op, key in (("list_solutions", "solutions"), ("list_recommenders", "recommenders"),
                    ("list_event_trackers", "eventTrackers")):
        stub.add_response(op, {key: []}, {"datasetGroupArn": mine})
    stub.add_response("list_metric_attributions", {"metricAttributions": [
        {"metricAttributionArn": attribution, "name": "theirs"}]}, {"datasetGroupArn": mine})
    stub.add_response("list_filters", {"Filters": []}, {"datasetGroupArn": mine})
    report = teardown(client, run_scope(client, NAMES), POLL, lambda _: None)
    assert report.deleted == [] and set(report.kept) == {attribution, mine}
    assert "can't carry tags" in report.kept[attribution]
