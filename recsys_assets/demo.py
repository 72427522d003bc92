"""`make demo`: seed the demo shop, run the whole graph on the local backend, clean up, summarise.

The cleanup is requested by the real success (or failure) sensor, evaluated on the finished run, so
the demo exercises the same path as `dagster dev` does. Exits non-zero if the run failed, a user got
no recommendations, or any Personalize resource is left in the engine.
"""

import sys
import time

import dagster as dg
import sqlalchemy as sa

from recsys_assets.app_database import scalar
from recsys_assets.automation import cleanup_after_failure, cleanup_after_success, cleanup_job
from recsys_assets.definitions import defs, settings
from recsys_assets.sample_data import generate
from recsys_assets.workflow import resource_types as rt

# Progress (statuses, durations) at INFO; Dagster's step events at DEBUG would bury the summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
LEFTOVER_TYPES = {"dataset groups": rt.DATASET_GROUP, "schemas": rt.SCHEMA, "solutions": rt.SOLUTION,
                  "filters": rt.FILTER, "datasets": rt.DATASET}


def leftovers(client) -> dict[str, int]:
    return {label: len(rtype.list(client)) for label, rtype in LEFTOVER_TYPES.items()}


def main() -> int:
    if settings.backend != "local" or settings.database_url != settings.demo_database_url:
        print("make demo runs on the embedded default only: unset RECSYS_BACKEND and RECSYS_DATABASE_URL.")
        return 2
    started = time.monotonic()
    counts = generate(settings.database_url)
    print(f"seeded {settings.database_url}: {counts['users']} users, {counts['items']} items, "
          f"{counts['events']} events")
    instance = dg.DagsterInstance.get()
    result = defs.resolve_job_def("daily_recs_job").execute_in_process(instance=instance, run_config=QUIET,
                                                                         raise_on_error=False)
    print(f"daily_recs_job {'succeeded' if result.success else 'FAILED'} (run {result.run_id})")

    sensor = cleanup_after_success if result.success else cleanup_after_failure
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_success_event() if result.success else result.get_run_failure_event(),
    )
    request = sensor(context.for_run_failure() if not result.success else context)
    cleanup = defs.resolve_job_def(cleanup_job.name).execute_in_process(
        run_config={**request.run_config, **QUIET}, instance=instance, tags=request.tags)
    report = cleanup.output_for_node("teardown_personalize_resources")
    print(f"cleanup_job {'succeeded' if cleanup.success else 'FAILED'}: deleted {len(report['deleted'])} "
          f"Personalize resources")

    engine = sa.create_engine(settings.database_url)
    users = scalar(engine, "SELECT COUNT(*) FROM users")
    covered = scalar(engine, "SELECT COUNT(DISTINCT user_id) FROM recommendations") if result.success else 0
    rows = scalar(engine, "SELECT COUNT(*) FROM recommendations") if result.success else 0
    left = leftovers(defs.resources["personalize"].get_client())
    print(f"users covered: {covered} of {users}; recommendations written: {rows}")
    if result.success:
        meta = result.asset_materializations_for_node("solution_version")[0].metadata
        for name in ("precision_at_10", "normalized_discounted_cumulative_gain_at_10", "coverage"):
            print(f"  {name}: {meta[f'metric/{name}'].value:.4f}")
    print(f"Personalize resources left: {sum(left.values())} ({', '.join(f'{k}: {v}' for k, v in left.items())})")
    print(f"done in {time.monotonic() - started:.0f}s")
    ok = result.success and cleanup.success and covered == users and not any(left.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
