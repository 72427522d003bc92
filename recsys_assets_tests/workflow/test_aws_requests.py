"""The exact requests the aws backend sends, pinned with botocore's Stubber (no network, no account)."""

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber

from recsys_assets.resources import AwsPersonalizeResource, LocalObjectStoreResource
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
def client(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.session.Session().client("personalize", region_name="eu-west-1")
    with Stubber(client) as stub:
        client.stub = stub
        yield client
        stub.assert_no_pending_responses()


def _sent_job_names(client) -> list[str]:
    names = []
    client.meta.events.register("provide-client-params.personalize.*",
                                lambda params, **_: names.append(params["jobName"]) if "jobName" in params else None)
    return names


def test_aws_client_uses_adaptive_retries(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    resource = AwsPersonalizeResource(role_arn=ROLE, region_name="eu-west-1", max_attempts=7,
                                   object_store=LocalObjectStoreResource(bucket="b"))
    config = resource.get_client().meta.config
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 8} and config.region_name == "eu-west-1"


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
                      {"solutionArn": solution, "trainingMode": "FULL", "tags": TAGS})
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
