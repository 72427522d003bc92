"""The daily job over the whole graph and its schedule."""


import dagster as dg

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
