"""Every asset on the local backend with real resources, through materialize()."""

from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource
from moto import mock_aws

from recsys_assets.assets import (
    ALL_ASSETS,
    ALL_CHECKS,
    dataset_group,
    interactions_csv,
    items_csv,
    solution_version,
    users_csv,
)
from recsys_assets.automation import cleanup_after_batch_output, cleanup_job, cleanup_run_config
from recsys_assets.demo import cleanup_requests, daemon_tags, leftovers
from recsys_assets.resources import AwsPersonalizeResource, S3ObjectStoreResource
from recsys_assets.workflow.polling import duration

EXPORTS = [users_csv, items_csv, interactions_csv]
NO_REPURCHASE = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'  # the README's durable-goods filter


def _cleanup_resources(resources):
    # Every resource of the code location, as definitions.py binds them to the cleanup job too.
    return resources


def _meta(result, node):
    return {k: getattr(v, "value", v) for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def _foreign_group(client):
    """A dataset group someone else owns, in the same account: teardown must never touch it."""
    arn = client.create_dataset_group(name="someone-elses-group",
                                      tags=[{"tagKey": "team", "tagValue": "search"}])["datasetGroupArn"]
    client.create_schema(name="recsys-foreign", schema=Path("schemas/users.json").read_text())
    return arn


def test_whole_graph_then_cleanup_leaves_only_foreign_resources(local_resources, local_settings):
    client = local_resources["personalize"].get_client()
    foreign = _foreign_group(client)
    with dg.instance_for_test() as instance:
        result = dg.materialize(ALL_ASSETS + ALL_CHECKS, resources=local_resources, instance=instance,
                                run_config={"ops": {"batch_output": {"config": {
                                    "num_results": 10, "filter_expression": NO_REPURCHASE}}}})
        assert result.success

        users = _meta(result, "users_csv")
        assert users["valid"] and users["dagster/row_count"] == 300 and users["uri"].startswith("s3://")
        assert "| OS_DEVICE | string | yes | categorical |" in users["schema"]
        assert _meta(result, "interactions_csv")["dagster/row_count"] == 9000
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert {name: c.passed for name, c in checks.items()} == {
            "schema_valid": True, "rows_valid": True, "minimum_data": True, "batch_output_complete": True,
            "solution_version_quality": True}
        minimums = checks["minimum_data"].metadata["minimums"].value
        assert "| interactions | 1,000 | 9,000 |" in minimums
        assert "| users with 2+ interactions | 25 | 300 |" in minimums and "| 1% | 100.0% |" in minimums
        group = _meta(result, "dataset_group")
        assert group["dataset_group_arn"].endswith(f"dataset-group/recsys-{result.run_id[:8]}")
        version = _meta(result, "solution_version")
        assert version["status"] == "ACTIVE" and version["training_hours"] > 0 and version["training_minutes"] > 0
        assert 0 < version["ndcg_at_10"] <= 1 and 0 < version["precision_at_10"] <= 1 and 0 < version["coverage"] <= 1
        assert len(version["metrics_json"]) == 8
        assert f"| ndcg_at_10 | {version['ndcg_at_10']:.4f} |" in version["metrics"]
        assert version["training_cost"].startswith("as estimated")  # v2: billed by the interactions, known upfront
        batch = _meta(result, "batch_output")
        assert (batch["users_requested"], batch["users_covered"], batch["error_lines"]) == (300, 300, 0)
        assert batch["recommendations"] == 3000
        # The cost table's estimate is the one made before the first paid call.
        assert batch["estimated_cost_usd"] == group["estimated_cost_usd"] > 0 and batch["cost_usd"] > 0
        total = f"| **total** | **${group['estimated_cost_usd']:.4f}** | **${batch['cost_usd']:.4f}** |"
        assert total in batch["cost"]
        table = _meta(result, "recommendations_table")
        assert table["dagster/row_count"] == 3000 and table["users_covered"] == 300

        engine = sa.create_engine(local_settings.database_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(DISTINCT user_id), MAX(rank) FROM recommendations")).one() == (300, 10)
            # The filter: nothing a user already purchased comes back.
            assert conn.execute(sa.text(
                "SELECT COUNT(*) FROM recommendations r JOIN events e ON e.user_id = CAST(r.user_id AS INTEGER)"
                " AND e.item_id = CAST(r.item_id AS INTEGER) AND e.event_type = 'purchase'")).scalar() == 0

        # The cleanups the sensors request, run as the demo runs them: with the tags the daemon gives them.
        requests = cleanup_requests(instance, result)
        assert [sensor.name for sensor, _ in requests] == ["cleanup_after_batch_output", "cleanup_after_success"]
        for sensor, request in requests:
            teardown = cleanup_job.execute_in_process(run_config=request.run_config, instance=instance,
                                                      tags=daemon_tags(sensor, request),
                                                      resources=_cleanup_resources(local_resources))
            assert teardown.success
        # No stray cleanup in a `make dev` after the demo: the batch_output sensor's first tick (no cursor) asks
        # again for this run, and the daemon creates no run for a run key one of the sensor's runs carries
        # (RunRequest.run_key, https://docs.dagster.io/api/schedules-sensors), matched by the sensor_name tag.
        with dg.build_sensor_context(instance=instance, sensor_name=cleanup_after_batch_output.name) as context:
            [again] = cleanup_after_batch_output.evaluate_tick(context).run_requests
        assert instance.get_runs(dg.RunsFilter(tags={"dagster/sensor_name": cleanup_after_batch_output.name,
                                                     "dagster/run_key": again.run_key}))
    assert leftovers(client) == {"dataset groups": 1, "schemas": 1, "solutions": 0, "filters": 0, "datasets": 0}
    assert client.describe_dataset_group(datasetGroupArn=foreign)["datasetGroup"]["status"] == "ACTIVE"
    # A second cleanup of the same run finds nothing of ours and changes nothing.
    again = cleanup_job.execute_in_process(run_config=cleanup_run_config(result.run_id),
                                           resources=_cleanup_resources(local_resources))
    assert again.output_for_node("teardown_personalize_resources") == {"deleted": [], "kept": {}}


def test_invalid_rows_stop_the_run_before_personalize(local_resources, local_settings):
    with sa.create_engine(local_settings.database_url).begin() as conn:
        conn.execute(sa.text("UPDATE events SET event_type = '' WHERE event_id = 5"))
    result = dg.materialize(ALL_ASSETS, resources=local_resources, raise_on_error=False)
    assert not result.success
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    bad = checks[("interactions_csv", "rows_valid")]
    assert not bad.passed and bad.metadata["column"].value == "EVENT_TYPE"
    assert "interactions.csv" in bad.metadata["error"].value
    assert not result.asset_materializations_for_node("dataset_group")
    client = local_resources["personalize"].get_client()
    assert leftovers(client) == {"dataset groups": 0, "schemas": 0, "solutions": 0, "filters": 0, "datasets": 0}


def test_too_little_data_blocks_on_minimum_check(local_resources, local_settings):
    with sa.create_engine(local_settings.database_url).begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE event_id > 800"))
    result = dg.materialize(ALL_ASSETS, resources=local_resources, raise_on_error=False)
    assert not result.success
    minimum = next(c for c in result.get_asset_check_evaluations() if c.check_name == "minimum_data")
    assert not minimum.passed and "fewer than 1000" in minimum.metadata["problems"].value
    assert not result.asset_materializations_for_node("dataset_group")


def test_subset_run_refuses_torn_down_upstream(local_resources):
    """Materializing solution_version alone never builds on another run's (long torn down) dataset group."""
    with dg.instance_for_test() as instance:
        first = dg.materialize(EXPORTS + [ALL_ASSETS[3]], resources=local_resources, instance=instance)
        cleanup_job.execute_in_process(run_config=cleanup_run_config(first.run_id), instance=instance,
                                       resources=_cleanup_resources(local_resources))
        second = dg.materialize(ALL_ASSETS, selection=["solution_version"], resources=local_resources,
                                instance=instance, raise_on_error=False)
    assert not second.success
    failure = next(e for e in second.all_events if e.event_type_value == "STEP_FAILURE")
    assert "there is no record of dataset_group from run" in str(failure.event_specific_data.error)


@mock_aws
def test_exports_write_to_s3(local_resources):
    s3 = S3Resource(region_name="us-east-1")
    s3.get_client().create_bucket(Bucket="shop-recs")
    store = S3ObjectStoreResource(bucket="shop-recs", prefix="daily", s3=s3)
    result = dg.materialize(EXPORTS, resources={**local_resources, "object_store": store})
    assert result.success
    keys = sorted(o["Key"] for o in s3.get_client().list_objects_v2(Bucket="shop-recs")["Contents"])
    names = ("interactions", "items", "users")
    # The CSVs, and each asset's record of this run for the next asset.
    assert keys == sorted([f"daily/{result.run_id}/{name}.csv" for name in names]
                          + [f"daily/{result.run_id}/outputs/{name}_csv.json" for name in names])
    body = s3.get_client().get_object(Bucket="shop-recs", Key=f"daily/{result.run_id}/items.csv")["Body"].read().decode()
    assert body.splitlines()[0] == "ITEM_ID,CATEGORY_ID,PRICE" and len(body.splitlines()) == 121


def test_quality_gate_keeps_yesterdays_recommendations(local_resources, local_settings):
    """A model that regresses against the last good run never reaches the app: the write-back is skipped."""
    engine = sa.create_engine(local_settings.database_url)
    with dg.instance_for_test() as instance:
        good = dg.materialize(ALL_ASSETS + ALL_CHECKS, resources=local_resources, instance=instance)
        assert good.success
        with engine.connect() as conn:
            yesterday = conn.execute(sa.text("SELECT * FROM recommendations ORDER BY user_id, rank")).all()
        worse = dg.materialize(
            ALL_ASSETS + ALL_CHECKS, resources=local_resources, instance=instance, raise_on_error=False,
            run_config={"ops": {"solution_version": {"config": {
                "recipe_arn": "arn:aws:personalize:::recipe/aws-popularity-count"}}}})
        worse_logs = [e.user_message for e in instance.all_logs(worse.run_id) if e.step_key == "solution_version"]
    assert not worse.success
    gate = next(c for c in worse.get_asset_check_evaluations() if c.check_name == "solution_version_quality")
    assert not gate.passed and "fell from" in gate.metadata["problems"].value
    assert gate.metadata["compared_with_run"].value == good.run_id
    before, after = (_meta(r, "solution_version")["ndcg_at_10"] for r in (good, worse))
    row = f"| ndcg_at_10 | {after:.4f} | {before:.4f} | {(after - before) / before:+.1%} |"
    assert row in gate.metadata["metrics"].value
    # Another recipe's training is not expected to take as long as the first run's.
    assert not any("previous runs took" in line for line in worse_logs)
    # Billed by the hour: estimated at the expected hour, billed the hours the service reports.
    assert _meta(worse, "solution_version")["training_cost"].startswith(
        "estimated 1 training h x $0.24/h, billed 0.")
    assert not worse.asset_materializations_for_node("batch_output")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM recommendations ORDER BY user_id, rank")).all() == yesterday


def test_a_second_training_says_what_is_left_from_the_first(local_resources):
    """The progress lines of a wait expect what the same asset took on the deployment's previous run."""
    with dg.instance_for_test() as instance:
        first, second = (dg.materialize(EXPORTS + [dataset_group, solution_version], resources=local_resources,
                                        instance=instance) for _ in range(2))
        lines = [e.user_message for e in instance.all_logs(second.run_id) if e.step_key == "solution_version"]
    took = _meta(first, "solution_version")["training_minutes"] * 60
    progress = [line for line in lines if "previous runs took about" in line]
    assert progress and all(f"about {duration(took)}" in line for line in progress)
    assert "left" in progress[0] or "longer so far" in progress[0]


@mock_aws
def test_aws_preflight_stops_before_any_personalize_call(local_resources, monkeypatch):
    s3 = S3Resource(region_name="eu-west-1")
    s3.get_client().create_bucket(Bucket="shop-recs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    store = S3ObjectStoreResource(bucket="shop-recs", s3=s3)
    personalize = AwsPersonalizeResource(region_name="eu-west-1", role_arn="not-a-role-arn", object_store=store)
    clients = []
    monkeypatch.setattr(AwsPersonalizeResource, "get_client", lambda self: clients.append(self))
    result = dg.materialize(EXPORTS + [ALL_ASSETS[3]], raise_on_error=False, resources={
        **local_resources, "object_store": store, "personalize": personalize})
    assert not result.success
    assert clients == []  # no Personalize client was even created
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "AWS preflight failed before any paid call" in message
    assert "role ARN 'not-a-role-arn' is malformed" in message and "has no bucket policy" in message
