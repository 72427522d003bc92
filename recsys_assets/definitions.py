"""Composition only: assets, jobs, schedule, sensors and the resources of the configured backend."""

import dagster as dg

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS
from recsys_assets.automation import (
    cleanup_after_batch_output,
    cleanup_after_failure,
    cleanup_after_success,
    cleanup_job,
    daily_recs_job,
    daily_schedule,
    orphan_sweep_schedule,
)
from recsys_assets.resources import build_resources, load_settings

settings = load_settings()

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[daily_recs_job, cleanup_job],
    schedules=[daily_schedule(settings), orphan_sweep_schedule(settings)],
    sensors=[cleanup_after_batch_output, cleanup_after_success, cleanup_after_failure],
    resources=build_resources(settings),
)
