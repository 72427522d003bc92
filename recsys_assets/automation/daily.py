"""The daily job over the whole graph, its schedule, and the orphan sweep's schedule."""


import dagster as dg

from recsys_assets.automation.cleanup import cleanup_job, cleanup_run_config
from recsys_assets.resources.settings import Settings

daily_recs_job = dg.define_asset_job(
    "daily_recs_job", selection=dg.AssetSelection.all(),
    tags={"dagster/max_runtime": 8 * 3600},
    description="Export, import, train, batch-recommend and write back, once.",
)


def daily_schedule(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="daily_recs_schedule", job=daily_recs_job, cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone, default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Materializes the whole graph daily (RECSYS_SCHEDULE_CRON, RECSYS_SCHEDULE_TIMEZONE).",
    )


def orphan_sweep_schedule(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="orphan_sweep_schedule", job=cleanup_job, cron_schedule=settings.sweep_cron,
        execution_timezone=settings.schedule_timezone, run_config=cleanup_run_config(sweep=True),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Deletes this deployment's Personalize resources older than RECSYS_ORPHAN_MAX_AGE_HOURS "
                    "(what a crash or a missed sensor left behind), never those of runs still going.",
    )
