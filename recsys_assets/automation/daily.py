"""The daily job over the whole graph, its schedule, the orphan sweep's schedule, and the runs they make."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import dagster as dg
import pydantic

from recsys_assets.automation.cleanup import cleanup_job, cleanup_run_config
from recsys_assets.resources.environment import env

DAILY_JOB = "daily_recs_job"
# Runs carrying the same value queue behind each other (dagster.yaml: concurrency.runs.tag_concurrency_limits).
DEPLOYMENT_TAG = "recsys/deployment"


class ScheduleSettings(pydantic.BaseModel):
    cron: str = env("RECSYS_SCHEDULE_CRON", default="0 3 * * *", description="When the daily job runs")
    timezone: str = env("RECSYS_SCHEDULE_TIMEZONE", default="UTC", description="The schedules' time zone")
    sweep_cron: str = env("RECSYS_SWEEP_CRON", default="17 * * * *", description="When the orphan sweep runs")
    # Deployments keep "running"; `make dev` says "stopped", so an idle dev instance neither runs the whole graph
    # nor sweeps until someone starts the schedules in the UI. The cleanup sensors always run: they are the
    # teardown guarantee. It sets the default only: a schedule started or stopped in the UI stays so.
    automation: Literal["running", "stopped"] = env(
        "RECSYS_AUTOMATION", default="running",
        description="Whether the daily schedule and the orphan sweep start running or stopped")

    @property
    def default_status(self) -> dg.DefaultScheduleStatus:
        return dg.DefaultScheduleStatus.RUNNING if self.automation == "running" else dg.DefaultScheduleStatus.STOPPED


def max_runtime_seconds(*, training_hours: float, job_timeout_seconds: float) -> int:
    """Long enough that the run's own caps act first: the import and the batch job their timeout each, the
    training its cap, and an hour for exports, write-back and polling in between."""
    return int(training_hours * 3600 + 2 * job_timeout_seconds + 3600)


def daily_job(deployment: str, max_runtime: int) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        DAILY_JOB, selection=dg.AssetSelection.all(),
        tags={"dagster/max_runtime": max_runtime, DEPLOYMENT_TAG: deployment},
        description="Export, import, train, batch-recommend and write back, once; one run per deployment at a time.",
    )


def daily_schedule(settings: ScheduleSettings, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="daily_recs_schedule", job=job, cron_schedule=settings.cron, execution_timezone=settings.timezone,
        default_status=settings.default_status,
        description="Materializes the whole graph daily (RECSYS_SCHEDULE_CRON, RECSYS_SCHEDULE_TIMEZONE; "
                    "RECSYS_AUTOMATION=stopped starts it stopped).",
    )


def orphan_sweep_schedule(settings: ScheduleSettings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="orphan_sweep_schedule", job=cleanup_job, cron_schedule=settings.sweep_cron,
        execution_timezone=settings.timezone, run_config=cleanup_run_config(sweep=True),
        default_status=settings.default_status,
        description="Deletes what finished runs of this instance left (Personalize resources of this deployment, "
                    "and files) at once, and this deployment's resources older than RECSYS_ORPHAN_MAX_AGE_HOURS "
                    "(runs this instance doesn't know); never those of runs still going. "
                    "RECSYS_AUTOMATION=stopped starts it stopped.",
    )


def runs_per_month(settings: ScheduleSettings) -> float:
    """Runs the daily schedule makes in an average month: its ticks over a year (Dagster's own reading of the
    cron string, in the schedule's time zone), divided by 12."""
    ticks = dg.TimeWindowPartitionsDefinition(
        cron_schedule=settings.cron, timezone=settings.timezone,
        start=datetime(2027, 1, 1), end=datetime(2028, 1, 1), fmt="%Y-%m-%dT%H:%M")
    # Windows lie between consecutive ticks: one fewer than the ticks.
    return (len(ticks.get_partition_keys(current_time=datetime(2028, 1, 1))) + 1) / 12
