"""Cleanup after every run, successful or failed, so nothing a run created keeps billing.

The sensors watch every job of this code location: a run launched with "Materialize all" in the UI
runs an implicit asset job, not ``daily_recs_job``, and must be cleaned up too. Runs of the cleanup
job itself are skipped. The run key is the watched run's id, so each run is cleaned once.
"""


import dagster as dg

from recsys_assets.automation.cleanup import cleanup_job, cleanup_run_config


def _cleanup_request(run: dg.DagsterRun) -> dg.RunRequest | dg.SkipReason:
    if run.job_name == cleanup_job.name:
        return dg.SkipReason(f"run {run.run_id} is a cleanup run")
    root = run.tags.get("dagster/root_run_id") or run.run_id
    return dg.RunRequest(run_key=run.run_id, run_config=cleanup_run_config(root),
                         tags={"recsys/cleans-run": root})


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, request_job=cleanup_job,
                      default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
                      description="Requests the cleanup job for every successful run.")
def cleanup_after_success(context: dg.RunStatusSensorContext):
    return _cleanup_request(context.dagster_run)


@dg.run_failure_sensor(request_job=cleanup_job, default_status=dg.DefaultSensorStatus.RUNNING,
                       minimum_interval_seconds=30, description="Requests the cleanup job for every failed run.")
def cleanup_after_failure(context: dg.RunFailureSensorContext):
    return _cleanup_request(context.dagster_run)
