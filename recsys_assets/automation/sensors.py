"""Cleanup triggers, so nothing a run created keeps billing.

- the moment ``batch_output`` is materialized (nothing after it needs Personalize);
- after a successful run that did not materialize ``batch_output`` (a partial materialization);
- after a failed run, unless Dagster will retry it (the retry adopts what was already paid for);
- and a periodic orphan sweep (``orphan_sweep_schedule``), should any of these have been missed.

The run-status sensors watch every job of this code location: "Materialize all" in the UI runs an
implicit asset job, not ``daily_recs_job``. Runs of the cleanup job itself are skipped. Run keys are
the watched run's id: each run is cleaned once per trigger, and teardown is idempotent.
"""

import dagster as dg

from recsys_assets.assets import batch_output
from recsys_assets.assets.common import root_run_id
from recsys_assets.automation.cleanup import cleanup_job, cleanup_run_config


def _cleanup_request(run: dg.DagsterRun) -> dg.RunRequest:
    root = root_run_id(run)
    return dg.RunRequest(run_key=run.run_id, run_config=cleanup_run_config(root), tags={"recsys/cleans-run": root})


@dg.asset_sensor(asset_key=batch_output.key, job=cleanup_job, default_status=dg.DefaultSensorStatus.RUNNING,
                 minimum_interval_seconds=30,
                 description="Requests the cleanup job as soon as batch_output is materialized.")
def cleanup_after_batch_output(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    run = context.instance.get_run_by_id(asset_event.run_id)
    if run is None:
        return dg.SkipReason(f"run {asset_event.run_id} of the materialization is gone")
    return _cleanup_request(run)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, request_job=cleanup_job,
                      default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
                      description="Requests the cleanup job for every successful run.")
def cleanup_after_success(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    if run.job_name == cleanup_job.name:
        return dg.SkipReason(f"run {run.run_id} is a cleanup run")
    materialized = context.instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    if any(r.event_log_entry.asset_materialization.asset_key == batch_output.key for r in materialized):
        return dg.SkipReason(f"run {run.run_id} materialized batch_output; cleaned up from there")
    return _cleanup_request(run)


@dg.run_failure_sensor(request_job=cleanup_job, default_status=dg.DefaultSensorStatus.RUNNING,
                       minimum_interval_seconds=30, description="Requests the cleanup job for every failed run.")
def cleanup_after_failure(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    if run.job_name == cleanup_job.name:
        return dg.SkipReason(f"run {run.run_id} is a cleanup run")
    if run.tags.get("dagster/will_retry") == "true":
        return dg.SkipReason(f"run {run.run_id} will be retried; the retry reuses its resources")
    return _cleanup_request(run)
