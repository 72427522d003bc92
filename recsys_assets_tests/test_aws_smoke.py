"""The whole graph on a real AWS account with tiny data: the bill's dimensions, and nothing left behind.

Skipped unless RECSYS_RUN_AWS_TESTS=1. Needs the stack of `aws/recsys-assets.yaml` and, in the environment,
RECSYS_S3_BUCKET, RECSYS_PERSONALIZE_ROLE_ARN, a region and credentials (README, "Running on AWS"). It takes
about an hour (imports ~10 min, training ~40 min) and costs cents to a few dollars (the README's cost table,
demo shop scaled down): run it before a release, not in CI.
"""

import os

import dagster as dg
import pytest

pytestmark = [pytest.mark.aws, pytest.mark.skipif(os.environ.get("RECSYS_RUN_AWS_TESTS") != "1",
                                                  reason="live AWS test: set RECSYS_RUN_AWS_TESTS=1 (costs money)")]


def test_whole_graph_on_aws_bills_what_was_estimated_and_leaves_nothing(tmp_path, monkeypatch):
    from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS
    from recsys_assets.automation import cleanup_job, cleanup_run_config
    from recsys_assets.resources import build_resources
    from recsys_assets.sample_data import generate
    from recsys_assets.workflow import resource_types as rt
    from recsys_assets.workflow.naming import RunNames
    from recsys_assets.workflow.teardown import run_scope

    database_url = f"sqlite:///{tmp_path / 'shop.db'}"
    generate(database_url, users=300, items=200, interactions=6000, seed=7)
    # The database URL is read when the run starts (a secret: an EnvVar, never in the config).
    for variable, value in {"RECSYS_BACKEND": "aws", "RECSYS_DATABASE_URL": database_url,
                            "RECSYS_DEPLOYMENT": "recsys-smoke"}.items():
        monkeypatch.setenv(variable, value)
    resources = build_resources()
    client = resources["personalize"].get_client()
    with dg.instance_for_test() as instance:
        result = dg.materialize(ALL_ASSETS + ALL_CHECKS, resources=resources, instance=instance,
                                run_config={"ops": {"batch_output": {"config": {"num_results": 5}}}},
                                raise_on_error=False)
        try:
            assert result.success
            meta = {node: {k: getattr(v, "value", v) for k, v in
                           result.asset_materializations_for_node(node)[0].metadata.items()}
                    for node in ("dataset_group", "solution_version", "batch_output")}
            # the dimensions of the bill: bytes ingested, training (v2: interactions), recommendations
            assert meta["dataset_group"]["gb_ingested"] > 0
            assert "interactions" in meta["solution_version"]["training_cost"]
            assert meta["batch_output"]["recommendations"] == 300 * 5
            assert meta["batch_output"]["cost_usd"] > 0
        finally:
            cleanup = cleanup_job.execute_in_process(run_config=cleanup_run_config(result.run_id, delete_run_files=True),
                                                     resources=resources, instance=instance, raise_on_error=False)
    assert cleanup.success
    scope = run_scope(client, RunNames("recsys-smoke", result.run_id))
    assert scope.groups == [] and scope.schemas == []
    assert not [s for s in rt.SOLUTION.list(client) if s["name"].startswith(RunNames("recsys-smoke", result.run_id).key)]
    store = resources["object_store"].get_store()
    assert store.list(resources["object_store"].uri(result.run_id)) == []
