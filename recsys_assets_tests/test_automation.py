"""The schedule and both cleanup sensors, through Dagster's build_*_context helpers."""

from datetime import datetime, timezone

import dagster as dg

from recsys_assets.automation import cleanup_after_failure, cleanup_after_success, cleanup_job, daily_schedule
from recsys_assets.resources.settings import Settings


@dg.asset
def ok():
    return 1


@dg.asset
def broken():
    raise RuntimeError("boom")


def _run(instance, asset, **tags):
    return dg.materialize([asset], instance=instance, raise_on_error=False, tags=tags or None)


def test_success_sensor_requests_cleanup_for_the_finished_run():
    with dg.instance_for_test() as instance:
        result = _run(instance, ok)
        context = dg.build_run_status_sensor_context(
            sensor_name="cleanup_after_success", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_success_event())
        request = cleanup_after_success(context)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == result.run_id
    assert request.run_config == {"ops": {"teardown_personalize_resources": {"config": {"run_id": result.run_id}}}}


def test_failure_sensor_requests_cleanup_for_the_root_run():
    with dg.instance_for_test() as instance:
        # A re-execution's resources carry its root run's id: that is what must be cleaned.
        result = _run(instance, broken, **{"dagster/root_run_id": "root-run-1234"})
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="cleanup_after_failure", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event()).for_run_failure()
        request = cleanup_after_failure(context)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == result.run_id
    assert request.run_config["ops"]["teardown_personalize_resources"]["config"]["run_id"] == "root-run-1234"


def test_cleanup_runs_are_not_cleaned_again():
    with dg.instance_for_test() as instance:
        result = _run(instance, ok)
        run = result.dagster_run._replace(job_name=cleanup_job.name)
        context = dg.build_run_status_sensor_context(
            sensor_name="cleanup_after_success", dagster_instance=instance, dagster_run=run,
            dagster_event=result.get_run_success_event())
        assert isinstance(cleanup_after_success(context), dg.SkipReason)


def test_schedule_runs_the_daily_job_at_the_configured_time():
    schedule = daily_schedule(Settings(schedule_cron="15 4 * * *", schedule_timezone="Europe/Berlin"))
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 4 * * *", "Europe/Berlin")
    when = datetime(2026, 11, 29, 3, 15, tzinfo=timezone.utc)
    # Closing the context matters: an open one leaves Dagster's defs-state storage pointing at a dead instance.
    with dg.instance_for_test() as instance, dg.build_schedule_context(instance=instance,
                                                                       scheduled_execution_time=when) as context:
        data = schedule.evaluate_tick(context)
    assert len(data.run_requests) == 1
    assert schedule.job_name == "daily_recs_job"
