"""A run that fails: kept for Dagster's retry (which builds on its records), or else cleaned up at once.

The first attempt fails at batch_output (its batch job fails). Where the instance retries runs, the
failure keeps what was paid for, and the re-execution from failure (as the retry daemon launches it, through
``execute_job(..., reexecution_options=...)``) runs only the failed steps: batch_output receives the solution
version the first attempt trained, and a cleanup of the root run then finds every resource the two runs made
as its own. Where nothing will retry it, the failing step deletes what the run created and its files before
the run ends, so a launch with no daemon to run the cleanup sensors leaves nothing.
"""

import dagster as dg
import pytest
import sqlalchemy as sa

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS, personalize
from recsys_assets.demo import leftovers
from recsys_assets.resources import build_resources
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import ResourceFailed
from recsys_assets.workflow.teardown import run_scope, teardown
from recsys_assets_tests.conftest import with_fields

IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
RETRIES = {"run_retries": {"enabled": True, "max_retries": 1}}


def resources() -> dict:
    resources = build_resources()
    resources["personalize"] = with_fields(resources["personalize"], local_transition_seconds=0.0,
                                           poll_interval_seconds=0.05, poll_max_interval_seconds=0.2)
    return resources


def job() -> dg.JobDefinition:
    defs = dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, resources=resources(),
                          jobs=[dg.define_asset_job("whole_graph", selection=dg.AssetSelection.all())])
    return defs.resolve_job_def("whole_graph")


@pytest.fixture
def first_batch_job_fails(local_settings, monkeypatch):
    monkeypatch.setenv("RECSYS_LOCAL_ROOT", local_settings.local_root)
    failing = [True]
    real_batch_job = personalize.run_batch_job

    def batch_job(*args, **kwargs):  # the first attempt's batch job fails, as a job can on the service
        if failing.pop() if failing else False:
            raise ResourceFailed("arn:aws:personalize:us-east-1:000000000000:batch-inference-job/x", "CREATE FAILED",
                                 "injected")
        return real_batch_job(*args, **kwargs)
    monkeypatch.setattr(personalize, "run_batch_job", batch_job)


def _materialized(result, asset: str):
    return next(e for e in result.all_events if e.is_step_materialization and e.asset_key == dg.AssetKey(asset))


def test_a_run_dagster_will_retry_keeps_its_work_for_the_reexecution(first_batch_job_fails, local_settings):
    with dg.instance_for_test(overrides=RETRIES) as instance:
        first = dg.execute_job(dg.reconstructable(job), instance=instance, run_config=IN_PROCESS,
                               raise_on_error=False)
        assert not first.success
        version_arn = _materialized(first, "solution_version").materialization.metadata["solution_version_arn"].value
        again = dg.execute_job(dg.reconstructable(job), instance=instance, run_config=IN_PROCESS,
                               reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, instance))
        assert again.success and again.dagster_run.root_run_id == first.run_id
        steps = {e.step_key for e in again.all_events if e.event_type == dg.DagsterEventType.STEP_START}
    assert steps == {"batch_output", "recommendations_table"}
    with sa.create_engine(local_settings.database_url).connect() as conn:
        assert conn.execute(sa.text("SELECT DISTINCT solution_version_arn FROM recommendations")).scalars().all() == [
            version_arn]
    # The cleanup of the root run: everything both attempts made is its own, and nothing is left.
    found = resources()["personalize"]
    client = found.get_client()
    report = teardown(client, run_scope(client, RunNames(found.deployment, first.run_id)), found.poll, print)
    assert report.deleted and not report.kept and not report.failed
    assert sum(leftovers(client).values()) == 0


def test_a_run_nothing_will_retry_deletes_what_it_made_when_it_fails(first_batch_job_fails, local_settings):
    with dg.instance_for_test() as instance:
        failed = dg.execute_job(dg.reconstructable(job), instance=instance, run_config=IN_PROCESS,
                                raise_on_error=False)
        logs = [e.user_message for e in instance.all_logs(failed.run_id) if e.step_key == "batch_output"]
    assert not failed.success and _materialized(failed, "solution_version")
    assert any("the run stops here: deleting what it created" in line for line in logs)
    found = resources()
    assert sum(leftovers(found["personalize"].get_client()).values()) == 0
    store = found["object_store"]
    assert store.get_store().list(store.run_folder(failed.run_id)) == []
