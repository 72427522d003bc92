from recsys_assets.automation.cleanup import cleanup_job, cleanup_run_config
from recsys_assets.automation.daily import (
    DAILY_JOB,
    ScheduleSettings,
    daily_job,
    daily_schedule,
    max_runtime_seconds,
    orphan_sweep_schedule,
    runs_per_month,
)
from recsys_assets.automation.sensors import (
    cleanup_after_batch_output,
    cleanup_after_cancel,
    cleanup_after_failure,
    cleanup_after_success,
)

__all__ = ["cleanup_after_batch_output", "cleanup_after_cancel", "cleanup_after_failure", "cleanup_after_success",
           "cleanup_job", "cleanup_run_config", "DAILY_JOB", "ScheduleSettings", "daily_job", "daily_schedule",
           "max_runtime_seconds", "orphan_sweep_schedule", "runs_per_month"]
