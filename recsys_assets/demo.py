"""`make demo`: seed the demo shop, run the whole graph on the local backend, clean up, summarise.

The cleanups are requested by the real sensors, evaluated on the finished run: batch_output's, then the
end-of-run one (success or failure), so the demo exercises the same path as `dagster dev` does. Their runs
carry the tags the daemon gives a sensor's runs, so a `make dev` afterwards requests nothing more for the
demo's run. Exits
non-zero if the run failed, a user got no recommendations, or any Personalize resource of this
deployment or any file of the run is left (others are never touched).
"""

import sys
import time

import dagster as dg
import sqlalchemy as sa

from recsys_assets.app_database import scalar
from recsys_assets.automation import (
    DAILY_JOB,
    cleanup_after_batch_output,
    cleanup_after_failure,
    cleanup_after_success,
    cleanup_job,
)
from recsys_assets.definitions import defs
from recsys_assets.sample_data import generate
from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.teardown import sweep_scope

# Progress (statuses, durations) at INFO; Dagster's step events at DEBUG would bury the summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
LEFTOVER_TYPES = {"dataset groups": rt.DATASET_GROUP, "schemas": rt.SCHEMA, "solutions": rt.SOLUTION,
                  "filters": rt.FILTER, "datasets": rt.DATASET}


def leftovers(client) -> dict[str, int]:
    """Every dataset group, schema, solution, filter and dataset in the engine, ours or not."""
    return {label: len(rtype.list(client)) for label, rtype in LEFTOVER_TYPES.items()}


def owned_leftovers(client, deployment: str) -> int:
    """Resources of this deployment still there: its dataset groups (with what they hold) and schemas."""
    scope = sweep_scope(client, deployment, 0, set())
    inside = sum(len(rtype.list(client, datasetGroupArn=group)) for group in scope.groups
                 for rtype in (rt.DATASET, rt.SOLUTION, rt.FILTER))
    return len(scope.groups) + len(scope.schemas) + inside


def cleanup_requests(instance: dg.DagsterInstance,
                     result: dg.ExecuteInProcessResult) -> list[tuple[dg.SensorDefinition, dg.RunRequest]]:
    """What the cleanup sensors request for this run, as the daemon would: batch_output's (the run's resources;
    its files stay) if the run got that far, then the end-of-run sensor's (what is left, and the files)."""
    requests = []
    if result.asset_materializations_for_node("batch_output"):
        # Without a cursor the sensor takes the latest materialization: this run's.
        with dg.build_sensor_context(instance=instance, sensor_name=cleanup_after_batch_output.name) as context:
            requests += [(cleanup_after_batch_output, request)
                         for request in cleanup_after_batch_output.evaluate_tick(context).run_requests]
    sensor = cleanup_after_success if result.success else cleanup_after_failure
    event = result.get_run_success_event() if result.success else result.get_run_failure_event()
    context = dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_instance=instance,
                                                 dagster_run=result.dagster_run, dagster_event=event)
    return [*requests, (sensor, sensor(context if result.success else context.for_run_failure()))]


def daemon_tags(sensor: dg.SensorDefinition, request: dg.RunRequest) -> dict[str, str]:
    """The tags the sensor daemon gives the run it creates for ``request``. It creates none for a request whose
    run key a run of the same sensor already carries: so the daemon's first ticks after the demo (the
    batch_output sensor's starts from no cursor, at the demo's materialization) request nothing for its run."""
    return {**request.tags, "dagster/sensor_name": sensor.name, "dagster/run_key": request.run_key}


def main() -> int:
    app_db, personalize = defs.resources["app_db"], defs.resources["personalize"]
    if personalize.backend != "local" or app_db.url is not None:
        print("make demo runs on the embedded default only: unset RECSYS_BACKEND and RECSYS_DATABASE_URL.")
        return 2
    started = time.monotonic()
    counts = generate(app_db.database_url)
    print(f"seeded {app_db.database_url}: {counts['users']} users, {counts['items']} items, "
          f"{counts['events']} events")
    instance = dg.DagsterInstance.get()
    result = defs.resolve_job_def(DAILY_JOB).execute_in_process(instance=instance, run_config=QUIET,
                                                                         raise_on_error=False)
    print(f"daily_recs_job {'succeeded' if result.success else 'FAILED'} (run {result.run_id})")

    cleaned = True
    for sensor, request in cleanup_requests(instance, result):
        cleanup = defs.resolve_job_def(cleanup_job.name).execute_in_process(
            run_config={**request.run_config, **QUIET}, instance=instance, tags=daemon_tags(sensor, request))
        report = cleanup.output_for_node("teardown_personalize_resources")
        print(f"cleanup_job ({sensor.name}) {'succeeded' if cleanup.success else 'FAILED'}: deleted "
              f"{len(report['deleted'])} Personalize resources")
        cleaned = cleaned and cleanup.success

    db = sa.create_engine(app_db.database_url)
    users = scalar(db, "SELECT COUNT(*) FROM users")
    covered = scalar(db, "SELECT COUNT(DISTINCT user_id) FROM recommendations") if result.success else 0
    rows = scalar(db, "SELECT COUNT(*) FROM recommendations") if result.success else 0
    client = personalize.get_client()
    ours, everything = owned_leftovers(client, personalize.deployment), sum(leftovers(client).values())
    print(f"users covered: {covered} of {users}; recommendations written: {rows}")
    if result.success:
        meta = result.asset_materializations_for_node("solution_version")[0].metadata
        for name in ("precision_at_10", "ndcg_at_10", "coverage"):
            print(f"  {name}: {meta[name].value:.4f}")
        cost = {k: v.value for k, v in result.asset_materializations_for_node("batch_output")[0].metadata.items()}
        print(f"on AWS at list prices this run would cost ${cost['cost_usd']:.2f} (estimated before its "
              f"first paid call: ${cost['estimated_cost_usd']:.2f}); a month of daily runs "
              f"${cost['monthly_cost_usd']:.2f}, nearly all of it the batch job (README, Cost control)")
    object_store = defs.resources["object_store"]
    files = len(object_store.get_store().list(object_store.run_folder(result.run_id)))
    print(f"Personalize resources of deployment {personalize.deployment!r} left: {ours}; "
          f"other resources in the engine, untouched: {everything - ours}; the run's files left: {files}")
    print(f"done in {time.monotonic() - started:.0f}s")
    ok = result.success and cleaned and covered == users and ours == 0 and files == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
