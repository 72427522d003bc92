"""Fault injection against the local engine: whatever fails, cleanup and sweep leave none of ours behind.

Each test drives the Dagster-free workflow against a real local engine, breaks something at one step,
then runs the run's teardown and the orphan sweep, and checks that the engine holds no resource of
ours while every foreign resource the test created is untouched.
"""

import json
from pathlib import Path

import botocore.retries.standard
import pytest
import sqlalchemy as sa
from botocore.awsrequest import AWSResponse

from recsys_assets.engine import local_client, transport
from recsys_assets.storage import LocalObjectStore
from recsys_assets.export.csv_export import export_csv, load_schema
from recsys_assets.export.mapping import load_mapping
from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.datasets import build_dataset_group
from recsys_assets.workflow.inference import run_batch_job
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings, ResourceFailed, wait_for_status
from recsys_assets.workflow.teardown import run_scope, sweep_scope, teardown
from recsys_assets.workflow.training import DEFAULT_RECIPE_ARN, TrainingTooLong, train_solution_version
from recsys_assets_tests.conftest import refuse_deletes

ROLE = "arn:aws:iam::000000000000:role/recsys-local-engine"
POLL = PollSettings(interval=0.02, max_interval=0.1, resource_timeout=60, job_timeout=120, training_timeout=120)
DEPLOYMENT = "recsys"
TYPES = {"dataset groups": rt.DATASET_GROUP, "schemas": rt.SCHEMA, "datasets": rt.DATASET,
         "solutions": rt.SOLUTION, "filters": rt.FILTER}


class Env:
    def __init__(self, tmp_path, database_url, transition_seconds=0.0):
        self.store = LocalObjectStore(tmp_path / "s3")
        self.root = tmp_path / "engine"
        self.client = local_client(self.root, self.store.config(), transition_seconds=transition_seconds,
                                   max_attempts=10)
        self.database_url = database_url
        self.log: list[str] = []

    def exports(self, run_id: str) -> tuple[dict, dict]:
        schemas, uris = {}, {}
        engine = sa.create_engine(self.database_url)
        for name, spec in load_mapping().datasets.items():
            schemas[name], schema = load_schema(spec)
            uris[name] = f"s3://bucket/{run_id}/{name}.csv"
            export_csv(engine, spec, schema, self.store, uris[name])
        return schemas, uris

    def build(self, names: RunNames) -> dict:
        schemas, uris = self.exports(names.run_id)
        return build_dataset_group(self.client, names, schemas=schemas, csv_uris=uris, role_arn=ROLE, poll=POLL,
                                   log=self.log.append)

    def train(self, names: RunNames, group_arn: str, **overrides) -> dict:
        kwargs = dict(recipe_arn=DEFAULT_RECIPE_ARN, perform_hpo=False, perform_auto_ml=False, event_type=None,
                      solution_config=None, poll=POLL, log=self.log.append)
        return train_solution_version(self.client, names, dataset_group_arn=group_arn, **{**kwargs, **overrides})

    def foreign(self) -> list[str]:
        """Resources someone else owns in the same account: one untagged group, one of another deployment."""
        arns = [self.client.create_dataset_group(name="search-team")["datasetGroupArn"],
                self.client.create_dataset_group(name="recsys-staging-0000", tags=[
                    {"tagKey": "recsys:deployment", "tagValue": "recsys-staging"},
                    {"tagKey": "recsys:run-id", "tagValue": "x"}])["datasetGroupArn"]]
        arns.append(self.client.create_schema(name="recsys-staging-0f0f0f0f-users",
                                              schema=json.dumps(json.loads(Path("schemas/users.json").read_text())))
                    ["schemaArn"])
        return arns

    def clean_up(self, *names: RunNames) -> None:
        for n in names:
            teardown(self.client, run_scope(self.client, n), POLL, self.log.append)
        teardown(self.client, sweep_scope(self.client, DEPLOYMENT, 0, set()), POLL, self.log.append)

    def assert_only(self, foreign: list[str]) -> None:
        left = {arn for rtype in TYPES.values() for r in rtype.list(self.client) for arn in [r[rtype.arn_key]]}
        assert left == set(foreign)


@pytest.fixture
def env(tmp_path, local_settings):
    return Env(tmp_path, local_settings.database_url)


def names(run: str) -> RunNames:
    return RunNames(DEPLOYMENT, f"{run}-0000-0000")


def test_import_fails(env):
    foreign, run = env.foreign(), names("a1a1a1a1")
    schemas, uris = env.exports(run.run_id)
    env.store.write_bytes(uris["items"], b"ITEM_ID,PRICE\n1,2.0\n")  # CATEGORY_ID is missing
    with pytest.raises(ResourceFailed, match="CATEGORY_ID"):
        build_dataset_group(env.client, run, schemas=schemas, csv_uris=uris, role_arn=ROLE, poll=POLL,
                            log=env.log.append)
    env.clean_up(run)
    env.assert_only(foreign)


def test_training_fails(env):
    foreign, run = env.foreign(), names("b2b2b2b2")
    group = env.build(run).dataset_group_arn
    with pytest.raises(ResourceFailed, match="fewer than 1000"):
        env.train(run, group, event_type="no-such-event")
    env.clean_up(run)
    env.assert_only(foreign)


def test_batch_job_fails(env):
    foreign, run = env.foreign(), names("c3c3c3c3")
    group = env.build(run).dataset_group_arn
    version = env.train(run, group).solution_version_arn
    with pytest.raises(ResourceFailed):
        run_batch_job(env.client, run, dataset_group_arn=group, solution_version_arn=version,
                            input_uri="s3://bucket/nothing-here/users.json", output_prefix="s3://bucket/out",
                            num_results=5, filter_expression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
                            role_arn=ROLE, poll=POLL, log=env.log.append)
    env.clean_up(run)
    env.assert_only(foreign)


def test_process_dies_between_create_and_wait_then_retry_reuses(env):
    """A step that died after creating a solution version: the retry waits for it instead of paying twice."""
    foreign, run = env.foreign(), names("d4d4d4d4")
    group = env.build(run).dataset_group_arn
    first = env.train(run, group)
    again = env.train(run, group)  # the retry of the same run
    assert again.reused and again.solution_version_arn == first.solution_version_arn
    assert len(rt.SOLUTION_VERSION.list(env.client, solutionArn=first.solution_arn)) == 1
    # The imports are reused too: same files, same run.
    assert set(env.build(run).imports_reused) == {"users", "items", "interactions"}
    env.clean_up()  # the process died: no run-scoped cleanup ever ran, only the sweep
    env.assert_only(foreign)


def test_training_past_its_maximum_is_stopped(tmp_path, local_settings):
    env = Env(tmp_path, local_settings.database_url)
    run = names("e5e5e5e5")
    group = env.build(run).dataset_group_arn
    slow = Env(tmp_path, local_settings.database_url, transition_seconds=30)  # the worker waits 30 s to start
    with pytest.raises(TrainingTooLong, match="stopped"):
        slow.train(run, group, poll=PollSettings(0.02, 0.05, training_timeout=0.3))
    versions = [v["status"] for s in rt.SOLUTION.list(env.client, datasetGroupArn=group)
                for v in rt.SOLUTION_VERSION.list(env.client, solutionArn=s["solutionArn"])]
    assert versions == ["CREATE STOPPED"]
    env.clean_up(run)
    env.assert_only([])


def test_throttling_storm_is_ridden_out(tmp_path, local_settings, monkeypatch):
    # botocore backs off up to seconds between retries; what matters here is that we retry, not how long.
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.001)
    calls = {"n": 0}
    serve = transport.LocalTransport.__call__

    def throttled(self, request, **kwargs):
        calls["n"] += 1
        # A storm: two of every three of the first 90 requests are throttled before the engine sees them.
        if calls["n"] <= 90 and calls["n"] % 3:
            body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))
        return serve(self, request, **kwargs)

    monkeypatch.setattr(transport.LocalTransport, "__call__", throttled)
    env = Env(tmp_path, local_settings.database_url)
    foreign, run = env.foreign(), names("f6f6f6f6")
    group = env.build(run).dataset_group_arn
    assert env.client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
    env.clean_up(run)
    env.assert_only(foreign)
    assert calls["n"] > 90


def test_teardown_meets_resources_still_being_created(tmp_path, local_settings):
    """Processes died right after their creates: teardown waits out what the service refuses to delete."""
    env = Env(tmp_path, local_settings.database_url, transition_seconds=1.0)
    c, quiet = env.client, (lambda _: None)
    importing, pending, deleting = names("a7a7a7a7"), names("a8a8a8a8"), names("a9a9a9a9")
    schemas, uris = env.exports(importing.run_id)
    group = c.create_dataset_group(name=importing.dataset_group, tags=importing.tags)["datasetGroupArn"]
    wait_for_status(c, rt.DATASET_GROUP, group, POLL, quiet)
    schema = c.create_schema(name=importing.schema("items"), schema=schemas["items"])["schemaArn"]
    dataset = c.create_dataset(name=importing.dataset("items"), schemaArn=schema, datasetGroupArn=group,
                               datasetType="ITEMS", tags=importing.tags)["datasetArn"]
    wait_for_status(c, rt.DATASET, dataset, POLL, quiet)
    c.create_dataset_import_job(jobName=importing.job("import-items"), datasetArn=dataset, roleArn=ROLE,
                                dataSource={"dataLocation": uris["items"]}, tags=importing.tags)
    # While the import runs the service refuses to delete the dataset (teardown must wait for it).
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.delete_dataset(datasetArn=dataset)
    gone = c.create_dataset_group(name=deleting.dataset_group, tags=deleting.tags)["datasetGroupArn"]
    wait_for_status(c, rt.DATASET_GROUP, gone, POLL, quiet)
    c.delete_dataset_group(datasetGroupArn=gone)  # an interrupted teardown left it DELETE PENDING
    c.create_dataset_group(name=pending.dataset_group, tags=pending.tags)  # still CREATE PENDING
    env.clean_up(importing, pending, deleting)
    env.assert_only([])


def test_second_run_while_the_first_runs(env):
    foreign, first, second = env.foreign(), names("b8b8b8b8"), names("c9c9c9c9")
    group_1 = env.build(first).dataset_group_arn
    group_2 = env.build(second).dataset_group_arn
    teardown(env.client, run_scope(env.client, first), POLL, env.log.append)
    assert [g["datasetGroupArn"] for g in rt.DATASET_GROUP.list(env.client)
            if g["datasetGroupArn"] in (group_1, group_2)] == [group_2]
    # A sweep that knows the second run is still going leaves it alone.
    teardown(env.client, sweep_scope(env.client, DEPLOYMENT, 0, {second.run_id}), POLL, env.log.append)
    assert env.client.describe_dataset_group(datasetGroupArn=group_2)["datasetGroup"]["status"] == "ACTIVE"
    env.clean_up(second)
    env.assert_only(foreign)


def test_foreign_resource_inside_our_group_is_left_with_the_group(env):
    run = names("d0d0d0d0")
    group = env.build(run).dataset_group_arn
    stranger = env.client.create_filter(name="someone-elses-filter", datasetGroupArn=group,
                                        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("view")')
    report = teardown(env.client, run_scope(env.client, run), POLL, env.log.append)
    assert stranger["filterArn"] in report.kept and group in report.kept
    assert env.client.describe_filter(filterArn=stranger["filterArn"])["filter"]["status"] == "ACTIVE"


def test_dry_run_lists_the_order_and_deletes_nothing(env):
    run = names("e1e1e1e1")
    group = env.build(run).dataset_group_arn
    before = {label: len(rtype.list(env.client)) for label, rtype in TYPES.items()}
    report = teardown(env.client, run_scope(env.client, run), POLL, env.log.append, dry_run=True)
    kinds = [arn.split(":")[5].split("/")[0] for arn in report.deleted]
    assert kinds == ["dataset", "dataset", "dataset", "dataset-group", "schema", "schema", "schema"]
    assert report.deleted[3] == group
    assert {label: len(rtype.list(env.client)) for label, rtype in TYPES.items()} == before


def test_teardown_goes_on_past_what_it_cannot_delete(env, monkeypatch):
    """A refused deletion leaves what the service's order needs gone after it (the datasets, the group, their
    schemas) and nothing else: the rest of that group and every other group still go, and the report says why."""
    foreign, stuck, fine = env.foreign(), names("a2a2a2a2"), names("a3a3a3a3")
    stuck_group, fine_group = env.build(stuck).dataset_group_arn, env.build(fine).dataset_group_arn
    expression = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("view")'
    refused = env.client.create_filter(name=stuck.filter(expression), datasetGroupArn=stuck_group,
                                       filterExpression=expression, tags=stuck.tags)["filterArn"]
    tracker = env.client.create_event_tracker(name=f"{stuck.key}-tracker", datasetGroupArn=stuck_group,
                                              tags=stuck.tags)["eventTrackerArn"]
    refuse_deletes(monkeypatch, rt.FILTER)
    report = teardown(env.client, sweep_scope(env.client, DEPLOYMENT, 0, set()), POLL, env.log.append)
    assert tracker in report.deleted and fine_group in report.deleted
    left = report.failed_by_type()
    assert (left["filter"], left["dataset-group"]) == ([refused], [stuck_group])
    assert len(left["dataset"]) == 3 and len(left["schema"]) == 3 and set(left) == {"filter", "dataset-group",
                                                                                      "dataset", "schema"}
    assert "refused" in report.failed[refused] and refused in report.failed[stuck_group]
    monkeypatch.undo()
    env.clean_up(stuck)
    env.assert_only(foreign)


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body
