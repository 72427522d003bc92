"""Re-execution from failure through Dagster's Python API: the new run builds on its parent's records.

The first attempt fails at batch_output (its batch job fails). The re-execution runs only the
failed steps: batch_output receives the solution version the first attempt trained (the parent run's
record), so nothing is trained or imported twice, and the write-back carries that version.
"""

import dagster as dg
import sqlalchemy as sa

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS, personalize
from recsys_assets.workflow.polling import ResourceFailed
from recsys_assets.resources import build_resources
from recsys_assets_tests.conftest import with_fields

IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def job() -> dg.JobDefinition:
    resources = build_resources()
    resources["personalize"] = with_fields(resources["personalize"], local_transition_seconds=0.0,
                                           poll_interval_seconds=0.05, poll_max_interval_seconds=0.2)
    defs = dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, resources=resources,
                          jobs=[dg.define_asset_job("whole_graph", selection=dg.AssetSelection.all())])
    return defs.resolve_job_def("whole_graph")


def test_reexecution_from_failure_uses_the_parent_runs_solution_version(local_settings, monkeypatch):
    monkeypatch.setenv("RECSYS_LOCAL_ROOT", local_settings.local_root)
    failing = [True]
    real_batch_job = personalize.run_batch_job

    def batch_job(*args, **kwargs):  # the first attempt's batch job fails, as a job can on the service
        if failing.pop() if failing else False:
            raise ResourceFailed("arn:aws:personalize:us-east-1:000000000000:batch-inference-job/x", "CREATE FAILED",
                                 "injected")
        return real_batch_job(*args, **kwargs)
    monkeypatch.setattr(personalize, "run_batch_job", batch_job)
    with dg.instance_for_test() as instance:
        first = dg.execute_job(dg.reconstructable(job), instance=instance, run_config=IN_PROCESS,
                               raise_on_error=False)
        assert not first.success
        trained = next(e for e in first.all_events if e.is_step_materialization
                       and e.asset_key == dg.AssetKey("solution_version"))
        version_arn = trained.materialization.metadata["solution_version_arn"].value
        again = dg.execute_job(dg.reconstructable(job), instance=instance, run_config=IN_PROCESS,
                               reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, instance))
        assert again.success and again.dagster_run.root_run_id == first.run_id
        steps = {e.step_key for e in again.all_events if e.event_type == dg.DagsterEventType.STEP_START}
    assert steps == {"batch_output", "recommendations_table"}
    with sa.create_engine(local_settings.database_url).connect() as conn:
        assert conn.execute(sa.text("SELECT DISTINCT solution_version_arn FROM recommendations")).scalars().all() == [
            version_arn]
