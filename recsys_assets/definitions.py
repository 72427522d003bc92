"""Composition only: assets, checks, jobs, schedules, sensors and the resources of the configured backend."""

import dagster as dg

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS
from recsys_assets.automation import (
    ScheduleSettings,
    cleanup_after_batch_output,
    cleanup_after_cancel,
    cleanup_after_failure,
    cleanup_after_success,
    cleanup_job,
    daily_job,
    daily_schedule,
    max_runtime_seconds,
    orphan_sweep_schedule,
    runs_per_month,
)
from recsys_assets.resources import build_resources
from recsys_assets.resources.environment import from_environment

schedules = from_environment(ScheduleSettings)
resources = build_resources(runs_per_month=runs_per_month(schedules))
daily_recs_job = daily_job(resources["personalize"].deployment, max_runtime_seconds(
    training_hours=resources["guardrails"].max_training_hours, job_timeout_seconds=resources["personalize"].timeout_seconds))

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[daily_recs_job, cleanup_job],
    schedules=[daily_schedule(schedules, daily_recs_job), orphan_sweep_schedule(schedules)],
    sensors=[cleanup_after_batch_output, cleanup_after_success, cleanup_after_failure, cleanup_after_cancel],
    resources=resources,
)
