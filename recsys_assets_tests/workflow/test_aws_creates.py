"""Creates that must not pay twice, wait for a quota, or send what the model forbids (Stubber, no network)."""

import pytest
from botocore.stub import ANY

from recsys_assets.workflow.datasets import build_dataset_group
from recsys_assets.workflow.inference import run_batch_job
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings
from recsys_assets.workflow.training import train_solution_version

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PREFIX = "arn:aws:personalize:eu-west-1:123456789012:"
NAMES = RunNames("shop", "0f3c9a2e-1111-2222-3333-444455556666")
TAGS = NAMES.tags
POLL = PollSettings(interval=0.001, max_interval=0.001, job_timeout=5)
GROUP = f"{PREFIX}dataset-group/shop-0f3c9a2e"
SOLUTION, VERSION = f"{PREFIX}solution/s", f"{PREFIX}solution/s/abcd1234"


@pytest.fixture
def client(stubbed):
    return stubbed("personalize")


def _sent(client, operation: str) -> list[dict]:
    sent = []
    client.meta.events.register(f"provide-client-params.personalize.{operation}", lambda params, **_: sent.append(params))
    return sent


def _solution_ready(stub, expected_create: dict):
    stub.add_response("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP})
    stub.add_response("create_solution", {"solutionArn": SOLUTION}, expected_create)
    stub.add_response("describe_solution", {"solution": {"status": "ACTIVE"}}, {"solutionArn": SOLUTION})
    stub.add_response("list_solution_versions", {"solutionVersions": []}, {"solutionArn": SOLUTION})


def test_automl_never_sends_perform_hpo_false(client):
    """CreateSolution: "When performing AutoML, this parameter is always true and you should not set it to false"."""
    stub, created = client.stub, _sent(client, "CreateSolution")
    config = {"autoMLConfig": {"metricName": "precision_at_25",
                               "recipeList": ["arn:aws:personalize:::recipe/aws-user-personalization"]}}
    _solution_ready(stub, {"name": ANY, "datasetGroupArn": GROUP, "performAutoML": True, "performAutoTraining": False,
                           "solutionConfig": config, "tags": TAGS})
    stub.add_response("create_solution_version", {"solutionVersionArn": VERSION}, None)
    stub.add_response("describe_solution_version", {"solutionVersion": {"status": "ACTIVE"}}, None)
    stub.add_response("get_solution_metrics", {"metrics": {}}, None)
    train_solution_version(client, NAMES, dataset_group_arn=GROUP, recipe_arn=None, perform_hpo=False,
                           perform_auto_ml=True, event_type=None, solution_config=config, poll=POLL, log=print)
    assert "performHPO" not in created[0] and "recipeArn" not in created[0]


@pytest.fixture
def fixed_names(monkeypatch):
    """Job names end in 8 random hex digits per attempt; fixed here so the stubbed service can list them."""
    monkeypatch.setattr("recsys_assets.workflow.naming.secrets.token_hex", lambda n: "deadbeef")


def test_a_retried_version_create_adopts_the_version_it_made_instead_of_training_twice(client, fixed_names):
    """botocore resends a create that timed out; the service then answers ResourceAlreadyExists for the version
    the first send created (and bills): it is adopted by its name."""
    stub, sent = client.stub, _sent(client, "CreateSolutionVersion")
    _solution_ready(stub, None)
    stub.add_client_error("create_solution_version", "ResourceAlreadyExistsException")
    other = f"{VERSION}-other"
    stub.add_response("list_solution_versions", {"solutionVersions": [
        {"solutionVersionArn": other, "status": "ACTIVE"},
        {"solutionVersionArn": VERSION, "status": "CREATE IN_PROGRESS"}]}, {"solutionArn": SOLUTION})
    # summaries carry no name: each version is described until ours is found
    stub.add_response("describe_solution_version", {"solutionVersion": {"name": "someone-else"}},
                      {"solutionVersionArn": other})
    stub.add_response("describe_solution_version", {"solutionVersion": {"name": "shop-0f3c9a2e-train-deadbeef"}},
                      {"solutionVersionArn": VERSION})
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": VERSION})
    stub.add_response("describe_solution_version", {"solutionVersion": {"status": "ACTIVE", "trainingHours": 0.2}},
                      {"solutionVersionArn": VERSION})
    stub.add_response("get_solution_metrics", {"metrics": {}}, {"solutionVersionArn": VERSION})
    out = train_solution_version(client, NAMES, dataset_group_arn=GROUP, recipe_arn="arn:aws:personalize:::recipe/"
                                 "aws-user-personalization-v2", perform_hpo=False, perform_auto_ml=False,
                                 event_type=None, solution_config=None, poll=POLL, log=print)
    assert out.solution_version_arn == VERSION and len(sent) == 1
    assert sent[0]["name"] == "shop-0f3c9a2e-train-deadbeef"


def test_a_retried_batch_job_create_is_adopted(client, fixed_names):
    stub, sent = client.stub, _sent(client, "CreateBatchInferenceJob")
    job = f"{PREFIX}batch-inference-job/j"
    stub.add_response("list_batch_inference_jobs", {"batchInferenceJobs": []}, {"solutionVersionArn": VERSION})
    stub.add_client_error("create_batch_inference_job", "ResourceAlreadyExistsException")
    stub.add_response("list_batch_inference_jobs", {"batchInferenceJobs": [
        {"batchInferenceJobArn": job, "jobName": "shop-0f3c9a2e-batch-deadbeef", "status": "IN PROGRESS"}]},
        {"solutionVersionArn": VERSION})
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": job})
    stub.add_response("describe_batch_inference_job", {"batchInferenceJob": {"status": "ACTIVE"}},
                      {"batchInferenceJobArn": job})
    out = run_batch_job(client, NAMES, dataset_group_arn=GROUP, solution_version_arn=VERSION,
                        input_uri="s3://recs/in/users.json", output_prefix="s3://recs/out", num_results=25,
                        filter_expression=None, role_arn=ROLE, poll=POLL, log=print)
    assert out.batch_inference_job_arn == job and len(sent) == 1


def test_imports_wait_for_a_free_slot_when_other_deployments_hold_the_quota(client):
    stub, logs = client.stub, []
    schema = '{"type":"record","name":"Interactions","fields":[]}'
    dataset = f"{PREFIX}dataset/shop-0f3c9a2e/INTERACTIONS"
    stub.add_response("list_schemas", {"schemas": []}, {})
    stub.add_response("create_schema", {"schemaArn": f"{PREFIX}schema/x"}, None)
    stub.add_response("list_dataset_groups", {"datasetGroups": []}, {})
    stub.add_response("create_dataset_group", {"datasetGroupArn": GROUP},
                      {"name": "shop-0f3c9a2e", "tags": TAGS, "kmsKeyArn": KEY, "roleArn": ROLE})
    stub.add_response("describe_dataset_group", {"datasetGroup": {"status": "ACTIVE"}}, {"datasetGroupArn": GROUP})
    stub.add_response("list_datasets", {"datasets": []}, {"datasetGroupArn": GROUP})
    stub.add_response("create_dataset", {"datasetArn": dataset}, None)
    stub.add_response("describe_dataset", {"dataset": {"status": "ACTIVE"}}, {"datasetArn": dataset})
    stub.add_response("list_dataset_import_jobs", {"datasetImportJobs": []}, {"datasetArn": dataset})
    message = "More than 5 resources with PENDING or IN_PROGRESS status."
    for _ in range(2):
        stub.add_client_error("create_dataset_import_job", "LimitExceededException", message)
    stub.add_response("create_dataset_import_job", {"datasetImportJobArn": f"{PREFIX}dataset-import-job/i"}, None)
    stub.add_response("describe_dataset_import_job", {"datasetImportJob": {"status": "ACTIVE"}}, None)
    out = build_dataset_group(client, NAMES, schemas={"interactions": schema},
                              csv_uris={"interactions": "s3://recs/r/interactions.csv"}, role_arn=ROLE, poll=POLL,
                              log=logs.append, kms_key_arn=KEY)
    assert out.import_job_arns == {"interactions": f"{PREFIX}dataset-import-job/i"}
    waits = [line for line in logs if "quota is full" in line]
    assert len(waits) == 2 and message in waits[0]


def test_a_quota_that_never_frees_fails_after_the_job_timeout(client):
    stub = client.stub
    version = VERSION
    stub.add_response("list_batch_inference_jobs", {"batchInferenceJobs": []}, {"solutionVersionArn": version})
    for _ in range(400):
        stub.add_client_error("create_batch_inference_job", "LimitExceededException", "quota")
    poll = PollSettings(interval=0.001, max_interval=0.001, job_timeout=0.05)
    with pytest.raises(Exception, match="LimitExceededException"):
        run_batch_job(client, NAMES, dataset_group_arn=GROUP, solution_version_arn=version,
                      input_uri="s3://recs/in/users.json", output_prefix="s3://recs/out", num_results=25,
                      filter_expression=None, role_arn=ROLE, poll=poll, log=lambda _: None)
    stub._queue.clear()


def test_batch_files_are_encrypted_with_the_key(client):
    stub, sent = client.stub, _sent(client, "CreateBatchInferenceJob")
    job = f"{PREFIX}batch-inference-job/j"
    stub.add_response("list_batch_inference_jobs", {"batchInferenceJobs": []}, {"solutionVersionArn": VERSION})
    stub.add_response("create_batch_inference_job", {"batchInferenceJobArn": job}, None)
    stub.add_response("describe_batch_inference_job", {"batchInferenceJob": {"status": "ACTIVE"}}, None)
    run_batch_job(client, NAMES, dataset_group_arn=GROUP, solution_version_arn=VERSION,
                  input_uri="s3://recs/in/users.json", output_prefix="s3://recs/out", num_results=25,
                  filter_expression=None, role_arn=ROLE, poll=POLL, log=lambda _: None, kms_key_arn=KEY)
    assert sent[0]["jobInput"]["s3DataSource"]["kmsKeyArn"] == KEY
    assert sent[0]["jobOutput"]["s3DataDestination"]["kmsKeyArn"] == KEY
