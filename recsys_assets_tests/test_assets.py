"""Every asset on the local backend with real resources, through materialize()."""

import dagster as dg
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource
from moto import mock_aws

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS, interactions_csv, items_csv, users_csv
from recsys_assets.automation import cleanup_job, cleanup_run_config
from recsys_assets.demo import leftovers
from recsys_assets.resources import AwsPersonalizeResource, RunOutputsIOManager, S3ObjectStoreResource

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
    client.create_schema(name="recsys-foreign", schema=open("schemas/users.json").read())
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
        assert _meta(result, "interactions_csv")["dagster/row_count"] == 9000
        assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()} == {
            "schema_valid": True, "rows_valid": True, "minimum_data": True, "batch_output_complete": True,
            "solution_version_quality": True}
        group = _meta(result, "dataset_group")
        assert group["dataset_group_arn"].endswith(f"dataset-group/recsys-{result.run_id[:8]}")
        version = _meta(result, "solution_version")
        assert version["status"] == "ACTIVE" and version["training_hours"] > 0
        assert 0 < version["metric/normalized_discounted_cumulative_gain_at_10"] <= 1
        batch = _meta(result, "batch_output")
        assert (batch["users_requested"], batch["users_with_recommendations"], batch["error_lines"]) == (300, 300, 0)
        assert batch["recommendations"] == 3000
        table = _meta(result, "recommendations_table")
        assert table["dagster/row_count"] == 3000 and table["users"] == 300

        engine = sa.create_engine(local_settings.database_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(DISTINCT user_id), MAX(rank) FROM recommendations")).one() == (300, 10)
            # The filter: nothing a user already purchased comes back.
            assert conn.execute(sa.text(
                "SELECT COUNT(*) FROM recommendations r JOIN events e ON e.user_id = CAST(r.user_id AS INTEGER)"
                " AND e.item_id = CAST(r.item_id AS INTEGER) AND e.event_type = 'purchase'")).scalar() == 0

        teardown = cleanup_job.execute_in_process(run_config=cleanup_run_config(result.run_id), instance=instance,
                                                  resources=_cleanup_resources(local_resources))
    assert teardown.success
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
    result = dg.materialize(EXPORTS, resources={**local_resources, "object_store": store,
                                                "run_outputs": RunOutputsIOManager(object_store=store)})
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
    assert not worse.success
    gate = next(c for c in worse.get_asset_check_evaluations() if c.check_name == "solution_version_quality")
    assert not gate.passed and "fell from" in gate.metadata["problems"].value
    assert gate.metadata["compared_with_run"].value == good.run_id
    assert not worse.asset_materializations_for_node("batch_output")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM recommendations ORDER BY user_id, rank")).all() == yesterday


@mock_aws
def test_aws_preflight_stops_before_any_personalize_call(local_resources, monkeypatch):
    s3 = S3Resource(region_name="eu-west-1")
    s3.get_client().create_bucket(Bucket="shop-recs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    store = S3ObjectStoreResource(bucket="shop-recs", s3=s3)
    personalize = AwsPersonalizeResource(region_name="eu-west-1", role_arn="not-a-role-arn", object_store=store)
    clients = []
    monkeypatch.setattr(AwsPersonalizeResource, "get_client", lambda self: clients.append(self))
    result = dg.materialize(EXPORTS + [ALL_ASSETS[3]], raise_on_error=False, resources={
        **local_resources, "object_store": store, "personalize": personalize,
        "run_outputs": RunOutputsIOManager(object_store=store)})
    assert not result.success
    assert clients == []  # no Personalize client was even created
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "AWS preflight failed before any paid call" in message
    assert "role ARN 'not-a-role-arn' is malformed" in message and "has no bucket policy" in message
