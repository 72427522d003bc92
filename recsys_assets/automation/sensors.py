"""Cleanup triggers, so nothing a run created keeps billing, and its files don't outlive it.

- the moment ``batch_output`` is materialized (nothing after it needs Personalize), keeping the run's files:
  ``recommendations_table`` still reads the batch output;
- at the end of every run: succeeded, failed (unless Dagster will retry it: the retry adopts what was
  already paid for) or canceled; this cleanup also deletes the run's files;
- and a periodic orphan sweep (``orphan_sweep_schedule``), should any of these have been missed.

The run-status sensors watch every run on the instance, not only this code location's: "Materialize all"
in the UI runs an implicit asset job, and ``dagster asset materialize`` runs in an ephemeral code location
of its own. What they request is this location's ``cleanup_job`` (the sensors' one target), which only
ever deletes this deployment's resources. Runs of the cleanup job itself are skipped. Run keys are the
watched run's id: each run is cleaned once per trigger, and teardown is idempotent.
"""

import dagster as dg

from recsys_assets.assets import batch_output
from recsys_assets.assets.common import root_run_id
from recsys_assets.automation.cleanup import UNFINISHED, cleanup_job, cleanup_run_config


def _cleanup_request(run: dg.DagsterRun, *, delete_run_files: bool) -> dg.RunRequest:
    root = root_run_id(run)
    return dg.RunRequest(run_key=run.run_id, job_name=cleanup_job.name,
                         run_config=cleanup_run_config(root, delete_run_files=delete_run_files),
                         tags={"recsys/cleans-run": root})


def _end_of_run_request(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.RunRequest | dg.SkipReason:
    if run.job_name == cleanup_job.name:
        return dg.SkipReason(f"run {run.run_id} is a cleanup run")
    if run.tags.get("dagster/will_retry") == "true":
        return dg.SkipReason(f"run {run.run_id} will be retried; the retry reuses its resources")
    # A re-execution of the same root still going shares the resources and files: the last to end cleans.
    root = root_run_id(run)
    going = [r.run_id for r in instance.get_runs(dg.RunsFilter(statuses=UNFINISHED))
             if root_run_id(r) == root and r.run_id != run.run_id]
    if going:
        return dg.SkipReason(f"run {going[0]} of the same root {root} is still going; it cleans up when it ends")
    return _cleanup_request(run, delete_run_files=True)


@dg.asset_sensor(asset_key=batch_output.key, job=cleanup_job, default_status=dg.DefaultSensorStatus.RUNNING,
                 minimum_interval_seconds=30,
                 description="Requests the cleanup job as soon as batch_output is materialized (the run's files "
                             "stay until the run ends).")
def cleanup_after_batch_output(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    run = context.instance.get_run_by_id(asset_event.run_id)
    if run is None:
        return dg.SkipReason(f"run {asset_event.run_id} of the materialization is gone")
    return _cleanup_request(run, delete_run_files=False)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, request_job=cleanup_job, monitor_all_code_locations=True,
                      default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
                      description="Requests the cleanup job, with the run's files, for every successful run.")
def cleanup_after_success(context: dg.RunStatusSensorContext):
    return _end_of_run_request(context.instance, context.dagster_run)


@dg.run_failure_sensor(request_job=cleanup_job, monitor_all_code_locations=True,
                       default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
                       description="Requests the cleanup job, with the run's files, for every failed run.")
def cleanup_after_failure(context: dg.RunFailureSensorContext):
    return _end_of_run_request(context.instance, context.dagster_run)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.CANCELED, request_job=cleanup_job,
                      monitor_all_code_locations=True, default_status=dg.DefaultSensorStatus.RUNNING,
                      minimum_interval_seconds=30,
                      description="Requests the cleanup job, with the run's files, for every canceled run.")
def cleanup_after_cancel(context: dg.RunStatusSensorContext):
    return _end_of_run_request(context.instance, context.dagster_run)
